// events: one row per domain event of every commit, in stream order (stream_seq, then position
// within the commit).
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Commit } from '../streams/envelope.ts';
import { chunks, fromUnix, int8, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import type { Page } from './payment-intents.ts';

export interface EventsTable {
  id: string;
  merchant_id: string;
  aggregate_id: string;
  type: string;
  created_at: Timestamp;
  stream_seq: Int8;
  position: number;
  data: Json<Record<string, unknown>>;
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

const COLUMNS = 8;

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

export interface ListEventsOptions {
  merchantId: string;
  /** An event type, or a prefix ending in `*` (`attempt.*`). */
  type?: string;
  limit: number;
  /** An event id: the page of events older than it. An unknown cursor yields an empty page. */
  startingAfter?: string;
}

/** A merchant's events, newest first. */
export async function listEvents(db: Kysely<Database>, o: ListEventsOptions): Promise<Page<EventRecord>> {
  if (!Number.isSafeInteger(o.limit) || o.limit < 1) throw new RangeError(`listEvents: limit must be a positive integer, got ${o.limit}`);
  let q = db.selectFrom('events').selectAll().where('merchant_id', '=', o.merchantId);
  if (o.type !== undefined) {
    if (o.type.endsWith('*')) {
      const prefix = o.type.slice(0, -1).replace(/[\\%_]/g, (ch) => `\\${ch}`);
      q = q.where('type', 'like', `${prefix}%`);
    } else {
      q = q.where('type', '=', o.type);
    }
  }
  if (o.startingAfter !== undefined) {
    const cursor = o.startingAfter;
    q = q.where((eb) =>
      eb(
        eb.refTuple('created_at', 'stream_seq', 'position'),
        '<',
        eb
          .selectFrom('events as cursor')
          .select(['cursor.created_at', 'cursor.stream_seq', 'cursor.position'])
          .where('cursor.id', '=', cursor)
          .where('cursor.merchant_id', '=', o.merchantId)
          .$asTuple('created_at', 'stream_seq', 'position'),
      ),
    );
  }
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('stream_seq', 'desc')
    .orderBy('position', 'desc')
    .limit(o.limit + 1)
    .execute();
  return { data: rows.slice(0, o.limit).map(toEventRecord), hasMore: rows.length > o.limit };
}

export async function getEvent(db: Kysely<Database>, merchantId: string, eventId: string): Promise<EventRecord | undefined> {
  const row = await db.selectFrom('events').selectAll().where('merchant_id', '=', merchantId).where('id', '=', eventId).executeTakeFirst();
  return row && toEventRecord(row);
}
