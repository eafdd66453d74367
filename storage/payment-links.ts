// payment_links: one row per payment link, from the aggregate's snapshot. The columns are for
// filtering and sorting; `state` holds the snapshot the API returns.
import type { Insertable, Kysely } from 'kysely';
import type { PaymentLink } from '../actors/mod.ts';
import { chunks, fromUnix, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface PaymentLinksTable {
  id: string;
  merchant_id: string;
  livemode: boolean;
  active: boolean;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<PaymentLink>;
}

export function paymentLinkRowFromState(s: PaymentLink, seq: number): Insertable<PaymentLinksTable> {
  return { id: s.id, merchant_id: s.merchant_id, livemode: s.livemode, active: s.active, created_at: fromUnix(s.created), last_seq: seq, state: json(s) };
}

/** Inserts or replaces links; a row only changes when the incoming sequence is newer than its own. */
export async function upsertPaymentLinks(db: Kysely<Database>, rows: readonly Insertable<PaymentLinksTable>[]): Promise<void> {
  for (const part of chunks(rows, 7)) {
    await db
      .insertInto('payment_links')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({ active: eb.ref('excluded.active'), last_seq: eb.ref('excluded.last_seq'), state: eb.ref('excluded.state') }))
          .whereRef('payment_links.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListPaymentLinksOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  active?: boolean;
}

/** A merchant's payment links of one mode, newest first. */
export async function listPaymentLinks(db: Kysely<Database>, o: ListPaymentLinksOptions): Promise<Page<PaymentLink>> {
  let q = db.selectFrom('payment_links').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.active !== undefined) q = q.where('active', '=', o.active);
  const page = await keysetPage('listPaymentLinks', q, o, { keys: ['created_at', 'id'], cursorTable: 'payment_links', cursorScope: { merchant_id: o.merchantId, livemode: o.livemode } });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}
