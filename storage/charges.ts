// The charges list (GET /v1/charges): payment_attempts rows (Stripe's charges), rendered from the
// snapshot of their intent, which the projector writes in the same transaction as the rows.
import type { Kysely } from 'kysely';
import type { Intent } from '../actors/mod.ts';
import { fromUnix } from './columns.ts';
import type { Database } from './database.ts';
import type { CreatedFilter, Page } from './payment-intents.ts';

export interface ListChargesOptions {
  merchantId: string;
  livemode: boolean;
  limit: number;
  /** A charge id: the page of charges older than it. */
  startingAfter?: string;
  /** A charge id: the page of charges newer than it (still returned newest first). */
  endingBefore?: string;
  paymentIntent?: string;
  customer?: string;
  created?: CreatedFilter;
}

/** A charge as listed: its id and the snapshot of the intent it is an attempt of. */
export interface ChargeEntry {
  id: string;
  intent: Intent;
}

/** A merchant's charges of one mode, newest first (created_at desc, id desc). An unknown cursor yields an empty page. */
export async function listCharges(db: Kysely<Database>, o: ListChargesOptions): Promise<Page<ChargeEntry>> {
  if (o.startingAfter !== undefined && o.endingBefore !== undefined) throw new RangeError('listCharges: give startingAfter or endingBefore, not both');
  if (!Number.isSafeInteger(o.limit) || o.limit < 1) throw new RangeError(`listCharges: limit must be a positive integer, got ${o.limit}`);
  const backwards = o.endingBefore !== undefined;
  const cursor = o.startingAfter ?? o.endingBefore;
  let q = db
    .selectFrom('payment_attempts as pa')
    .innerJoin('payment_intents as pi', 'pi.id', 'pa.intent_id')
    .select(['pa.id', 'pi.state'])
    .where('pa.merchant_id', '=', o.merchantId)
    .where('pa.livemode', '=', o.livemode);
  if (o.paymentIntent !== undefined) q = q.where('pa.intent_id', '=', o.paymentIntent);
  if (o.customer !== undefined) q = q.where('pi.customer', '=', o.customer);
  const c = o.created;
  if (c?.gt !== undefined) q = q.where('pa.created_at', '>', fromUnix(c.gt));
  if (c?.gte !== undefined) q = q.where('pa.created_at', '>=', fromUnix(c.gte));
  if (c?.lt !== undefined) q = q.where('pa.created_at', '<', fromUnix(c.lt));
  if (c?.lte !== undefined) q = q.where('pa.created_at', '<=', fromUnix(c.lte));
  if (cursor !== undefined) {
    q = q.where((eb) =>
      eb(
        eb.refTuple('pa.created_at', 'pa.id'),
        backwards ? '>' : '<',
        eb
          .selectFrom('payment_attempts as cursor')
          .select(['cursor.created_at', 'cursor.id'])
          .where('cursor.id', '=', cursor)
          .where('cursor.merchant_id', '=', o.merchantId)
          .$asTuple('created_at', 'id'),
      ),
    );
  }
  const dir = backwards ? 'asc' : 'desc';
  const rows = await q.orderBy('pa.created_at', dir).orderBy('pa.id', dir).limit(o.limit + 1).execute();
  const hasMore = rows.length > o.limit;
  const page = rows.slice(0, o.limit);
  if (backwards) page.reverse();
  return { data: page.filter((r) => r.state.attempts.some((a) => a.id === r.id)).map((r) => ({ id: r.id, intent: r.state })), hasMore };
}
