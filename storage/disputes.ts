// disputes: one row per dispute (dp_…) of a charge of an intent, projected from the intent's
// snapshot (disputes live in the intent aggregate). Rows only change for a newer stream sequence.
// `withdrawn` and `reinstated` are what the dispute took from and gave back to the balance, fee included.
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { DisputeReason, DisputeStatus, Intent } from '../actors/mod.ts';
import { chunks, fromUnix, int8, toUnix, type Int8, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface DisputesTable {
  id: string;
  intent_id: string;
  charge_id: string;
  merchant_id: string;
  livemode: boolean;
  amount: Int8;
  currency: string;
  status: DisputeStatus;
  reason: DisputeReason;
  withdrawn: Int8;
  reinstated: Int8;
  reinstated_at: Timestamp | null;
  created_at: Timestamp;
  last_seq: Int8;
}

export type DisputeRow = Selectable<DisputesTable>;
export type NewDisputeRow = Insertable<DisputesTable>;

/** A dispute as the API lists it (the object itself is rendered from its intent). */
export interface DisputeRecord {
  id: string;
  intent_id: string;
  merchant_id: string;
  /** Unix seconds. */
  created: number;
}

/** Every dispute of an intent snapshot, as rows. */
export function disputeRowsFromState(s: Intent, seq: number): NewDisputeRow[] {
  return (s.disputes ?? []).map((d) => ({
    id: d.id,
    intent_id: s.id,
    charge_id: d.charge,
    merchant_id: s.merchant_id,
    livemode: s.livemode ?? false,
    amount: d.amount,
    currency: s.currency,
    status: d.status,
    reason: d.reason,
    withdrawn: d.withdrawn ? d.withdrawn.amount + d.withdrawn.fee : 0,
    reinstated: d.reinstated ? d.reinstated.amount + d.reinstated.fee : 0,
    reinstated_at: d.reinstated ? fromUnix(d.reinstated.at) : null,
    created_at: fromUnix(d.created),
    last_seq: seq,
  }));
}

const COLUMNS = 14;

/** Inserts or replaces disputes; a row only changes when the incoming sequence is newer than its own. */
export async function upsertDisputes(db: Kysely<Database>, rows: readonly NewDisputeRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('disputes')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            status: eb.ref('excluded.status'),
            withdrawn: eb.ref('excluded.withdrawn'),
            reinstated: eb.ref('excluded.reinstated'),
            reinstated_at: eb.ref('excluded.reinstated_at'),
            last_seq: eb.ref('excluded.last_seq'),
          }))
          .whereRef('disputes.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListDisputesOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  charge?: string;
  paymentIntent?: string;
}

/** A merchant's disputes of one mode, newest first (created_at desc, id desc). An unknown cursor yields an empty page. */
export async function listDisputes(db: Kysely<Database>, o: ListDisputesOptions): Promise<Page<DisputeRecord>> {
  let q = db.selectFrom('disputes').selectAll().where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.charge !== undefined) q = q.where('charge_id', '=', o.charge);
  if (o.paymentIntent !== undefined) q = q.where('intent_id', '=', o.paymentIntent);
  const page = await keysetPage('listDisputes', q, o, { keys: ['created_at', 'id'], cursorTable: 'disputes', cursorScope: { merchant_id: o.merchantId } });
  return { data: page.data.map((r: DisputeRow) => ({ id: r.id, intent_id: r.intent_id, merchant_id: r.merchant_id, created: toUnix(r.created_at) })), hasMore: page.hasMore };
}

/** What disputes took from (withdrawn) and gave back to (reinstated) the merchant's balance, per currency. */
export async function disputeFunds(db: Kysely<Database>, merchantId: string, livemode: boolean): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('disputes')
    .select(['currency', (eb) => eb.fn.sum<string>('withdrawn').as('withdrawn'), (eb) => eb.fn.sum<string>('reinstated').as('reinstated')])
    .where('merchant_id', '=', merchantId)
    .where('livemode', '=', livemode)
    .groupBy('currency')
    .execute();
  return new Map(rows.map((r) => [r.currency, int8(r.reinstated ?? 0) - int8(r.withdrawn ?? 0)]));
}
