// The audit a chaos run ends with: is every aggregate's history in PAY_EVENTS linear? One writer at a
// time, no gap, no duplicate, through every failover.
//
// There is no per-aggregate version number in a commit (an event's `v` is its schema version, always
// the catalogue's), so linearity is checked on what a commit does carry: the aggregate's state after
// it. Each decision is `state = fold(events, state of the commit it was fenced on)`
// (runtime/aggregates.ts), so on every subject:
//   - chain: fold(commit[k].events, commit[k-1].state) must equal commit[k].state. A commit decided on
//     anything but its immediate predecessor (a lost update: two writers forking one aggregate, an
//     acknowledged commit lost in a failover and decided over, a gap) breaks it, as long as what it
//     missed shows in the fold: an event that carries an absolute value (a customer's whole merged
//     metadata) can hide a lost update of that same value. Intents' attempts and refunds are lists
//     that only grow, so a decision that missed one of them is always caught.
//   - origin: the first commit must fold from the empty aggregate (null), unless the stream has
//     dropped messages (first_seq > 1: max_age or a purge), when history may start at any commit
//     (then it is counted in `truncated`, not a violation).
//   - no commit id twice on a subject (the msgID de-duplication failed: a retried append stored twice),
//     no event id twice anywhere, stream sequences increasing, every message a valid commit whose
//     subject matches its aggregate.
// Writers: the `Writer` header (nats/append.ts) of each commit is counted per writer, and the writer
// changes along each aggregate's history are reported. A change is legitimate (a partition moved);
// whether two writers interleaved within one lease cannot be told from the stream alone (the lease
// history is not kept), but the chain check is exactly what single-writer ownership is for: it fails
// if two writers ever decided on the same state.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { customerDecider, intentDecider, merchantDecider, setupIntentDecider, productDecider, paymentLinkDecider, couponDecider } from '../actors/mod.ts';
import { decodeCommit } from '../streams/codec.ts';
import type { Commit } from '../streams/envelope.ts';
import { EVENTS_STREAM, parseEventSubject } from '../streams/subjects.ts';

export interface HistoryReport {
  /** Subjects (aggregates) seen. */
  aggregates: number;
  /** Commits (messages) read. */
  commits: number;
  /** Everything that breaks linearity, one line each (empty: every history is linear). */
  violations: string[];
  /** Writer id (`Writer` header; '(none)' when absent) → commits it wrote. */
  writers: Map<string, number>;
  /** Subject → how many times the writer changed along its history (subjects with at least one change). */
  writerChanges: Map<string, number>;
  /** Subjects whose visible history starts after the origin (the stream dropped older messages). */
  truncated: number;
  /** Stream sequence range read. */
  firstSeq: number;
  lastSeq: number;
}

type Evolve = (s: unknown, e: unknown) => unknown;
const evolvers: Record<Commit['aggregate'], Evolve> = {
  intent: intentDecider.evolve as Evolve,
  merchant: merchantDecider.evolve as Evolve,
  customer: customerDecider.evolve as Evolve,
  setup_intent: setupIntentDecider.evolve as Evolve,
  product: productDecider.evolve as Evolve,
  payment_link: paymentLinkDecider.evolve as Evolve,
  coupon: couponDecider.evolve as Evolve,
};

/** JSON with sorted keys and undefined dropped: equal states compare equal whatever their key order. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

function fold(aggregate: Commit['aggregate'], events: Commit['events'], from: unknown): unknown {
  const evolve = evolvers[aggregate];
  // A JSON round trip first: evolve sees what a reader of the stream sees, and cannot alter `from`.
  let s = from === null ? null : (JSON.parse(JSON.stringify(from)) as unknown);
  for (const e of events) s = evolve(s, e);
  return s;
}

interface Tail {
  commit: Commit;
  seq: number;
  writer: string;
  ids: Set<string>;
  changes: number;
}

export async function checkAggregateHistories(nc: NatsConnection, o: { stream?: string; filter?: string; maxViolations?: number; idleMs?: number } = {}): Promise<HistoryReport> {
  const stream = o.stream ?? EVENTS_STREAM;
  const maxViolations = o.maxViolations ?? 1_000;
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const firstSeq = info.state.first_seq;
  const lastSeq = info.state.last_seq;
  // Messages removed (max_age from the front, or per-subject limits/deletes in the middle).
  const dropped = firstSeq > 1 || (info.state.num_deleted ?? 0) > 0;
  const violations: string[] = [];
  const violate = (s: string) => {
    if (violations.length < maxViolations) violations.push(s);
    else if (violations.length === maxViolations) violations.push('… more violations left out');
  };
  const writers = new Map<string, number>();
  const writerChanges = new Map<string, number>();
  const tails = new Map<string, Tail>();
  const eventIds = new Map<string, string>(); // event id → where first seen
  let commits = 0;
  let truncated = 0;
  let prevSeq = 0;

  // A consumer made while the cluster is still settling after a node restart may be handed nothing
  // before the idle stop: a read that got no message of a stream that has some is made again.
  for (let attempt = 1; info.state.messages > 0 && commits === 0 && attempt <= 3; attempt++) {
    const consumer = await jetstream(nc).consumers.get(stream, o.filter ? { filter_subjects: [o.filter] } : {});
    const messages = await consumer.consume({ max_messages: 1_000 });
    // A filter that matches nothing (or whose last message is gone) would wait forever: stop when idle.
    let lastAt = Date.now();
    const idle = setInterval(() => {
      if (Date.now() - lastAt > (o.idleMs ?? 5_000)) messages.stop();
    }, 250);
    try {
      for await (const m of messages) {
        lastAt = Date.now();
        const where = `${m.subject} @${m.seq}`;
        if (m.seq <= prevSeq) violate(`${where}: stream sequence not increasing (after ${prevSeq})`);
        prevSeq = m.seq;
        commits++;
        const writer = m.headers?.get('Writer') || '(none)';
        writers.set(writer, (writers.get(writer) ?? 0) + 1);
        check(m.subject, m.seq, writer, m.data, where);
        if (m.seq >= lastSeq || m.info.pending === 0) break;
      }
    } finally {
      clearInterval(idle);
      messages.stop();
    }
  }

  function check(subject: string, seq: number, writer: string, data: Uint8Array, where: string): void {
    let c: Commit;
    try {
      c = decodeCommit(data);
    } catch (err) {
      violate(`${where}: not a valid commit (${(err as Error).message})`);
      return;
    }
    const addr = parseEventSubject(subject);
    if (!addr || addr.aggregate !== c.aggregate || addr.aggregateId !== c.aggregate_id || addr.merchantId !== c.merchant_id) {
      violate(`${where}: commit ${c.id} is of ${c.aggregate} ${c.merchant_id}/${c.aggregate_id}, not of its subject`);
    }
    for (const e of c.events) {
      const seen = eventIds.get(e.id);
      if (seen) violate(`${where}: event ${e.id} (${e.type}) already appended at ${seen}`);
      else eventIds.set(e.id, where);
    }
    const tail = tails.get(subject);
    let after: unknown;
    try {
      after = fold(c.aggregate, c.events, tail ? tail.commit.state : null);
    } catch (err) {
      after = err;
    }
    if (!tail) {
      if (after instanceof Error || canonical(after) !== canonical(c.state)) {
        if (dropped) truncated++;
        else violate(`${where}: the first commit ${c.id} does not start from an empty aggregate${after instanceof Error ? ` (${after.message})` : ''}`);
      }
      tails.set(subject, { commit: c, seq, writer, ids: new Set([c.id]), changes: 0 });
      return;
    }
    if (tail.ids.has(c.id)) violate(`${where}: commit ${c.id} appended twice`);
    else if (after instanceof Error || canonical(after) !== canonical(c.state)) {
      violate(`${where}: commit ${c.id} (${c.command}, writer ${writer}) was not decided on the previous commit ${tail.commit.id} @${tail.seq} (writer ${tail.writer})${after instanceof Error ? `: ${after.message}` : ': its state is not the previous state with its events'}`);
    }
    tail.ids.add(c.id);
    if (writer !== tail.writer) {
      tail.changes++;
      writerChanges.set(subject, tail.changes);
    }
    tail.commit = c;
    tail.seq = seq;
    tail.writer = writer;
  }

  return { aggregates: tails.size, commits, violations, writers, writerChanges, truncated, firstSeq, lastSeq };
}
