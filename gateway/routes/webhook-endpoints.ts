// /v1/webhook_endpoints: create, retrieve, update, list and delete a merchant's webhook endpoints.
// Endpoints live in the merchant aggregate (its single writer orders them with the onboarding data),
// so reads are the merchant's last commit. Secret keys only; an endpoint of another merchant or of
// the other mode does not exist for the key. The signing secret is shown once, in the create answer.
import type { FastifyInstance } from 'fastify';
import type { Merchant, WebhookEndpoint } from '../../actors/mod.ts';
import { ApiError, noSuch, cannotExpand } from '../../stripe/errors.ts';
import { normalizeEventType, renderWebhookEndpoint, STRIPE_EVENT_TYPES } from '../../stripe/objects.ts';
import { openString, sealString } from '../../vault/mod.ts';
import { commandCtx, idempotent, idempotencyKeyOf, principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId, randomToken } from '../ids.ts';
import { pageInMemory, listObject } from '../lists.ts';
import { CreateWebhookEndpointBody, IdParams, ListWebhookEndpointsQuery, RetrieveExpandQuery, UpdateWebhookEndpointBody } from '../schemas.ts';
import { Type, type Static } from '@sinclair/typebox';
import { urlProblem } from '../../webhooks/safety.ts';
import { adminError } from './webhook-admin.ts';

const now = () => Math.floor(Date.now() / 1000);
const KNOWN = new Set<string>(STRIPE_EVENT_TYPES);
const secretAad = (merchantId: string, endpointId: string) => `whsec/${merchantId}/${endpointId}`;


/**
 * An http(s) URL; in live mode https to a public address only (webhooks/safety.ts: checked again
 * before every live delivery, since DNS can change).
 */
async function checkUrl(url: string, livemode: boolean): Promise<string> {
  let u: URL | null = null;
  try {
    u = new URL(url);
  } catch {
    // refused below
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw new ApiError(400, 'invalid_request_error', 'url_invalid', `Invalid URL: ${url.slice(0, 256)}. The URL must be an http or https URL.`, 'url');
  }
  const problem = await urlProblem(url, livemode);
  if (problem) throw new ApiError(400, 'invalid_request_error', 'url_invalid', `Invalid URL: ${url.slice(0, 256)}. ${problem}`, 'url');
  return url;
}

/**
 * POST /v1/webhook_endpoints/:id/roll_secret: a new signing secret, shown once in the answer. The
 * old one keeps signing beside it (two v1= in Stripe-Signature) until `expires_at` (unix seconds)
 * or `expires_in` seconds from now; default 24 hours, at most 7 days (as the Stripe Dashboard's
 * roll offers); 0 ends the old secret at once.
 */
const RollSecretBody = Type.Object(
  {
    expires_in: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600 })),
    expires_at: Type.Optional(Type.Integer({ minimum: 0 })),
    expand: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
type RollSecretBody = Static<typeof RollSecretBody>;
export const ROLL_DEFAULT_S = 24 * 3600;
export const ROLL_MAX_S = 7 * 24 * 3600;

/** POST /v1/events/:id/retry (what `stripe events resend` calls): one event, again, to one endpoint. */
const RetryEventBody = Type.Object(
  {
    webhook_endpoint: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
    /** Sent by the Stripe CLI; we have no CLI listener to resend to, so it changes nothing. */
    for_stripecli: Type.Optional(Type.Boolean()),
    expand: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
type RetryEventBody = Static<typeof RetryEventBody>;

/** Stripe's event types (the seed's names mapped onto them) or '*', each once. */
function enabledEvents(given: string[]): string[] {
  const out: string[] = [];
  given.forEach((raw, i) => {
    const e = normalizeEventType(raw);
    if (e !== '*' && !KNOWN.has(e)) {
      throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Invalid enabled_events[${i}]: '${raw.slice(0, 128)}' is not a known event type. Known: *, ${STRIPE_EVENT_TYPES.join(', ')}.`, 'enabled_events');
    }
    if (!out.includes(e)) out.push(e);
  });
  return out;
}

function checkExpand(expand: string[] | undefined): void {
  const [first] = expand ?? [];
  if (first !== undefined) throw cannotExpand(first);
}

/** The key's merchant's endpoints of the key's mode, newest first. */
async function endpointsFor(deps: Pick<GatewayDeps, 'readMerchant'>, p: Principal): Promise<WebhookEndpoint[]> {
  const m = await deps.readMerchant(p.merchant_id);
  return (m?.webhook_endpoints ?? []).filter((e) => e.livemode === (p.mode === 'live')).reverse();
}

async function readOwnEndpoint(deps: Pick<GatewayDeps, 'readMerchant'>, p: Principal, id: string): Promise<WebhookEndpoint> {
  const ep = (await endpointsFor(deps, p)).find((e) => e.id === id);
  if (!ep) throw noSuch('webhook endpoint', id);
  return ep;
}

function endpointIn(state: Merchant, id: string): WebhookEndpoint {
  const ep = (state.webhook_endpoints ?? []).find((e) => e.id === id);
  if (!ep) throw new Error(`webhook endpoint ${id} missing after the command`);
  return ep;
}

export function registerWebhookEndpoints(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateWebhookEndpointBody }>('/v1/webhook_endpoints', { schema: { body: CreateWebhookEndpointBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const url = await checkUrl(b.url, p.mode === 'live');
    const events = enabledEvents(b.enabled_events);
    checkExpand(b.expand);
    return idempotent(req, reply, deps, scopeOf(p), async () => {
      const cmdId = commandId(scopeOf(p), 'POST /v1/webhook_endpoints', idempotencyKeyOf(req));
      const endpointId = derivedId('we', cmdId);
      const aad = secretAad(p.merchant_id, endpointId);
      const state = (await deps.commands.send({
        op: 'merchant.update',
        merchantId: p.merchant_id,
        command: {
          type: 'AddWebhookEndpoint',
          endpoint: {
            id: endpointId,
            url,
            enabled_events: events,
            description: b.description ? b.description : null,
            metadata: b.metadata || {},
            secret_enc: sealString(deps.ring.secretsKey, deps.ring.kid, `whsec_${randomToken(32)}`, aad),
            livemode: p.mode === 'live',
          },
          now: now(),
        },
        ctx: commandCtx(req, p, cmdId),
      })) as Merchant;
      // The secret of the endpoint as recorded: a retried create answers with the first one's.
      const ep = endpointIn(state, endpointId);
      return { status: 200, body: renderWebhookEndpoint(ep, openString(deps.ring.secretsKey, ep.secret_enc, aad)) };
    });
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>(
    '/v1/webhook_endpoints/:id',
    { schema: { params: IdParams, querystring: RetrieveExpandQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      checkExpand(req.query.expand);
      return renderWebhookEndpoint(await readOwnEndpoint(deps, p, req.params.id));
    },
  );

  app.post<{ Params: IdParams; Body: UpdateWebhookEndpointBody }>(
    '/v1/webhook_endpoints/:id',
    { schema: { params: IdParams, body: UpdateWebhookEndpointBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body;
      const id = req.params.id;
      const url = b.url !== undefined ? await checkUrl(b.url, p.mode === 'live') : undefined;
      const events = b.enabled_events !== undefined ? enabledEvents(b.enabled_events) : undefined;
      checkExpand(b.expand);
      await readOwnEndpoint(deps, p, id); // 404 before anything is written
      return idempotent(req, reply, deps, scopeOf(p), async () => {
        const cmdId = commandId(scopeOf(p), `POST /v1/webhook_endpoints/${id}`, idempotencyKeyOf(req));
        const state = (await deps.commands.send({
          op: 'merchant.update',
          merchantId: p.merchant_id,
          command: {
            type: 'UpdateWebhookEndpoint',
            endpointId: id,
            livemode: p.mode === 'live',
            ...(url !== undefined ? { url } : {}),
            ...(events !== undefined ? { enabledEvents: events } : {}),
            ...(b.description !== undefined ? { description: b.description === '' ? null : b.description } : {}),
            ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
            ...(b.disabled !== undefined ? { disabled: b.disabled } : {}),
            now: now(),
          },
          ctx: commandCtx(req, p, cmdId),
        })) as Merchant;
        return { status: 200, body: renderWebhookEndpoint(endpointIn(state, id)) };
      });
    },
  );

  app.post<{ Params: IdParams; Body: RollSecretBody }>(
    '/v1/webhook_endpoints/:id/roll_secret',
    { schema: { params: IdParams, body: RollSecretBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body ?? {};
      const id = req.params.id;
      checkExpand(b.expand);
      if (b.expires_in !== undefined && b.expires_at !== undefined) {
        throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'Pass either expires_in or expires_at, not both.', 'expires_at');
      }
      const t = now();
      const expiresAt = b.expires_at ?? t + (b.expires_in ?? ROLL_DEFAULT_S);
      if (expiresAt < t || expiresAt > t + ROLL_MAX_S) {
        throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `expires_at must be between now and ${ROLL_MAX_S} seconds (7 days) from now.`, 'expires_at');
      }
      await readOwnEndpoint(deps, p, id);
      return idempotent(req, reply, deps, scopeOf(p), async () => {
        const cmdId = commandId(scopeOf(p), `POST /v1/webhook_endpoints/${id}/roll_secret`, idempotencyKeyOf(req));
        const aad = secretAad(p.merchant_id, id);
        const state = (await deps.commands.send({
          op: 'merchant.update',
          merchantId: p.merchant_id,
          command: {
            type: 'RollWebhookEndpointSecret',
            endpointId: id,
            livemode: p.mode === 'live',
            secretEnc: sealString(deps.ring.secretsKey, deps.ring.kid, `whsec_${randomToken(32)}`, aad),
            expiresAt,
            now: t,
          },
          ctx: commandCtx(req, p, cmdId),
        })) as Merchant;
        const ep = endpointIn(state, id);
        // The new secret, shown this once; the old one's end is told as well.
        return {
          status: 200,
          body: {
            ...renderWebhookEndpoint(ep, openString(deps.ring.secretsKey, ep.secret_enc, aad)),
            previous_secret_expires_at: ep.previous_secrets?.[0]?.expires_at ?? null,
          },
        };
      });
    },
  );

  app.post<{ Params: IdParams; Body: RetryEventBody }>('/v1/events/:id/retry', { schema: { params: IdParams, body: RetryEventBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body ?? {};
    checkExpand(b.expand);
    const endpointId = b.webhook_endpoint;
    if (!endpointId) throw new ApiError(400, 'invalid_request_error', 'parameter_missing', 'Missing required param: webhook_endpoint.', 'webhook_endpoint');
    if (!deps.webhooks) throw new ApiError(503, 'api_error', undefined, 'Webhook resend is not available on this gateway.');
    const admin = deps.webhooks;
    return idempotent(req, reply, deps, scopeOf(p), async () => {
      const r = await admin
        .resend({ merchantId: p.merchant_id, eventId: req.params.id, endpointId, livemode: p.mode === 'live', repeatKey: idempotencyKeyOf(req) ?? req.id, requestId: req.id })
        .catch(adminError);
      return { status: 200, body: r.event };
    });
  });

  app.delete<{ Params: IdParams }>('/v1/webhook_endpoints/:id', { schema: { params: IdParams } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const id = req.params.id;
    await readOwnEndpoint(deps, p, id);
    return idempotent(req, reply, deps, scopeOf(p), async () => {
      const cmdId = commandId(scopeOf(p), `DELETE /v1/webhook_endpoints/${id}`, idempotencyKeyOf(req));
      await deps.commands.send({
        op: 'merchant.update',
        merchantId: p.merchant_id,
        command: { type: 'RemoveWebhookEndpoint', endpointId: id, livemode: p.mode === 'live', now: now() },
        ctx: commandCtx(req, p, cmdId),
      });
      return { status: 200, body: { id, object: 'webhook_endpoint', deleted: true } };
    });
  });

  app.get<{ Querystring: ListWebhookEndpointsQuery }>('/v1/webhook_endpoints', { schema: { querystring: ListWebhookEndpointsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    for (const e of q.expand ?? []) throw cannotExpand(e);
    const all = await endpointsFor(deps, p);
    const page = pageInMemory(all, q, 'webhook endpoint');
    return listObject('/v1/webhook_endpoints', page.data.map((e) => renderWebhookEndpoint(e)), page.hasMore);
  });
}
