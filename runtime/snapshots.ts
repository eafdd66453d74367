// Aggregate snapshots: the latest state of every aggregate, kept in KV (pay_snapshots) so state
// outlives the event stream's retention (EVENT_MAX_AGE_S). Written off the hot path by the archiver
// (archive/role.ts): before it stores a PAY_EVENTS chunk, one put per aggregate touched in the
// chunk, holding that aggregate's last commit state in the chunk with its stream sequence and time.
// Read only when the stream has no message left on the aggregate's subject (runtime/aggregates.ts);
// the append after such a read is fenced on "no message on this subject" (expected last subject
// sequence 0), so single-writer holds: a concurrent writer that appended first makes ours conflict.
import type { KV } from '@nats-io/kv';
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

/**
 * Stores each snapshot unless the bucket already holds one from the same or a newer stream sequence
 * (a redelivered or backfilled chunk never moves a snapshot back). Compare-and-set on the entry's
 * revision, so two archivers racing cannot regress it either. Returns how many were written.
 */
export async function saveSnapshots(kv: KV, snaps: readonly Snapshot[], concurrency = 32): Promise<number> {
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
