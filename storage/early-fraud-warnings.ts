// early_fraud_warnings: one row per warning (issfr_…) of a charge of an intent, projected from the
// intent's snapshot. A warning never changes once made, so a row is only ever inserted.
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Intent } from '../actors/mod.ts';
import { chunks, fromUnix, toUnix, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface EarlyFraudWarningsTable {
  id: string;
  intent_id: string;
  charge_id: string;
  merchant_id: string;
  livemode: boolean;
  created_at: Timestamp;
}

type Row = Selectable<EarlyFraudWarningsTable>;

/** A warning as the API lists it (the object is rendered from its intent). */
export interface EarlyFraudWarningRecord {
  id: string;
  intent_id: string;
  /** Unix seconds. */
  created: number;
}

export function earlyFraudWarningRowsFromState(s: Intent): Insertable<EarlyFraudWarningsTable>[] {
  return (s.fraud_warnings ?? []).map((w) => ({ id: w.id, intent_id: s.id, charge_id: w.charge, merchant_id: s.merchant_id, livemode: s.livemode ?? false, created_at: fromUnix(w.created) }));
}

export async function insertEarlyFraudWarnings(db: Kysely<Database>, rows: readonly Insertable<EarlyFraudWarningsTable>[]): Promise<void> {
  for (const part of chunks(rows, 6)) await db.insertInto('early_fraud_warnings').values(part).onConflict((oc) => oc.column('id').doNothing()).execute();
}

export interface ListEarlyFraudWarningsOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  charge?: string;
  paymentIntent?: string;
}

/** A merchant's early fraud warnings of one mode, newest first. An unknown cursor yields an empty page. */
export async function listEarlyFraudWarnings(db: Kysely<Database>, o: ListEarlyFraudWarningsOptions): Promise<Page<EarlyFraudWarningRecord>> {
  let q = db.selectFrom('early_fraud_warnings').selectAll().where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.charge !== undefined) q = q.where('charge_id', '=', o.charge);
  if (o.paymentIntent !== undefined) q = q.where('intent_id', '=', o.paymentIntent);
  const page = await keysetPage('listEarlyFraudWarnings', q, o, { keys: ['created_at', 'id'], cursorTable: 'early_fraud_warnings', cursorScope: { merchant_id: o.merchantId } });
  return { data: page.data.map((r: Row) => ({ id: r.id, intent_id: r.intent_id, created: toUnix(r.created_at) })), hasMore: page.hasMore };
}
