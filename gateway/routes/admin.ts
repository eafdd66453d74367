// Operator API: onboarding through the merchant actor. Needs ADMIN_TOKEN; a merchant key never works here.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyRecord, Merchant } from '../../actors/mod.ts';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import { normalizeEventType, renderMerchant, STRIPE_EVENT_TYPES } from '../../stripe/objects.ts';
import { hashApiKey, sealString } from '../../vault/mod.ts';
import { correlationOf, idempotencyKeyOf, type GatewayDeps } from '../app.ts';
import { commandId, derivedId } from '../ids.ts';
import { IdParams, OnboardBody } from '../schemas.ts';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function token(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += BASE62[b % 62];
  return s;
}

export function requireAdmin(req: FastifyRequest, adminToken: string | undefined): void {
  const h = req.headers.authorization ?? '';
  const given = h.toLowerCase().startsWith('bearer ') ? h.slice(7).trim() : '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(adminToken ?? '').digest();
  if (!adminToken || !given || !timingSafeEqual(a, b)) {
    throw new ApiError(401, 'authentication_error', 'admin_token_invalid', 'This endpoint needs the admin token: Authorization: Bearer <ADMIN_TOKEN>.');
  }
}

export function registerAdmin(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: OnboardBody }>('/admin/merchants', { schema: { body: OnboardBody } }, async (req, reply) => {
    requireAdmin(req, deps.config.adminToken);
    const b = req.body;
    const events = (b.events ?? []).map(normalizeEventType);
    for (const e of events) {
      if (e !== '*' && !(STRIPE_EVENT_TYPES as readonly string[]).includes(e)) {
        throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Unknown event type '${e}'. Known: ${STRIPE_EVENT_TYPES.join(', ')} (or the seed's payment_successful, payment_failure, payment_timeout).`, 'events');
      }
    }
    const cmdId = commandId('admin', 'POST /admin/merchants', idempotencyKeyOf(req));
    const merchantId = b.merchant_id ?? derivedId('acct', cmdId);
    if (await deps.readMerchant(merchantId)) {
      throw new ApiError(409, 'invalid_request_error', 'resource_already_exists', `Merchant ${merchantId} already exists.`, 'merchant_id');
    }
    const now = Math.floor(Date.now() / 1000);
    // Test and live keys: objects made with one mode's keys are invisible to the other's.
    const issued = (['test', 'live'] as const).flatMap((mode) =>
      (['secret', 'publishable'] as const).map((kind) => ({ mode, kind, key: `${kind === 'secret' ? 'sk' : 'pk'}_${mode}_${token(32)}` })),
    );
    const webhookSecret = `whsec_${token(32)}`;
    const keys: ApiKeyRecord[] = issued.map((k) => ({
      id: `key_${token(16)}`,
      kind: k.kind,
      hash: hashApiKey(deps.ring, k.key),
      redacted: `${k.key.slice(0, 8)}…${k.key.slice(-4)}`,
      created: now,
    }));
    // Index the keys first: if the append then fails, the index points at no merchant and authenticates nothing.
    for (const [i, k] of issued.entries()) {
      await deps.keys.register(k.key, { merchant_id: merchantId, key_id: keys[i]!.id, kind: k.kind, mode: k.mode, created: now });
    }
    const keyOf = (mode: 'test' | 'live', kind: 'secret' | 'publishable') => issued.find((k) => k.mode === mode && k.kind === kind)!.key;
    const { requestId, correlationId } = correlationOf(req);
    const webhookEndpointId = `we_${token(24)}`;
    const state = (await deps.commands.send({
      op: 'merchant.onboard',
      merchantId,
      command: {
        type: 'Onboard',
        merchantId,
        name: b.name,
        address: b.address,
        gstId: b.gst_id,
        callbackUrl: b.call_back_url ?? null,
        events,
        keys,
        webhookSecretEnc: sealString(deps.ring.secretsKey, deps.ring.kid, webhookSecret, `whsec/${merchantId}`),
        webhookEndpointId,
        allowedOrigins: b.allowed_origins ?? [],
        now,
      },
      ctx: { commandId: cmdId, livemode: false, requestId, correlationId, now },
    })) as Merchant;
    return reply.code(201).send({
      merchant_id: merchantId,
      secret_key: keyOf('test', 'secret'),
      publishable_key: keyOf('test', 'publishable'),
      live_secret_key: keyOf('live', 'secret'),
      live_publishable_key: keyOf('live', 'publishable'),
      webhook_secret: webhookSecret,
      webhook_endpoint_id: state.webhook_endpoint_id,
      merchant: renderMerchant(state),
    });
  });

  app.get<{ Params: IdParams }>('/admin/merchants/:id', { schema: { params: IdParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const m = await deps.readMerchant(req.params.id);
    if (!m) throw noSuch('merchant', req.params.id);
    return renderMerchant(m);
  });
}
