// NATS-level health as metrics, read when Prometheus scrapes (cached a few seconds, so a scrape
// storm is one JetStream API call per consumer): consumer lag and redeliveries per durable, stream
// size, dead letters, and partition ownership (this worker's and the cluster's, from pay_owners).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { consumerConfigs } from '../nats/topology.ts';
import { EVENTS_STREAM, RECONCILE_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import { gauge } from './registry.ts';

const CACHE_MS = 5_000;

/** f's last answer for up to ms; one call in flight at a time. */
export function cached<T>(ms: number, f: () => Promise<T>): () => Promise<T> {
  let at = 0;
  let last: Promise<T> | undefined;
  return () => {
    if (!last || Date.now() - at > ms) {
      at = Date.now();
      last = f().catch((err: unknown) => {
        at = 0; // a failed read is retried on the next scrape
        throw err;
      });
    }
    return last;
  };
}

interface ConsumerRow {
  stream: string;
  durable: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
}

interface StreamRow {
  stream: string;
  messages: number;
  bytes: number;
  firstTs: number;
}

export interface NatsSnapshot {
  consumers: ConsumerRow[];
  streams: StreamRow[];
  deadLetters: number;
  /** Partitions of the deployment and how many have a live lease in pay_owners (any worker). */
  partitions: { total: number; withOwner: number };
}

/** One read of what the metrics below show (also used by tests). */
export async function readNatsSnapshot(jsm: JetStreamManager, owners: KV, partitions: number): Promise<NatsSnapshot> {
  const consumers: ConsumerRow[] = [];
  for (const { stream, config } of consumerConfigs({ eventMaxAgeS: 1, leaseMs: 1 })) {
    const durable = config.durable_name!;
    try {
      const ci = await jsm.consumers.info(stream, durable);
      consumers.push({ stream, durable, pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered, waiting: ci.num_waiting });
    } catch {
      // not declared (yet): no sample rather than a wrong zero
    }
  }
  const streams: StreamRow[] = [];
  for (const name of [EVENTS_STREAM, WEBHOOKS_STREAM, RECONCILE_STREAM]) {
    const si = await jsm.streams.info(name);
    streams.push({ stream: name, messages: si.state.messages, bytes: si.state.bytes, firstTs: Date.parse(si.state.first_ts) || 0 });
  }
  const dlq = await jsm.streams.info(WEBHOOKS_STREAM, { subjects_filter: 'pay.webhook.dlq.>' });
  const deadLetters = Object.values(dlq.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  let withOwner = 0;
  for await (const _ of await owners.keys('partition.*')) withOwner++;
  return { consumers, streams, deadLetters, partitions: { total: partitions, withOwner } };
}

// The sources the gauges read: set by registerNatsMetrics / registerPartitionMetrics (a test may run
// several nodes in one process: the last NATS source wins, every worker is shown).
let natsSource: (() => Promise<NatsSnapshot | null>) | null = null;
const workers = new Map<string, { owned: () => number[] }>();

const perConsumer = (name: string, help: string, pick: (c: ConsumerRow) => number) =>
  gauge(name, help, ['stream', 'durable'], async function () {
    const s = await natsSource?.();
    if (!s) return;
    this.reset();
    for (const c of s.consumers) this.set({ stream: c.stream, durable: c.durable }, pick(c));
  });
perConsumer('paynats_consumer_pending_messages', 'Messages the durable has not been delivered yet (its lag)', (c) => c.pending);
perConsumer('paynats_consumer_ack_pending_messages', 'Messages delivered and not yet acknowledged (in flight or waiting for a nak delay)', (c) => c.ackPending);
perConsumer('paynats_consumer_redelivered_messages', 'Messages delivered more than once and still unacknowledged', (c) => c.redelivered);
const perStream = (name: string, help: string, pick: (s: StreamRow) => number) =>
  gauge(name, help, ['stream'], async function () {
    const s = await natsSource?.();
    if (!s) return;
    for (const r of s.streams) this.set({ stream: r.stream }, pick(r));
  });
perStream('paynats_stream_messages', 'Messages stored in the stream', (s) => s.messages);
perStream('paynats_stream_bytes', 'Bytes stored in the stream', (s) => s.bytes);
perStream('paynats_stream_first_message_age_seconds', 'Age of the oldest stored message (retention at work)', (s) => (s.firstTs ? Math.max(0, (Date.now() - s.firstTs) / 1000) : 0));
gauge('paynats_webhook_dead_letter_messages', 'Dead letters stored in PAY_WEBHOOKS (pay.webhook.dlq.>): deliveries that ran out of tries', [], async function () {
  const s = await natsSource?.();
  if (s) this.set(s.deadLetters);
});

gauge('paynats_partitions_owned', 'Partitions this worker owns', ['worker'], function () {
  this.reset();
  for (const [id, w] of workers) this.set({ worker: id }, w.owned().length);
});
gauge('paynats_partition_owner', '1 for each partition a worker of this process owns', ['worker', 'partition'], function () {
  this.reset();
  for (const [id, w] of workers) for (const p of w.owned()) this.set({ worker: id, partition: String(p) }, 1);
});
gauge('paynats_partitions_total', 'Partitions of the deployment (PARTITIONS)', [], async function () {
  const s = await natsSource?.();
  if (s) this.set(s.partitions.total);
});
gauge('paynats_partitions_with_owner', 'Partitions with a live lease in pay_owners (any worker); below paynats_partitions_total means commands for some merchants find no owner', [], async function () {
  const s = await natsSource?.();
  if (s) this.set(s.partitions.withOwner);
});

/** The last NATS reading of this process (cached like the metrics), or null when there is none. */
export async function natsReading(): Promise<NatsSnapshot | null> {
  return (await natsSource?.()) ?? null;
}

/** Consumer, stream, dead-letter and partition-coverage gauges read from this connection. Returns the unregister. */
export function registerNatsMetrics(jsm: JetStreamManager, owners: KV, partitions: number, log: Logger): () => void {
  const snapshot = cached(CACHE_MS, () => readNatsSnapshot(jsm, owners, partitions));
  const source = async () => {
    try {
      return await snapshot();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'metrics: could not read consumer info');
      return null;
    }
  };
  natsSource = source;
  return () => {
    if (natsSource === source) natsSource = null;
  };
}

/** This worker's partitions (paynats_partitions_owned, paynats_partition_owner). Returns the unregister. */
export function registerPartitionMetrics(o: { owned: () => number[]; workerId: string }): () => void {
  workers.set(o.workerId, { owned: o.owned });
  return () => void workers.delete(o.workerId);
}
