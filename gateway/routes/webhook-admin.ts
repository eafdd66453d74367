// Operator API for webhook deliveries (ADMIN_TOKEN): receipts by merchant, endpoint, event and
// status; one delivery with every try; the dead-letter subject; resend; replay of dead letters.
//   GET  /admin/webhook_deliveries?merchant=&endpoint=&event=&status=&limit=&starting_after=
//   GET  /admin/webhook_deliveries/:id                       the delivery and all its tries
//   GET  /admin/webhook_attempts?merchant=&endpoint=&event=&outcome=&status_code=&limit=   tries, newest first
//   GET  /admin/webhook_dlq?merchant=&endpoint=&event_type=&event=&limit=
//   POST /admin/webhook_dlq/replay   {merchant?, endpoint?, event_type?, event?, dry_run?}
//   POST /admin/webhook_resend       {merchant, event, endpoint}
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../stripe/errors.ts';
import { toUnix } from '../../storage/columns.ts';
import type { WebhookTryRecord, DeliveryRecord } from '../../storage/mod.ts';
import { WebhookAdminError, type WebhookAdmin } from '../../webhooks/admin.ts';
import type { DeadLetterEntry } from '../../webhooks/admin.ts';
import type { GatewayDeps } from '../app.ts';
import { requireAdmin } from './admin.ts';

const opts = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Status = Type.Union([Type.Literal('pending'), Type.Literal('failed'), Type.Literal('delivered'), Type.Literal('dead')]);

const DeliveriesQuery = Type.Object(
  {
    merchant: Type.Optional(Id),
    endpoint: Type.Optional(Id),
    event: Type.Optional(Id),
    status: Type.Optional(Status),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    starting_after: Type.Optional(Id),
  },
  opts,
);
type DeliveriesQuery = Static<typeof DeliveriesQuery>;

const DlqQuery = Type.Object(
  {
    merchant: Type.Optional(Id),
    endpoint: Type.Optional(Id),
    event_type: Type.Optional(Type.String({ maxLength: 128 })),
    event: Type.Optional(Id),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  opts,
);
type DlqQuery = Static<typeof DlqQuery>;

const ReplayBody = Type.Object(
  {
    merchant: Type.Optional(Id),
    endpoint: Type.Optional(Id),
    event_type: Type.Optional(Type.String({ maxLength: 128 })),
    event: Type.Optional(Id),
    dry_run: Type.Optional(Type.Boolean()),
  },
  opts,
);
type ReplayBody = Static<typeof ReplayBody>;

const ResendBody = Type.Object({ merchant: Id, event: Id, endpoint: Id }, opts);
type ResendBody = Static<typeof ResendBody>;

const TriesQuery = Type.Object(
  {
    merchant: Type.Optional(Id),
    endpoint: Type.Optional(Id),
    event: Type.Optional(Id),
    outcome: Type.Optional(Type.Union([Type.Literal('delivered'), Type.Literal('failed')])),
    status_code: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  opts,
);
type TriesQuery = Static<typeof TriesQuery>;

const IdParams = Type.Object({ id: Id }, opts);
type IdParams = Static<typeof IdParams>;

const unix = (d: Date | null) => (d ? toUnix(d) : null);

export function renderDelivery(d: DeliveryRecord) {
  return {
    id: d.id,
    object: 'webhook_delivery',
    merchant: d.merchant_id,
    endpoint: d.endpoint_id,
    event: d.event_id,
    event_type: d.event_type,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    last_attempt_at: unix(d.last_attempt_at),
    delivered_at: unix(d.delivered_at),
    next_retry_at: unix(d.next_retry_at),
  };
}

export function renderAttempt(a: WebhookTryRecord) {
  return {
    delivery: a.delivery_id,
    event: a.event_id,
    event_type: a.event_type,
    attempt: a.attempt,
    at: toUnix(a.at),
    endpoint: a.endpoint_id,
    url: a.url,
    outcome: a.outcome,
    status_code: a.status_code,
    latency_ms: a.duration_ms,
    error: a.error,
    response_body: a.response_body,
    request_id: a.request_id,
  };
}

export function renderDeadLetter(e: DeadLetterEntry) {
  const { payload: _payload, ...dead } = e.dead;
  return { seq: e.seq, ...dead, replayable: e.dead.payload !== undefined };
}

/** Admin errors speak Stripe's error body like the rest. */
export function adminError(err: unknown): never {
  if (err instanceof WebhookAdminError) throw new ApiError(err.status, 'invalid_request_error', err.code, err.message, err.param);
  throw err;
}

function need(deps: GatewayDeps): WebhookAdmin {
  if (!deps.webhooks) throw new ApiError(503, 'api_error', undefined, 'Webhook administration is not available on this gateway.');
  return deps.webhooks;
}

export function registerWebhookAdmin(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Querystring: DeliveriesQuery }>('/admin/webhook_deliveries', { schema: { querystring: DeliveriesQuery } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const q = req.query;
    const page = await need(deps).deliveries({
      ...(q.merchant !== undefined ? { merchantId: q.merchant } : {}),
      ...(q.endpoint !== undefined ? { endpointId: q.endpoint } : {}),
      ...(q.event !== undefined ? { eventId: q.event } : {}),
      ...(q.status !== undefined ? { status: q.status } : {}),
      ...(q.starting_after !== undefined ? { startingAfter: q.starting_after } : {}),
      limit: q.limit ?? 100,
    });
    return { object: 'list', url: '/admin/webhook_deliveries', has_more: page.hasMore, data: page.data.map(renderDelivery) };
  });

  app.get<{ Params: IdParams }>('/admin/webhook_deliveries/:id', { schema: { params: IdParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const d = await need(deps).delivery(req.params.id);
    if (!d) throw new ApiError(404, 'invalid_request_error', 'resource_missing', `No such webhook delivery: '${req.params.id}'`, 'id');
    return { ...renderDelivery(d.delivery), tries: d.attempts.map(renderAttempt) };
  });

  app.get<{ Querystring: TriesQuery }>('/admin/webhook_attempts', { schema: { querystring: TriesQuery } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const q = req.query;
    const tries = await need(deps).tries({
      ...(q.merchant !== undefined ? { merchantId: q.merchant } : {}),
      ...(q.endpoint !== undefined ? { endpointId: q.endpoint } : {}),
      ...(q.event !== undefined ? { eventId: q.event } : {}),
      ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
      ...(q.status_code !== undefined ? { statusCode: q.status_code } : {}),
      limit: q.limit ?? 100,
    });
    return { object: 'list', url: '/admin/webhook_attempts', has_more: false, data: tries.map(renderAttempt) };
  });

  app.get<{ Querystring: DlqQuery }>('/admin/webhook_dlq', { schema: { querystring: DlqQuery } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const q = req.query;
    const entries = await need(deps).deadLetters({
      ...(q.merchant !== undefined ? { merchantId: q.merchant } : {}),
      ...(q.endpoint !== undefined ? { endpointId: q.endpoint } : {}),
      ...(q.event_type !== undefined ? { eventType: q.event_type } : {}),
      ...(q.event !== undefined ? { eventId: q.event } : {}),
      limit: q.limit ?? 1000,
    });
    return { object: 'list', url: '/admin/webhook_dlq', has_more: false, data: entries.map(renderDeadLetter) };
  });

  app.post<{ Body: ReplayBody }>('/admin/webhook_dlq/replay', { schema: { body: ReplayBody } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const b = req.body ?? {};
    const r = await need(deps).replay({
      ...(b.merchant !== undefined ? { merchantId: b.merchant } : {}),
      ...(b.endpoint !== undefined ? { endpointId: b.endpoint } : {}),
      ...(b.event_type !== undefined ? { eventType: b.event_type } : {}),
      ...(b.event !== undefined ? { eventId: b.event } : {}),
      ...(b.dry_run !== undefined ? { dryRun: b.dry_run } : {}),
    });
    req.log.info({ replayed: r.replayed.length, skipped: r.skipped.length, resolved: r.resolved.length, dry_run: b.dry_run === true }, 'webhook dead letters replayed');
    return { object: 'webhook_replay', dry_run: b.dry_run === true, ...r };
  });

  app.post<{ Body: ResendBody }>('/admin/webhook_resend', { schema: { body: ResendBody } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const b = req.body;
    const r = await need(deps)
      .resend({ merchantId: b.merchant, eventId: b.event, endpointId: b.endpoint, repeatKey: req.id, requestId: req.id })
      .catch(adminError);
    return { object: 'webhook_resend', delivery: r.delivery_id, event: b.event, endpoint: b.endpoint };
  });
}
