// Durable consumer loops. Handlers never throw at the loop: every message ends in ack, nak(delay)
// or term, and the loop survives missed heartbeats and reconnects (nats.js #150, nats.node #649).
import { AckPolicy } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';

export type Outcome = { kind: 'ack' } | { kind: 'nak'; delayMs: number; reason: string } | { kind: 'term'; reason: string };

export interface ConsumerLoop {
  stop(): Promise<void>;
  /** Resolves when the loop has stopped. */
  done: Promise<void>;
}

function settle(m: JsMsg, o: Outcome, log: Logger): void {
  switch (o.kind) {
    case 'ack':
      m.ack();
      return;
    case 'nak':
      log.warn({ seq: m.seq, subject: m.subject, reason: o.reason, delay_ms: o.delayMs, redelivery: m.info.deliveryCount }, 'nak');
      m.nak(o.delayMs);
      return;
    case 'term':
      // Logged as well as sent: old servers drop term's reason.
      log.error({ seq: m.seq, subject: m.subject, reason: o.reason }, 'term');
      m.term(o.reason);
      return;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fetches batches and hands each batch to `handle`, which returns one outcome per message (in order).
 * Used where a batch is one unit of work (the projector writes one transaction per batch).
 */
export function runBatchConsumer(
  js: JetStreamClient,
  stream: string,
  durable: string,
  handle: (batch: JsMsg[]) => Promise<Outcome[]>,
  log: Logger,
  opts: { maxMessages?: number; expiresMs?: number } = {},
): ConsumerLoop {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(stream, durable);
        while (!stopped) {
          const iter = await consumer.fetch({ max_messages: opts.maxMessages ?? 256, expires: opts.expiresMs ?? 1_000 });
          const batch: JsMsg[] = [];
          for await (const m of iter) batch.push(m);
          if (batch.length === 0) continue;
          let outcomes: Outcome[];
          try {
            outcomes = await handle(batch);
          } catch (err) {
            log.error({ err, durable }, 'batch handler failed; redelivering');
            outcomes = batch.map(() => ({ kind: 'nak', delayMs: 1_000, reason: String((err as Error).message) }));
          }
          batch.forEach((m, i) => settle(m, outcomes[i] ?? { kind: 'nak', delayMs: 1_000, reason: 'no outcome' }, log));
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err, durable }, 'consumer loop interrupted; restarting');
        await sleep(500);
      }
    }
  })();
  return {
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** One message at a time per handler call, up to `concurrency` in flight. */
export function runConsumer(
  js: JetStreamClient,
  stream: string,
  durable: string,
  handle: (m: JsMsg) => Promise<Outcome>,
  log: Logger,
  opts: { concurrency?: number } = {},
): ConsumerLoop {
  const concurrency = opts.concurrency ?? 32;
  let stopped = false;
  const inflight = new Set<Promise<void>>();
  const done = (async () => {
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(stream, durable);
        while (!stopped) {
          const room = concurrency - inflight.size;
          if (room <= 0) {
            await Promise.race(inflight);
            continue;
          }
          const iter = await consumer.fetch({ max_messages: room, expires: 1_000 });
          for await (const m of iter) {
            const p: Promise<void> = handle(m)
              .catch((err: unknown): Outcome => {
                log.error({ err, durable, seq: m.seq }, 'handler threw');
                return { kind: 'nak', delayMs: 1_000, reason: String((err as Error).message) };
              })
              .then((o) => settle(m, o, log))
              .finally(() => inflight.delete(p));
            inflight.add(p);
          }
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err, durable }, 'consumer loop interrupted; restarting');
        await sleep(500);
      }
    }
    await Promise.allSettled(inflight);
  })();
  return {
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** NATS subject matching: `*` one token, `>` the rest (one token or more). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

/** A stream message as a contiguous batch consumer hands it on: delivered, or read by direct get. */
export interface SeqRecord {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** Stored at, ms since epoch. */
  timeMs: number;
}

/**
 * Like runBatchConsumer, for a durable with ack policy `all`: one ack per batch instead of one per
 * message. Meant for a durable whose filter covers (nearly) its whole stream: a sequence outside the
 * filter between two delivered ones costs a direct get to find out it is not ours.
 *
 * An ack (or term) under ack-all acknowledges every sequence below it too, whoever holds them, so
 * the loop only ever acknowledges a sequence once it has handled every sequence from the durable's
 * ack floor up to it, itself: `next` is the first sequence not handled yet. A batch is handed on
 * as the contiguous run `next`…its last sequence; a sequence the fetch did not bring (still pending
 * with a crashed process or another instance until ack_wait, or lost on a reconnect) is read by
 * direct get. A nak stops the run: what was handled before it is acknowledged, it and everything
 * after it is naked at once (after the largest delay asked for, waited here: a delayed nak would
 * let the next batch's ack acknowledge it) and handled again. Redeliveries below `next` were
 * handled: the highest is acknowledged, nothing else is done. Before reading a gap the ack floor is
 * asked for: every acknowledgement by this loop (here or in another process) means all below it was
 * handled, so a floor past `next` moves `next` (several instances do not redo each other's work).
 * With any other ack policy (a durable not migrated yet) every message is settled on its own.
 */
export function runContiguousBatchConsumer(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  handle: (batch: SeqRecord[]) => Promise<Outcome[]>,
  log: Logger,
  opts: { maxMessages?: number; expiresMs?: number; maxNakWaitMs?: number } = {},
): ConsumerLoop {
  let stopped = false;
  const maxNakWaitMs = opts.maxNakWaitMs ?? 5_000;
  const fromMsg = (m: JsMsg): SeqRecord => ({ seq: m.seq, subject: m.subject, data: m.data, timeMs: Math.floor(m.info.timestampNanos / 1e6) });
  const done = (async () => {
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(stream, durable);
        const ci = await consumer.info();
        const ackAll = ci.config.ack_policy === AckPolicy.All;
        let next = ci.ack_floor.stream_seq + 1;
        const filters = ci.config.filter_subjects?.length ? ci.config.filter_subjects : ci.config.filter_subject ? [ci.config.filter_subject] : [];
        const ours = (subject: string) => filters.length === 0 || filters.some((f) => subjectMatches(f, subject));
        while (!stopped) {
          const iter = await consumer.fetch({ max_messages: opts.maxMessages ?? 256, expires: opts.expiresMs ?? 1_000 });
          const msgs: JsMsg[] = [];
          for await (const m of iter) msgs.push(m);
          if (msgs.length === 0) continue;
          if (!ackAll) {
            await handleEach(msgs);
            continue;
          }
          // The newest delivery of each sequence, in sequence order.
          const bySeq = new Map<number, JsMsg>();
          let handledBefore: JsMsg | null = null;
          for (const m of msgs) {
            if (m.seq < next) {
              if (!handledBefore || handledBefore.seq <= m.seq) handledBefore = m;
            } else bySeq.set(m.seq, m);
          }
          // Redelivered after we handled it (our ack was late or lost): acknowledging it acknowledges only what we handled.
          handledBefore?.ack();
          if (bySeq.size === 0) continue;
          const last = Math.max(...bySeq.keys());
          if (bySeq.size !== last - next + 1) {
            // A gap. Another instance of this loop may have handled it: whatever it acknowledged (the
            // ack floor) it handled, every sequence up to it, so only what is above the floor is read.
            const floor = (await consumer.info()).ack_floor.stream_seq;
            if (floor >= next) {
              for (const seq of bySeq.keys()) if (seq <= floor) bySeq.delete(seq);
              next = floor + 1;
              if (bySeq.size === 0) continue;
            }
          }
          const recs: SeqRecord[] = [];
          const held: (JsMsg | null)[] = [];
          for (let seq = next; seq <= last; seq++) {
            const m = bySeq.get(seq);
            if (m) {
              recs.push(fromMsg(m));
              held.push(m);
              continue;
            }
            // Direct get (any replica); a miss or a failure is asked again of the stream leader, which is
            // never behind. An error there restarts the loop, which reads it again.
            const sm = (await jsm.direct.getMessage(stream, { seq }).catch(() => null)) ?? (await jsm.streams.getMessage(stream, { seq }));
            if (sm) {
              // Outside the filter: never this durable's, nothing to do.
              if (ours(sm.subject)) {
                recs.push({ seq: sm.seq, subject: sm.subject, data: sm.data, timeMs: sm.time.getTime() });
                held.push(null);
              }
              continue;
            }
            // Gone (aged out, or purged): nothing can bring it back.
            const first = (await jsm.streams.info(stream)).state.first_seq;
            const to = seq < first ? Math.min(last, first - 1) : seq;
            log.error({ durable, from: seq, to }, 'sequences left the stream before this durable handled them');
            seq = to;
          }
          if (recs.length === 0) {
            bySeq.get(last)?.ack();
            next = last + 1;
            continue;
          }
          let outcomes: Outcome[];
          try {
            outcomes = await handle(recs);
          } catch (err) {
            log.error({ err, durable }, 'batch handler failed; redelivering');
            outcomes = recs.map(() => ({ kind: 'nak', delayMs: 1_000, reason: String((err as Error).message) }));
          }
          let k = recs.findIndex((_, i) => (outcomes[i] ?? { kind: 'nak' }).kind === 'nak');
          if (k < 0) k = recs.length;
          // The handled run: terms as sent (each acknowledges what is below it, all handled), then one ack.
          let lastHeld: JsMsg | null = null;
          let lastTermed = false;
          for (let i = 0; i < k; i++) {
            const o = outcomes[i]!;
            const m = held[i];
            if (o.kind === 'term') {
              if (m) settle(m, o, log);
              else log.error({ seq: recs[i]!.seq, reason: o.reason }, 'term');
            }
            if (m) {
              lastHeld = m;
              lastTermed = o.kind === 'term';
            }
          }
          if (lastHeld && !lastTermed) lastHeld.ack();
          if (k === recs.length) {
            next = last + 1;
            continue;
          }
          next = recs[k]!.seq;
          const wait = Math.min(maxNakWaitMs, Math.max(0, ...outcomes.slice(k).map((o) => (o?.kind === 'nak' ? o.delayMs : 0))));
          const first = outcomes[k] as Extract<Outcome, { kind: 'nak' }> | undefined;
          log.warn({ durable, seq: next, reason: first?.reason ?? 'no outcome', delay_ms: wait }, 'nak');
          if (wait > 0) await sleep(wait);
          for (let i = k; i < recs.length; i++) held[i]?.nak();
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err, durable }, 'consumer loop interrupted; restarting');
        await sleep(500);
      }
    }
  })();

  async function handleEach(msgs: JsMsg[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await handle(msgs.map(fromMsg));
    } catch (err) {
      log.error({ err, durable }, 'batch handler failed; redelivering');
      outcomes = msgs.map(() => ({ kind: 'nak', delayMs: 1_000, reason: String((err as Error).message) }));
    }
    msgs.forEach((m, i) => settle(m, outcomes[i] ?? { kind: 'nak', delayMs: 1_000, reason: 'no outcome' }, log));
  }

  return {
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}
