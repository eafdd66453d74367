// events: one row per domain event of every commit, in stream order (stream_seq, then position
// within the commit); and beside them (kind = 'stripe') one row per Stripe event the commit stands
// for, which GET /v1/events reads.
import { sql, type Generated, type Insertable, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { Commit } from '../streams/envelope.ts';
import { stripeEventsOf, type StripeEvent } from '../stripe/objects.ts';
import { chunks, fromUnix, int8, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

export interface EventsTable {
  id: string;
  merchant_id: string;
  aggregate_id: string;
  type: string;
  created_at: Timestamp;
  stream_seq: Int8;
  position: number;
  data: Json<Record<string, unknown>>;
  livemode: Generated<boolean>;
  /** 'domain': data is the domain event's data; 'stripe': data is the whole Stripe event. */
  kind: Generated<'domain' | 'stripe'>;
}

export type EventRow = Selectable<EventsTable>;
export type NewEventRow = Insertable<EventsTable>;

export interface EventRecord {
  id: string;
  merchant_id: string;
  aggregate_id: string;
  type: string;
  created_at: Date;
  stream_seq: number;
  position: number;
  data: Record<string, unknown>;
}

/** Fields of an event's data the read model does not copy (secrets stay in the stream). */
const REDACTED: Record<string, readonly string[]> = {
  'merchant.onboarded': ['keys', 'webhook_secret_enc'],
  'webhook_endpoint.created': ['secret_enc'],
  'webhook_endpoint.secret_rolled': ['secret_enc', 'previous_secrets'],
};

export function eventRowsFromCommit(c: Commit, seq: number): NewEventRow[] {
  return c.events.map((e, i) => {
    let data = e.data as Record<string, unknown>;
    const drop = REDACTED[e.type];
    if (drop) data = Object.fromEntries(Object.entries(data).filter(([k]) => !drop.includes(k)));
    return {
      id: e.id,
      merchant_id: c.merchant_id,
      aggregate_id: c.aggregate_id,
      type: e.type,
      created_at: fromUnix(e.at),
      stream_seq: seq,
      position: i,
      data: json(data),
    };
  });
}

export function toEventRecord(r: EventRow): EventRecord {
  return { ...r, stream_seq: int8(r.stream_seq) };
}

const COLUMNS = 10;

/** Events are immutable: one already stored is left as it is. */
export async function insertEvents(db: Kysely<Database>, rows: readonly NewEventRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('events')
      .values(part)
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
}

export interface ListEventsOptions extends Pick<PageOptions, 'limit' | 'startingAfter'> {
  merchantId: string;
  /** An event type, or a prefix ending in `*` (`attempt.*`). */
  type?: string;
}

/** The events' order: created, then stream order. */
const EVENT_KEYS = ['created_at', 'stream_seq', 'position'] as const;

/** A merchant's events, newest first. */
export async function listEvents(db: Kysely<Database>, o: ListEventsOptions): Promise<Page<EventRecord>> {
  let q = db.selectFrom('events').selectAll().where('merchant_id', '=', o.merchantId).where('kind', '=', 'domain');
  if (o.type !== undefined) {
    if (o.type.endsWith('*')) {
      const prefix = o.type.slice(0, -1).replace(/[\\%_]/g, (ch) => `\\${ch}`);
      q = q.where('type', 'like', `${prefix}%`);
    } else {
      q = q.where('type', '=', o.type);
    }
  }
  const page = await keysetPage('listEvents', q, o, { keys: EVENT_KEYS, cursorTable: 'events', cursorScope: { merchant_id: o.merchantId, kind: 'domain' } });
  return { data: page.data.map(toEventRecord), hasMore: page.hasMore };
}

export async function getEvent(db: Kysely<Database>, merchantId: string, eventId: string): Promise<EventRecord | undefined> {
  const row = await db.selectFrom('events').selectAll().where('merchant_id', '=', merchantId).where('id', '=', eventId).where('kind', '=', 'domain').executeTakeFirst();
  return row && toEventRecord(row);
}

// ── Stripe events (GET /v1/events) ───────────────────────────────────────────────────────────

/** One row per Stripe event of a commit (`stripeEventsOf`: the same ids the webhooks carry). */
export function stripeEventRowsFromCommit(c: Commit, seq: number): NewEventRow[] {
  return stripeEventsOf(c).map((e, i) => ({
    id: e.id,
    merchant_id: c.merchant_id,
    aggregate_id: c.aggregate_id,
    type: e.type,
    created_at: fromUnix(e.created),
    stream_seq: seq,
    position: i,
    data: json(e),
    livemode: e.livemode,
    kind: 'stripe' as const,
  }));
}

export interface ListStripeEventsOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  /** Stripe's `type`: an event type, `*` matching any run of characters (`payment_intent.*`). */
  type?: string;
  /** Stripe's `types[]`: exact event types. */
  types?: readonly string[];
  /** Events created before this are not listed (Stripe keeps 30 days). */
  notBefore?: Date;
  /**
   * Stripe's `delivery_success`: true, events with no delivery still owed or failed (every webhook
   * answered 2xx, or none was owed); false, events with at least one delivery pending, failing or dead.
   */
  deliverySuccess?: boolean;
}

/** A merchant's Stripe events of one mode, newest first (created, then stream order). */
export async function listStripeEvents(db: Kysely<Database>, o: ListStripeEventsOptions): Promise<Page<StripeEvent>> {
  let q = db
    .selectFrom('events')
    .select('data')
    .where('kind', '=', 'stripe')
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode);
  if (o.type !== undefined) {
    if (o.type.includes('*')) {
      const pattern = o.type.replace(/[\\%_]/g, (ch) => `\\${ch}`).replace(/\*/g, '%');
      q = q.where('type', 'like', pattern);
    } else {
      q = q.where('type', '=', o.type);
    }
  }
  if (o.types !== undefined) q = o.types.length === 0 ? q.where('type', '=', '') : q.where('type', 'in', [...o.types]);
  if (o.notBefore !== undefined) q = q.where('created_at', '>=', o.notBefore);
  if (o.deliverySuccess !== undefined) {
    const owed = sql<SqlBool>`exists (select 1 from ${sql.table('webhook_deliveries')} as ${sql.id('d')} where ${sql.ref('d.event_id')} = ${sql.ref('events.id')} and ${sql.ref('d.status')} <> 'delivered')`;
    q = q.where(o.deliverySuccess ? sql<SqlBool>`not ${owed}` : owed);
  }
  const page = await keysetPage('listStripeEvents', q, o, {
    keys: EVENT_KEYS,
    cursorTable: 'events',
    cursorScope: { kind: 'stripe', merchant_id: o.merchantId, livemode: o.livemode },
  });
  return { data: page.data.map((r) => r.data as unknown as StripeEvent), hasMore: page.hasMore };
}

/** One Stripe event of a merchant and mode, or undefined. */
export async function getStripeEvent(db: Kysely<Database>, merchantId: string, livemode: boolean, eventId: string, notBefore?: Date): Promise<StripeEvent | undefined> {
  let q = db
    .selectFrom('events')
    .select('data')
    .where('kind', '=', 'stripe')
    .where('id', '=', eventId)
    .where('merchant_id', '=', merchantId)
    .where('livemode', '=', livemode);
  if (notBefore !== undefined) q = q.where('created_at', '>=', notBefore);
  const row = await q.executeTakeFirst();
  return row ? (row.data as unknown as StripeEvent) : undefined;
}
