// The simulated issuer's 3-D Secure challenge. A confirmation the issuer wants authenticated leaves
// the PaymentIntent (or SetupIntent) in requires_action with next_action.redirect_to_url pointing
// here; the cardholder completes or fails the challenge and is sent on to the merchant's return_url
// (Stripe's redirect convention: payment_intent, payment_intent_client_secret, redirect_status, or
// setup_intent, setup_intent_client_secret, redirect_status).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Intent, SetupIntent } from '../../actors/mod.ts';
import { displayAmount } from '../../stripe/currencies.ts';
import { ApiError } from '../../stripe/errors.ts';
import { correlationOf, type GatewayDeps } from '../app.ts';
import { commandId } from '../ids.ts';
import { saveCardAfterPayment, saveCardAfterSetup } from './payment-methods.ts';
import { challengePageCsp } from '../../checkout/policy.ts';

const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Params = Type.Object({ merchant: Id, intent: Id, attempt: Id }, { additionalProperties: false });
type Params = Static<typeof Params>;
const ActionParams = Type.Object(
  { merchant: Id, intent: Id, attempt: Id, action: Type.Union([Type.Literal('complete'), Type.Literal('fail')]) },
  { additionalProperties: false },
);
type ActionParams = Static<typeof ActionParams>;
const Token = Type.Object({ t: Type.String({ maxLength: 128 }) }, { additionalProperties: false });
type Token = Static<typeof Token>;

function token(deps: Pick<GatewayDeps, 'ring'>, merchantId: string, intentId: string, attemptId: string): string {
  return createHmac('sha256', deps.ring.secretsKey).update(`3ds\n${merchantId}\n${intentId}\n${attemptId}`).digest('base64url');
}

export function challengeUrl(deps: Pick<GatewayDeps, 'ring'>, req: FastifyRequest, merchantId: string, intentId: string, attemptId: string): string {
  const base = `${req.protocol}://${req.headers.host ?? req.hostname}`;
  return `${base}/3ds/challenge/${merchantId}/${intentId}/${attemptId}?t=${token(deps, merchantId, intentId, attemptId)}`;
}

function checkToken(deps: Pick<GatewayDeps, 'ring'>, p: Params, t: string): void {
  const want = Buffer.from(token(deps, p.merchant, p.intent, p.attempt));
  const got = Buffer.from(t);
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    throw new ApiError(404, 'invalid_request_error', 'resource_missing', 'No such authentication challenge.');
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.6rem 1rem;margin:.3rem .3rem 0 0;border-radius:6px;border:1px solid #888;cursor:pointer}
.ok{background:#1a7f37;color:#fff;border-color:#1a7f37}.no{background:#fff;color:#b42318;border-color:#b42318}</style></head>
<body>${body}</body></html>`;
}

/** The challenge page's CSP: framed only by us and the merchant's origins (checkout/policy.ts). */
async function cspFor(deps: GatewayDeps, merchantId: string, livemode: boolean): Promise<string> {
  const m = await deps.readMerchant(merchantId);
  return challengePageCsp(m?.allowed_origins ?? [], livemode ? 'live' : 'test');
}

/** What a challenge is for: a PaymentIntent's attempt or a SetupIntent's (`seti_…`), as the page and the return need it. */
interface Challenged {
  kind: 'payment_intent' | 'setup_intent';
  id: string;
  livemode: boolean;
  status: string;
  clientSecret: string;
  returnUrl: string | null;
  attempt: { status: string; last4: string } | undefined;
  /** What the bank asks the cardholder to confirm. */
  ask: string;
}

async function challenged(deps: GatewayDeps, merchantId: string, id: string, attemptId: string): Promise<Challenged | null> {
  if (id.startsWith('seti_')) {
    const s = await deps.readSetupIntent(merchantId, id);
    if (!s) return null;
    const a = s.attempts.find((x) => x.id === attemptId);
    return {
      kind: 'setup_intent',
      id: s.id,
      livemode: s.livemode,
      status: s.status,
      clientSecret: s.client_secret,
      returnUrl: s.next_action?.redirect_to_url.return_url ?? null,
      attempt: a && { status: a.status, last4: a.card.last4 },
      ask: 'saving your card for future payments',
    };
  }
  const i = await deps.readIntent(merchantId, id);
  if (!i) return null;
  const a = i.attempts.find((x) => x.id === attemptId);
  return {
    kind: 'payment_intent',
    id: i.id,
    livemode: i.livemode,
    status: i.status,
    clientSecret: i.client_secret,
    returnUrl: i.next_action?.redirect_to_url.return_url ?? null,
    attempt: a && { status: a.status, last4: a.card.last4 },
    ask: a ? `a payment of <b>${esc(displayAmount(a.amount, i.currency))}</b>` : 'a payment',
  };
}

export function registerThreeDSecure(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: Params; Querystring: Token }>('/3ds/challenge/:merchant/:intent/:attempt', { schema: { params: Params, querystring: Token } }, async (req, reply) => {
    checkToken(deps, req.params, req.query.t);
    const c = await challenged(deps, req.params.merchant, req.params.intent, req.params.attempt);
    if (!c || !c.attempt) throw new ApiError(404, 'invalid_request_error', 'resource_missing', 'No such authentication challenge.');
    const action = (what: 'complete' | 'fail', label: string, cls: string) =>
      `<form method="post" action="/3ds/challenge/${esc(req.params.merchant)}/${esc(req.params.intent)}/${esc(req.params.attempt)}/${what}" style="display:inline">` +
      `<input type="hidden" name="t" value="${esc(req.query.t)}"><button class="${cls}" type="submit" id="${what}">${label}</button></form>`;
    const body =
      c.attempt.status === 'requires_action'
        ? `<h1>3-D Secure test ${c.kind === 'setup_intent' ? 'card setup' : 'payment'}</h1><p>Your bank asks you to confirm ${c.ask} with the card ending in <b>${esc(c.attempt.last4)}</b>.</p>` +
          action('complete', 'Complete authentication', 'ok') +
          action('fail', 'Fail authentication', 'no')
        : `<h1>Nothing to authenticate</h1><p>This ${c.kind === 'setup_intent' ? 'setup' : 'payment'} is ${esc(c.status)}.</p>`;
    return reply.header('content-security-policy', await cspFor(deps, req.params.merchant, c.livemode)).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page('3-D Secure', body));
  });

  app.post<{ Params: ActionParams; Body: Token }>('/3ds/challenge/:merchant/:intent/:attempt/:action', { schema: { params: ActionParams, body: Token } }, async (req, reply) => {
    checkToken(deps, req.params, req.body.t);
    const before = await challenged(deps, req.params.merchant, req.params.intent, req.params.attempt);
    if (!before) throw new ApiError(404, 'invalid_request_error', 'resource_missing', 'No such authentication challenge.');
    const { requestId, correlationId } = correlationOf(req);
    const cmdId = commandId(req.params.merchant, `3ds/${req.params.intent}/${req.params.attempt}`, req.params.action);
    const ctx = { commandId: cmdId, livemode: before.livemode, requestId, correlationId, now: Math.floor(Date.now() / 1000) };
    const common = { merchantId: req.params.merchant, attemptId: req.params.attempt, success: req.params.action === 'complete', ctx };
    let status: string;
    try {
      if (before.kind === 'setup_intent') {
        const s = (await deps.commands.send({ op: 'setup_intent.authenticate', setupIntentId: req.params.intent, ...common })) as SetupIntent;
        await saveCardAfterSetup(deps, s, { livemode: before.livemode, requestId, correlationId, now: ctx.now }, req.log);
        status = s.status;
      } else {
        const i = (await deps.commands.send({ op: 'intent.authenticate', intentId: req.params.intent, ...common })) as Intent;
        await saveCardAfterPayment(deps, i, { livemode: before.livemode, requestId, correlationId, now: ctx.now }, req.log);
        status = i.status;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) status = (await challenged(deps, req.params.merchant, req.params.intent, req.params.attempt))?.status ?? before.status;
      else throw err;
    }
    const ok = status === 'succeeded' || status === 'requires_capture' || status === 'processing' ? 'succeeded' : 'failed';
    if (before.returnUrl) {
      // Stripe's redirect convention: <object>, <object>_client_secret, redirect_status.
      const u = new URL(before.returnUrl);
      u.searchParams.set(before.kind, before.id);
      u.searchParams.set(`${before.kind}_client_secret`, before.clientSecret);
      u.searchParams.set('redirect_status', ok);
      return reply.redirect(u.toString(), 303);
    }
    return reply
      .header('content-security-policy', await cspFor(deps, req.params.merchant, before.livemode))
      .type('text/html; charset=utf-8')
      .send(page('3-D Secure', `<h1 id="result">Authentication ${ok === 'succeeded' ? 'complete' : 'failed'}</h1><p>The ${before.kind === 'setup_intent' ? 'setup' : 'payment'} is ${esc(status)}. You can close this window.</p>`));
  });
}
