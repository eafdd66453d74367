// /v1/setup_intents: Stripe's SetupIntents. A card is checked by the network (no money moves) and,
// when the SetupIntent has a customer, attached to it once the check succeeds: right after the
// answer here, and again by the reconcile role from the commit (vault/saved-cards.ts). Every
// SetupIntent is its own single-writer aggregate (actors/setup-intent, runtime/setup-intents.ts).
// GET /v1/setup_attempts lists one SetupIntent's confirmations, newest first, from its snapshot.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isSetupOpen, type SetupCancellationReason, type SetupChanges, type SetupIntent } from '../../actors/mod.ts';
import { cannotExpand, noSuch } from '../../stripe/errors.ts';
import { renderCustomer, renderPaymentMethod, renderSetupAttempt, renderSetupIntent } from '../../stripe/objects.ts';
import { ID_PATTERN } from '../../streams/subjects.ts';
import type { PaymentMethodRecord } from '../../vault/mod.ts';
import { cardForCustomer } from '../../vault/saved-cards.ts';
import { commandCtx, idempotencyKeyOf, idempotentCommands, principalOf, type CommandIdem, type GatewayDeps } from '../app.ts';
import { checkClientSecret, requireSecret, scopeOf, type Principal } from '../auth.ts';
import { clientSecretFor, commandId, derivedId } from '../ids.ts';
import { createdFilter, inCreated, itemExpand, listObject, listScope, pageCursor, pageInMemory } from '../lists.ts';
import {
  CancelSetupIntentBody,
  ConfirmSetupIntentBody,
  CreateSetupIntentBody,
  IdParams,
  ListSetupAttemptsQuery,
  ListSetupIntentsQuery,
  RetrieveQuery,
  UpdateSetupIntentBody,
  type PaymentMethodData,
} from '../schemas.ts';
import { readOwnCustomer, requireCustomerParam } from './customers.ts';
import { cardOfData, ownCard, saveCardAfterSetup, tokenizeCard, type CardData } from './payment-methods.ts';
import { challengeUrl } from './three-d-secure.ts';

type Obj = Record<string, unknown>;
const now = () => Math.floor(Date.now() / 1000);

/** The key's own SetupIntent (its merchant and mode), or null. */
async function readOwnSetupIntent(deps: GatewayDeps, p: Principal, id: string): Promise<SetupIntent | null> {
  if (!ID_PATTERN.test(id)) return null;
  const s = await deps.readSetupIntent(p.merchant_id, id);
  return s && s.merchant_id === p.merchant_id && s.livemode === (p.mode === 'live') ? s : null;
}

const EXPANDABLE = new Set(['payment_method', 'customer', 'latest_attempt', 'mandate', 'single_use_mandate']);

function checkExpand(expand: readonly string[] | undefined): void {
  for (const path of expand ?? []) if (!EXPANDABLE.has(path)) throw cannotExpand(path);
}

async function render(deps: GatewayDeps, p: Principal, s: SetupIntent, expand: readonly string[] | undefined): Promise<Obj> {
  checkExpand(expand);
  const o = renderSetupIntent(s);
  if (expand?.includes('payment_method') && s.payment_method) {
    const pm = await deps.vault.get(s.merchant_id, s.payment_method, s.livemode);
    if (pm) o.payment_method = renderPaymentMethod(pm);
  }
  if (expand?.includes('customer') && s.customer) {
    const c = await readOwnCustomer(deps, p, s.customer);
    if (c) o.customer = renderCustomer(c);
  }
  const latest = s.attempts.at(-1);
  if (expand?.includes('latest_attempt') && latest) o.latest_attempt = renderSetupAttempt(s, latest);
  return o;
}

/**
 * Checks the request's card and customer before anything is written; gives what `cardFor` makes the
 * SetupIntent's card from: payment_method_data's checked card, or the named card's record.
 */
async function precheck(
  deps: GatewayDeps,
  p: Principal,
  b: { payment_method?: string | undefined; payment_method_data?: PaymentMethodData | undefined; customer?: string | undefined },
  customerNow: string | null,
): Promise<{ data?: CardData; pm?: PaymentMethodRecord }> {
  const data = cardOfData(b, p);
  if (b.customer) await requireCustomerParam(deps, p, b.customer);
  if (data) return { data };
  if (!b.payment_method) return {};
  const pm = await deps.vault.get(p.merchant_id, b.payment_method, p.mode === 'live');
  if (!pm) throw noSuch('PaymentMethod', b.payment_method, 'payment_method');
  await cardForCustomer(deps.vault, p.merchant_id, pm, b.customer || customerNow);
  return { pm };
}

/**
 * The SetupIntent's card, made ready to be saved: payment_method_data becomes a new PaymentMethod; a
 * test card id becomes a card of the merchant's own (ownCard). Under an Idempotency-Key a repeat gets
 * the same card. undefined: the request names none.
 */
async function cardFor(deps: GatewayDeps, req: FastifyRequest, p: Principal, card: { data?: CardData; pm?: PaymentMethodRecord }, idem: CommandIdem | undefined, route: string): Promise<string | undefined> {
  if (card.data) return (await tokenizeCard(deps, req, p, card.data, idem, `${route} payment_method_data`)).id;
  return card.pm && (await ownCard(deps, req, p, card.pm, idem, route)).id;
}

/** Sends a confirmation (its attempt id derived from the command id, so a keyed repeat resumes the same attempt). */
async function sendConfirm(deps: GatewayDeps, req: FastifyRequest, p: Principal, id: string, cmdId: string, changes: SetupChanges, returnUrl: string | null, idem: CommandIdem | undefined): Promise<SetupIntent> {
  const attemptId = derivedId('setatt', cmdId);
  const s = (await deps.commands.send(
    {
      op: 'setup_intent.confirm',
      merchantId: p.merchant_id,
      setupIntentId: id,
      attemptId,
      changes,
      challengeUrl: challengeUrl(deps, req, p.merchant_id, id, attemptId),
      returnUrl,
      ctx: commandCtx(req, p, cmdId, idem),
    },
    idem?.trace,
  )) as SetupIntent;
  const { commandId: _none, ...ctx } = commandCtx(req, p, '');
  await saveCardAfterSetup(deps, s, ctx, req.log);
  return s;
}

export function registerSetupIntents(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateSetupIntentBody }>('/v1/setup_intents', { schema: { body: CreateSetupIntentBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const card = await precheck(deps, p, b, null);
    checkExpand(b.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const route = 'POST /v1/setup_intents';
      const paymentMethod = (await cardFor(deps, req, p, card, idem, route)) ?? null;
      const cmdId = commandId(scopeOf(p), route, idempotencyKeyOf(req));
      const id = derivedId('seti', cmdId);
      const ctx = commandCtx(req, p, cmdId, idem);
      if (!idempotencyKeyOf(req)) ctx.freshIds = true; // cmdId is random (gateway/ids.ts)
      let s = (await deps.commands.send(
        {
          op: 'setup_intent.create',
          merchantId: p.merchant_id,
          setupIntentId: id,
          command: {
            type: 'Create',
            setupIntentId: id,
            merchantId: p.merchant_id,
            livemode: p.mode === 'live',
            clientSecret: clientSecretFor(deps.ring.secretsKey, id),
            customer: b.customer || null,
            description: b.description || null,
            metadata: b.metadata || {},
            paymentMethod,
            usage: b.usage ?? 'off_session',
            now: now(),
          },
          ctx,
        },
        idem?.trace,
      )) as SetupIntent;
      if (b.confirm === true) s = await sendConfirm(deps, req, p, id, `${cmdId}:confirm`, {}, b.return_url ?? null, idem);
      return { status: 200, body: await render(deps, p, s, b.expand) };
    });
  });

  app.get<{ Params: IdParams; Querystring: RetrieveQuery }>('/v1/setup_intents/:id', { schema: { params: IdParams, querystring: RetrieveQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    const s = await readOwnSetupIntent(deps, p, req.params.id);
    if (!s) throw noSuch('setup_intent', req.params.id);
    checkClientSecret(p, s.client_secret, req.query.client_secret, 'SetupIntent');
    return render(deps, p, s, req.query.expand);
  });

  app.post<{ Params: IdParams; Body: UpdateSetupIntentBody }>('/v1/setup_intents/:id', { schema: { params: IdParams, body: UpdateSetupIntentBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const id = req.params.id;
    const before = await readOwnSetupIntent(deps, p, id);
    if (!before) throw noSuch('setup_intent', id);
    const card = await precheck(deps, p, b, before.customer);
    checkExpand(b.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const route = `POST /v1/setup_intents/${id}`;
      const changes: SetupChanges = {};
      const pm = await cardFor(deps, req, p, card, idem, route);
      if (pm !== undefined) changes.payment_method = pm;
      if (b.customer !== undefined) changes.customer = b.customer || null;
      if (b.description !== undefined) changes.description = b.description || null;
      const cmdId = commandId(scopeOf(p), route, idempotencyKeyOf(req));
      const s = (await deps.commands.send(
        { op: 'setup_intent.update', merchantId: p.merchant_id, setupIntentId: id, changes, ...(b.metadata !== undefined ? { metadata: b.metadata } : {}), ctx: commandCtx(req, p, cmdId, idem) },
        idem?.trace,
      )) as SetupIntent;
      return { status: 200, body: await render(deps, p, s, b.expand) };
    });
  });

  app.post<{ Params: IdParams; Body: ConfirmSetupIntentBody }>('/v1/setup_intents/:id/confirm', { schema: { params: IdParams, body: ConfirmSetupIntentBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    const b = req.body;
    const id = req.params.id;
    const before = await readOwnSetupIntent(deps, p, id);
    if (!before) throw noSuch('setup_intent', id);
    checkClientSecret(p, before.client_secret, b.client_secret, 'SetupIntent');
    const card = await precheck(deps, p, b, before.customer);
    checkExpand(b.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const route = `POST /v1/setup_intents/${id}/confirm`;
      const changes: SetupChanges = {};
      // A card for an intent that cannot be confirmed now is not stored: the intent refuses as usual.
      const pm = isSetupOpen(before.status) ? await cardFor(deps, req, p, card, idem, route) : undefined;
      if (pm !== undefined) changes.payment_method = pm;
      const cmdId = commandId(scopeOf(p), route, idempotencyKeyOf(req));
      const s = await sendConfirm(deps, req, p, id, cmdId, changes, b.return_url ?? null, idem);
      return { status: 200, body: await render(deps, p, s, b.expand) };
    });
  });

  app.post<{ Params: IdParams; Body: CancelSetupIntentBody }>('/v1/setup_intents/:id/cancel', { schema: { params: IdParams, body: CancelSetupIntentBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const id = req.params.id;
    if (!(await readOwnSetupIntent(deps, p, id))) throw noSuch('setup_intent', id);
    checkExpand(req.body.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/setup_intents/${id}/cancel`, idempotencyKeyOf(req));
      const s = (await deps.commands.send(
        { op: 'setup_intent.cancel', merchantId: p.merchant_id, setupIntentId: id, reason: (req.body.cancellation_reason ?? null) as SetupCancellationReason | null, ctx: commandCtx(req, p, cmdId, idem) },
        idem?.trace,
      )) as SetupIntent;
      return { status: 200, body: await render(deps, p, s, req.body.expand) };
    });
  });

  app.get<{ Querystring: ListSetupIntentsQuery }>('/v1/setup_intents', { schema: { querystring: ListSetupIntentsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const page = await deps.listSetupIntents({
      ...listScope(p, q),
      ...pageCursor(q),
      ...(q.customer ? { customer: q.customer } : {}),
      ...(q.payment_method ? { paymentMethod: q.payment_method } : {}),
    });
    const expand = itemExpand(q.expand);
    return listObject('/v1/setup_intents', await Promise.all(page.data.map((s) => render(deps, p, s, expand))), page.hasMore);
  });

  app.get<{ Querystring: ListSetupAttemptsQuery }>('/v1/setup_attempts', { schema: { querystring: ListSetupAttemptsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const s = await readOwnSetupIntent(deps, p, q.setup_intent);
    if (!s) throw noSuch('setup_intent', q.setup_intent, 'setup_intent');
    const { created } = createdFilter(q.created);
    const newestFirst = s.attempts.filter((a) => inCreated(a.created, created)).reverse();
    const page = pageInMemory(newestFirst, q, 'setup_attempt');
    return listObject('/v1/setup_attempts', page.data.map((a) => renderSetupAttempt(s, a)), page.hasMore);
  });
}
