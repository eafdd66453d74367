// The id index (KV pay_index): a charge (ch_…) or refund (re_…) id → the merchant, intent and mode
// it belongs to, so GET /v1/charges/:id and /v1/refunds/:id find the intent aggregate that holds
// it. The gateway writes the entry before it sends the command that creates the object; an entry
// for an object that was then never created is harmless (the read finds no such object → 404).
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
