// payment_intents: one row per intent. The columns are for filtering, sorting and the dashboard; the
// `state` column holds the full snapshot, which is what the API returns.
import type { Generated } from 'kysely';
import { sql, type Insertable, type Kysely, type Selectable, type SqlBool } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { CancellationReason, CaptureMethod, Intent, IntentStatus, PaymentError } from '../actors/mod.ts';
import { chunks, fromUnix, fromUnixOrNull, int8, json, type Int8, type Json, type Timestamp, type WithNumbers } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';
import { toAttemptRecord, type AttemptRecord } from './payment-attempts.ts';

export interface PaymentIntentsTable {
  id: string;
  merchant_id: string;
  livemode: Generated<boolean>;
  amount: Int8;
  currency: string;
  status: IntentStatus;
  capture_method: CaptureMethod;
  user_email: string | null;
  product_id: string | null;
  customer: string | null;
  description: string | null;
  receipt_email: string | null;
  metadata: Json<Record<string, string>>;
  payment_method: string | null;
  latest_attempt_id: string | null;
  attempt_count: number;
  amount_received: Int8;
  amount_capturable: Int8;
  last_payment_error: Json<PaymentError | null>;
  canceled_at: Timestamp | null;
  cancellation_reason: CancellationReason | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_seq: Int8;
  state: Json<Intent>;
}

export type PaymentIntentRow = Selectable<PaymentIntentsTable>;
export type NewPaymentIntentRow = Insertable<PaymentIntentsTable>;

/** An intent row as the dashboard reads it: the columns converted, and the snapshot. */
export type IntentRecord = WithNumbers<PaymentIntentRow, 'amount' | 'amount_received' | 'amount_capturable' | 'last_seq'>;

export interface IntentWithAttempts extends IntentRecord {
  attempts: AttemptRecord[];
}

/** The row for an intent snapshot; `at` (unix seconds) is when the commit was decided. */
export function intentRowFromState(s: Intent, seq: number, at: number): NewPaymentIntentRow {
  const latest = s.attempts[s.attempts.length - 1];
  return {
    id: s.id,
    merchant_id: s.merchant_id,
    livemode: s.livemode ?? false,
    amount: s.amount,
    currency: s.currency,
    status: s.status,
    capture_method: s.capture_method,
    user_email: s.user_email,
    product_id: s.product_id,
    customer: s.customer,
    description: s.description,
    receipt_email: s.receipt_email,
    metadata: json(s.metadata),
    payment_method: s.payment_method,
    latest_attempt_id: latest?.id ?? null,
    attempt_count: s.attempts.length,
    amount_received: s.amount_received,
    amount_capturable: s.amount_capturable,
    last_payment_error: json(s.last_payment_error),
    canceled_at: fromUnixOrNull(s.canceled_at),
    cancellation_reason: s.cancellation_reason,
    created_at: fromUnix(s.created),
    updated_at: fromUnix(at),
    last_seq: seq,
    state: json(s),
  };
}

export function toIntentRecord(r: PaymentIntentRow): IntentRecord {
  return {
    ...r,
    amount: int8(r.amount),
    amount_received: int8(r.amount_received),
    amount_capturable: int8(r.amount_capturable),
    last_seq: int8(r.last_seq),
  };
}

const COLUMNS = 24;

/** Inserts or replaces intents; a row only changes when the incoming sequence is newer than its own. */
export async function upsertIntents(db: Kysely<Database>, rows: readonly NewPaymentIntentRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('payment_intents')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            amount: eb.ref('excluded.amount'),
            currency: eb.ref('excluded.currency'),
            status: eb.ref('excluded.status'),
            capture_method: eb.ref('excluded.capture_method'),
            user_email: eb.ref('excluded.user_email'),
            product_id: eb.ref('excluded.product_id'),
            customer: eb.ref('excluded.customer'),
            description: eb.ref('excluded.description'),
            receipt_email: eb.ref('excluded.receipt_email'),
            metadata: eb.ref('excluded.metadata'),
            payment_method: eb.ref('excluded.payment_method'),
            latest_attempt_id: eb.ref('excluded.latest_attempt_id'),
            attempt_count: eb.ref('excluded.attempt_count'),
            amount_received: eb.ref('excluded.amount_received'),
            amount_capturable: eb.ref('excluded.amount_capturable'),
            last_payment_error: eb.ref('excluded.last_payment_error'),
            canceled_at: eb.ref('excluded.canceled_at'),
            cancellation_reason: eb.ref('excluded.cancellation_reason'),
            created_at: eb.ref('excluded.created_at'),
            updated_at: eb.ref('excluded.updated_at'),
            last_seq: eb.ref('excluded.last_seq'),
            state: eb.ref('excluded.state'),
          }))
          .whereRef('payment_intents.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListIntentsOptions extends PageOptions {
  merchantId: string;
  /** The key's mode: only objects of that mode are listed. Default test. */
  livemode?: boolean;
  customer?: string;
  /** Only intents that pay a Checkout Session (GET /v1/checkout/sessions). */
  checkout?: boolean;
  /** Only this intent (a session list's payment_intent filter). */
  id?: string;
  /** Only sessions of this status (actors' checkoutStatus: complete once a charge succeeded, else expired once expired, else open). */
  checkoutStatus?: 'open' | 'complete' | 'expired';
  /** Only sessions a visit to this payment link opened. */
  paymentLink?: string;
}

/** The rows whose Checkout Session has this status, in SQL (actors' checkoutStatus on the snapshot). */
export function checkoutStatusIs(status: 'open' | 'complete' | 'expired') {
  const paid = sql<SqlBool>`jsonb_path_exists(state, '$.attempts[*] ? (@.status == "succeeded")')`;
  const expired = sql<SqlBool>`(state #>> '{checkout,expired_at}') is not null`;
  return status === 'complete' ? paid : status === 'expired' ? sql<SqlBool>`not ${paid} and ${expired}` : sql<SqlBool>`not ${paid} and not ${expired}`;
}

/**
 * A merchant's intents, newest first (created_at desc, id desc), as snapshots. A cursor names an
 * intent of the same merchant; an unknown cursor yields an empty page.
 */
export async function listIntents(db: Kysely<Database>, o: ListIntentsOptions): Promise<Page<Intent>> {
  let q = db.selectFrom('payment_intents').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode ?? false);
  if (o.customer !== undefined) q = q.where('customer', '=', o.customer);
  if (o.checkout) q = q.where(sql<SqlBool>`state ? 'checkout'`);
  if (o.id !== undefined) q = q.where('id', '=', o.id);
  if (o.checkoutStatus !== undefined) q = q.where(checkoutStatusIs(o.checkoutStatus));
  if (o.paymentLink !== undefined) q = q.where(sql<SqlBool>`(state #>> '{checkout,payment_link}') = ${o.paymentLink}`);
  const page = await keysetPage('listIntents', q, o, { keys: ['created_at', 'id'], cursorTable: 'payment_intents', cursorScope: { merchant_id: o.merchantId } });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

/** One intent snapshot, or undefined. */
export async function getIntent(db: Kysely<Database>, merchantId: string, intentId: string): Promise<Intent | undefined> {
  const row = await db
    .selectFrom('payment_intents')
    .select('state')
    .where('merchant_id', '=', merchantId)
    .where('id', '=', intentId)
    .executeTakeFirst();
  return row?.state;
}

/**
 * The merchant dashboard's read: the intent row with its attempts (oldest first), in one query;
 * the attempts come back as a json array aggregated in the database.
 */
export async function getIntentWithAttempts(db: Kysely<Database>, merchantId: string, intentId: string): Promise<IntentWithAttempts | undefined> {
  const row = await db
    .selectFrom('payment_intents as pi')
    .selectAll('pi')
    .select((eb) =>
      jsonArrayFrom(
        eb.selectFrom('payment_attempts as pa').selectAll('pa').whereRef('pa.intent_id', '=', 'pi.id').orderBy('pa.seq_no'),
      ).as('attempts'),
    )
    .where('pi.merchant_id', '=', merchantId)
    .where('pi.id', '=', intentId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { attempts, ...intent } = row;
  return { ...toIntentRecord(intent), attempts: attempts.map(toAttemptRecord) };
}
