// The merchant's balance (GET /v1/balance), summed from the charges in the read model. A captured
// charge's funds are pending for `pendingDays` after it was made (Stripe's settlement time: test
// charges move to available after the payout schedule's delay), then available. Refunds, pending ones
// included, are taken from the available funds at once, as Stripe takes them, so available may be
// negative. No processing fees are modelled: what a charge captured is what it adds.
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.ts';

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
  return rows.map((r) => ({ currency: r.currency, pending: Number(r.pending), available: Number(r.settled) - Number(r.refunded) }));
}
