// payment_attempts: the seed's Transaction table. One row per attempt (Stripe's charge, ch_…) of a
// payment intent, in the order the intent made them (seq_no, 1-based).
import type { Generated } from 'kysely';
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AttemptStatus, Intent } from '../actors/mod.ts';
import { asDate, asDateOrNull, chunks, fromUnix, fromUnixOrNull, int8, type Int8, type Timestamp, type WithNumbers } from './columns.ts';
import type { Database } from './database.ts';

export interface PaymentAttemptsTable {
  id: string;
  intent_id: string;
  merchant_id: string;
  livemode: Generated<boolean>;
  seq_no: number;
  amount: Int8;
  currency: string;
  status: AttemptStatus;
  payment_method: string;
  card_brand: string | null;
  card_last4: string | null;
  network_ref: string | null;
  failure_code: string | null;
  decline_code: string | null;
  failure_message: string | null;
  captured: boolean;
  amount_captured: Int8;
  /** Refunded so far, pending refunds included (migration 0004). */
  amount_refunded: Int8;
  created_at: Timestamp;
  settled_at: Timestamp | null;
  last_seq: Int8;
}

export type PaymentAttemptRow = Selectable<PaymentAttemptsTable>;
export type NewPaymentAttemptRow = Insertable<PaymentAttemptsTable>;

/** An attempt as the API reads it. */
export type AttemptRecord = Omit<WithNumbers<PaymentAttemptRow, 'amount' | 'amount_captured' | 'amount_refunded' | 'last_seq'>, 'livemode'>;

/** Every attempt of an intent snapshot, as rows. */
export function attemptRowsFromState(s: Intent, seq: number): NewPaymentAttemptRow[] {
  return s.attempts.map((a, i) => ({
    id: a.id,
    intent_id: s.id,
    merchant_id: s.merchant_id,
    livemode: s.livemode ?? false,
    seq_no: i + 1,
    amount: a.amount,
    currency: s.currency,
    status: a.status,
    payment_method: a.payment_method,
    card_brand: a.card?.brand ?? null,
    card_last4: a.card?.last4 ?? null,
    network_ref: a.network_ref,
    failure_code: a.failure_code,
    decline_code: a.decline_code,
    failure_message: a.failure_message,
    captured: a.captured,
    amount_captured: a.amount_captured,
    amount_refunded: a.amount_refunded ?? 0,
    created_at: fromUnix(a.created),
    settled_at: fromUnixOrNull(a.settled_at),
    last_seq: seq,
  }));
}

/**
 * A row as read directly (Date, int8 as string) or through json aggregation (ISO string, int8 as a
 * JSON number): both convert here.
 */
export type LooseRow<T> = {
  [K in keyof T]: T[K] extends Date ? Date | string : T[K] extends Date | null ? Date | string | null : T[K];
};

export function toAttemptRecord(r: LooseRow<PaymentAttemptRow>): AttemptRecord {
  return {
    ...r,
    amount: int8(r.amount),
    amount_captured: int8(r.amount_captured),
    amount_refunded: int8(r.amount_refunded),
    created_at: asDate(r.created_at),
    settled_at: asDateOrNull(r.settled_at),
    last_seq: int8(r.last_seq),
  };
}

const COLUMNS = 21;

/** Inserts or replaces attempts; a row only changes when the incoming sequence is newer than its own. */
export async function upsertAttempts(db: Kysely<Database>, rows: readonly NewPaymentAttemptRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('payment_attempts')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            seq_no: eb.ref('excluded.seq_no'),
            amount: eb.ref('excluded.amount'),
            currency: eb.ref('excluded.currency'),
            status: eb.ref('excluded.status'),
            payment_method: eb.ref('excluded.payment_method'),
            card_brand: eb.ref('excluded.card_brand'),
            card_last4: eb.ref('excluded.card_last4'),
            network_ref: eb.ref('excluded.network_ref'),
            failure_code: eb.ref('excluded.failure_code'),
            decline_code: eb.ref('excluded.decline_code'),
            failure_message: eb.ref('excluded.failure_message'),
            captured: eb.ref('excluded.captured'),
            amount_captured: eb.ref('excluded.amount_captured'),
            amount_refunded: eb.ref('excluded.amount_refunded'),
            created_at: eb.ref('excluded.created_at'),
            settled_at: eb.ref('excluded.settled_at'),
            last_seq: eb.ref('excluded.last_seq'),
          }))
          .whereRef('payment_attempts.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

/** Attempts of one intent, in the order they were made. */
export async function listAttempts(db: Kysely<Database>, merchantId: string, intentId: string): Promise<AttemptRecord[]> {
  const rows = await db
    .selectFrom('payment_attempts')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('intent_id', '=', intentId)
    .orderBy('seq_no')
    .execute();
  return rows.map(toAttemptRecord);
}
