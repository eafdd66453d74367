// The charges list (GET /v1/charges) and the base of their search (storage/search.ts): payment_attempts rows (Stripe's charges), rendered from the
// snapshot of their intent, which the projector writes in the same transaction as the rows.
import type { Kysely } from 'kysely';
import type { Intent } from '../actors/mod.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface ListChargesOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  paymentIntent?: string;
  customer?: string;
}

/** A charge as listed: its id and the snapshot of the intent it is an attempt of. */
export interface ChargeEntry {
  id: string;
  intent: Intent;
}

/** A merchant's charges of one mode (pa) with their intents (pi): what the list and the search filter. */
export function chargesOf(db: Kysely<Database>, merchantId: string, livemode: boolean) {
  return db
    .selectFrom('payment_attempts as pa')
    .innerJoin('payment_intents as pi', 'pi.id', 'pa.intent_id')
    .select(['pa.id', 'pi.state'])
    .where('pa.merchant_id', '=', merchantId)
    .where('pa.livemode', '=', livemode);
}

/** One page of chargesOf (filtered), newest first (created_at desc, id desc). An unknown cursor yields an empty page. */
export async function chargesPage(what: string, q: ReturnType<typeof chargesOf>, merchantId: string, o: PageOptions): Promise<Page<ChargeEntry>> {
  const page = await keysetPage(what, q, o, { keys: ['pa.created_at', 'pa.id'], cursorTable: 'payment_attempts', cursorScope: { merchant_id: merchantId } });
  return { data: page.data.filter((r) => r.state.attempts.some((a) => a.id === r.id)).map((r) => ({ id: r.id, intent: r.state })), hasMore: page.hasMore };
}

/** A merchant's charges of one mode, newest first. */
export async function listCharges(db: Kysely<Database>, o: ListChargesOptions): Promise<Page<ChargeEntry>> {
  let q = chargesOf(db, o.merchantId, o.livemode);
  if (o.paymentIntent !== undefined) q = q.where('pa.intent_id', '=', o.paymentIntent);
  if (o.customer !== undefined) q = q.where('pi.customer', '=', o.customer);
  return chargesPage('listCharges', q, o.merchantId, o);
}
