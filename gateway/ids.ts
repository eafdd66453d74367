// Ids chosen at the edge and carried on the command. With an Idempotency-Key they are derived from
// it, so a request retried after a crash addresses the same intent and the same attempt (the
// network authorizes an attempt id once), and its appends carry the same msgIDs.
import { createHmac, hash } from 'node:crypto';
import { randomBase64url, randomHex } from '../vault/random.ts';

// One-shot hash (no Hash object per call): the same digest as createHash('sha256').update(s).digest('hex').
const h = (s: string, n = 24) => hash('sha256', s, 'hex').slice(0, n);

export function commandId(merchantId: string, route: string, idempotencyKey: string | undefined): string {
  return idempotencyKey ? `cmd_${h(`${merchantId}\n${route}\n${idempotencyKey}`)}` : `cmd_${randomHex(12)}`;
}

export const derivedId = (prefix: string, commandId: string) => `${prefix}_${h(`${prefix}:${commandId}`)}`;

/**
 * A charge (attempt) id names its intent: `ch_` + the intent id's 24 hex + 12 hex derived from the
 * confirm command, much as Stripe's ch_ and pi_ ids share their suffix. GET /v1/charges/:id then
 * finds the intent from the id alone, and a confirmation writes no pay_index entry (1.1 durable KV
 * writes per payment, awaited before the command, until 2026-11). Charges from before (24 hex after
 * `ch_`) are still found through pay_index.
 */
export function chargeIdFor(intentId: string, confirmCommandId: string): string {
  const m = /^pi_([0-9a-f]{24})$/.exec(intentId);
  return m ? `ch_${m[1]}${h(`ch:${confirmCommandId}`, 12)}` : derivedId('ch', confirmCommandId);
}

/** The intent a charge id of chargeIdFor's form belongs to; null for other ids (look in pay_index). */
export function intentIdOfCharge(chargeId: string): string | null {
  const m = /^ch_([0-9a-f]{24})[0-9a-f]{12}$/.exec(chargeId);
  return m ? `pi_${m[1]}` : null;
}

/** A Checkout Session's id (Stripe's cs_test_… / cs_live_…), from the command that creates it; pay_index maps it to its intent. */
export const checkoutSessionId = (commandId: string, mode: 'test' | 'live') => `cs_${mode}_${h(`cs:${commandId}`, 32)}`;

/** A line item's ids (item, ad-hoc price, ad-hoc product), from its session's id and its place in the session. */
export const lineItemIds = (sessionId: string, n: number) => ({
  id: `li_${h(`li:${sessionId}:${n}`)}`,
  price: `price_${h(`price:${sessionId}:${n}`)}`,
  product: `prod_${h(`prod:${sessionId}:${n}`)}`,
});

/** Unguessable and reproducible: only this server (holding the key) can compute it. */
export function clientSecretFor(key: Buffer, intentId: string): string {
  return `${intentId}_secret_${createHmac('sha256', key).update(intentId).digest('base64url').replace(/[-_]/g, '').slice(0, 24)}`;
}

export function randomToken(bytes = 24): string {
  return randomBase64url(bytes).replace(/[-_]/g, '').slice(0, Math.ceil(bytes * 1.2));
}

export const requestId = () => `req_${randomHex(8)}`;
