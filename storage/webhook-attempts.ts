// webhook_attempts: every try of every delivery, as its receipt said (time, endpoint, HTTP status,
// latency, the first 1 KB of the answer, the error). Immutable: a redelivered receipt changes nothing.
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { DeliveryReceipt } from '../webhooks/types.ts';
import { chunks, fromUnix, int8, type Int8, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  merchant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  url: string;
  outcome: 'delivered' | 'failed';
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  response_body: string | null;
  request_id: string | null;
  at: Timestamp;
  stream_seq: Int8;
}

export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type WebhookTryRecord = Omit<WebhookAttemptRow, 'stream_seq'> & { stream_seq: number };

export function webhookTryRowFromReceipt(r: DeliveryReceipt, seq: number): Insertable<WebhookAttemptsTable> {
  return {
    delivery_id: r.delivery_id,
    attempt: r.attempt,
    merchant_id: r.merchant_id,
    endpoint_id: r.endpoint_id,
    event_id: r.event_id,
    event_type: r.event_type,
    url: r.url,
    outcome: r.outcome,
    status_code: r.status_code,
    error: r.error,
    duration_ms: r.duration_ms,
    response_body: r.response_body ?? null,
    request_id: r.request_id ?? null,
    at: fromUnix(r.at),
    stream_seq: seq,
  };
}

export async function insertWebhookTries(db: Kysely<Database>, rows: readonly Insertable<WebhookAttemptsTable>[]): Promise<void> {
  const unique = [...new Map(rows.map((r) => [`${r.delivery_id}#${r.attempt}`, r])).values()];
  for (const part of chunks(unique, 15)) {
    await db
      .insertInto('webhook_attempts')
      .values(part)
      .onConflict((oc) => oc.columns(['delivery_id', 'attempt']).doNothing())
      .execute();
  }
}

/** A delivery's tries, first to last. */
export async function listWebhookTries(db: Kysely<Database>, deliveryId: string): Promise<WebhookTryRecord[]> {
  const rows = await db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
  return rows.map((r) => ({ ...r, stream_seq: int8(r.stream_seq) }));
}

export interface QueryTriesOptions {
  merchantId?: string;
  endpointId?: string;
  eventId?: string;
  outcome?: 'delivered' | 'failed';
  /** An HTTP status code answered. */
  statusCode?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Tries across deliveries (the admin view), newest first. */
export async function queryWebhookTries(db: Kysely<Database>, o: QueryTriesOptions): Promise<WebhookTryRecord[]> {
  let q = db.selectFrom('webhook_attempts').selectAll();
  if (o.merchantId !== undefined) q = q.where('merchant_id', '=', o.merchantId);
  if (o.endpointId !== undefined) q = q.where('endpoint_id', '=', o.endpointId);
  if (o.eventId !== undefined) q = q.where('event_id', '=', o.eventId);
  if (o.outcome !== undefined) q = q.where('outcome', '=', o.outcome);
  if (o.statusCode !== undefined) q = q.where('status_code', '=', o.statusCode);
  const rows = await q.orderBy('stream_seq', 'desc').limit(Math.min(o.limit ?? 100, 1000)).execute();
  return rows.map((r) => ({ ...r, stream_seq: int8(r.stream_seq) }));
}
