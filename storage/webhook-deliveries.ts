// webhook_deliveries: one row per delivery (one Stripe event to one endpoint), folded from the
// receipts of its tries and its dead letter.
//
// The fold is a max over (status rank, attempts, stream seq), rank delivered > dead > failed > pending,
// so it does not depend on the order receipts are read in and a redelivered receipt changes nothing:
// delivered is terminal (no later or older 'failed' turns it back), and a dead letter read before
// the last failed receipt still ends 'dead'.
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { DeadLetter, DeliveryReceipt, DeliveryTask } from '../webhooks/types.ts';
import { chunks, fromUnix, fromUnixOrNull, int8, type Int8, type Timestamp, type WithNumbers } from './columns.ts';
import type { Database } from './database.ts';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead';

export interface WebhookDeliveriesTable {
  id: string;
  merchant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at: Timestamp | null;
  delivered_at: Timestamp | null;
  next_retry_at: Timestamp | null;
  last_seq: Int8;
}

export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type NewWebhookDeliveryRow = Insertable<WebhookDeliveriesTable>;

export type DeliveryRecord = WithNumbers<WebhookDeliveryRow, 'last_seq'>;

/** A message of the receipts projector's batch: a receipt or a dead letter, with its stream position. */
export interface ReceiptMessage {
  seq: number;
  subject: string;
  receipt?: DeliveryReceipt;
  dead?: DeadLetter;
  /** A delivery task (pay.webhook.deliver.*): the delivery is owed, 'pending' until a try says more. */
  task?: DeliveryTask;
}

/** The row values a delivery is folded with: the record as a reader sees it (dates as Date, int8 as number). */
export type DeliveryFold = DeliveryRecord;

const RANK: Record<DeliveryStatus, number> = { pending: 0, failed: 1, dead: 2, delivered: 3 };

export function deliveryFromMessage(m: ReceiptMessage): DeliveryFold | null {
  const r = m.receipt;
  if (r) {
    const at = fromUnix(r.at);
    const delivered = r.outcome === 'delivered';
    return {
      id: r.delivery_id,
      merchant_id: r.merchant_id,
      endpoint_id: r.endpoint_id,
      event_id: r.event_id,
      event_type: r.event_type,
      url: r.url,
      status: delivered ? 'delivered' : 'failed',
      attempts: r.attempt,
      last_status_code: r.status_code,
      last_error: delivered ? null : r.error,
      last_attempt_at: at,
      delivered_at: delivered ? at : null,
      next_retry_at: delivered ? null : fromUnixOrNull(r.next_retry_at),
      last_seq: m.seq,
    };
  }
  const t = m.task;
  if (t) {
    return {
      id: t.id,
      merchant_id: t.merchant_id,
      endpoint_id: t.endpoint_id,
      event_id: t.event_id,
      event_type: t.event_type,
      url: t.url,
      status: 'pending',
      attempts: 0,
      last_status_code: null,
      last_error: null,
      last_attempt_at: null,
      delivered_at: null,
      next_retry_at: null,
      last_seq: m.seq,
    };
  }
  const d = m.dead;
  if (d) {
    return {
      id: d.delivery_id,
      merchant_id: d.merchant_id,
      endpoint_id: d.endpoint_id,
      event_id: d.event_id,
      event_type: d.event_type,
      url: d.url,
      status: 'dead',
      attempts: d.attempts,
      last_status_code: null,
      last_error: d.last_error,
      last_attempt_at: fromUnix(d.at),
      delivered_at: null,
      next_retry_at: null,
      last_seq: m.seq,
    };
  }
  return null;
}

function wins(x: DeliveryFold, over: DeliveryFold): boolean {
  const a = [RANK[x.status], x.attempts, x.last_seq];
  const b = [RANK[over.status], over.attempts, over.last_seq];
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}

/** Folds `x` into `acc`: the same rule the upsert applies against the stored row. */
export function foldDelivery(acc: DeliveryFold | undefined, x: DeliveryFold): DeliveryFold {
  if (!acc) return x;
  if (!wins(x, acc)) return acc;
  const dead = x.status === 'dead';
  return {
    ...x,
    attempts: Math.max(acc.attempts, x.attempts),
    last_status_code: dead ? (x.last_status_code ?? acc.last_status_code) : x.last_status_code,
    last_error: dead ? (x.last_error ?? acc.last_error) : x.last_error,
    last_seq: Math.max(acc.last_seq, x.last_seq),
  };
}

const rank = (table: 'excluded' | 'webhook_deliveries') =>
  sql<number>`(case ${sql.ref(`${table}.status`)} when 'delivered' then 3 when 'dead' then 2 when 'failed' then 1 else 0 end)`;

const COLUMNS = 14;

/** Upserts folded deliveries (at most one per id) under the fold rule. */
export async function upsertDeliveries(db: Kysely<Database>, folds: readonly DeliveryFold[]): Promise<void> {
  const rows: NewWebhookDeliveryRow[] = folds.map((f) => ({ ...f }));
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('webhook_deliveries')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            merchant_id: eb.ref('excluded.merchant_id'),
            endpoint_id: eb.ref('excluded.endpoint_id'),
            event_id: eb.ref('excluded.event_id'),
            event_type: eb.ref('excluded.event_type'),
            url: eb.ref('excluded.url'),
            status: eb.ref('excluded.status'),
            attempts: sql<number>`greatest(webhook_deliveries.attempts, excluded.attempts)`,
            last_status_code: sql<number | null>`case when excluded.status = 'dead' then coalesce(excluded.last_status_code, webhook_deliveries.last_status_code) else excluded.last_status_code end`,
            last_error: sql<string | null>`case when excluded.status = 'dead' then coalesce(excluded.last_error, webhook_deliveries.last_error) else excluded.last_error end`,
            last_attempt_at: eb.ref('excluded.last_attempt_at'),
            delivered_at: eb.ref('excluded.delivered_at'),
            next_retry_at: eb.ref('excluded.next_retry_at'),
            last_seq: sql<string>`greatest(webhook_deliveries.last_seq, excluded.last_seq)`,
          }))
          .where(
            sql<boolean>`(${rank('excluded')}, excluded.attempts, excluded.last_seq) > (${rank('webhook_deliveries')}, webhook_deliveries.attempts, webhook_deliveries.last_seq)`,
          ),
      )
      .execute();
  }
}

export function toDeliveryRecord(r: WebhookDeliveryRow): DeliveryRecord {
  return { ...r, last_seq: int8(r.last_seq) };
}

export interface ListDeliveriesOptions {
  merchantId: string;
  eventId?: string;
  /** Default 100. */
  limit?: number;
}

/** A merchant's deliveries (optionally of one event), most recently tried first. */
export async function listDeliveries(db: Kysely<Database>, o: ListDeliveriesOptions): Promise<DeliveryRecord[]> {
  let q = db.selectFrom('webhook_deliveries').selectAll().where('merchant_id', '=', o.merchantId);
  if (o.eventId !== undefined) q = q.where('event_id', '=', o.eventId);
  const rows = await q
    .orderBy('last_attempt_at', (ob) => ob.desc().nullsLast())
    .orderBy('id')
    .limit(o.limit ?? 100)
    .execute();
  return rows.map(toDeliveryRecord);
}

export interface QueryDeliveriesOptions {
  merchantId?: string;
  endpointId?: string;
  eventId?: string;
  status?: DeliveryStatus;
  /** Deliveries last tried (or queued) before this one's position: the next page. */
  startingAfter?: string;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Deliveries across merchants (the admin view), newest stream position first. */
export async function queryDeliveries(db: Kysely<Database>, o: QueryDeliveriesOptions): Promise<{ data: DeliveryRecord[]; hasMore: boolean }> {
  let q = db.selectFrom('webhook_deliveries').selectAll();
  if (o.merchantId !== undefined) q = q.where('merchant_id', '=', o.merchantId);
  if (o.endpointId !== undefined) q = q.where('endpoint_id', '=', o.endpointId);
  if (o.eventId !== undefined) q = q.where('event_id', '=', o.eventId);
  if (o.status !== undefined) q = q.where('status', '=', o.status);
  if (o.startingAfter !== undefined) {
    const after = await db.selectFrom('webhook_deliveries').select(['last_seq', 'id']).where('id', '=', o.startingAfter).executeTakeFirst();
    if (after) q = q.where((eb) => eb.or([eb('last_seq', '<', after.last_seq), eb.and([eb('last_seq', '=', after.last_seq), eb('id', '>', after.id)])]));
  }
  const limit = Math.min(o.limit ?? 100, 1000);
  const rows = await q.orderBy('last_seq', 'desc').orderBy('id').limit(limit + 1).execute();
  return { data: rows.slice(0, limit).map(toDeliveryRecord), hasMore: rows.length > limit };
}

/**
 * Stripe's pending_webhooks per event: the endpoints an event was owed to that have not had it
 * delivered (by the first delivery, a resend or a replay). 0 once every endpoint answered 2xx.
 */
export async function pendingWebhooks(db: Kysely<Database>, eventIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (eventIds.length === 0) return out;
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['event_id', 'endpoint_id', sql<number>`max(case when status = 'delivered' then 1 else 0 end)`.as('done')])
    .where('event_id', 'in', [...eventIds])
    .groupBy(['event_id', 'endpoint_id'])
    .execute();
  for (const id of eventIds) out.set(id, 0);
  for (const r of rows) if (Number(r.done) === 0) out.set(r.event_id, (out.get(r.event_id) ?? 0) + 1);
  return out;
}

export async function getDelivery(db: Kysely<Database>, merchantId: string, deliveryId: string): Promise<DeliveryRecord | undefined> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('id', '=', deliveryId)
    .executeTakeFirst();
  return row && toDeliveryRecord(row);
}
