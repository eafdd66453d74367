// The webhooks role: fan-out (PAY_EVENTS → one task per subscribed endpoint, and reconciliation
// work to PAY_RECONCILE) and delivery (the shared `webhook_delivery` durable: any number of worker
// processes take tasks from it; a task a dead worker held comes back after the ack wait). The shell around webhooks/fanout.ts and
// webhooks/delivery.ts: merchant reads (cached briefly), secrets opened, endpoints disabled.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Merchant } from '../actors/mod.ts';
import type { Config } from '../config/config.ts';
import { buckets, durables, runConsumer, type ConsumerLoop } from '../nats/mod.ts';
import { createCommandClient } from '../runtime/client.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import type { CommitReader } from '../streams/recent.ts';
import { openString, type KeyRing } from '../vault/mod.ts';
import { createDelivery, type EndpointNow } from './delivery.ts';
import { createFanout, endpointsOf, type FirstTry } from './fanout.ts';
import { dlqDepth, setDlqDepthSource } from './metrics.ts';

export interface WebhookWorkerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  ring: KeyRing;
  config: Pick<Config, 'webhookTimeoutMs' | 'webhookBackoffMs' | 'partitions' | 'workerId'> & Partial<Pick<Config, 'webhookDisableAfterMs' | 'webhookAckWaitMs' | 'webhookPerEndpoint' | 'webhookInlineTries'>>;
  readMerchant(id: string): Promise<Merchant | null>;
  log: Logger;
  /** Commits appended in this process, taken without a decode (streams/recent.ts). */
  commits?: CommitReader;
}

/** An endpoint with its secrets opened; previous secrets still carry their expiry (filtered at each use). */
interface OpenedEndpoint {
  enabled: boolean;
  current: string;
  previous: { secret: string; expires_at: number }[];
}

/** The endpoint with its secrets opened: enabled or not; null when it is gone. */
function openEndpoint(m: Merchant, endpointId: string, ring: KeyRing): OpenedEndpoint | null {
  const enabled = endpointsOf(m).some((e) => e.id === endpointId);
  const exists = enabled || (m.webhook_endpoints ?? []).some((e) => e.id === endpointId);
  if (!exists) return null;
  // The onboarding endpoint keeps the onboarding secret; an added one has its own.
  if (endpointId === m.webhook_endpoint_id) return { enabled, current: openString(ring.secretsKey, m.webhook_secret_enc, `whsec/${m.merchant_id}`), previous: [] };
  const ep = (m.webhook_endpoints ?? []).find((e) => e.id === endpointId);
  if (!ep) return null;
  const aad = `whsec/${m.merchant_id}/${ep.id}`;
  return {
    enabled,
    current: openString(ring.secretsKey, ep.secret_enc, aad),
    previous: (ep.previous_secrets ?? []).map((p) => ({ secret: openString(ring.secretsKey, p.secret_enc, aad), expires_at: p.expires_at })),
  };
}

/** Every secret the endpoint signs with now, newest first: the current one and those rolled but not yet expired. */
function now(e: OpenedEndpoint, nowS = Math.floor(Date.now() / 1000)): EndpointNow {
  return { enabled: e.enabled, secrets: [e.current, ...e.previous.filter((p) => p.expires_at > nowS).map((p) => p.secret)] };
}

/** The endpoint as a delivery sees it now: enabled or not, and its secrets; null when it is gone. */
export function endpointNow(m: Merchant | null, endpointId: string, ring: KeyRing): EndpointNow | null {
  const e = m ? openEndpoint(m, endpointId, ring) : null;
  return e ? now(e) : null;
}

/**
 * endpointNow, with each endpoint's secrets opened once per merchant state (not once per delivery).
 * The cache hangs off the Merchant object itself: a new state read (a merchant commit, the 5 s
 * expiry of the merchant cache) is a new object, so nothing outlives the state it was opened from.
 */
export function cachedEndpointNow(ring: KeyRing): (m: Merchant | null, endpointId: string) => EndpointNow | null {
  const opened = new WeakMap<Merchant, Map<string, OpenedEndpoint | null>>();
  return (m, endpointId) => {
    if (!m) return null;
    let byId = opened.get(m);
    if (!byId) opened.set(m, (byId = new Map()));
    let e = byId.get(endpointId);
    if (e === undefined) {
      e = openEndpoint(m, endpointId, ring);
      byId.set(endpointId, e);
    }
    return e ? now(e) : null;
  };
}

/**
 * Merchant reads for the fan-out and delivery, cached 5 s. A merchant commit (an endpoint added,
 * changed, removed, a secret rolled) drops the cached merchant at once, in every worker: each one
 * listens to merchant commits as they are appended (core NATS; the durable fan-out gives each
 * commit to one worker only).
 */
function merchantCache(d: Pick<WebhookWorkerDeps, 'nc' | 'readMerchant'>) {
  const merchants = new Map<string, { m: Merchant | null; until: number }>();
  const cached = async (id: string) => {
    const hit = merchants.get(id);
    if (hit && hit.until > Date.now()) return hit.m;
    const m = await d.readMerchant(id);
    merchants.set(id, { m, until: Date.now() + 5_000 });
    return m;
  };
  const forget = (id: string) => void merchants.delete(id);
  d.nc.subscribe('pay.evt.merchant.*', { callback: (err, m) => (err ? undefined : forget(m.subject.split('.')[3] ?? '')) });
  return { cached, forget };
}

/**
 * The fan-out alone (the shared `webhook_fanout` durable): the webhooks role runs it, and so does a
 * reconcile process without the webhooks role, since reconciliation work reaches PAY_RECONCILE
 * through it (reconcile/work.ts).
 */
export function startFanout(d: Pick<WebhookWorkerDeps, 'nc' | 'js' | 'readMerchant' | 'log' | 'commits'>, merchants = merchantCache(d), firstTry?: FirstTry): ConsumerLoop {
  // Inline first tries hold a slot for their POST: more slots, of which those tries take at most half.
  return runConsumer(d.js, EVENTS_STREAM, durables.webhookFanout, createFanout(d.js, merchants.cached, d.log, { changed: merchants.forget, ...(firstTry ? { firstTry } : {}), ...(d.commits ? { commits: d.commits } : {}) }), d.log, { concurrency: firstTry ? 32 : 16 });
}

export async function startWebhookWorker(d: WebhookWorkerDeps): Promise<ConsumerLoop[]> {
  const { js, jsm, kvm, ring, config, log } = d;
  const merchants = merchantCache(d);
  const { cached: cachedMerchant, forget } = merchants;
  const commands = createCommandClient(d.nc, { partitions: config.partitions, timeoutMs: 15_000 });
  const ackWaitMs = config.webhookAckWaitMs ?? 60_000;
  const opened = cachedEndpointNow(ring);
  setDlqDepthSource(async () => {
    const info = await jsm.streams.info(WEBHOOKS_STREAM, { subjects_filter: 'pay.webhook.dlq.>' });
    return Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
  });
  void dlqDepth;
  const delivery = createDelivery(
    js,
    {
      tries: await kvm.open(buckets.deliveryTries),
      health: await kvm.open(buckets.endpointHealth),
      timeoutMs: config.webhookTimeoutMs,
      backoffMs: config.webhookBackoffMs,
      perEndpoint: config.webhookPerEndpoint ?? 8,
      disableAfterMs: config.webhookDisableAfterMs ?? 0,
      // Within a third of the shorter ack wait: the fan-out's commit (30 s) is held through an inline first try's POST too.
      heartbeatMs: Math.max(100, Math.floor(Math.min(ackWaitMs, 30_000) / 3)),
      inlineMax: config.webhookInlineTries ?? 0,
      endpointFor: async (merchantId, endpointId) => opened(await cachedMerchant(merchantId), endpointId),
      async disable(merchantId, endpointId, failingSince) {
        const now = Math.floor(Date.now() / 1000);
        await commands.send({
          op: 'merchant.update',
          merchantId,
          command: { type: 'DisableFailingWebhookEndpoint', endpointId, failingSince, now },
          ctx: { commandId: `webhook-disable:${endpointId}:${failingSince}`, livemode: false, requestId: `req_webhooks_${config.workerId}`, correlationId: null, now },
        });
        forget(merchantId);
      },
    },
    log,
  );
  return [
    startFanout(d, merchants, config.webhookInlineTries ? delivery.firstTry : undefined),
    runConsumer(js, WEBHOOKS_STREAM, durables.webhookDelivery, delivery.handle, log, { concurrency: 64 }),
  ];
}
