// Fan-out, the one pass over PAY_EVENTS that feeds the workers: every commit owes one delivery per
// (Stripe event, subscribed endpoint), and a commit that leaves reconciliation work (an attempt in
// doubt, a pending refund) is also copied to PAY_RECONCILE (reconcile/work.ts). A delivery is tried
// at once by the webhooks role's delivery (its first try inline: one receipt, no task) or stored as
// a task carrying the payload as it will be signed, built from the state the commit produced. Every
// task's msgID (and every receipt's) is derived from the commit and endpoint, so a redelivered commit
// owes nothing twice; the commit is acked only once each delivery is tried or stored.
import { createHash } from 'node:crypto';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Merchant } from '../actors/mod.ts';
import { appendReconcileTask, reconcileWorkOf } from '../reconcile/work.ts';
import { appendCommitless } from './publish.ts';
import { decodeOnly, type CommitReader } from '../streams/recent.ts';
import { subjects } from '../streams/subjects.ts';
import { pendingStripeEventsOf, type PendingStripeEvent, type StripeEvent } from '../stripe/objects.ts';
import type { Outcome } from '../nats/mod.ts';
import type { DeliveryTask } from './types.ts';

export interface Endpoint {
  id: string;
  url: string;
  enabledEvents: string[];
  /** The mode whose events it gets; null for the onboarding endpoint, which gets both (as it always has). */
  livemode: boolean | null;
}

/**
 * A merchant's enabled endpoints. The onboarding's call_back_url + events are its first one; those
 * added through /v1/webhook_endpoints follow, oldest first. A disabled endpoint is not one of them.
 */
export function endpointsOf(m: Merchant): Endpoint[] {
  const first: Endpoint[] = m.call_back_url ? [{ id: m.webhook_endpoint_id, url: m.call_back_url, enabledEvents: m.events, livemode: null }] : [];
  const added = (m.webhook_endpoints ?? [])
    .filter((e) => e.status === 'enabled')
    .map((e) => ({ id: e.id, url: e.url, enabledEvents: e.enabled_events, livemode: e.livemode }));
  return [...first, ...added];
}

export function subscribed(e: Endpoint, type: string, livemode?: boolean): boolean {
  if (livemode !== undefined && e.livemode !== null && e.livemode !== livemode) return false;
  return e.enabledEvents.includes('*') || e.enabledEvents.includes(type);
}

/** A delivery's id: derived from event and endpoint (and, for a resend or replay, what makes it another one). */
export const deliveryId = (eventId: string, endpointId: string, repeat?: string) =>
  `whd_${createHash('sha256').update(`${eventId}\n${endpointId}${repeat ? `\n${repeat}` : ''}`).digest('hex').slice(0, 24)}`;

export function tasksFor(events: StripeEvent[], merchantId: string, endpoints: Endpoint[], commitSeq: number, now: number): DeliveryTask[] {
  return tasksForPending(
    events.map((e) => ({ type: e.type, livemode: e.livemode, render: () => e })),
    merchantId,
    endpoints,
    commitSeq,
    now,
  );
}

/**
 * tasksFor on events not yet rendered: the endpoints an event is owed to are found from its type and
 * mode alone, and only an event owed to one is rendered (most events of a payment are not subscribed to).
 */
export function tasksForPending(events: PendingStripeEvent[], merchantId: string, endpoints: Endpoint[], commitSeq: number, now: number): DeliveryTask[] {
  const out: DeliveryTask[] = [];
  if (endpoints.length === 0) return out;
  for (const p of events) {
    const to = endpoints.filter((ep) => subscribed(ep, p.type, p.livemode));
    // Owed to no endpoint: nothing to render or serialize.
    if (to.length === 0) continue;
    const e = p.render();
    // Stripe's pending_webhooks: the endpoints this event is owed to when it is sent.
    // No `account`: Stripe names one only in a Connect event, and there are no connected accounts here.
    const payload = JSON.stringify({ ...e, pending_webhooks: to.length }, null, 2);
    for (const ep of to) {
      out.push({
        v: 1,
        id: deliveryId(e.id, ep.id),
        merchant_id: merchantId,
        endpoint_id: ep.id,
        url: ep.url,
        event_id: e.id,
        event_type: e.type,
        payload,
        commit_seq: commitSeq,
        created: now,
        livemode: e.livemode,
      });
    }
  }
  return out;
}

/** A merchant state's enabled endpoints, built once per state read (the fan-out's merchant cache hands out the same object until it changes). */
const endpointsByState = new WeakMap<Merchant, Endpoint[]>();
function endpointsCached(m: Merchant): Endpoint[] {
  let eps = endpointsByState.get(m);
  if (!eps) endpointsByState.set(m, (eps = endpointsOf(m)));
  return eps;
}

/** The delivery's inline first try (webhooks/delivery.ts): true when it settled the delivery, false to store a task instead. */
export type FirstTry = (task: DeliveryTask, requestId: string | null, commit: JsMsg) => Promise<boolean>;

/**
 * `changed(merchantId)` is told of every merchant commit (endpoints added, changed or removed), so a
 * cache can drop the merchant. With `firstTry` (the webhooks role), a commit read for the first time
 * has its deliveries tried at once, and only those it declines or that fail become tasks; without it
 * (a reconcile process's fan-out), or for a redelivered commit, every delivery becomes a task.
 */
export function createFanout(
  js: JetStreamClient,
  loadMerchant: (id: string) => Promise<Merchant | null>,
  log: Logger,
  { changed, firstTry, commits = decodeOnly }: { changed?: (merchantId: string) => void; firstTry?: FirstTry; commits?: CommitReader } = {},
) {
  return async (m: JsMsg): Promise<Outcome> => {
    let commit;
    try {
      commit = commits.commitOf(m);
    } catch (err) {
      return { kind: 'term', reason: `undecodable commit: ${(err as Error).message}` };
    }
    if (commit.aggregate === 'merchant') changed?.(commit.merchant_id);
    // Reconciliation work is queued whether or not any endpoint wants the commit's events. The commit
    // is decoded already: a look at its few events, not a second scan of its bytes.
    if (reconcileWorkOf(commit)) await appendReconcileTask(js, m, commit);
    // Types and modes first; an event is rendered only once an endpoint is found to want it.
    const events = pendingStripeEventsOf(commit);
    if (events.length === 0) return { kind: 'ack' };
    const merchant = await loadMerchant(commit.merchant_id);
    if (!merchant) return { kind: 'ack' };
    const seq = m.seq;
    const tasks = tasksForPending(events, commit.merchant_id, endpointsCached(merchant), seq, Math.floor(Date.now() / 1000));
    // Together (each task has its own msgID: a redelivered commit owes nothing twice); acked once every
    // delivery is either tried (its receipt stored) or stored as a task.
    // A commit read again may have had its deliveries tried inline already (by any process on this
    // durable): its tasks say so (`tried: 0`), and their tries are counted on from what was recorded.
    const again = (m.info.deliveryCount ?? 1) > 1;
    const inline = firstTry && !again ? firstTry : null;
    const store = (t: DeliveryTask) => appendCommitless(js, subjects.webhookDeliver(t.merchant_id), again ? { ...t, tried: 0 } : t, t.id, commit.request_id);
    await Promise.all(tasks.map(async (t) => ((inline && (await inline(t, commit.request_id, m))) || (await store(t)))));
    if (tasks.length) log.debug({ seq, tasks: tasks.length }, 'webhook tasks');
    return { kind: 'ack' };
  };
}
