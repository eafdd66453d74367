// Ids chosen at the edge and carried on the command. With an Idempotency-Key they are derived from
// it, so a request retried after a crash addresses the same intent and the same attempt (the
// network authorizes an attempt id once), and its appends carry the same msgIDs.
import { createHash, createHmac } from 'node:crypto';
import { randomBase64url, randomHex } from '../vault/random.ts';

const h = (s: string, n = 24) => createHash('sha256').update(s).digest('hex').slice(0, n);

export function commandId(merchantId: string, route: string, idempotencyKey: string | undefined): string {
  return idempotencyKey ? `cmd_${h(`${merchantId}\n${route}\n${idempotencyKey}`)}` : `cmd_${randomHex(12)}`;
}

export const derivedId = (prefix: string, commandId: string) => `${prefix}_${h(`${prefix}:${commandId}`)}`;

/** Unguessable and reproducible: only this server (holding the key) can compute it. */
export function clientSecretFor(key: Buffer, intentId: string): string {
  return `${intentId}_secret_${createHmac('sha256', key).update(intentId).digest('base64url').replace(/[-_]/g, '').slice(0, 24)}`;
}

export function randomToken(bytes = 24): string {
  return randomBase64url(bytes).replace(/[-_]/g, '').slice(0, Math.ceil(bytes * 1.2));
}

export const requestId = () => `req_${randomHex(8)}`;
