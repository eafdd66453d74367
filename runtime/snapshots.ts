// Aggregate snapshots: the latest state of every aggregate, kept in KV (pay_snapshots) so state
// outlives the event stream's retention (EVENT_MAX_AGE_S). Written off the hot path by the archiver
// (archive/role.ts): before it stores a PAY_EVENTS chunk, one put per aggregate touched in the
// chunk, holding that aggregate's last commit state in the chunk with its stream sequence and time.
// Read only when the stream has no message left on the aggregate's subject (runtime/aggregates.ts);
// the append after such a read is fenced on "no message on this subject" (expected last subject
// sequence 0), so single-writer holds: a concurrent writer that appended first makes ours conflict.
import type { KV } from '@nats-io/kv';
import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { bucketStream, bucketSubject } from '../nats/topology.ts';
import type { Commit } from '../streams/envelope.ts';

export interface Snapshot<S = unknown> {
  v: 1;
  aggregate: Commit['aggregate'];
  subject: string;
  merchant_id: string;
  aggregate_id: string;
  /** Stream sequence of the commit the state is from. */
  seq: number;
  /** Stream time of that commit, ms since epoch. */
  time: number;
  state: S;
}

/** A stream message as the archiver holds it (archive/manifest.ts StreamRecord). */
export interface CommitRecord {
  seq: number;
  subject: string;
  time: number;
  data: unknown;
}

/** The KV key of a subject: the subject itself (pay.evt.<aggregate>.<merchant>.<id> is a valid key). */
export const snapshotKey = (subject: string) => subject;

function isCommit(d: unknown): d is Commit {
  const c = d as Partial<Commit> | null;
  return !!c && typeof c === 'object' && typeof c.aggregate === 'string' && typeof c.aggregate_id === 'string' && typeof c.merchant_id === 'string' && c.state !== undefined && c.state !== null;
}

/** Pure: the newest commit per subject among `records` (any order), as snapshots. Non-commits are skipped. */
export function latestSnapshots(records: readonly CommitRecord[]): Snapshot[] {
  const latest = new Map<string, Snapshot>();
  for (const r of records) {
    if (!isCommit(r.data)) continue;
    const prev = latest.get(r.subject);
    if (prev && prev.seq >= r.seq) continue;
    const c = r.data;
    latest.set(r.subject, { v: 1, aggregate: c.aggregate, subject: r.subject, merchant_id: c.merchant_id, aggregate_id: c.aggregate_id, seq: r.seq, time: r.time, state: c.state });
  }
  return [...latest.values()];
}

export async function readSnapshot<S>(kv: KV, subject: string): Promise<Snapshot<S> | null> {
  const e = await kv.get(snapshotKey(subject));
  if (!e || e.operation !== 'PUT' || e.length === 0) return null;
  return e.json<Snapshot<S>>();
}

/** Snapshots per atomic batch (the server takes at most 1,000 messages in one). */
export const SNAPSHOT_BATCH = 500;

/**
 * Stores each snapshot unless the bucket already holds one from the same or a newer stream sequence
 * (a redelivered or backfilled chunk never moves a snapshot back). Compare-and-set on the entry's
 * revision, so two archivers racing cannot regress it either. Returns how many were written.
 *
 * A chunk's snapshots go in one atomic batch (server 2.12+, bucket `allow_atomic`): the current
 * entries are read in one batched direct get, each put expects its subject's last sequence to be
 * the one read, and the file store syncs the batch once instead of once per put (with
 * `sync_interval: always` that was most of what a snapshot cost). If anything moved in between (a
 * racing archiver) the whole batch is refused and the puts are made one by one as before.
 */
export async function saveSnapshots(kv: KV, snaps: readonly Snapshot[], opts: { js?: JetStreamClient; jsm?: JetStreamManager; bucket?: string; concurrency?: number } = {}): Promise<number> {
  if (snaps.length === 0) return 0;
  if (opts.js && opts.jsm && opts.bucket) {
    let written = 0;
    for (let i = 0; i < snaps.length; i += SNAPSHOT_BATCH) {
      const part = snaps.slice(i, i + SNAPSHOT_BATCH);
      const n = await saveBatch(opts.js, opts.jsm, opts.bucket, part).catch(() => null);
      written += n ?? (await saveEach(kv, part, opts.concurrency));
    }
    return written;
  }
  return saveEach(kv, snaps, opts.concurrency);
}

/** The commit sequence of a batched snapshot, beside its body: a later chunk compares without parsing it. */
const SEQ_HEADER = 'Paynats-Snapshot-Seq';

/** The commit sequence a stored snapshot is from, or null when the entry holds none (deleted, purged). */
function storedSeq(m: StoredMsg): number | null {
  const op = m.header?.get('KV-Operation');
  if ((op && op !== 'PUT') || m.data.length === 0) return null;
  const h = Number(m.header?.get(SEQ_HEADER) || Number.NaN);
  return Number.isSafeInteger(h) ? h : m.json<Snapshot>().seq; // a put of the one-by-one path has no header
}

/** One atomic batch; null when the server refused it (nothing of it was stored). */
async function saveBatch(js: JetStreamClient, jsm: JetStreamManager, bucket: string, snaps: readonly Snapshot[]): Promise<number | null> {
  const stream = bucketStream(bucket);
  const subjects = snaps.map((s) => bucketSubject(bucket, snapshotKey(s.subject)));
  const current = new Map<string, { seq: number; snapSeq: number | null }>();
  for await (const m of await jsm.direct.getLastMessagesFor(stream, { multi_last: subjects })) {
    current.set(m.subject, { seq: m.seq, snapSeq: storedSeq(m) });
  }
  const puts = snaps.flatMap((s, i) => {
    const cur = current.get(subjects[i]!);
    if (cur && cur.snapSeq !== null && cur.snapSeq >= s.seq) return [];
    const h = headers();
    h.set('Nats-Expected-Last-Subject-Sequence', String(cur?.seq ?? 0));
    h.set(SEQ_HEADER, String(s.seq));
    return [{ subject: subjects[i]!, body: JSON.stringify(s), h }];
  });
  if (puts.length === 0) return 0;
  if (puts.length === 1) {
    const [p] = puts;
    await js.publish(p!.subject, p!.body, { headers: p!.h });
    return 1;
  }
  const [first, ...rest] = puts;
  const last = rest.pop()!;
  const batch = await js.startBatch(first!.subject, first!.body, { headers: first!.h });
  for (const p of rest) batch.add(p.subject, p.body, { headers: p.h });
  await batch.commit(last.subject, last.body, { headers: last.h });
  return puts.length;
}

/** One compare-and-set put per snapshot, `concurrency` at a time. */
async function saveEach(kv: KV, snaps: readonly Snapshot[], concurrency = 32): Promise<number> {
  let written = 0;
  let next = 0;
  async function one(s: Snapshot): Promise<void> {
    const key = snapshotKey(s.subject);
    const body = JSON.stringify(s);
    // Most aggregates in a chunk are new since the last one: try a plain create first, one request
    // (kv.create would read the key back when it fails, before the read below does it again).
    try {
      await kv.put(key, body, { previousSeq: 0 });
      written++;
      return;
    } catch {
      /* there is one: compare below */
    }
    for (let attempt = 0; ; attempt++) {
      const e = await kv.get(key);
      const cur = e && e.operation === 'PUT' && e.length > 0 ? e.json<Snapshot>() : null;
      if (cur && cur.seq >= s.seq) return;
      try {
        if (e) await kv.update(key, body, e.revision);
        else await kv.create(key, body);
        written++;
        return;
      } catch (err) {
        if (attempt >= 5) throw err; // someone else wrote in between: look again
      }
    }
  }
  const workers = Array.from({ length: Math.min(concurrency, snaps.length) }, async () => {
    while (next < snaps.length) await one(snaps[next++]!);
  });
  await Promise.all(workers);
  return written;
}
