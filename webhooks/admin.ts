// What operators (and the merchant's resend) do to deliveries: read receipts, read the dead-letter
// subject, resend one event to one endpoint, replay dead letters once an endpoint is fixed.
//
// A resend or replay is a new delivery (its own id, `repeat_of` the old one) on the same durable as
// every other task, so it gets the same signing, backoff, receipts and dead-lettering. A replayed
// dead letter is removed from pay.webhook.dlq.> once its new task is queued: the dead-letter
// subject holds exactly what is still owed (its size is the DLQ depth metric).
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import type { Merchant } from '../actors/mod.ts';
import type { Database } from '../storage/database.ts';
import { getDelivery, getStripeEvent, listWebhookTries, pendingWebhooks, queryDeliveries, queryWebhookTries, type QueryTriesOptions, type WebhookTryRecord, type DeliveryRecord, type QueryDeliveriesOptions } from '../storage/mod.ts';
import { WEBHOOKS_STREAM, subjects } from '../streams/subjects.ts';
import type { StripeEvent } from '../stripe/objects.ts';
import { deliveryId, endpointsOf } from './fanout.ts';
import { appendCommitless } from './publish.ts';
import type { DeadLetter, DeliveryTask } from './types.ts';
import { setDlqDepthSource } from './metrics.ts';

export interface DeadLetterFilter {
  merchantId?: string;
  endpointId?: string;
  eventType?: string;
  eventId?: string;
  /** At most this many (default 1000). */
  limit?: number;
}

export interface DeadLetterEntry {
  seq: number;
  dead: DeadLetter;
}

export interface ReplayResult {
  /** New deliveries queued: dead delivery id → new delivery id. */
  replayed: { dead_delivery: string; delivery: string; event_id: string; endpoint_id: string }[];
  /** Dead letters left where they are, and why. */
  skipped: { dead_delivery: string; event_id: string; endpoint_id: string; reason: string }[];
  /** Dead letters dropped because the event already reached that endpoint (by a resend or an earlier replay). */
  resolved: string[];
}

export interface WebhookAdmin {
  deliveries(q: QueryDeliveriesOptions): Promise<{ data: DeliveryRecord[]; hasMore: boolean }>;
  delivery(id: string): Promise<{ delivery: DeliveryRecord; attempts: WebhookTryRecord[] } | null>;
  tries(q: QueryTriesOptions): Promise<WebhookTryRecord[]>;
  deadLetters(f: DeadLetterFilter): Promise<DeadLetterEntry[]>;
  replay(f: DeadLetterFilter & { dryRun?: boolean }): Promise<ReplayResult>;
  /** Queues one event for one endpoint again; `repeatKey` makes the new delivery's id (an Idempotency-Key, or the request id). */
  resend(o: { merchantId: string; eventId: string; endpointId: string; livemode?: boolean; repeatKey: string; requestId: string | null }): Promise<{ delivery_id: string; event: StripeEvent }>;
  pendingWebhooks(eventIds: readonly string[]): Promise<Map<string, number>>;
}

export class WebhookAdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'WebhookAdminError';
  }
}

const dec = new TextDecoder();

/** The endpoint a resend or replay goes to now: it must exist and be enabled (its URL may have been fixed since). */
function targetOf(m: Merchant | null, endpointId: string): { url: string; livemode: boolean | null } | { problem: string } {
  if (!m) return { problem: 'no such merchant' };
  const ep = endpointsOf(m).find((e) => e.id === endpointId);
  if (ep) return { url: ep.url, livemode: ep.livemode };
  return (m.webhook_endpoints ?? []).some((e) => e.id === endpointId) ? { problem: 'endpoint disabled' } : { problem: 'no such endpoint' };
}

export function createWebhookAdmin(d: { db: Kysely<Database>; js: JetStreamClient; jsm: JetStreamManager; readMerchant(id: string): Promise<Merchant | null> }): WebhookAdmin {
  const { db, js, jsm } = d;
  // The gateway's /metrics shows the DLQ depth too (not only processes running the webhooks role).
  setDlqDepthSource(async () => {
    const info = await jsm.streams.info(WEBHOOKS_STREAM, { subjects_filter: 'pay.webhook.dlq.>' });
    return Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
  });

  async function deadLetters(f: DeadLetterFilter): Promise<DeadLetterEntry[]> {
    const filter = f.merchantId ? subjects.webhookDlq(f.merchantId) : 'pay.webhook.dlq.>';
    const info = await jsm.streams.info(WEBHOOKS_STREAM, { subjects_filter: filter });
    const total = Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
    const out: DeadLetterEntry[] = [];
    if (total === 0) return out;
    const limit = f.limit ?? 1000;
    // An ordered consumer over the dead-letter subject: read once, start to end.
    const c = await js.consumers.get(WEBHOOKS_STREAM, { filter_subjects: [filter] });
    let seen = 0;
    while (seen < total) {
      const batch = await c.fetch({ max_messages: Math.min(500, total - seen), expires: 2_000 });
      let got = 0;
      let last: JsMsg | null = null;
      for await (const m of batch) {
        got++;
        last = m;
        let dead: DeadLetter;
        try {
          dead = JSON.parse(dec.decode(m.data)) as DeadLetter;
        } catch {
          continue;
        }
        if (f.endpointId && dead.endpoint_id !== f.endpointId) continue;
        if (f.eventType && dead.event_type !== f.eventType) continue;
        if (f.eventId && dead.event_id !== f.eventId) continue;
        if (out.length < limit) out.push({ seq: m.seq, dead });
      }
      seen += got;
      if (got === 0 || (last && last.info.pending === 0)) break;
    }
    return out;
  }

  async function publish(task: DeliveryTask, requestId: string | null): Promise<void> {
    await appendCommitless(js, subjects.webhookDeliver(task.merchant_id), task, task.id, requestId);
  }

  return {
    deliveries: (q) => queryDeliveries(db, q),

    async delivery(id) {
      const row = await db.selectFrom('webhook_deliveries').select('merchant_id').where('id', '=', id).executeTakeFirst();
      if (!row) return null;
      const delivery = await getDelivery(db, row.merchant_id, id);
      return delivery ? { delivery, attempts: await listWebhookTries(db, id) } : null;
    },

    deadLetters,

    tries: (q) => queryWebhookTries(db, q),

    async replay(f) {
      const result: ReplayResult = { replayed: [], skipped: [], resolved: [] };
      const entries = await deadLetters(f);
      const merchants = new Map<string, Merchant | null>();
      const now = Math.floor(Date.now() / 1000);
      for (const { seq, dead } of entries) {
        const skip = (reason: string) => result.skipped.push({ dead_delivery: dead.delivery_id, event_id: dead.event_id, endpoint_id: dead.endpoint_id, reason });
        if (!dead.payload) {
          skip('the dead letter predates replay (no payload kept)');
          continue;
        }
        const done = await db
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('event_id', '=', dead.event_id)
          .where('endpoint_id', '=', dead.endpoint_id)
          .where('status', '=', 'delivered')
          .executeTakeFirst();
        if (!merchants.has(dead.merchant_id)) merchants.set(dead.merchant_id, await d.readMerchant(dead.merchant_id));
        const target = targetOf(merchants.get(dead.merchant_id) ?? null, dead.endpoint_id);
        if (done) {
          if (!f.dryRun) await jsm.streams.deleteMessage(WEBHOOKS_STREAM, seq, false);
          result.resolved.push(dead.delivery_id);
          continue;
        }
        if ('problem' in target) {
          skip(target.problem);
          continue;
        }
        const task: DeliveryTask = {
          v: 1,
          id: deliveryId(dead.event_id, dead.endpoint_id, `replay:${seq}`),
          merchant_id: dead.merchant_id,
          endpoint_id: dead.endpoint_id,
          url: target.url,
          event_id: dead.event_id,
          event_type: dead.event_type,
          payload: dead.payload,
          commit_seq: 0,
          created: now,
          livemode: dead.livemode ?? false,
          repeat_of: dead.delivery_id,
        };
        if (!f.dryRun) {
          await publish(task, dead.request_id ?? null);
          // Queued again: no longer owed by the dead-letter subject.
          await jsm.streams.deleteMessage(WEBHOOKS_STREAM, seq, false);
        }
        result.replayed.push({ dead_delivery: dead.delivery_id, delivery: task.id, event_id: task.event_id, endpoint_id: task.endpoint_id });
      }
      return result;
    },

    async resend(o) {
      const m = await d.readMerchant(o.merchantId);
      const target = targetOf(m, o.endpointId);
      if ('problem' in target) {
        throw new WebhookAdminError(target.problem === 'endpoint disabled' ? 400 : 404, target.problem === 'endpoint disabled' ? 'parameter_invalid' : 'resource_missing',
          target.problem === 'endpoint disabled' ? `Webhook endpoint ${o.endpointId} is disabled; enable it first.` : `No such webhook endpoint: '${o.endpointId}'`, 'webhook_endpoint');
      }
      const modes = o.livemode !== undefined ? [o.livemode] : [false, true];
      let event: StripeEvent | undefined;
      for (const mode of modes) event ??= await getStripeEvent(db, o.merchantId, mode, o.eventId);
      if (!event) throw new WebhookAdminError(404, 'resource_missing', `No such event: '${o.eventId}'`, 'id');
      if (target.livemode !== null && target.livemode !== event.livemode) {
        throw new WebhookAdminError(404, 'resource_missing', `No such webhook endpoint: '${o.endpointId}'`, 'webhook_endpoint');
      }
      const pending = (await pendingWebhooks(db, [event.id])).get(event.id) ?? 0;
      const payload = JSON.stringify({ ...event, pending_webhooks: pending }, null, 2);
      const original = deliveryId(event.id, o.endpointId);
      const task: DeliveryTask = {
        v: 1,
        id: deliveryId(event.id, o.endpointId, `resend:${o.repeatKey}`),
        merchant_id: o.merchantId,
        endpoint_id: o.endpointId,
        url: target.url,
        event_id: event.id,
        event_type: event.type,
        payload,
        commit_seq: 0,
        created: Math.floor(Date.now() / 1000),
        livemode: event.livemode,
        repeat_of: original,
      };
      await publish(task, o.requestId);
      return { delivery_id: task.id, event: { ...event, pending_webhooks: pending } };
    },

    pendingWebhooks: (ids) => pendingWebhooks(db, ids),
  };
}
