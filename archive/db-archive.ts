// The yearly archive of the database: intents in a terminal state (succeeded, canceled, no refund
// pending) with their attempts, SetupIntents that succeeded or were canceled, and finished webhook
// deliveries (delivered, dead), older than
// ARCHIVE_DB_AFTER_S, are written to the `db` chain (same chunk and manifest format) and then, in
// one transaction, indexed in archived_objects and removed from the hot tables.
//
// Crash rule: the chunk and its manifest are stored first; the transaction follows. If the process
// dies between the two, the next run finds the head manifest without index rows and finishes it.
import { sql, type Kysely } from 'kysely';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { snapshotKey } from '../runtime/snapshots.ts';
import type { Database } from '../storage/mod.ts';
import { subjects } from '../streams/subjects.ts';
import { appendChunk, chainHead, readChunk } from './chain.ts';
import { chunkName, encodeChunk, GENESIS, sealManifest, sha256, type Manifest } from './manifest.ts';
import { dbArchivedRows } from './metrics.ts';
import type { Privacy } from './privacy.ts';
import type { ArchiveStore } from './store.ts';

export const DB_CHAIN = 'db';

export type ArchivedKind = 'payment_intent' | 'payment_attempt' | 'setup_intent' | 'webhook_delivery';

export interface ArchivedObjectsTable {
  id: string;
  kind: ArchivedKind;
  merchant_id: string;
  chunk_index: number;
  archived_at: Date | string;
}

export type ArchiveDatabase = Database & { archived_objects: ArchivedObjectsTable };

/** One line of a db chunk: a hot-table row as it was (dates as ISO strings). */
export interface DbRecord {
  table: 'payment_intents' | 'payment_attempts' | 'setup_intents' | 'webhook_deliveries';
  id: string;
  merchant_id: string;
  row: Record<string, unknown>;
}

const KIND: Record<DbRecord['table'], ArchivedKind> = {
  payment_intents: 'payment_intent',
  payment_attempts: 'payment_attempt',
  setup_intents: 'setup_intent',
  webhook_deliveries: 'webhook_delivery',
};

export interface DbArchiveOptions {
  db: Kysely<Database>;
  store: ArchiveStore;
  privacy: Privacy;
  /** Rows last changed before now - olderThanS move. */
  olderThanS: number;
  now: Date;
  /** Intents (and deliveries) per chunk; default 2,000. */
  batch?: number;
  log?: Logger;
  /**
   * The aggregate snapshots (pay_snapshots). When given, the snapshots of the intents moved are
   * purged: such an intent is then answered from the archive (marked), and the bucket holds at
   * most ARCHIVE_DB_AFTER_S of terminal intents.
   */
  snapshots?: KV;
}

export interface DbArchiveResult {
  chunks: number;
  rows: Record<DbRecord['table'], number>;
  recovered: boolean;
}

const asDb = (db: Kysely<Database>) => db as unknown as Kysely<ArchiveDatabase>;

/** Plain JSON of a row: Dates become ISO strings, as they would come back from json aggregation. */
const plain = (r: unknown) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>;

export async function commitChunk(db: Kysely<Database>, m: Manifest, records: readonly DbRecord[]): Promise<void> {
  const now = new Date(m.archived_at ?? 0);
  await asDb(db).transaction().execute(async (trx) => {
    const index = records.map((r) => ({ id: r.id, kind: KIND[r.table], merchant_id: r.merchant_id, chunk_index: m.index, archived_at: now }));
    for (let i = 0; i < index.length; i += 1_000) {
      await trx.insertInto('archived_objects').values(index.slice(i, i + 1_000)).onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ chunk_index: eb.ref('excluded.chunk_index') }))).execute();
    }
    for (const table of ['payment_attempts', 'payment_intents', 'setup_intents', 'webhook_deliveries'] as const) {
      const ids = records.filter((r) => r.table === table).map((r) => r.id);
      for (let i = 0; i < ids.length; i += 1_000) await trx.deleteFrom(table).where('id', 'in', ids.slice(i, i + 1_000)).execute();
    }
  });
}

/** Selects one batch of rows due for the archive. */
async function dueRows(db: Kysely<Database>, cutoff: Date, batch: number): Promise<DbRecord[]> {
  const intents = await db
    .selectFrom('payment_intents')
    .selectAll()
    .where('status', 'in', ['succeeded', 'canceled'])
    .where('updated_at', '<', cutoff)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('refunds').select('refunds.id').whereRef('refunds.intent_id', '=', 'payment_intents.id').where('refunds.status', '=', 'pending'))))
    // An open dispute still changes its intent: archived once the network has decided it.
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('disputes').select('disputes.id').whereRef('disputes.intent_id', '=', 'payment_intents.id').where('disputes.status', 'not in', ['won', 'lost', 'warning_closed']))),
    )
    .orderBy('updated_at')
    .orderBy('id')
    .limit(batch)
    .execute();
  const ids = intents.map((i) => i.id);
  const attempts = ids.length ? await db.selectFrom('payment_attempts').selectAll().where('intent_id', 'in', ids).orderBy('intent_id').orderBy('seq_no').execute() : [];
  // A SetupIntent's row has no update time: one created before the cutoff and finished (a SetupIntent
  // lives minutes, not months) has not changed since.
  const setups = await db
    .selectFrom('setup_intents')
    .selectAll()
    .where('status', 'in', ['succeeded', 'canceled'])
    .where('created_at', '<', cutoff)
    .orderBy('created_at')
    .orderBy('id')
    .limit(batch)
    .execute();
  const deliveries = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('status', 'in', ['delivered', 'dead'])
    .where(sql<Date>`coalesce(delivered_at, last_attempt_at)`, '<', cutoff)
    .orderBy('id')
    .limit(batch)
    .execute();
  return [
    ...intents.map((r): DbRecord => ({ table: 'payment_intents', id: r.id, merchant_id: r.merchant_id, row: plain(r) })),
    ...attempts.map((r): DbRecord => ({ table: 'payment_attempts', id: r.id, merchant_id: r.merchant_id, row: plain(r) })),
    ...setups.map((r): DbRecord => ({ table: 'setup_intents', id: r.id, merchant_id: r.merchant_id, row: plain(r) })),
    ...deliveries.map((r): DbRecord => ({ table: 'webhook_deliveries', id: r.id, merchant_id: r.merchant_id, row: plain(r) })),
  ];
}

function timeOf(r: DbRecord): number {
  const v = r.row.updated_at ?? r.row.settled_at ?? r.row.created_at ?? r.row.delivered_at ?? r.row.last_attempt_at;
  return typeof v === 'string' ? Date.parse(v) : 0;
}

export function dbManifest(prev: Manifest | null, records: readonly DbRecord[], chunk: Uint8Array, emails: string, archivedAt: Date): Manifest {
  const index = prev ? prev.index + 1 : 0;
  const times = records.map(timeOf);
  const tables: Record<string, number> = {};
  for (const r of records) tables[r.table] = (tables[r.table] ?? 0) + 1;
  return sealManifest({
    v: 1,
    chain: DB_CHAIN,
    stream: null,
    index,
    first_seq: null,
    last_seq: null,
    first_time: Math.min(...times),
    last_time: Math.max(...times),
    count: records.length,
    chunk: chunkName(DB_CHAIN, index),
    bytes: chunk.byteLength,
    sha256: sha256(chunk),
    prev_hash: prev?.hash ?? GENESIS,
    emails,
    archived_at: archivedAt.getTime(),
    tables,
  });
}

/** Drops the snapshots of the intents among `records` (they left the hot path). */
async function purgeSnapshots(o: DbArchiveOptions, records: readonly DbRecord[]): Promise<void> {
  if (!o.snapshots) return;
  for (const r of records) {
    if (r.table === 'payment_intents') await o.snapshots.purge(snapshotKey(subjects.intent(r.merchant_id, r.id)));
    if (r.table === 'setup_intents') await o.snapshots.purge(snapshotKey(subjects.setupIntent(r.merchant_id, r.id)));
  }
}

/** Moves every due row to the archive, a chunk at a time. */
export async function archiveDatabase(o: DbArchiveOptions): Promise<DbArchiveResult> {
  const cutoff = new Date(o.now.getTime() - o.olderThanS * 1000);
  const batch = o.batch ?? 2_000;
  const rows: DbArchiveResult['rows'] = { payment_intents: 0, payment_attempts: 0, setup_intents: 0, webhook_deliveries: 0 };
  let head = await chainHead(o.store, DB_CHAIN);
  let recovered = false;
  if (head) {
    const indexed = await asDb(o.db).selectFrom('archived_objects').select('id').where('chunk_index', '=', head.index).limit(1).executeTakeFirst();
    if (!indexed) {
      // Stored, but the transaction never ran (a crash in between): finish it now.
      const records = await readChunk<DbRecord>(o.store, head);
      await commitChunk(o.db, head, records);
      await purgeSnapshots(o, records);
      recovered = true;
      o.log?.warn({ index: head.index, rows: records.length }, 'db archive: finished a chunk a crash had left half done');
    }
  }
  let chunks = 0;
  for (;;) {
    const due = await dueRows(o.db, cutoff, batch);
    if (due.length === 0) break;
    const records = await Promise.all(due.map(async (r) => ({ ...r, row: await o.privacy.protect(r.merchant_id, r.row) })));
    const chunk = await encodeChunk(records);
    const m = dbManifest(head, records, chunk, o.privacy.policy, o.now);
    await appendChunk(o.store, m, chunk);
    // Before the transaction: a crash in between leaves the head unindexed, and the next run, which
    // finishes that chunk, purges again.
    await purgeSnapshots(o, records);
    await commitChunk(o.db, m, records);
    head = m;
    chunks++;
    for (const r of records) {
      rows[r.table]++;
      dbArchivedRows.inc({ table: r.table });
    }
    o.log?.info({ index: m.index, count: m.count, tables: m.tables }, 'db archive chunk stored; rows moved out of the hot tables');
  }
  return { chunks, rows, recovered };
}

/** Where an archived row is, or null. */
export async function archivedEntry(db: Kysely<Database>, id: string): Promise<{ kind: ArchivedKind; merchant_id: string; chunk_index: number } | null> {
  const row = await asDb(db).selectFrom('archived_objects').select(['kind', 'merchant_id', 'chunk_index']).where('id', '=', id).executeTakeFirst();
  return row ?? null;
}
