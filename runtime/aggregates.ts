// Load → decide → append for one aggregate. State comes from the last commit on the aggregate's
// subject (its post-evolve snapshot), cached in the owner; every append is fenced by the subject's
// last sequence and carries a msgID, so a second writer or a retried command can never fork history.
// When the stream no longer has the subject (its messages aged out after EVENT_MAX_AGE_S), the state
// comes from the aggregate's snapshot in KV (runtime/snapshots.ts) and the append is fenced on "no
// message on this subject" (sequence 0): a concurrent writer that appended first makes ours conflict.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Decider } from '../actors/mod.ts';
import { appendCommit, buckets, StreamConflictError } from '../nats/mod.ts';
import { decodeCommit, encodeCommit } from '../streams/codec.ts';
import type { RecentCommits } from '../streams/recent.ts';
import type { Applied, Commit, Stamped } from '../streams/envelope.ts';
import { EVENTS_STREAM } from '../streams/subjects.ts';
import { Lru } from './lru.ts';
import { readSnapshot } from './snapshots.ts';
import { randomHex } from '../vault/random.ts';

export interface Loaded<S> {
  state: S;
  /**
   * Last sequence of the aggregate's subject in the stream: the append fence. 0 when the stream has
   * no message on it: no history, or (with a non-null state from its snapshot) history aged out.
   */
  seq: number;
  /** The keyed commands applied in the last 24 h (streams/envelope.ts Commit.applied). */
  applied?: Applied;
}

/** How long a keyed command is answered from its commit: Stripe keeps idempotency keys 24 hours. */
export const APPLIED_TTL_S = 24 * 3600;

/**
 * What the commands of one request did, filled in as they run (the worker makes one per request;
 * steps share it): whether anything was appended, and the request id of the first commit a repeat
 * was answered from. The gateway marks a response `Idempotent-Replayed` when nothing was appended.
 */
export interface CommandTrace {
  appended: boolean;
  /** The sequence of the last commit appended. */
  lastSeq?: number;
  replayedFrom?: string | null;
}

/** A repeat of a keyed command with other parameters (400 idempotency_error at the gateway). */
export class IdempotencyMismatchError extends Error {
  override name = 'IdempotencyMismatchError';
}

export interface CommandContext {
  /** Becomes the commit id and msgID. */
  commandId: string;
  requestId: string | null;
  correlationId: string | null;
  now: number;
  /**
   * The keyed fingerprint of the request's parameters, sent when it has an Idempotency-Key: the
   * command is recorded in the commit's `applied`, and a repeat is answered from its commit.
   */
  fingerprint?: string;
  trace?: CommandTrace;
}

/** A step of a command that appends more than once (start, record, …): its own command id, derived. */
export const step = (ctx: Omit<CommandContext, 'commandId'> & { commandId: string }, name: string): CommandContext => ({ ...ctx, commandId: `${ctx.commandId}:${name}` });

export interface AggregateRef {
  aggregate: Commit['aggregate'];
  subject: string;
  merchantId: string;
  aggregateId: string;
}

export interface Executed<S> extends Loaded<S> {
  /** Events this command appended ([] for a no-op or a de-duplicated repeat). */
  appended: { type: string; id: string }[];
}

/**
 * Aggregates whose last state a process keeps (LRU). Memory: at 50k, a 5-minute soak at ~90
 * payments/s (~3 aggregates each) was still filling it at the end (tens of MB of parsed state,
 * measured as heap growth); a payment's commands come within seconds of each other, so 10k (~30 s
 * of traffic at that rate) keeps every hit that matters, and a miss costs one direct get.
 */
export const AGGREGATE_CACHE_MAX = 10_000;
const CONFLICT_RETRIES = 3;

export function newEventId(): string {
  return `evt_${randomHex(12)}`;
}

export function createAggregateStore(js: JetStreamClient, jsm: JetStreamManager, writer?: string, store: { cacheMax?: number; recent?: RecentCommits } = {}) {
  const cache = new Lru<string, Loaded<unknown>>(store.cacheMax ?? AGGREGATE_CACHE_MAX);
  /** Throws when this process may not write the subject now (it is not surely its owner). */
  let fence: ((subject: string) => void | Promise<void>) | undefined;

  function remember(subject: string, l: Loaded<unknown>) {
    cache.set(subject, l);
  }

  let snapshots: Promise<KV> | undefined;
  const snapshotBucket = () => {
    // Direct gets (no JetStream API request, no advisory): a snapshot is only ever read for a subject
    // with no message left in the stream, i.e. one written long before, which no replica can lag behind.
    snapshots ??= new Kvm(js).open(buckets.snapshots, { allow_direct: true });
    snapshots.catch(() => (snapshots = undefined)); // a failed open is tried again next time
    return snapshots;
  };

  async function readLast<S>(subject: string): Promise<Loaded<S | null>> {
    const m = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: subject });
    if (m) {
      const c = decodeCommit(m.data);
      return { state: c.state as S, seq: m.seq, ...(c.applied ? { applied: c.applied } : {}) };
    }
    // Nothing in the stream: never written, or aged out. The snapshot holds the state; the fence
    // stays "no message on this subject" (0), which a writer that appends first breaks.
    const snap = await readSnapshot<S>(await snapshotBucket(), subject);
    return { state: snap ? snap.state : null, seq: 0 };
  }

  async function load<S>(subject: string): Promise<Loaded<S | null>> {
    const hit = cache.get(subject);
    if (hit) return hit as Loaded<S | null>;
    const l = await readLast<S>(subject);
    if (l.seq > 0 || l.state !== null) remember(subject, l);
    return l;
  }

  /**
   * A keyed command this aggregate applied before: the state its commit left (the first answer,
   * whatever came after), or IdempotencyMismatchError when the parameters differ. Null when the
   * command is not keyed or was not applied. The commit is the next on the subject after the
   * sequence recorded for it: one direct get.
   */
  async function replayOf<S>(subject: string, ctx: CommandContext, current: Loaded<S | null>): Promise<Executed<S | null> | null> {
    const prior = ctx.fingerprint ? current.applied?.[ctx.commandId] : undefined;
    if (!prior) return null;
    if (prior[1] !== ctx.fingerprint) throw new IdempotencyMismatchError(`command ${ctx.commandId} was applied with other parameters`);
    const m = await jsm.direct.getMessage(EVENTS_STREAM, { seq: prior[0] + 1, next_by_subj: subject });
    const c = m ? decodeCommit(m.data) : null;
    // Its commit gone (erased, purged): what the aggregate is now is the best answer left.
    const answer = c && c.id === ctx.commandId ? { state: c.state as S, seq: m!.seq } : { state: current.state, seq: current.seq };
    if (ctx.trace && ctx.trace.replayedFrom === undefined) ctx.trace.replayedFrom = c?.request_id ?? null;
    return { ...answer, ...(current.applied ? { applied: current.applied } : {}), appended: [] };
  }

  /** The answer to a repeat of a keyed command (null if it is not one): lets a handler skip work already done. */
  async function replayed<S>(subject: string, ctx: CommandContext): Promise<Executed<S | null> | null> {
    if (!ctx.fingerprint) return null;
    return replayOf(subject, ctx, await load<S>(subject));
  }

  /** `applied` for the next commit: entries younger than APPLIED_TTL_S, and this command if keyed. */
  function appliedAfter(current: Loaded<unknown>, ctx: CommandContext): Applied | undefined {
    let next: Applied | undefined;
    const from = ctx.now - APPLIED_TTL_S;
    for (const id in current.applied) {
      const e = current.applied[id]!;
      if (e[2] >= from) (next ??= {})[id] = e;
    }
    if (ctx.fingerprint) (next ??= {})[ctx.commandId] = [current.seq, ctx.fingerprint, ctx.now];
    return next;
  }

  /**
   * Runs one command. The caller holds the aggregate's mailbox. On a fence conflict (another writer
   * appended since our cached state) the state is re-read and the command decided again.
   * `assumeNew`: the command creates the aggregate under a fresh id, so the first try skips the read.
   * `neverExisted`: moreover the id was drawn at random for this command (not derived from an
   * Idempotency-Key), so it cannot be an aggregate whose history aged out: no snapshot lookup either.
   */
  async function execute<C, E extends { type: string; at: number }, S>(
    decider: Decider<C, E, S | null>,
    ref: AggregateRef,
    command: C & { type: string },
    ctx: CommandContext,
    opts: { assumeNew?: boolean; neverExisted?: boolean } = {},
  ): Promise<Executed<S | null>> {
    for (let attempt = 0; ; attempt++) {
      // A create need not read first: the append is fenced on "no message on this subject yet", so
      // an aggregate that exists after all (a retry, a clash) is a conflict, and the loop reads it.
      const blind = opts.assumeNew === true && attempt === 0 && !cache.has(ref.subject);
      // The fence on 0 cannot see an aggregate whose messages aged out (an id derived from an
      // Idempotency-Key reused after the retention): its snapshot can. Looked up while deciding.
      const aged = blind && opts.neverExisted !== true ? snapshotBucket().then((kv) => readSnapshot<S>(kv, ref.subject)) : null;
      aged?.catch(() => {});
      const current: Loaded<S | null> = blind ? { state: null, seq: 0 } : await load<S>(ref.subject);
      const replay = await replayOf<S>(ref.subject, ctx, current);
      if (replay) return replay;
      const events = decider.decide(command, current.state);
      if (events.length === 0) return { ...current, appended: [] };
      const stamped = events.map((e) => ({ ...e, id: newEventId(), v: 1 }) as Stamped<E>);
      const state = stamped.reduce<S | null>((s, e) => decider.evolve(s, e), current.state);
      const applied = appliedAfter(current, ctx);
      const commit = {
        v: 1,
        id: ctx.commandId,
        aggregate: ref.aggregate,
        aggregate_id: ref.aggregateId,
        merchant_id: ref.merchantId,
        command: command.type,
        request_id: ctx.requestId,
        correlation_id: ctx.correlationId,
        at: ctx.now,
        ...(applied ? { applied } : {}),
        events: stamped,
        state,
      } as unknown as Commit;
      try {
        // Before every append, conflict retries included: a conflict means another process
        // appended, i.e. the partition may have moved on while this one was not looking.
        const fenced = fence?.(ref.subject); // a promise only when the lease's renewal is late
        if (fenced) await fenced;
        if (aged && (await aged)) throw new StreamConflictError(ref.subject, 0); // decide again on the snapshot
        const data = encodeCommit(commit);
        const ack = await appendCommit(js, {
          subject: ref.subject,
          msgId: ctx.commandId,
          expectedSeq: current.seq,
          data,
          requestId: ctx.requestId,
          correlationId: ctx.correlationId,
          ...(writer ? { writer } : {}),
        });
        if (ack.duplicate) {
          // This very command was appended before (a retry after a lost ack): what is stored wins.
          cache.delete(ref.subject);
          const stored = await readLast<S>(ref.subject);
          if (stored.seq > 0 || stored.state !== null) remember(ref.subject, stored);
          return (await replayOf<S>(ref.subject, ctx, stored)) ?? { ...stored, appended: [] };
        }
        const next: Loaded<S | null> = { state, seq: ack.seq, ...(applied ? { applied } : {}) };
        remember(ref.subject, next);
        store.recent?.remember(ack.seq, ref.subject, data.length, commit);
        if (ctx.trace) {
          ctx.trace.appended = true;
          ctx.trace.lastSeq = ack.seq;
        }
        return { ...next, appended: stamped.map((e) => ({ type: e.type, id: e.id })) };
      } catch (err) {
        cache.delete(ref.subject);
        if (err instanceof StreamConflictError && attempt < CONFLICT_RETRIES) continue;
        throw err;
      }
    }
  }

  return {
    load,
    /** Read without caching (a query from a process that does not own the aggregate). */
    readLast,
    execute,
    replayed,
    /** Installs the ownership check every append is made under (the actor worker does). */
    setFence(f: (subject: string) => void | Promise<void>) {
      fence = f;
    },
    /** Forget cached state, e.g. when a partition is handed to another owner. */
    forget(predicate: (subject: string) => boolean) {
      for (const k of [...cache.keys()]) if (predicate(k)) cache.delete(k);
    },
    /** Aggregates cached now (at most the cap). */
    cacheSize: () => cache.size,
  };
}

export type AggregateStore = ReturnType<typeof createAggregateStore>;
