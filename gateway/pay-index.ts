// The id index (KV pay_index): a charge (ch_…) or refund (re_…) id → the merchant, intent and mode
// it belongs to, so GET /v1/charges/:id and /v1/refunds/:id find the intent aggregate that holds
// it. The gateway writes the entry before it sends the command that creates the object; an entry
// for an object that was then never created is harmless (the read finds no such object → 404).
import { hash } from 'node:crypto';
import type { KV } from '@nats-io/kv';

export interface IndexEntry {
  merchant_id: string;
  intent_id: string;
  livemode: boolean;
}

/** KV keys allow [-/_=.a-zA-Z0-9]; our ids are `<prefix>_<hex>`, anything else is not ours. */
const KEY = /^[A-Za-z0-9_-]{1,128}$/;

export function createPayIndex(kv: KV) {
  return {
    async read(id: string): Promise<IndexEntry | null> {
      if (!KEY.test(id)) return null;
      const e = await kv.get(id);
      return e && e.operation === 'PUT' ? e.json<IndexEntry>() : null;
    },
    async write(id: string, entry: IndexEntry): Promise<void> {
      if (!KEY.test(id)) throw new Error(`pay_index: bad id ${id}`);
      await kv.put(id, JSON.stringify(entry));
    },
  };
}
export type PayIndex = ReturnType<typeof createPayIndex>;

/** A price (price_…) → the product that holds it. */
export interface PriceEntry {
  merchant_id: string;
  product_id: string;
  livemode: boolean;
}

/** A promotion code (promo_…) → the coupon that holds it. */
export interface PromotionCodeEntry {
  merchant_id: string;
  coupon_id: string;
  livemode: boolean;
}

/** A payment link (plink_…) → its merchant: its public URL names only the link. */
export interface LinkEntry {
  merchant_id: string;
  livemode: boolean;
}

/** A unique name in use (a price's lookup_key, a promotion code's code) → the object that has it and its holder (product, coupon). */
export interface UniqueEntry {
  id: string;
  holder: string;
}

/** What must be unique per merchant and mode: lookup keys exactly, promotion codes case-insensitively. */
export type UniqueKind = 'lookup_key' | 'promotion_code';

/**
 * The same bucket, for the catalogue: an object id → where it lives (written before the object is), and
 * a unique name → the object that has it, claimed by compare-and-set so two objects racing for one name
 * cannot both have it. A name entry naming an object that no longer has the name (changed, or never
 * created) is stale: the caller checks it against the object and takes it over.
 */
export function createCatalogueIndex(kv: KV) {
  const nameKey = (kind: UniqueKind, merchantId: string, livemode: boolean, name: string) =>
    `${kind === 'lookup_key' ? 'lk' : 'pc'}_${hash('sha256', `${merchantId}\n${livemode ? 'live' : 'test'}\n${kind === 'promotion_code' ? name.toUpperCase() : name}`, 'hex').slice(0, 40)}`;
  return {
    /** Where a price, promotion code or payment link lives; null for an id that is not of that kind. */
    async read<T extends PriceEntry | PromotionCodeEntry | LinkEntry>(kind: 'price' | 'promo' | 'plink', id: string): Promise<T | null> {
      // Only an id of the kind asked for: a promotion code's id given as a price finds nothing.
      if (!id.startsWith(`${kind}_`) || !/^[a-z]+_[A-Za-z0-9]{1,64}$/.test(id)) return null;
      const e = await kv.get(id);
      return e && e.operation === 'PUT' ? e.json<T>() : null;
    },
    async write(id: string, entry: PriceEntry | PromotionCodeEntry | LinkEntry): Promise<void> {
      await kv.put(id, JSON.stringify(entry));
    },
    /** The object holding a unique name, and the entry's revision (0: none). */
    async readName(kind: UniqueKind, merchantId: string, livemode: boolean, name: string): Promise<{ entry: UniqueEntry | null; revision: number }> {
      const e = await kv.get(nameKey(kind, merchantId, livemode, name));
      return e && e.operation === 'PUT' ? { entry: e.json<UniqueEntry>(), revision: e.revision } : { entry: null, revision: e?.revision ?? 0 };
    },
    /** Claims the name if its entry is still at `revision` (0: unclaimed); false when someone else got there first. */
    async claimName(kind: UniqueKind, merchantId: string, livemode: boolean, name: string, entry: UniqueEntry, revision: number): Promise<boolean> {
      try {
        await kv.put(nameKey(kind, merchantId, livemode, name), JSON.stringify(entry), { previousSeq: revision });
        return true;
      } catch (err) {
        // JetStream's "wrong last sequence" (10071): the entry moved since it was read.
        if ((err as { code?: unknown }).code === 10071 || /wrong last sequence/i.test((err as Error).message)) return false;
        throw err;
      }
    },
  };
}
export type CatalogueIndex = ReturnType<typeof createCatalogueIndex>;
