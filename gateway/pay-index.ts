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

/** A lookup key in use → the price that has it (per merchant and mode). */
export interface LookupKeyEntry {
  price_id: string;
  product_id: string;
}

/**
 * The same bucket, for the catalogue: a payment link → its merchant, a price id → its product (each
 * written before the object is), and a
 * price's lookup_key → the price (unique per merchant and mode: claimed by compare-and-set, so two
 * prices racing for one key cannot both have it). A key entry naming a price that no longer has the
 * key (changed, or never created) is stale: the caller checks it against the price and takes it over.
 */
export function createPriceIndex(kv: KV) {
  const lookupKey = (merchantId: string, livemode: boolean, key: string) => `lk_${hash('sha256', `${merchantId}\n${livemode ? 'live' : 'test'}\n${key}`, 'hex').slice(0, 40)}`;
  return {
    async readPrice(id: string): Promise<PriceEntry | null> {
      if (!/^price_[A-Za-z0-9]{1,64}$/.test(id)) return null;
      const e = await kv.get(id);
      return e && e.operation === 'PUT' ? e.json<PriceEntry>() : null;
    },
    async writePrice(id: string, entry: PriceEntry): Promise<void> {
      await kv.put(id, JSON.stringify(entry));
    },
    /** A payment link (plink_…) → its merchant and mode: its public URL names only the link. */
    async readLink(id: string): Promise<{ merchant_id: string; livemode: boolean } | null> {
      if (!/^plink_[0-9a-f]{24}$/.test(id)) return null;
      const e = await kv.get(id);
      return e && e.operation === 'PUT' ? e.json<{ merchant_id: string; livemode: boolean }>() : null;
    },
    async writeLink(id: string, entry: { merchant_id: string; livemode: boolean }): Promise<void> {
      await kv.put(id, JSON.stringify(entry));
    },
    /** The price holding a lookup key, and the entry's revision (0: none). */
    async readLookupKey(merchantId: string, livemode: boolean, key: string): Promise<{ entry: LookupKeyEntry | null; revision: number }> {
      const e = await kv.get(lookupKey(merchantId, livemode, key));
      return e && e.operation === 'PUT' ? { entry: e.json<LookupKeyEntry>(), revision: e.revision } : { entry: null, revision: e?.revision ?? 0 };
    },
    /** Claims the key for a price if it is still at `revision` (0: unclaimed); false when someone else got there first. */
    async claimLookupKey(merchantId: string, livemode: boolean, key: string, entry: LookupKeyEntry, revision: number): Promise<boolean> {
      const k = lookupKey(merchantId, livemode, key);
      try {
        await kv.put(k, JSON.stringify(entry), { previousSeq: revision });
        return true;
      } catch (err) {
        // JetStream's "wrong last sequence" (10071): the entry moved since it was read.
        if ((err as { code?: unknown }).code === 10071 || /wrong last sequence/i.test((err as Error).message)) return false;
        throw err;
      }
    },
  };
}
export type PriceIndex = ReturnType<typeof createPriceIndex>;
