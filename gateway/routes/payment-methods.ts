// /v1/payment_methods: the card goes straight into the vault; only pm_…, brand and last4 come back.
// Either key may create one (Stripe.js tokenizes with the publishable key).
//
// Saved cards (attach, detach, a customer's list): the customer aggregate keeps the list of its cards
// (single writer, events payment_method.attached / .detached) and the card record names its customer
// (compare-and-set, so a card is attached to one customer at most). A card is a customer's saved card
// where both agree. Attach sets the card record first, detach the customer's list first: a request cut
// off between its two writes leaves a card no list shows (or one still named by its record), and its
// retry with the same Idempotency-Key completes it.
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { Customer, Intent, SetupIntent } from '../../actors/mod.ts';
import type { Ctx } from '../../runtime/protocol.ts';
import { ApiError, cannotExpand, noSuch, onlyOneOf } from '../../stripe/errors.ts';
import { renderCustomer, renderPaymentMethod } from '../../stripe/objects.ts';
import { addressOf, NO_BILLING_DETAILS, brandOf, cvcLengthOk, type ADDRESS_FIELDS, isExpired, luhnValid, MAGIC_PAYMENT_METHODS, TEST_TOKENS, type AllowRedisplay, type CardInput as VaultCard, type PaymentMethodRecord } from '../../vault/mod.ts';
import { attachCard, cardToSave, cardToSaveAfterSetup, saveCardAfterPayment as saveCard, saveCardAfterSetup as saveSetupCard, savedOf } from '../../vault/saved-cards.ts';
import { commandCtx, idempotent, idempotentCommands, idempotencyKeyOf, principalOf, correlationOf, type CommandIdem, type GatewayDeps } from '../app.ts';
import { mismatch } from '../idempotency.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import { checkCursors, listObject, pageInMemory } from '../lists.ts';
import {
  AttachPaymentMethodBody,
  CreatePaymentMethodBody,
  CustomerPaymentMethodParams,
  DetachPaymentMethodBody,
  IdParams,
  ListCustomerPaymentMethodsQuery,
  ListPaymentMethodsQuery,
  RetrieveCustomerQuery,
  UpdatePaymentMethodBody,
  type PaymentMethodData,
} from '../schemas.ts';
import { readOwnCustomer, requireCustomerParam } from './customers.ts';

/** Stripe's answer to an attach or detach the card's state does not allow. */
const unexpectedState = (message: string) => new ApiError(400, 'invalid_request_error', 'payment_method_unexpected_state', message);

/**
 * setup_future_usage, right after the answer that may report the payment (confirm, create with
 * confirm, the 3-D Secure return, and their replays): vault/saved-cards.ts. The reconcile role runs it
 * again from the payment's commit; a failure here is logged, never the payment's answer.
 */
export async function saveCardAfterPayment(deps: GatewayDeps, i: Intent, ctx: Omit<Ctx, 'commandId'>, log: FastifyBaseLogger): Promise<void> {
  if (!cardToSave(i)) return;
  try {
    await saveCard(deps, i, ctx);
  } catch (err) {
    log.warn({ err, intent: i.id }, 'setup_future_usage: could not save the card to the customer (the reconcile role will)');
  }
}

/** A SetupIntent that succeeded with a customer: its card attached right after the answer (the reconcile role does it again from the commit). */
export async function saveCardAfterSetup(deps: GatewayDeps, s: SetupIntent, ctx: Omit<Ctx, 'commandId'>, log: FastifyBaseLogger): Promise<void> {
  if (!cardToSaveAfterSetup(s)) return;
  try {
    await saveSetupCard(deps, s, ctx);
  } catch (err) {
    log.warn({ err, setup_intent: s.id }, 'setup intent: could not attach the card to the customer (the reconcile role will)');
  }
}

/**
 * Attaches a card (by id) to a customer, as POST /v1/payment_methods/:id/attach does: a test card id
 * (pm_card_visa, every merchant's) becomes a card of the customer's own like it, as at Stripe;
 * another customer's card is refused. `route(id)`: the route the attach command's id derives from.
 */
export async function attachToCustomer(deps: GatewayDeps, req: FastifyRequest, p: Principal, pmId: string, customerId: string, route: (pmId: string) => string): Promise<PaymentMethodRecord> {
  const found = await deps.vault.get(p.merchant_id, pmId, p.mode === 'live', true);
  if (!found) throw noSuch('PaymentMethod', pmId, 'payment_method');
  const pm = await ownCard(deps, req, p, found, undefined, route(found.id));
  const cmdId = commandId(scopeOf(p), route(pm.id), idempotencyKeyOf(req));
  const set = await attachCard(deps, p.merchant_id, pm, customerId, commandCtx(req, p, cmdId));
  if (set.kind === 'taken') throw unexpectedState('The payment method you provided has already been attached to a customer.');
  return set.pm;
}

/**
 * The card itself, or for a test card id (pm_card_visa, every merchant's) a new card of the merchant's
 * own like it, as Stripe makes when one is saved. Under an Idempotency-Key a repeat gets the same card.
 */
export async function ownCard(deps: GatewayDeps, req: FastifyRequest, p: Principal, pm: PaymentMethodRecord, idem: CommandIdem | undefined, route: string): Promise<PaymentMethodRecord> {
  const magic = MAGIC_PAYMENT_METHODS[pm.id];
  if (!magic) return pm;
  return tokenizeCard(deps, req, p, { card: { number: magic, exp_month: pm.card.exp_month, exp_year: pm.card.exp_year } }, idem, `${route} payment_method`);
}

/** The payment method, with `customer` expanded when asked (the only expandable field here). */
async function render(deps: GatewayDeps, p: Principal, pm: PaymentMethodRecord, expand: readonly string[] | undefined): Promise<Record<string, unknown>> {
  const body = renderPaymentMethod(pm);
  for (const path of expand ?? []) {
    if (path !== 'customer') throw cannotExpand(path);
    const c = pm.customer ? await readOwnCustomer(deps, p, pm.customer) : null;
    if (c) body.customer = renderCustomer(c);
  }
  return body;
}

/** The customer's saved cards, newest attached first: those its list names and whose card record names it back. */
async function savedCards(deps: GatewayDeps, p: Principal, c: Customer): Promise<PaymentMethodRecord[]> {
  const ids = [...(c.payment_methods ?? [])].reverse();
  const cards = await Promise.all(ids.map((id) => deps.vault.get(p.merchant_id, id, p.mode === 'live', true)));
  return cards.filter((pm): pm is PaymentMethodRecord => pm !== null && pm.customer === c.id);
}

const cardError = (code: string, message: string, param: string) => new ApiError(402, 'card_error', code, message, param);

type RequestCard = CreatePaymentMethodBody['card'];

/** A card's expiry checked as Stripe checks it (a two-digit year is 20xx); `prefix`: where the card sits in the request. */
function checkExpiry(expMonth: number, year: number, now: number, prefix: string): { expMonth: number; expYear: number } {
  if (expMonth < 1 || expMonth > 12) throw cardError('invalid_expiry_month', "Your card's expiration month is invalid.", `${prefix}[exp_month]`);
  const expYear = year < 100 ? 2000 + year : year;
  if (expYear > new Date(now * 1000).getUTCFullYear() + 50 || isExpired(expMonth, expYear, now)) throw cardError('invalid_expiry_year', "Your card's expiration year is invalid.", `${prefix}[exp_year]`);
  return { expMonth, expYear };
}

/**
 * The card a request gives (`prefix`: where it sits, `card` or `payment_method_data[card]`): its number,
 * expiry and CVC checked as Stripe checks them, or a Stripe test token (test mode only).
 */
export function cardOf(c: RequestCard, livemode: boolean, now: number, prefix: string): VaultCard | TokenRef {
  if (c.token !== undefined) {
    const given = (['number', 'exp_month', 'exp_year', 'cvc'] as const).find((k) => c[k] !== undefined);
    if (given) throw onlyOneOf(`${prefix}[token]`, `${prefix}[${given}]`, `${prefix}[token]`);
    const number = livemode ? undefined : TEST_TOKENS[c.token];
    // A token made by POST /v1/tokens: looked up (and used) in the vault when the PaymentMethod is made.
    if (!number && /^tok_[0-9a-f]{24}$/.test(c.token)) return { token: c.token, param: `${prefix}[token]` };
    if (!number) throw new ApiError(400, 'invalid_request_error', 'resource_missing', `No such token: '${c.token}'`, `${prefix}[token]`);
    // A test token's card expires a year from now, as Stripe's do.
    const d = new Date(now * 1000);
    return { number, exp_month: d.getUTCMonth() + 1, exp_year: d.getUTCFullYear() + 1 };
  }
  return checkedCard(c, now, prefix);
}

/** A card number with its expiry and CVC, checked as Stripe checks them (a PaymentMethod's card, a token's). */
export function checkedCard(c: Omit<RequestCard, 'token'>, now: number, prefix: string): VaultCard {
  for (const k of ['number', 'exp_month', 'exp_year'] as const) {
    if (c[k] === undefined) throw new ApiError(400, 'invalid_request_error', 'parameter_missing', `Missing required param: ${prefix}[${k}].`, `${prefix}[${k}]`);
  }
  const number = c.number!.replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) throw cardError('incorrect_number', 'Your card number is incorrect.', `${prefix}[number]`);
  const { expMonth, expYear } = checkExpiry(c.exp_month!, c.exp_year!, now, prefix);
  if (c.cvc !== undefined && !cvcLengthOk(brandOf(number), c.cvc)) throw cardError('invalid_cvc', "Your card's security code is invalid.", `${prefix}[cvc]`);
  return { number, exp_month: expMonth, exp_year: expYear, ...(c.cvc ? { cvc: c.cvc } : {}) };
}

/** A card token of POST /v1/tokens given as `card[token]`: used (once) when the PaymentMethod is made. `param`: where it was given. */
export interface TokenRef {
  token: string;
  param: string;
}

/** A checked card (cardOf) with what a PaymentMethod carries beside it. */
export interface CardData {
  card: VaultCard | TokenRef;
  billing_details?: { email?: string; name?: string; phone?: string; address?: Partial<Record<(typeof ADDRESS_FIELDS)[number], string>> } | undefined;
  metadata?: Record<string, string> | '' | undefined;
  allow_redisplay?: AllowRedisplay | undefined;
}

/** payment_method_data's card checked before anything is written (undefined when not sent). */
export function cardOfData(b: { payment_method?: string | undefined; payment_method_data?: PaymentMethodData | undefined }, p: Principal): CardData | undefined {
  const d = b.payment_method_data;
  if (!d) return undefined;
  if (b.payment_method) throw onlyOneOf('payment_method', 'payment_method_data');
  return { card: cardOf(d.card, p.mode === 'live', Math.floor(Date.now() / 1000), 'payment_method_data[card]'), billing_details: d.billing_details, metadata: d.metadata, allow_redisplay: d.allow_redisplay };
}

/**
 * A checked card into the vault as a new PaymentMethod. Under an Idempotency-Key its id is derived
 * from the key and `route` (vault TokenizeOnce): a repeat gets the same card record, other parameters
 * are refused; the request's trace learns which it was.
 */
export async function tokenizeCard(deps: GatewayDeps, req: FastifyRequest, p: Principal, data: CardData, idem: CommandIdem | undefined, route: string): Promise<PaymentMethodRecord> {
  // The billing details the request gives (a field sent empty is not given).
  const bd = data.billing_details;
  const given = bd ? { ...(bd.email ? { email: bd.email } : {}), ...(bd.name ? { name: bd.name } : {}), ...(bd.phone ? { phone: bd.phone } : {}), ...(bd.address ? { address: addressOf(bd.address) } : {}) } : {};
  const once = idem ? { id: derivedId('pm', commandId(scopeOf(p), route, idem.key)), fingerprint: idem.fingerprint, requestId: correlationOf(req).requestId } : undefined;
  const now = Math.floor(Date.now() / 1000);
  const extra = { metadata: data.metadata || {}, ...(data.allow_redisplay ? { allow_redisplay: data.allow_redisplay } : {}) };
  const card = data.card;
  let made;
  if ('token' in card) {
    // The token's own billing details (its card's name and address), under those the request gives.
    made = await deps.vault.useToken(p.merchant_id, card.token, p.mode === 'live', { ...extra, billing_details: given }, now, once);
    if (made.kind === 'missing') throw new ApiError(400, 'invalid_request_error', 'resource_missing', `No such token: '${card.token}'`, card.param);
    if (made.kind === 'used') throw new ApiError(400, 'invalid_request_error', 'token_already_used', `You cannot use a Stripe token more than once: ${card.token}.`, card.param);
  } else {
    made = await deps.vault.tokenize(p.merchant_id, card, { ...extra, billing_details: { ...NO_BILLING_DETAILS, ...given } }, now, p.mode === 'live', once);
  }
  if (made.kind === 'mismatch') throw mismatch(idem!.key);
  if (idem && made.kind === 'replayed') idem.trace.replayed ??= { request_id: made.requestId };
  else if (idem) idem.trace.fresh = true;
  return made.pm;
}

export function registerPaymentMethods(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreatePaymentMethodBody }>('/v1/payment_methods', { schema: { body: CreatePaymentMethodBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    const card = cardOf(req.body.card, p.mode === 'live', Math.floor(Date.now() / 1000), 'card');
    // Under an Idempotency-Key the card record is the key's record (vault TokenizeOnce): no KV record of its own.
    return idempotentCommands(req, reply, deps, async (idem) => {
      const pm = await tokenizeCard(deps, req, p, { card, billing_details: req.body.billing_details, metadata: req.body.metadata, allow_redisplay: req.body.allow_redisplay }, idem, 'POST /v1/payment_methods');
      return { status: 200, body: renderPaymentMethod(pm) };
    });
  });

  app.get<{ Params: IdParams; Querystring: RetrieveCustomerQuery }>('/v1/payment_methods/:id', { schema: { params: IdParams, querystring: RetrieveCustomerQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    // As at Stripe: a publishable key creates payment methods but cannot read them back.
    requireSecret(p);
    const pm = await deps.vault.get(p.merchant_id, req.params.id, p.mode === 'live', true);
    if (!pm) throw noSuch('PaymentMethod', req.params.id);
    return render(deps, p, pm, req.query.expand);
  });

  app.post<{ Params: IdParams; Body: AttachPaymentMethodBody }>(
    '/v1/payment_methods/:id/attach',
    { schema: { params: IdParams, body: AttachPaymentMethodBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body;
      // Two writes (the card record, then the customer): the stored answer makes a retry safe.
      return idempotent(req, reply, deps, scopeOf(p), async () => {
        const customer = await requireCustomerParam(deps, p, b.customer);
        const pm = await attachToCustomer(deps, req, p, req.params.id, customer.id, (id) => `POST /v1/payment_methods/${id}/attach`);
        return { status: 200, body: await render(deps, p, pm, b.expand) };
      });
    },
  );

  app.post<{ Params: IdParams; Body: DetachPaymentMethodBody }>(
    '/v1/payment_methods/:id/detach',
    { schema: { params: IdParams, body: DetachPaymentMethodBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body;
      return idempotent(req, reply, deps, scopeOf(p), async () => {
        const pm = await deps.vault.get(p.merchant_id, req.params.id, p.mode === 'live', true);
        if (!pm) throw noSuch('PaymentMethod', req.params.id, 'payment_method');
        const owner = pm.customer ?? null;
        if (!owner) throw unexpectedState('The payment method you provided is not attached to a customer so detachment is impossible.');
        const cmdId = commandId(scopeOf(p), `POST /v1/payment_methods/${pm.id}/detach`, idempotencyKeyOf(req));
        await deps.commands.send({
          op: 'customer.payment_method',
          merchantId: p.merchant_id,
          customerId: owner,
          command: { type: 'DetachPaymentMethod', paymentMethod: savedOf(pm), now: Math.floor(Date.now() / 1000) },
          ctx: commandCtx(req, p, cmdId),
        });
        const set = await deps.vault.setCustomer(p.merchant_id, pm.id, null, owner);
        if (!set) throw noSuch('PaymentMethod', pm.id, 'payment_method');
        if (set.kind === 'conflict') throw unexpectedState('The payment method you provided is not attached to a customer so detachment is impossible.');
        return { status: 200, body: await render(deps, p, set.pm, b.expand) };
      });
    },
  );

  app.post<{ Params: IdParams; Body: UpdatePaymentMethodBody }>(
    '/v1/payment_methods/:id',
    { schema: { params: IdParams, body: UpdatePaymentMethodBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body;
      const now = Math.floor(Date.now() / 1000);
      // Two writes (the card record, then the customer's payment_method.updated): the stored answer makes a retry safe.
      return idempotent(req, reply, deps, scopeOf(p), async () => {
        const pm = await deps.vault.get(p.merchant_id, req.params.id, p.mode === 'live', true);
        if (!pm) throw noSuch('PaymentMethod', req.params.id);
        for (const path of b.expand ?? []) if (path !== 'customer') throw cannotExpand(path);
        if (!pm.customer) throw new ApiError(400, 'invalid_request_error', undefined, 'You must save this PaymentMethod to a customer before you can update it.');
        const { expMonth, expYear } = checkExpiry(b.card?.exp_month ?? pm.card.exp_month, b.card?.exp_year ?? pm.card.exp_year, now, 'card');
        const bd = b.billing_details;
        const updated = await deps.vault.updateDetails(p.merchant_id, pm.id, {
          ...(bd
            ? {
                billing_details: {
                  ...(bd.email !== undefined ? { email: bd.email || null } : {}),
                  ...(bd.name !== undefined ? { name: bd.name || null } : {}),
                  ...(bd.phone !== undefined ? { phone: bd.phone || null } : {}),
                  // The fields sent replace the stored ones; '' clears the address.
                  ...(bd.address !== undefined ? { address: bd.address === '' ? null : addressOf({ ...(pm.billing_details.address ?? {}), ...bd.address }) } : {}),
                },
              }
            : {}),
          ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
          ...(b.card?.exp_month !== undefined ? { exp_month: expMonth } : {}),
          ...(b.card?.exp_year !== undefined ? { exp_year: expYear } : {}),
          ...(b.allow_redisplay !== undefined ? { allow_redisplay: b.allow_redisplay } : {}),
        });
        if (!updated) throw noSuch('PaymentMethod', pm.id);
        if (bd || b.metadata !== undefined || b.card || b.allow_redisplay !== undefined) {
          const cmdId = commandId(scopeOf(p), `POST /v1/payment_methods/${pm.id}`, idempotencyKeyOf(req));
          await deps.commands.send({ op: 'customer.payment_method', merchantId: p.merchant_id, customerId: pm.customer, command: { type: 'UpdatePaymentMethod', paymentMethod: savedOf(updated), now }, ctx: commandCtx(req, p, cmdId) });
        }
        return { status: 200, body: await render(deps, p, updated, b.expand) };
      });
    },
  );

  // A customer's saved cards: GET /v1/payment_methods?customer=… and GET /v1/customers/:id/payment_methods.
  const listCards = async (p: Principal, customerId: string, q: ListCustomerPaymentMethodsQuery, url: string, param: string) => {
    const c = await readOwnCustomer(deps, p, customerId);
    if (!c || c.deleted) throw noSuch('customer', customerId, param);
    // Cards are the only type we have: another type lists nothing.
    const all = q.type === undefined || q.type === 'card' ? await savedCards(deps, p, c) : [];
    const cards = q.allow_redisplay === undefined ? all : all.filter((pm) => (pm.allow_redisplay ?? 'unspecified') === q.allow_redisplay);
    const page = pageInMemory(cards, q, 'payment_method');
    const expand = (q.expand ?? []).map((e) => (e.startsWith('data.') ? e.slice(5) : e));
    return listObject(url, await Promise.all(page.data.map((pm) => render(deps, p, pm, expand))), page.hasMore);
  };

  app.get<{ Querystring: ListPaymentMethodsQuery }>('/v1/payment_methods', { schema: { querystring: ListPaymentMethodsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    checkCursors(req.query);
    const { customer, ...q } = req.query;
    // Without a customer Stripe lists Treasury payment methods: there are none here.
    if (!customer) return listObject('/v1/payment_methods', [], false);
    return listCards(p, customer, q, '/v1/payment_methods', 'customer');
  });

  app.get<{ Params: IdParams; Querystring: ListCustomerPaymentMethodsQuery }>(
    '/v1/customers/:id/payment_methods',
    { schema: { params: IdParams, querystring: ListCustomerPaymentMethodsQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      return listCards(p, req.params.id, req.query, `/v1/customers/${req.params.id}/payment_methods`, 'id');
    },
  );

  app.get<{ Params: CustomerPaymentMethodParams; Querystring: RetrieveCustomerQuery }>(
    '/v1/customers/:id/payment_methods/:payment_method',
    { schema: { params: CustomerPaymentMethodParams, querystring: RetrieveCustomerQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const c = await readOwnCustomer(deps, p, req.params.id);
      if (!c || c.deleted) throw noSuch('customer', req.params.id);
      const pm = (c.payment_methods ?? []).includes(req.params.payment_method) ? await deps.vault.get(p.merchant_id, req.params.payment_method, p.mode === 'live', true) : null;
      if (!pm || pm.customer !== c.id) throw noSuch('PaymentMethod', req.params.payment_method, 'payment_method');
      return render(deps, p, pm, req.query.expand);
    },
  );
}
