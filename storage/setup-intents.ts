// setup_intents: one row per SetupIntent, from the aggregate's snapshot. The columns are for
// filtering and sorting; `state` holds the snapshot the API returns.
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { SetupIntent } from '../actors/mod.ts';
import { chunks, fromUnix, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface SetupIntentsTable {
  id: string;
  merchant_id: string;
  livemode: boolean;
  status: string;
  customer: string | null;
  payment_method: string | null;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<SetupIntent>;
}

export type SetupIntentRow = Selectable<SetupIntentsTable>;
export type NewSetupIntentRow = Insertable<SetupIntentsTable>;

export function setupIntentRowFromState(s: SetupIntent, seq: number): NewSetupIntentRow {
  return {
    id: s.id,
    merchant_id: s.merchant_id,
    livemode: s.livemode,
    status: s.status,
    customer: s.customer,
    payment_method: s.payment_method,
    created_at: fromUnix(s.created),
    last_seq: seq,
    state: json(s),
  };
}

const COLUMNS = 9;

/** Inserts or replaces SetupIntents; a row only changes when the incoming sequence is newer than its own. */
export async function upsertSetupIntents(db: Kysely<Database>, rows: readonly NewSetupIntentRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('setup_intents')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            status: eb.ref('excluded.status'),
            customer: eb.ref('excluded.customer'),
            payment_method: eb.ref('excluded.payment_method'),
            last_seq: eb.ref('excluded.last_seq'),
            state: eb.ref('excluded.state'),
          }))
          .whereRef('setup_intents.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListSetupIntentsOptions extends PageOptions {
  merchantId: string;
  /** The key's mode: only SetupIntents of that mode are listed. */
  livemode: boolean;
  customer?: string;
  paymentMethod?: string;
}

/** A merchant's SetupIntents of one mode, newest first (created_at desc, id desc), as snapshots. */
export async function listSetupIntents(db: Kysely<Database>, o: ListSetupIntentsOptions): Promise<Page<SetupIntent>> {
  let q = db.selectFrom('setup_intents').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.customer !== undefined) q = q.where('customer', '=', o.customer);
  if (o.paymentMethod !== undefined) q = q.where('payment_method', '=', o.paymentMethod);
  const page = await keysetPage('listSetupIntents', q, o, {
    keys: ['created_at', 'id'],
    cursorTable: 'setup_intents',
    cursorScope: { merchant_id: o.merchantId, livemode: o.livemode },
  });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}
