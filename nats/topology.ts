// Every stream, consumer, KV bucket and object store the system needs, declared idempotently at
// start (create, or update when it exists). Readable names: an operator finds them with the nats CLI.
import { jetstreamManager, AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig, ConsumerConfig, ConsumerInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';

import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { EVENTS_STREAM, RECONCILE_STREAM, WEBHOOKS_STREAM, subjects } from '../streams/subjects.ts';

export const buckets = {
  /** Idempotency-Key results, 24 h like Stripe's (file storage). */
  idempotency: 'pay_idempotency',
  /** Idempotency-Keys in flight: memory storage, no fsync on the hot path; losing them on a broker restart only allows a retry, which derived ids make safe. */
  idempotencyInFlight: 'pay_idempotency_inflight',
  /** API key hash → merchant. */
  keys: 'pay_keys',
  /** Encrypted card data; nothing in clear. */
  vault: 'pay_vault',
  /** Sealed CVCs until the network decides: memory storage, never on disk. */
  vaultCvc: 'pay_vault_cvc',
  /** Partition leases: which worker owns which partition. */
  owners: 'pay_owners',
  /** Webhook tries per delivery (a busy endpoint's naks are not tries). */
  deliveryTries: 'pay_delivery_tries',
  /** Charge and refund ids (ch_…, re_…) → the merchant, intent and mode they belong to. No TTL. */
  index: 'pay_index',
  /** Webhook endpoints failing every try: since when (ms). Cleared by a 2xx. */
  endpointHealth: 'pay_endpoint_health',
  /** Rate-limit token buckets per merchant and mode: memory storage, idle buckets expire. */
  rate: 'pay_rate',
  /** Merchant access settings (rate limits, PCI flag) and our JWE keys (private halves sealed under the KEK). */
  security: 'pay_security',
  /** Per-merchant keys of e-mails in archives (ARCHIVE_EMAILS=encrypt), sealed by the master key; purging one erases them. */
  archiveKeys: 'pay_archive_keys',
  /** Latest state of every aggregate (subject → state, stream seq, time), so state outlives the stream's max_age. Written by the archiver. No TTL. */
  snapshots: 'pay_snapshots',
} as const;

/**
 * max_age of pay_idempotency_inflight. A claim is not deleted once its result is stored
 * (gateway/idempotency.ts): it expires, so the bucket holds one message per Idempotency-Key used in
 * this window. Longer than the 60 s after which a claim may be taken over anyway; equal to the
 * 2 min duplicate window (the server refuses a window longer than max_age).
 */
export const inFlightTtlMs = 2 * 60 * 1000;

/**
 * A purge in pay_vault_cvc (the CVC forgotten after the first authorization) leaves a marker, which
 * a memory bucket kept for its whole max_age (1 h): at 500 payments/s, 1.8 M markers in the server's
 * memory. The purge carries a per-message TTL (`Nats-TTL`, server 2.11+, stream allow_msg_ttl) so
 * the marker goes after a second; reading a key whose marker expired is the same "no CVC".
 */
export const PURGE_MARKER_TTL_MS = 1_000;
export const PURGE_MARKER_TTL = `${PURGE_MARKER_TTL_MS / 1000}s`;

/** The stream a KV bucket is kept in, and the subject of one of its keys (the KV protocol's names). */
export const bucketStream = (bucket: string) => `KV_${bucket}`;
export const bucketSubject = (bucket: string, key: string) => `$KV.${bucket}.${key}`;

/**
 * kvm.create() leaves an existing bucket as it is: a bucket made before a setting changed gets the
 * settings of today (those that differ) by a stream update.
 */
async function updateBucket(jsm: JetStreamManager, bucket: string, want: Partial<StreamConfig>): Promise<void> {
  const stream = bucketStream(bucket);
  const { config } = await jsm.streams.info(stream);
  const current = config as unknown as Record<string, unknown>;
  if (Object.entries(want).some(([k, v]) => current[k] !== v)) await jsm.streams.update(stream, want);
}

export const objectStores = { archive: 'pay_archive' } as const;

export const durables = {
  projector: 'projector',
  webhookFanout: 'webhook_fanout',
  webhookDelivery: 'webhook_delivery',
  receiptsProjector: 'receipts_projector',
  /** Reconciliation work (PAY_RECONCILE), routed there by the fan-out's one pass over PAY_EVENTS. */
  reconcile: 'reconcile_tasks',
  /**
   * The reconciler's former durable on PAY_EVENTS (every intent commit, read a third time): no longer
   * declared; where an older version left it, the reconcile role drains it, then deletes it.
   */
  reconcileLegacy: 'reconcile',
  /** The archiver's reads of PAY_EVENTS and PAY_WEBHOOKS (archive/archiver.ts). */
  archiveEvents: 'archive_events',
  archiveWebhooks: 'archive_webhooks',
} as const;

export interface TopologyOptions {
  eventMaxAgeS: number;
  leaseMs: number;
  /** Replicas for streams and buckets (3 in a cluster). */
  replicas?: number;
  /** Ack wait of webhook_delivery, ms (default 60 s): how soon a dead worker's tasks go to another. */
  webhookAckWaitMs?: number;
  /** max_ack_pending of webhook_delivery (default 100 000): how many deliveries may wait out a backoff at once. */
  webhookMaxAckPending?: number;
}

const DUPLICATE_WINDOW_NS = nanos(2 * 60 * 1000);

/** The server refuses a duplicate window longer than max_age: a retention of seconds (tests) shortens it. */
function duplicateWindowNs(o: TopologyOptions): number {
  return Math.min(DUPLICATE_WINDOW_NS, nanos(o.eventMaxAgeS * 1000));
}

export function streamConfigs(o: TopologyOptions): Partial<StreamConfig>[] {
  // Every stream: file storage, limits retention (a work queue would refuse every other consumer, so
  // `nats stream view` and audits could not read it), the events' max_age, msgID de-duplication.
  const stream = (name: string, description: string, subject: string, more: Partial<StreamConfig> = {}): Partial<StreamConfig> => ({
    name,
    description,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(o.eventMaxAgeS * 1000),
    duplicate_window: duplicateWindowNs(o),
    num_replicas: o.replicas ?? 1,
    allow_direct: true,
    ...more,
  });
  return [
    stream(EVENTS_STREAM, 'Every state change of every merchant and payment intent: one message per decision', subjects.events, {
      discard: DiscardPolicy.Old,
      deny_delete: true,
      deny_purge: false,
    }),
    stream(WEBHOOKS_STREAM, 'Webhook delivery tasks, receipts of each try, and dead letters', subjects.webhooks),
    // What is not done yet is reconcile_tasks' pending and ack-pending.
    stream(RECONCILE_STREAM, 'Reconciliation work: a copy of each commit with an in-doubt attempt or a pending refund', subjects.reconcile),
  ];
}

export function consumerConfigs(o: TopologyOptions): { stream: string; config: Partial<ConsumerConfig> }[] {
  return [
    {
      stream: EVENTS_STREAM,
      config: {
        durable_name: durables.projector,
        description: 'Folds commits into the Postgres projection',
        // Explicit, not ack-all: an ack-all ack covers every message before it, also those a killed
        // projector held when it died, which would then never be projected (chaos test, dd20858).
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(30_000),
        max_ack_pending: 10_000,
        filter_subject: subjects.events,
      },
    },
    {
      stream: EVENTS_STREAM,
      config: {
        durable_name: durables.webhookFanout,
        description: 'Turns commits into one delivery task per subscribed endpoint, and routes reconciliation work to PAY_RECONCILE',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(30_000),
        max_ack_pending: 10_000,
        filter_subject: subjects.events,
      },
    },
    {
      stream: WEBHOOKS_STREAM,
      config: {
        durable_name: durables.webhookDelivery,
        description: 'POSTs each delivery task; retries with backoff, then dead-letters',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // Generous: the handler naks with its own backoff delay; ack_wait only covers a crashed worker.
        ack_wait: nanos(o.webhookAckWaitMs ?? 60_000),
        // Unlimited: an endpoint-busy nak is not a try. Real tries are counted in KV (webhooks/delivery.ts).
        max_deliver: -1,
        // Deliveries waiting out a backoff (nak with delay) stay ack-pending: a dead endpoint's backlog
        // must not use up the limit and stall every other endpoint behind it.
        max_ack_pending: o.webhookMaxAckPending ?? 100_000,
        filter_subject: 'pay.webhook.deliver.>',
      },
    },
    {
      stream: WEBHOOKS_STREAM,
      config: {
        durable_name: durables.receiptsProjector,
        description: 'Folds delivery tasks (pending), receipts and dead letters into the Postgres projection',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(30_000),
        max_ack_pending: 10_000,
        filter_subjects: ['pay.webhook.receipt.>', 'pay.webhook.dlq.>', 'pay.webhook.deliver.>'],
      },
    },
    {
      stream: RECONCILE_STREAM,
      config: {
        durable_name: durables.reconcile,
        description: 'Settles in-doubt attempts and pending refunds: asks the network with backoff, then records its answer (or a timeout)',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // The handler naks with its own backoff; ack_wait only covers a crashed reconciler.
        ack_wait: nanos(60_000),
        // Unlimited: each nak is another inquiry until the deadline, which is what ends it.
        max_deliver: -1,
        max_ack_pending: 10_000,
        filter_subject: subjects.reconcile,
      },
    },
    ...archiveConsumerConfigs(),
  ];
}

/**
 * The archiver's durables: ack-all, because a chunk is acknowledged as one unit (its last message)
 * only after its object and manifest are stored; ack_wait covers a chunk's time in memory.
 */
function archiveConsumerConfigs(): { stream: string; config: Partial<ConsumerConfig> }[] {
  const archiver = (durable: string, what: string, filter: string): Partial<ConsumerConfig> => ({
    durable_name: durable,
    description: `Writes ${what} to the object store in hash-chained chunks before max_age drops them`,
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(15 * 60_000),
    max_ack_pending: 100_000,
    filter_subject: filter,
  });
  return [
    { stream: EVENTS_STREAM, config: archiver(durables.archiveEvents, 'every commit', subjects.events) },
    { stream: WEBHOOKS_STREAM, config: archiver(durables.archiveWebhooks, 'every delivery task, receipt and dead letter', subjects.webhooks) },
  ];
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig>): Promise<void> {
  const name = cfg.name as string;
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, cfg);
  } catch (err) {
    if (isNotFound(err)) await jsm.streams.add({ ...cfg, name });
    else throw err;
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Partial<ConsumerConfig>): Promise<void> {
  const name = cfg.durable_name as string;
  let current: ConsumerInfo;
  try {
    current = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isNotFound(err)) await jsm.consumers.add(stream, cfg);
    else throw err;
    return;
  }
  if (cfg.ack_policy !== undefined && current.config.ack_policy !== cfg.ack_policy) {
    await recreateAtAckFloor(jsm, stream, current, cfg);
    return;
  }
  // Where a consumer starts only matters when it is made (a recreated one starts at its old ack floor),
  // and the server refuses to change it: an update leaves it as it is.
  const { deliver_policy: _dp, opt_start_seq: _seq, opt_start_time: _time, ack_policy: _ap, ...changeable } = cfg;
  await jsm.consumers.update(stream, name, changeable);
}

/**
 * The server cannot change a consumer's ack policy (dd20858 made the projectors ack-all for a while):
 * the durable is deleted and made again with the declared config, starting after its old ack floor.
 * What was delivered but not acked is delivered again, which every consumer here takes (at-least-once,
 * folds that never go backwards). Two processes starting at once may both do it: the loser's add finds
 * the winner's consumer, which is the one wanted.
 */
async function recreateAtAckFloor(jsm: JetStreamManager, stream: string, current: ConsumerInfo, cfg: Partial<ConsumerConfig>): Promise<void> {
  const name = cfg.durable_name as string;
  const floor = current.ack_floor.stream_seq;
  await jsm.consumers.delete(stream, name).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
  const at: Partial<ConsumerConfig> = floor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 } : { deliver_policy: cfg.deliver_policy ?? DeliverPolicy.All };
  try {
    await jsm.consumers.add(stream, { ...cfg, ...at });
  } catch (err) {
    const again = await jsm.consumers.info(stream, name).catch(() => null);
    if (again?.config.ack_policy !== cfg.ack_policy) throw err;
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: number }).code;
  return code === 10059 || code === 10014 || /not found/i.test(String((err as Error).message));
}

export async function declareTopology(nc: NatsConnection, o: TopologyOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const s of streamConfigs(o)) await ensureStream(jsm, s);
  for (const c of consumerConfigs(o)) await ensureConsumer(jsm, c.stream, c.config);
  const kvm = new Kvm(nc);
  const replicas = o.replicas ?? 1;
  await kvm.create(buckets.idempotency, { ttl: 24 * 3600 * 1000, history: 1, replicas, description: 'Idempotency-Key results (24 h)' });
  await kvm.create(buckets.idempotencyInFlight, { ttl: inFlightTtlMs, history: 1, replicas, storage: StorageType.Memory, description: 'Idempotency-Keys in flight' });
  // Buckets made with the former 10 min get the new max_age.
  await updateBucket(jsm, buckets.idempotencyInFlight, { max_age: nanos(inFlightTtlMs), duplicate_window: nanos(inFlightTtlMs) });
  await kvm.create(buckets.keys, { history: 1, replicas, description: 'API key hash → merchant' });
  await kvm.create(buckets.vault, { history: 1, replicas, description: 'Encrypted card data (AES-256-GCM envelopes)' });
  await kvm.create(buckets.vaultCvc, { ttl: 3600 * 1000, history: 1, replicas, storage: StorageType.Memory, markerTTL: PURGE_MARKER_TTL_MS, description: 'Sealed CVCs until authorization (memory only)' });
  await updateBucket(jsm, buckets.vaultCvc, { allow_msg_ttl: true, subject_delete_marker_ttl: nanos(PURGE_MARKER_TTL_MS) });
  await kvm.create(buckets.owners, { ttl: o.leaseMs, history: 1, replicas, description: 'Partition leases' });
  await kvm.create(buckets.deliveryTries, { ttl: 4 * 24 * 3600 * 1000, history: 1, replicas, description: 'Webhook tries per delivery' });
  await kvm.create(buckets.endpointHealth, { history: 1, replicas, description: 'Webhook endpoints failing every try, since when' });
  await kvm.create(buckets.index, { history: 1, replicas, description: 'Charge and refund ids → merchant, intent, mode' });
  await kvm.create(buckets.rate, { ttl: 60 * 1000, history: 1, replicas, storage: StorageType.Memory, description: 'Rate-limit token buckets per merchant and mode' });
  await kvm.create(buckets.security, { history: 1, replicas, description: 'Merchant access settings and JWE keys (sealed)' });
  await kvm.create(buckets.archiveKeys, { history: 1, replicas, description: 'Per-merchant keys of e-mails in archives (sealed; purge to erase)' });
  await kvm.create(buckets.snapshots, { history: 1, replicas, storage: StorageType.File, description: 'Latest state of every aggregate (outlives the event stream max_age)' });
  // A chunk's snapshots are written in one atomic batch (runtime/snapshots.ts): one sync, not one per put.
  await updateBucket(jsm, buckets.snapshots, { allow_atomic: true });
  const objm = new Objm(nc);
  await objm.create(objectStores.archive, { replicas, description: 'Archived event chunks and manifests' });
}
