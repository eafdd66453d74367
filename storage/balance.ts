// The merchant's balance (GET /v1/balance), summed from the charges in the read model. A captured
// charge's funds are pending for `pendingDays` after it was made (Stripe's settlement time: test
// charges move to available after the payout schedule's delay), then available. Refunds, pending ones
// included, are taken from the available funds at once, as Stripe takes them, so available may be
// negative; so are a chargeback's amount and its fee, given back if the dispute is won. No processing fees are modelled: what a charge captured is what it adds. The balance
// transactions (GET /v1/balance_transactions) are listed from the same rows.
import { sql, type Kysely, type SqlBool } from 'kysely';
import { fromUnix } from './columns.ts';
import type { Database } from './database.ts';
import type { Page, PageOptions } from './pages.ts';
import { disputeFunds } from './disputes.ts';

export interface BalanceFunds {
  currency: string;
  available: number;
  pending: number;
}

/** Per currency the merchant has captured in, in this mode, ordered by currency. */
export async function balanceOf(db: Kysely<Database>, merchantId: string, livemode: boolean, now: Date, pendingDays: number): Promise<BalanceFunds[]> {
  const cutoff = new Date(now.getTime() - pendingDays * 86_400_000);
  const rows = await db
    .selectFrom('payment_attempts')
    .select([
      'currency',
      sql<string>`coalesce(sum(case when created_at > ${cutoff} then amount_captured else 0 end), 0)`.as('pending'),
      sql<string>`coalesce(sum(case when created_at <= ${cutoff} then amount_captured else 0 end), 0)`.as('settled'),
      sql<string>`coalesce(sum(amount_refunded), 0)`.as('refunded'),
    ])
    .where('merchant_id', '=', merchantId)
    .where('livemode', '=', livemode)
    .where('captured', '=', true)
    .groupBy('currency')
    .orderBy('currency')
    .execute();
  // Disputes: a chargeback's amount and fee leave the available funds at once, and come back if it is won.
  const disputes = await disputeFunds(db, merchantId, livemode);
  return rows.map((r) => ({ currency: r.currency, pending: Number(r.pending), available: Number(r.settled) - Number(r.refunded) + (disputes.get(r.currency) ?? 0) }));
}

export interface ListBalanceTransactionsOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  type?: 'charge' | 'refund' | 'adjustment';
  /** A charge (ch_…), refund (re_…) or dispute (dp_…) id. */
  source?: string;
  currency?: string;
}

/**
 * What a balance transaction is derived from: a captured charge, a refund that did not fail, or a
 * dispute's withdrawal or reinstatement. `key` orders and pages the list: the charge or refund id,
 * or dpw_… / dpr_… for a dispute's two (stripe/objects.ts disputeBalanceTransactionId).
 */
export interface BalanceTransactionSource {
  kind: 'charge' | 'refund' | 'dispute_withdrawal' | 'dispute_reinstatement';
  key: string;
  /** The charge, refund or dispute id. */
  source: string;
  intentId: string;
}

/**
 * The merchant's balance transactions of one mode, newest first: its captured charges, its refunds
 * that did not fail and its disputes' withdrawals and reinstatements, one list over the three tables
 * (created, then key). Cursors are keys.
 */
export async function listBalanceTransactions(db: Kysely<Database>, o: ListBalanceTransactionsOptions): Promise<Page<BalanceTransactionSource>> {
  if (o.startingAfter !== undefined && o.endingBefore !== undefined) throw new RangeError('listBalanceTransactions: give startingAfter or endingBefore, not both');
  const charges = db
    .selectFrom('payment_attempts')
    .select([sql<string>`'charge'`.as('kind'), 'id as key', 'id as source', 'intent_id', 'currency', 'created_at'])
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode)
    .where('amount_captured', '>', '0');
  const refunds = db
    .selectFrom('refunds')
    .select([sql<string>`'refund'`.as('kind'), 'id as key', 'id as source', 'intent_id', 'currency', 'created_at'])
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode)
    .where('status', '<>', 'failed');
  const withdrawals = db
    .selectFrom('disputes')
    .select([sql<string>`'dispute_withdrawal'`.as('kind'), sql<string>`'dpw_' || substr(id, 4)`.as('key'), 'id as source', 'intent_id', 'currency', 'created_at'])
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode)
    .where('withdrawn', '>', '0');
  const reinstatements = db
    .selectFrom('disputes')
    .select([sql<string>`'dispute_reinstatement'`.as('kind'), sql<string>`'dpr_' || substr(id, 4)`.as('key'), 'id as source', 'intent_id', 'currency', sql<Date>`reinstated_at`.as('created_at')])
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode)
    .where('reinstated_at', 'is not', null);
  const all =
    o.type === 'charge' ? charges : o.type === 'refund' ? refunds : o.type === 'adjustment' ? withdrawals.unionAll(reinstatements) : charges.unionAll(refunds).unionAll(withdrawals).unionAll(reinstatements);
  let q = db.selectFrom(all.as('t')).select(['t.kind', 't.key', 't.source', 't.intent_id']);
  if (o.source !== undefined) q = q.where('t.source', '=', o.source);
  if (o.currency !== undefined) q = q.where('t.currency', '=', o.currency);
  const c = o.created;
  if (c?.gt !== undefined) q = q.where('t.created_at', '>', fromUnix(c.gt));
  if (c?.gte !== undefined) q = q.where('t.created_at', '>=', fromUnix(c.gte));
  if (c?.lt !== undefined) q = q.where('t.created_at', '<', fromUnix(c.lt));
  if (c?.lte !== undefined) q = q.where('t.created_at', '<=', fromUnix(c.lte));
  const backwards = o.endingBefore !== undefined;
  const cursor = o.startingAfter ?? o.endingBefore;
  if (cursor !== undefined) {
    // (created, key) beyond the cursor's; a cursor outside this list compares as null: an empty page.
    const at = sql`(select ${sql.ref('c.created_at')} from ${all.as('c')} where ${sql.ref('c.key')} = ${cursor})`;
    q = q.where(sql<SqlBool>`(${sql.ref('t.created_at')}, ${sql.ref('t.key')}) ${sql.raw(backwards ? '>' : '<')} (${at}, ${cursor})`);
  }
  const dir = backwards ? 'asc' : 'desc';
  const rows = await q.orderBy('t.created_at', dir).orderBy('t.key', dir).limit(o.limit + 1).execute();
  const page = rows.slice(0, o.limit);
  if (backwards) page.reverse();
  return { data: page.map((r) => ({ kind: r.kind as BalanceTransactionSource['kind'], key: r.key, source: r.source, intentId: r.intent_id })), hasMore: rows.length > o.limit };
}
