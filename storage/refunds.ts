// refunds: one row per refund (re_…) of a charge of an intent, projected from the intent's snapshot
// (refunds live in the intent aggregate). Rows only change for a newer stream sequence.
import type { Generated, Insertable, Kysely, Selectable } from 'kysely';
import type { Intent, RefundReason, RefundStatus } from '../actors/mod.ts';
import { chunks, fromUnix, int8, json, toUnix, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface RefundsTable {
  id: string;
  intent_id: string;
  charge_id: string;
  merchant_id: string;
  livemode: Generated<boolean>;
  amount: Int8;
  currency: string;
  status: RefundStatus;
  reason: RefundReason | null;
  failure_reason: string | null;
  metadata: Json<Record<string, string>>;
  created_at: Timestamp;
  last_seq: Int8;
}

export type RefundRow = Selectable<RefundsTable>;
export type NewRefundRow = Insertable<RefundsTable>;

/** A refund as the API lists it. */
export interface RefundRecord {
  id: string;
  intent_id: string;
  charge_id: string;
  merchant_id: string;
  livemode: boolean;
  amount: number;
  currency: string;
  status: RefundStatus;
  reason: RefundReason | null;
  failure_reason: string | null;
  metadata: Record<string, string>;
  /** Unix seconds. */
  created: number;
  last_seq: number;
}

/** Every refund of an intent snapshot, as rows. */
export function refundRowsFromState(s: Intent, seq: number): NewRefundRow[] {
  return (s.refunds ?? []).map((r) => ({
    id: r.id,
    intent_id: s.id,
    charge_id: r.charge,
    merchant_id: s.merchant_id,
    livemode: s.livemode ?? false,
    amount: r.amount,
    currency: s.currency,
    status: r.status,
    reason: r.reason,
    failure_reason: r.failure_reason,
    metadata: json(r.metadata),
    created_at: fromUnix(r.created),
    last_seq: seq,
  }));
}

export function toRefundRecord(r: RefundRow): RefundRecord {
  const { created_at, ...rest } = r;
  return { ...rest, amount: int8(r.amount), last_seq: int8(r.last_seq), created: toUnix(created_at) };
}

const COLUMNS = 13;

/** Inserts or replaces refunds; a row only changes when the incoming sequence is newer than its own. */
export async function upsertRefunds(db: Kysely<Database>, rows: readonly NewRefundRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('refunds')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            status: eb.ref('excluded.status'),
            reason: eb.ref('excluded.reason'),
            failure_reason: eb.ref('excluded.failure_reason'),
            metadata: eb.ref('excluded.metadata'),
            amount: eb.ref('excluded.amount'),
            last_seq: eb.ref('excluded.last_seq'),
          }))
          .whereRef('refunds.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListRefundsOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  charge?: string;
  paymentIntent?: string;
}

/** A merchant's refunds of one mode, newest first (created_at desc, id desc). An unknown cursor yields an empty page. */
export async function listRefunds(db: Kysely<Database>, o: ListRefundsOptions): Promise<Page<RefundRecord>> {
  let q = db.selectFrom('refunds').selectAll().where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.charge !== undefined) q = q.where('charge_id', '=', o.charge);
  if (o.paymentIntent !== undefined) q = q.where('intent_id', '=', o.paymentIntent);
  const page = await keysetPage('listRefunds', q, o, { keys: ['created_at', 'id'], cursorTable: 'refunds', cursorScope: { merchant_id: o.merchantId } });
  return { data: page.data.map(toRefundRecord), hasMore: page.hasMore };
}
