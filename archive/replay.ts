// Replay: rebuilds every projection into a fresh database from the archives plus what is still in
// the streams, then diffs it with the live database. The same fold functions as the live
// projector run here (storage/projector.ts), so a difference is a real loss or corruption (or a
// projection that moved on during the run).
import type { JetStreamManager } from '@nats-io/jetstream';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/mod.ts';
import { migrateToLatest, projectCommits, projectReceipts, receiptMessageOf } from '../storage/mod.ts';
import { validateCommit } from '../streams/codec.ts';
import type { StoredCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import type { ReceiptMessage } from '../storage/mod.ts';
import { readChain, readChunk } from './chain.ts';
import { commitChunk, DB_CHAIN, type DbRecord } from './db-archive.ts';
import { canonicalJson, type StreamRecord } from './manifest.ts';
import type { Privacy } from './privacy.ts';
import { silentProgress, type Progress } from './progress.ts';
import type { ArchiveStore } from './store.ts';

const enc = new TextEncoder();

export interface StreamSource {
  store: ArchiveStore;
  jsm: JetStreamManager;
  privacy: Privacy;
}

export interface ReadCounts {
  archived: number;
  live: number;
  /** Sequences neither the archive nor the stream holds (a gap `audit verify` names). */
  missing?: number;
}

/**
 * Every record of a stream up to `until`, in sequence order: the archive's chunks first, then the
 * stream from the first sequence the archive does not hold. A message can age out of the stream
 * while this runs, just before the archiver stores it: then the archive is read again, so the two
 * sources interleave until `until` is reached or a sequence is in neither (counted as missing).
 */
export async function* streamRecords(src: StreamSource, stream: string, until: number, counts: ReadCounts, onTotal?: (n: number) => void): AsyncGenerator<StreamRecord & { source: 'archive' | 'stream'; mayBeSealed: boolean }> {
  const si0 = await src.jsm.streams.info(stream);
  const end = Math.min(until, si0.state.last_seq);
  onTotal?.(end);
  let next = 1;
  while (next <= end) {
    const before = next;
    const { manifests } = await readChain(src.store, stream);
    // Read ahead: the next chunk is fetched and gunzipped (thread pool) while this one is replayed.
    const ahead = new Map<number, Promise<StreamRecord[]>>();
    const load = (i: number) => {
      const m = manifests[i];
      if (!m || ahead.has(i)) return;
      const p = readChunk<StreamRecord>(src.store, m);
      p.catch(() => undefined); // awaited (and thrown) when reached; unread if the loop stops first
      ahead.set(i, p);
    };
    for (let i = 0; i < manifests.length; i++) {
      const m = manifests[i]!;
      if (m.last_seq! < next) continue;
      if (m.first_seq! > next || m.first_seq! > end) break;
      load(i);
      load(i + 1);
      load(i + 2);
      const records = await ahead.get(i)!;
      ahead.delete(i);
      // Only a chunk written under the 'encrypt' policy holds sealed e-mails (archiver.ts).
      const mayBeSealed = m.emails === 'encrypt';
      for (const r of records) {
        if (r.seq > end) break;
        if (r.seq !== next) continue;
        next = r.seq + 1;
        counts.archived++;
        yield { ...r, source: 'archive', mayBeSealed };
      }
    }
    while (next <= end) {
      const iter = await src.jsm.direct.getBatch(stream, { seq: next, batch: Math.min(1_000, end - next + 1) });
      let contiguous = true;
      let got = 0;
      try {
        for await (const sm of iter) {
          if (sm.seq !== next || sm.seq > end) {
            contiguous = false; // `next` aged out (or never was): look in the archive again
            break;
          }
          got++;
          next = sm.seq + 1;
          counts.live++;
          const text = sm.string();
          yield { seq: sm.seq, subject: sm.subject, time: sm.time.getTime(), data: JSON.parse(text) as unknown, source: 'stream', mayBeSealed: text.includes('enc:v1:') };
        }
      } catch (err) {
        // `next` aged out between the archive lookup and this read (the server answers 404 "no
        // message found" for the batch's first sequence): look in the archive again.
        if ((err as { code?: unknown }).code !== 404) throw err;
        contiguous = false;
      }
      if (!contiguous || got === 0) break;
    }
    if (next === before) {
      // In neither source: skip to what the stream still has (or the end), and count the hole.
      const first = (await src.jsm.streams.info(stream)).state.first_seq;
      const to = Math.min(end + 1, Math.max(first, next + 1));
      counts.missing = (counts.missing ?? 0) + (to - next);
      next = to;
    }
  }
}

/** The record's body with sealed e-mails opened (only records written under 'encrypt' hold any). */
async function revealed(src: StreamSource, r: StreamRecord & { mayBeSealed: boolean }): Promise<unknown> {
  return r.mayBeSealed && JSON.stringify(r.data).includes('enc:v1:') ? src.privacy.reveal(r.data) : r.data;
}

export interface ReplayOptions extends StreamSource {
  target: Kysely<Database>;
  /** Last sequences to replay (the live projection's checkpoints, for a like-for-like diff). */
  until: { events: number; webhooks: number };
  progress?: Progress;
  /** Commits per transaction; default 5,000. */
  batch?: number;
  /** Transactions in flight at once (Postgres: a few; PGlite serializes them anyway); default 1. */
  writers?: number;
}

export interface ReplayResult {
  events: ReadCounts;
  webhooks: ReadCounts;
  dbChunks: number;
  ms: number;
  /** Summed time of the database writes (they overlap reading, and each other with writers > 1). */
  writeMs: number;
  /** Stream records per second. */
  rate: number;
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const started = Date.now();
  const p = o.progress ?? silentProgress();
  const batch = o.batch ?? 5_000;
  await migrateToLatest(o.target);
  // A fresh target loads faster without its secondary indexes: drop them now, build them once at the end.
  const deferred = await deferIndexes(o.target);
  const events: ReadCounts = { archived: 0, live: 0 };
  // Writes overlap with reading: up to `writers` batches in flight. The fold is order-independent
  // (a row only changes for a newer sequence), so batches may commit in any order; a batch that
  // meets another's row lock in the wrong order (deadlock) is simply written again.
  const writers = Math.max(1, o.writers ?? 1);
  const inflight = new Set<Promise<void>>();
  let failure: unknown = null;
  let writeMs = 0;
  const write = async (f: () => Promise<void>, n: number) => {
    if (failure) throw failure;
    while (inflight.size >= writers) await Promise.race(inflight);
    const t0 = Date.now();
    const run: Promise<void> = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await f();
          return;
        } catch (err) {
          if (attempt >= 5 || (err as { code?: string }).code !== '40P01') throw err;
        }
      }
    })()
      .then(() => {
        writeMs += Date.now() - t0;
        p.tick(n);
      })
      .catch((err: unknown) => {
        failure = err;
      })
      .finally(() => inflight.delete(run));
    inflight.add(run);
  };
  const drain = async () => {
    await Promise.all(inflight);
    if (failure) throw failure;
  };
  // The replayed database is rebuilt, not the record: a crash means running replay again, so its
  // transactions need not wait for the WAL flush (the projector's own code writes every row).
  const unsynced = (f: (trx: Kysely<Database>) => Promise<void>) => () =>
    o.target.transaction().execute(async (trx) => {
      await sql`set local synchronous_commit = off`.execute(trx);
      await f(trx);
    });
  let commits: StoredCommit[] = [];
  for await (const r of streamRecords(o, EVENTS_STREAM, o.until.events, events, (n) => p.total(n))) {
    const commit = await revealed(o, r);
    validateCommit(commit); // the live projector's check, without a round trip through bytes
    commits.push({ commit, seq: r.seq, subject: r.subject, time: r.time });
    if (commits.length >= batch) {
      const b = commits;
      await write(unsynced((trx) => projectCommits(trx, b)), b.length);
      commits = [];
    }
  }
  const rest = commits;
  await write(unsynced((trx) => projectCommits(trx, rest)), rest.length);
  await drain();
  const webhooks: ReadCounts = { archived: 0, live: 0 };
  let receipts: ReceiptMessage[] = [];
  let read = 0;
  for await (const r of streamRecords(o, WEBHOOKS_STREAM, o.until.webhooks, webhooks, (n) => p.total(n))) {
    read++;
    if (!r.subject.startsWith('pay.webhook.receipt.') && !r.subject.startsWith('pay.webhook.dlq.')) continue;
    receipts.push(receiptMessageOf({ seq: r.seq, subject: r.subject, data: enc.encode(JSON.stringify(await revealed(o, r))) }));
    if (receipts.length >= batch) {
      const b = receipts;
      const n = read;
      read = 0;
      await write(unsynced((trx) => projectReceipts(trx, b)), n);
      receipts = [];
    }
  }
  const restReceipts = receipts;
  await write(unsynced((trx) => projectReceipts(trx, restReceipts)), read);
  await drain();
  for (const def of deferred) await sql.raw(def).execute(o.target);
  // The yearly archive removed rows from the live tables: remove the same rows here.
  const { manifests } = await readChain(o.store, DB_CHAIN);
  for (const m of manifests) await commitChunk(o.target, m, await readChunk<DbRecord>(o.store, m));
  p.done();
  const ms = Date.now() - started;
  const n = events.archived + events.live + webhooks.archived + webhooks.live;
  return { events, webhooks, dbChunks: manifests.length, ms, writeMs, rate: Math.round(n / Math.max(0.001, ms / 1000)) };
}

/**
 * On an empty target (no checkpoint yet), drops the indexes that are neither primary keys nor unique
 * (the upserts need those) and returns the statements that recreate them.
 */
async function deferIndexes(db: Kysely<Database>): Promise<string[]> {
  const used = await sql<{ n: string }>`select count(*)::text as n from projection_checkpoints`.execute(db);
  if (used.rows[0]?.n !== '0') return [];
  const r = await sql<{ indexname: string; indexdef: string }>`
    select i.indexname, i.indexdef from pg_indexes i
    where i.schemaname = 'public' and i.indexdef not ilike 'create unique index%'`.execute(db);
  for (const x of r.rows) await sql`drop index ${sql.id(x.indexname)}`.execute(db);
  return r.rows.map((x) => x.indexdef);
}

export interface TableDiff {
  table: string;
  live: number;
  replayed: number;
  onlyLive: number;
  onlyReplayed: number;
  /** A few differing rows, for the report. */
  examples: { side: 'live' | 'replayed'; row: string }[];
}

export interface DatabaseDiff {
  identical: boolean;
  tables: TableDiff[];
}

/** Columns that say when a row was written, not what it holds. */
const WRITE_TIME: Record<string, string[]> = { projection_checkpoints: ['updated_at'] };
const SKIP_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

async function tablesOf(db: Kysely<Database>): Promise<string[]> {
  const r = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(db);
  return r.rows.map((x) => x.table_name).filter((t) => !SKIP_TABLES.has(t));
}

async function rowsOf(db: Kysely<Database>, table: string, normalize: (s: string) => string): Promise<Map<string, number>> {
  const r = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
  const out = new Map<string, number>();
  for (const row of r.rows) {
    for (const c of WRITE_TIME[table] ?? []) delete row[c];
    const key = normalize(canonicalJson(JSON.parse(JSON.stringify(row))));
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/** Every table of both databases, row by row (as multisets of canonical JSON). */
export async function diffDatabases(live: Kysely<Database>, replayed: Kysely<Database>, normalize: (s: string) => string = (s) => s): Promise<DatabaseDiff> {
  const names = [...new Set([...(await tablesOf(live)), ...(await tablesOf(replayed))])].sort();
  const liveTables = new Set(await tablesOf(live));
  const replayedTables = new Set(await tablesOf(replayed));
  const tables: TableDiff[] = [];
  for (const table of names) {
    const a = liveTables.has(table) ? await rowsOf(live, table, normalize) : new Map<string, number>();
    const b = replayedTables.has(table) ? await rowsOf(replayed, table, normalize) : new Map<string, number>();
    const d: TableDiff = { table, live: 0, replayed: 0, onlyLive: 0, onlyReplayed: 0, examples: [] };
    for (const [k, n] of a) {
      d.live += n;
      const extra = n - (b.get(k) ?? 0);
      if (extra > 0) {
        d.onlyLive += extra;
        if (d.examples.length < 3) d.examples.push({ side: 'live', row: k.slice(0, 1500) });
      }
    }
    for (const [k, n] of b) {
      d.replayed += n;
      const extra = n - (a.get(k) ?? 0);
      if (extra > 0) {
        d.onlyReplayed += extra;
        if (d.examples.length < 6) d.examples.push({ side: 'replayed', row: k.slice(0, 1500) });
      }
    }
    tables.push(d);
  }
  return { identical: tables.every((t) => t.onlyLive === 0 && t.onlyReplayed === 0), tables };
}
