// merchants: one row per merchant, from the merchant aggregate's snapshot. API key hashes and the
// encrypted webhook secret stay in the stream; the read model does not copy them.
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Merchant } from '../actors/mod.ts';
import { fromUnix, int8, json, chunks, type Int8, type Json, type Timestamp, type WithNumbers } from './columns.ts';
import type { Database } from './database.ts';

export interface MerchantsTable {
  merchant_id: string;
  name: string;
  address: string;
  gst_id: string;
  call_back_url: string | null;
  events: Json<string[]>;
  allowed_origins: Json<string[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_seq: Int8;
}

export type MerchantRow = Selectable<MerchantsTable>;
export type NewMerchantRow = Insertable<MerchantsTable>;

/** A merchant as the API reads it. */
export type MerchantRecord = WithNumbers<MerchantRow, 'last_seq'>;

export function merchantRowFromState(m: Merchant, seq: number): NewMerchantRow {
  return {
    merchant_id: m.merchant_id,
    name: m.name,
    address: m.address,
    gst_id: m.gst_id,
    call_back_url: m.call_back_url,
    events: json(m.events),
    allowed_origins: json(m.allowed_origins),
    created_at: fromUnix(m.created),
    updated_at: fromUnix(m.updated),
    last_seq: seq,
  };
}

function toRecord(r: MerchantRow): MerchantRecord {
  return { ...r, last_seq: int8(r.last_seq) };
}

const COLUMNS = 10;

/** Inserts or replaces merchants; a row only changes when the incoming sequence is newer than its own. */
export async function upsertMerchants(db: Kysely<Database>, rows: readonly NewMerchantRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('merchants')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('merchant_id')
          .doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            address: eb.ref('excluded.address'),
            gst_id: eb.ref('excluded.gst_id'),
            call_back_url: eb.ref('excluded.call_back_url'),
            events: eb.ref('excluded.events'),
            allowed_origins: eb.ref('excluded.allowed_origins'),
            created_at: eb.ref('excluded.created_at'),
            updated_at: eb.ref('excluded.updated_at'),
            last_seq: eb.ref('excluded.last_seq'),
          }))
          .whereRef('merchants.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export async function getMerchant(db: Kysely<Database>, merchantId: string): Promise<MerchantRecord | undefined> {
  const row = await db.selectFrom('merchants').selectAll().where('merchant_id', '=', merchantId).executeTakeFirst();
  return row && toRecord(row);
}
