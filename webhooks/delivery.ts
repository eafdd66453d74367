// Delivery: one POST per task, signed as Stripe signs. Only a 2xx counts; a timeout, a redirect or
// any other status is a failure, retried with exponential backoff and jitter (nak with delay) until
// the tries run out; then the task goes to the dead-letter subject. Every try leaves a receipt.
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Outcome } from '../nats/mod.ts';
import { subjects } from '../streams/subjects.ts';
import { signatureHeader } from './signer.ts';
import { appendCommitless } from './publish.ts';
import type { DeadLetter, DeliveryReceipt, DeliveryTask } from './types.ts';

export interface DeliveryOptions {
  /** KV pay_delivery_tries: real tries per delivery, durable across restarts and workers. */
  tries: KV;
  timeoutMs: number;
  backoffMs: number[];
  /** Webhook secrets of a merchant's endpoint, newest first (several during a rotation). */
  secretsFor(merchantId: string, endpointId: string): Promise<string[] | null>;
  /** At most this many POSTs in flight to one endpoint: a slow endpoint cannot take every slot. */
  perEndpoint?: number;
}

export const maxTries = (backoffMs: number[]) => backoffMs.length + 1;

export function nextDelay(backoffMs: number[], tryNo: number): number {
  const base = backoffMs[Math.min(tryNo - 1, backoffMs.length - 1)] ?? 1_000;
  return Math.round(base * (0.8 + Math.random() * 0.4)); // ±20 % jitter
}

export function createDelivery(js: JetStreamClient, opts: DeliveryOptions, log: Logger) {
  const inflight = new Map<string, number>();
  const perEndpoint = opts.perEndpoint ?? 8;
  const tries = maxTries(opts.backoffMs);

  /** Counts one more real try of a delivery (compare-and-set, so concurrent workers never share a number). */
  async function countTry(id: string): Promise<number> {
    for (;;) {
      const e = await opts.tries.get(id);
      const n = e && e.operation === 'PUT' ? Number(e.string()) + 1 : 1;
      try {
        if (e && e.operation === 'PUT') await opts.tries.update(id, String(n), e.revision);
        else await opts.tries.create(id, String(n));
        return n;
      } catch {
        // someone else counted concurrently: read again
      }
    }
  }

  async function post(task: DeliveryTask, secrets: string[]): Promise<{ status: number | null; error: string | null }> {
    const t = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(task.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs),
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signatureHeader(task.payload, secrets, t),
        },
        body: task.payload,
      });
      await res.arrayBuffer().catch(() => undefined);
      return { status: res.status, error: res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error;
      return { status: null, error: e.name === 'TimeoutError' ? `timed out after ${opts.timeoutMs} ms` : `${e.name}: ${e.message}` };
    }
  }

  return async (m: JsMsg): Promise<Outcome> => {
    let task: DeliveryTask;
    try {
      task = JSON.parse(new TextDecoder().decode(m.data)) as DeliveryTask;
    } catch {
      return { kind: 'term', reason: 'undecodable task' };
    }
    const busy = inflight.get(task.endpoint_id) ?? 0;
    // A busy endpoint's task waits its turn without using up a try (tries are counted only when we POST).
    if (busy >= perEndpoint) return { kind: 'nak', delayMs: 500, reason: 'endpoint busy' };
    const secrets = await opts.secretsFor(task.merchant_id, task.endpoint_id);
    if (!secrets) return { kind: 'term', reason: `no endpoint ${task.endpoint_id}` };
    inflight.set(task.endpoint_id, busy + 1);
    const started = Date.now();
    let r;
    try {
      r = await post(task, secrets);
    } finally {
      inflight.set(task.endpoint_id, (inflight.get(task.endpoint_id) ?? 1) - 1);
    }
    // The first delivery is surely the first try: no count is stored unless it fails, so the common
    // case (delivered at once) costs no KV write.
    const first = m.info.deliveryCount === 1;
    const tryNo = first ? 1 : await countTry(task.id);
    if (first && r.error !== null) await opts.tries.put(task.id, '1');
    const delivered = r.error === null;
    const last = !delivered && tryNo >= tries;
    const delay = delivered || last ? 0 : nextDelay(opts.backoffMs, tryNo);
    // What every receipt and dead letter says about the delivery it belongs to.
    const about = {
      v: 1 as const,
      delivery_id: task.id,
      merchant_id: task.merchant_id,
      endpoint_id: task.endpoint_id,
      event_id: task.event_id,
      event_type: task.event_type,
      url: task.url,
    };
    const receipt: DeliveryReceipt = {
      ...about,
      attempt: tryNo,
      outcome: delivered ? 'delivered' : 'failed',
      status_code: r.status,
      error: r.error,
      duration_ms: Date.now() - started,
      at: Math.floor(Date.now() / 1000),
      next_retry_at: delay ? Math.floor((Date.now() + delay) / 1000) : null,
    };
    const reqId = m.headers?.get('Request-Id') || null;
    await appendCommitless(js, subjects.webhookReceipt(task.merchant_id), receipt, `${task.id}:${tryNo}`, reqId);
    if (delivered) return { kind: 'ack' };
    log.warn({ delivery: task.id, url: task.url, try: tryNo, error: r.error }, 'webhook delivery failed');
    if (last) {
      const dead: DeadLetter = {
        ...about,
        attempts: tryNo,
        last_error: r.error,
        at: receipt.at,
      };
      await appendCommitless(js, subjects.webhookDlq(task.merchant_id), dead, `${task.id}:dead`, reqId);
      return { kind: 'ack' };
    }
    return { kind: 'nak', delayMs: delay, reason: r.error ?? 'failed' };
  };
}
