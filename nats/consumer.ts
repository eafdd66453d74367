// Durable consumer loops. Handlers never throw at the loop: every message ends in ack, nak(delay)
// or term, and the loop survives missed heartbeats and reconnects (nats.js #150, nats.node #649).
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
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

/**
 * One message at a time per handler call, up to `concurrency` in flight. A fetch asks for as many
 * messages as there are free slots, so no more than `concurrency` are ever held by this process.
 */
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
  /** Handlers running (each ends in settle). */
  let active = 0;
  /** Wakes the loop waiting for a free slot (one waiter: the loop itself). */
  let freed: (() => void) | null = null;
  const slotFreed = () => new Promise<void>((r) => (freed = r));
  // One promise per message (the handler's own), not a chain of catch/then/finally around it, and
  // a counter instead of racing every in-flight promise each time a slot is wanted.
  const run = async (m: JsMsg): Promise<void> => {
    let o: Outcome;
    try {
      o = await handle(m);
    } catch (err) {
      log.error({ err, durable, seq: m.seq }, 'handler threw');
      o = { kind: 'nak', delayMs: 1_000, reason: String((err as Error).message) };
    }
    try {
      settle(m, o, log);
    } catch (err) {
      // The connection is closing: unsettled, the message comes back after the ack wait.
      log.warn({ err, durable, seq: m.seq }, 'could not settle');
    } finally {
      active--;
      const wake = freed;
      freed = null;
      wake?.();
    }
  };
  const done = (async () => {
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(stream, durable);
        while (!stopped) {
          if (active >= concurrency) {
            await slotFreed();
            // Handlers finishing in the same turn (a burst of acks read at once) free their slots
            // before the next fetch: one pull for all of them rather than one each.
            await new Promise<void>((r) => setImmediate(r));
            continue;
          }
          const iter = await consumer.fetch({ max_messages: concurrency - active, expires: 1_000 });
          for await (const m of iter) {
            active++;
            void run(m);
          }
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err, durable }, 'consumer loop interrupted; restarting');
        await sleep(500);
      }
    }
    // Drain: every message taken ends in ack, nak or term before the loop reports done.
    while (active > 0) await slotFreed();
  })();
  return {
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}
