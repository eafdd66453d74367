// Delivery: one POST per task, signed as Stripe signs. Only a 2xx counts; a timeout, a redirect or
// any other status is a failure, retried with exponential backoff and jitter (nak with delay) until
// the tries run out; then the task goes to the dead-letter subject with its payload and every try.
// Every try leaves a receipt (status, latency, the first 1 KB of the answer, the error). The POST
// itself is webhooks/http.ts (no redirects, one deadline, capped read, pinned live-mode addresses,
// sockets kept alive per merchant and endpoint).
//
// An endpoint that has failed every try for `disableAfterMs` is disabled through its merchant's
// actor (webhook_endpoint.disabled); its tasks still owed then go to the dead-letter subject, to be
// replayed once it is fixed and enabled again.
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Outcome } from '../nats/mod.ts';
import { subjects } from '../streams/subjects.ts';
import { signatureHeader } from './signer.ts';
import { appendCommitless } from './publish.ts';
import { isBlockedAddress, urlProblem, type Resolver } from './safety.ts';
import { BlockedAddressError, PostTimeoutError, createAgentPool, postJson, type AddressGuard, type AgentPool } from './http.ts';
import * as metrics from './metrics.ts';
import type { DeadLetter, DeliveryReceipt, DeliveryTask, TryRecord } from './types.ts';

/** What the worker needs to know of a task's endpoint at delivery time. */
export interface EndpointNow {
  enabled: boolean;
  /** Signing secrets, newest first (several during a rotation). */
  secrets: string[];
}

export interface DeliveryOptions {
  /** KV pay_delivery_tries: real tries per delivery (and their history), durable across restarts and workers. */
  tries: KV;
  timeoutMs: number;
  backoffMs: number[];
  /** The endpoint as it is now; null when it no longer exists (the task is dropped). */
  endpointFor(merchantId: string, endpointId: string): Promise<EndpointNow | null>;
  /** At most this many POSTs in flight to one endpoint: a slow endpoint cannot take every slot. */
  perEndpoint?: number;
  /** KV pay_endpoint_health: since when each failing endpoint has failed everything. */
  health?: KV;
  /** Disable an endpoint failing everything for this long, ms (0 or absent: never). */
  disableAfterMs?: number;
  /** Records the verdict (webhook_endpoint.disabled through the merchant actor). */
  disable?(merchantId: string, endpointId: string, failingSinceS: number): Promise<void>;
  /** DNS for the live-mode address check (tests inject one). */
  resolve?: Resolver;
  /** Tell the server we are still working on a message this often while a POST is in flight (ms). */
  heartbeatMs?: number;
  /** Kept-alive connections per (merchant, endpoint, origin); default: a pool of this delivery's own. */
  agents?: AgentPool;
  /** At most this many first tries made inline by the fan-out at once (`firstTry`); 0 or absent: none. */
  inlineMax?: number;
}

/** An inline first try slower than this marks its endpoint slow: its deliveries go through tasks for SLOW_FOR_MS. */
export const SLOW_MS = 1_000;
export const SLOW_FOR_MS = 60_000;

export const maxTries = (backoffMs: number[]) => backoffMs.length + 1;

export function nextDelay(backoffMs: number[], tryNo: number): number {
  const base = backoffMs[Math.min(tryNo - 1, backoffMs.length - 1)] ?? 1_000;
  return Math.round(base * (0.8 + Math.random() * 0.4)); // ±20 % jitter
}

/** How much of an answer a receipt keeps. */
export const RESPONSE_CAP = 1024;

/** Live mode: checked for every address a connection connects to (DNS can change after the pre-check). */
const liveGuard: AddressGuard = (host, address) => (isBlockedAddress(address) ? `The URL's host ${host} resolves to ${address}, a loopback, private or link-local address.` : null);

const dec = new TextDecoder();

interface TryState {
  n: number;
  h: TryRecord[];
}

function parseTries(raw: string): TryState {
  // Old values were a bare count.
  if (/^\d+$/.test(raw)) return { n: Number(raw), h: [] };
  const v = JSON.parse(raw) as TryState;
  return { n: v.n, h: v.h ?? [] };
}

export function createDelivery(js: JetStreamClient, opts: DeliveryOptions, log: Logger) {
  const inflight = new Map<string, number>();
  const perEndpoint = opts.perEndpoint ?? 8;
  const tries = maxTries(opts.backoffMs);
  /** Endpoints this worker saw fail (their health key must be cleared on the next success), and when it last checked a healthy one. */
  const suspect = new Set<string>();
  const checkedOk = new Map<string, number>();
  const disabling = new Set<string>();
  const agents = opts.agents ?? createAgentPool({ maxSockets: perEndpoint });
  const inlineMax = opts.inlineMax ?? 0;
  let inlineActive = 0;
  /** Endpoints whose inline try was slow, until when their deliveries go through tasks. Bounded: cleared when full. */
  const slow = new Map<string, number>();
  /** Endpoint URLs parsed once, not once per POST (a URL is only read by the POST). Bounded: cleared when full. */
  const parsed = new Map<string, URL>();
  const urlOf = (raw: string): URL => {
    let u = parsed.get(raw);
    if (!u) {
      if (parsed.size >= 1_024) parsed.clear();
      parsed.set(raw, (u = new URL(raw)));
    }
    return u;
  };
  /** Messages whose POST is running: one timer tells the server we still work on all of them (not a timer per POST). */
  const posting = new Set<JsMsg>();
  let beat: ReturnType<typeof setInterval> | null = null;
  function working(m: JsMsg): void {
    if (!opts.heartbeatMs) return;
    posting.add(m);
    if (beat) return;
    beat = setInterval(() => {
      if (posting.size === 0 && beat) {
        clearInterval(beat);
        beat = null;
        return;
      }
      for (const x of posting) x.working();
    }, opts.heartbeatMs);
    beat.unref();
  }

  /**
   * Counts one more real try of a delivery and keeps its record (compare-and-set, so concurrent
   * workers never share a number). The first try of a delivery is surely try 1 and writes nothing
   * unless it fails, so the common case (delivered at once) costs no KV write.
   */
  async function countTry(id: string, first: boolean, rec: Omit<TryRecord, 'attempt'>, failed: boolean): Promise<TryState> {
    if (first) {
      const s = { n: 1, h: [{ attempt: 1, ...rec }] };
      if (failed) await opts.tries.put(id, JSON.stringify(s));
      return s;
    }
    for (;;) {
      const e = await opts.tries.get(id);
      const prev = e && e.operation === 'PUT' ? parseTries(e.string()) : { n: 0, h: [] };
      const n = prev.n + 1;
      const s = { n, h: [...prev.h, { attempt: n, ...rec }].slice(-50) };
      try {
        if (e && e.operation === 'PUT') await opts.tries.update(id, JSON.stringify(s), e.revision);
        else await opts.tries.create(id, JSON.stringify(s));
        return s;
      } catch {
        // someone else counted concurrently: read again
      }
    }
  }

  const healthKey = (t: DeliveryTask) => `${t.merchant_id}.${t.endpoint_id}`;

  /** A 2xx: the endpoint is healthy again (its failure clock, if any, is cleared). */
  async function healthy(t: DeliveryTask): Promise<void> {
    const key = healthKey(t);
    if (!opts.health) return void suspect.delete(key);
    if (!suspect.has(key) && (checkedOk.get(key) ?? 0) > Date.now()) return;
    suspect.delete(key);
    checkedOk.set(key, Date.now() + 5_000);
    const e = await opts.health.get(key);
    if (e && e.operation === 'PUT') await opts.health.delete(key);
  }

  /** A failure: start the endpoint's failure clock, or disable it when the clock has run out. */
  async function failing(t: DeliveryTask): Promise<void> {
    const key = healthKey(t);
    suspect.add(key);
    checkedOk.delete(key);
    if (!opts.health || !opts.disableAfterMs || !opts.disable) return;
    const e = await opts.health.get(key);
    if (!e || e.operation !== 'PUT') {
      await opts.health.create(key, String(Date.now())).catch(() => undefined); // another worker started it first
      return;
    }
    const since = Number(e.string());
    if (Date.now() - since < opts.disableAfterMs || disabling.has(key)) return;
    disabling.add(key);
    try {
      await opts.disable(t.merchant_id, t.endpoint_id, Math.floor(since / 1000));
      metrics.endpointsDisabled.inc();
      log.warn({ merchant: t.merchant_id, endpoint: t.endpoint_id, failing_since: new Date(since).toISOString() }, 'webhook endpoint disabled: every try failed');
      // A fresh clock if the merchant enables it again.
      await opts.health.delete(key).catch(() => undefined);
    } catch (err) {
      log.error({ err, endpoint: t.endpoint_id }, 'could not disable a failing webhook endpoint');
    } finally {
      disabling.delete(key);
    }
  }

  async function post(task: DeliveryTask, secrets: string[], m: JsMsg, requestId: string | null) {
    const livemode = task.livemode ?? (JSON.parse(task.payload) as { livemode?: boolean }).livemode === true;
    if (livemode) {
      const problem = await urlProblem(task.url, true, opts.resolve);
      if (problem) return { status: null, error: `blocked: ${problem}`, body: null };
    }
    const t = Math.floor(Date.now() / 1000);
    const guard = livemode ? liveGuard : undefined;
    // The server keeps the message ours while the POST runs, however long the ack wait.
    working(m);
    try {
      // Sockets are kept per merchant and endpoint (never shared across them), guarded ones apart.
      const url = urlOf(task.url);
      const agent = agents.agentFor(`${task.merchant_id}/${task.endpoint_id}`, url, guard);
      const res = await postJson(
        url,
        task.payload,
        {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signatureHeader(task.payload, secrets, t),
          // Correlation: the API request that caused the event, and which delivery this is.
          ...(requestId ? { 'request-id': requestId } : {}),
          'paynats-delivery-id': task.id,
        },
        {
          timeoutMs: opts.timeoutMs,
          cap: RESPONSE_CAP,
          // Live: the address connected to is checked in the connection's own lookup (DNS can change).
          ...(guard ? { guard } : {}),
          agent,
        },
      );
      return { status: res.status, error: res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`, body: res.body };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e instanceof BlockedAddressError) return { status: null, error: `blocked: ${e.message}`, body: null };
      if (e instanceof PostTimeoutError) return { status: null, error: e.message, body: null };
      return { status: null, error: `${e.code ?? e.name}: ${e.message}`, body: null };
    } finally {
      posting.delete(m);
    }
  }

  /** What every receipt and dead letter says about the delivery it belongs to. */
  const aboutOf = (task: DeliveryTask) => ({
    v: 1 as const,
    delivery_id: task.id,
    merchant_id: task.merchant_id,
    endpoint_id: task.endpoint_id,
    event_id: task.event_id,
    event_type: task.event_type,
    url: task.url,
    commit_seq: task.commit_seq,
  });

  /** The delivery to the dead-letter subject, with its payload and every try (kept for a replay). */
  async function deadLetter(task: DeliveryTask, state: TryState, reason: NonNullable<DeadLetter['reason']>, lastError: string | null, at: number, reqId: string | null): Promise<Outcome> {
    const dead: DeadLetter = { ...aboutOf(task), attempts: state.n, last_error: lastError, at, payload: task.payload, livemode: task.livemode ?? false, history: state.h, reason, request_id: reqId };
    await appendCommitless(js, subjects.webhookDlq(task.merchant_id), dead, `${task.id}:dead`, reqId);
    metrics.deliveries.inc({ outcome: 'dead' });
    return { kind: 'ack' };
  }

  /**
   * After a POST: counts the try, stores its receipt (and the dead letter when it was the last),
   * keeps the endpoint's health. `carrier` is the message whose processing made the try (a task, or
   * for an inline first try the commit). Ack when it is settled; nak with the backoff when owed again.
   */
  async function settle(task: DeliveryTask, first: boolean, r: { status: number | null; error: string | null; body: string | null }, durationMs: number, reqId: string | null, carrier: JsMsg): Promise<Outcome> {
    const about = aboutOf(task);
    const delivered = r.error === null;
    const at = Math.floor(Date.now() / 1000);
    const state = await countTry(task.id, first, { at, status_code: r.status, error: r.error, duration_ms: durationMs }, !delivered);
    const tryNo = state.n;
    const last = !delivered && tryNo >= tries;
    const delay = delivered || last ? 0 : nextDelay(opts.backoffMs, tryNo);
    const receipt: DeliveryReceipt = {
      ...about,
      attempt: tryNo,
      outcome: delivered ? 'delivered' : 'failed',
      status_code: r.status,
      error: r.error,
      duration_ms: durationMs,
      at,
      next_retry_at: delay ? Math.floor((Date.now() + delay) / 1000) : null,
      response_body: r.body,
      request_id: reqId,
    };
    await appendCommitless(js, subjects.webhookReceipt(task.merchant_id), receipt, `${task.id}:${tryNo}`, reqId);
    metrics.requestSeconds.observe({ outcome: delivered ? 'delivered' : 'failed' }, durationMs / 1000);
    if (delivered) {
      metrics.deliveries.inc({ outcome: 'delivered' });
      metrics.lag.observe(Math.max(0, Date.now() - carrier.info.timestampNanos / 1e6) / 1000);
      await healthy(task).catch((err: unknown) => log.warn({ err }, 'endpoint health not cleared'));
      return { kind: 'ack' };
    }
    metrics.failures.inc({ reason: metrics.failureReason(r.status, r.error) });
    log.warn({ delivery: task.id, url: task.url, try: tryNo, error: r.error }, 'webhook delivery failed');
    await failing(task).catch((err: unknown) => log.warn({ err }, 'endpoint health not recorded'));
    if (last) return deadLetter(task, state, 'exhausted', r.error, at, reqId);
    metrics.deliveries.inc({ outcome: 'failed' });
    metrics.retries.inc();
    return { kind: 'nak', delayMs: delay, reason: r.error ?? 'failed' };
  }

  /** One POST of a task to its endpoint, counted in the endpoint's in-flight slots; with its duration. */
  async function postCounted(task: DeliveryTask, ep: EndpointNow, carrier: JsMsg, reqId: string | null) {
    inflight.set(task.endpoint_id, (inflight.get(task.endpoint_id) ?? 0) + 1);
    const started = Date.now();
    try {
      const r = await post(task, ep.secrets, carrier, reqId);
      return { r, durationMs: Date.now() - started };
    } finally {
      inflight.set(task.endpoint_id, (inflight.get(task.endpoint_id) ?? 1) - 1);
    }
  }

  /**
   * The first try of a delivery, made by the fan-out itself before any task is stored: the common
   * case (delivered at once) then costs one receipt instead of a task, its deliveries and a receipt.
   * Nothing is lost: the commit that owes the delivery is acked only once this returns, and a
   * redelivered commit goes the task way. A failed try stores, besides its receipt, the task of the
   * retries (`tried: 1`, held until its backoff is over). Declined (false: store a task as before)
   * when the endpoint is busy, failing, slow, disabled or gone, or when `inlineMax` tries are
   * running already: a slow endpoint holds at most `perEndpoint` fan-out slots, until the first of
   * those tries ends and sends its deliveries through tasks for SLOW_FOR_MS.
   */
  async function firstTry(task: DeliveryTask, reqId: string | null, carrier: JsMsg): Promise<boolean> {
    const key = healthKey(task);
    if (inlineActive >= inlineMax || suspect.has(key) || (slow.get(key) ?? 0) > Date.now()) return false;
    if ((inflight.get(task.endpoint_id) ?? 0) >= perEndpoint) return false;
    inlineActive++;
    try {
      const ep = await opts.endpointFor(task.merchant_id, task.endpoint_id);
      if (!ep || !ep.enabled) return false;
      const { r, durationMs } = await postCounted(task, ep, carrier, reqId);
      if (durationMs > SLOW_MS) {
        if (slow.size >= 1_024) slow.clear();
        slow.set(key, Date.now() + SLOW_FOR_MS);
      }
      const out = await settle(task, true, r, durationMs, reqId, carrier);
      if (out.kind === 'nak') {
        const retry: DeliveryTask = { ...task, tried: 1, not_before: Date.now() + (out.delayMs ?? 0) };
        await appendCommitless(js, subjects.webhookDeliver(task.merchant_id), retry, task.id, reqId);
      }
      return true;
    } finally {
      inlineActive--;
    }
  }

  async function handle(m: JsMsg): Promise<Outcome> {
    let task: DeliveryTask;
    try {
      task = JSON.parse(dec.decode(m.data)) as DeliveryTask;
    } catch {
      return { kind: 'term', reason: 'undecodable task' };
    }
    // The retries of an inline first try wait out its backoff first (not a try).
    const wait = (task.not_before ?? 0) - Date.now();
    if (wait > 0) return { kind: 'nak', delayMs: wait, reason: 'backoff' };
    const reqId = m.headers?.get('Request-Id') || null;
    const busy = inflight.get(task.endpoint_id) ?? 0;
    // A busy endpoint's task waits its turn without using up a try (tries are counted only when we POST).
    // An endpoint whose last try failed is likely slow or dead: its tasks come back later (about a
    // timeout), so they do not churn the consumer while its slots are held by hanging POSTs.
    if (busy >= perEndpoint) {
      const base = suspect.has(`${task.merchant_id}.${task.endpoint_id}`) ? Math.max(500, opts.timeoutMs) : 250;
      return { kind: 'nak', delayMs: base + Math.round(Math.random() * base * 2), reason: 'endpoint busy' };
    }
    const ep = await opts.endpointFor(task.merchant_id, task.endpoint_id);
    if (!ep) return { kind: 'term', reason: `no endpoint ${task.endpoint_id}` };
    // The task of an inline first try's retries (`tried: 1`), or of a commit read again that may have
    // had one (`tried: 0`): the count goes on from what was recorded, so no try number is used twice.
    const first = m.info.deliveryCount === 1 && task.tried === undefined;
    if (!ep.enabled) {
      // Disabled (by the merchant, or by us for failing): no more POSTs; what is owed waits in the
      // dead-letter subject for a replay once the endpoint is fixed.
      const state = first ? { n: 0, h: [] } : await opts.tries.get(task.id).then((e) => (e && e.operation === 'PUT' ? parseTries(e.string()) : { n: 0, h: [] }));
      return deadLetter(task, state, 'endpoint_disabled', 'endpoint disabled', Math.floor(Date.now() / 1000), reqId);
    }
    const { r, durationMs } = await postCounted(task, ep, m, reqId);
    return settle(task, first, r, durationMs, reqId, m);
  }

  return { handle, firstTry };
}
