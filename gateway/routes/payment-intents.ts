// /v1/payment_intents (Stripe's contract) and POST /stripe/intend (the seed's API, an alias of create).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AutomaticPaymentMethods, CaptureMethod, CardOptionsPatch, CheckoutSession, Intent, LineItem, SetupFutureUsage, Shipping, Updatable } from '../../actors/mod.ts';
import { shippingOf } from '../shipping.ts';
import { ApiError, invalidParam, noSuch, cannotExpand, onlyOneOf } from '../../stripe/errors.ts';
import { formatAmount, isCurrency, minimumAmount, MAX_AMOUNT } from '../../stripe/currencies.ts';
import { renderPaymentIntent, renderPaymentMethod } from '../../stripe/objects.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type CommandIdem, type GatewayDeps } from '../app.ts';
import { cardOfData, ownCard, saveCardAfterPayment, tokenizeCard, type CardData } from './payment-methods.ts';
import { MAGIC_PAYMENT_METHODS, type PaymentMethodRecord } from '../../vault/mod.ts';
import { cardForCustomer } from '../../vault/saved-cards.ts';
import { checkClientSecret, requireSecret, scopeOf, type Principal } from '../auth.ts';
import { chargeIdFor, checkoutSessionId, clientSecretFor, commandId, derivedId, intentIdOfCharge, lineItemIds } from '../ids.ts';
import { checkCursors, itemExpand, listObject, searchResult } from '../lists.ts';
import { parseSearchQuery } from '../../stripe/search.ts';
import { challengeUrl } from './three-d-secure.ts';
import { requireCustomerParam } from './customers.ts';
import { renderCustomer } from '../../stripe/objects.ts';
import { ID_PATTERN } from '../../streams/subjects.ts';
import {
  CancelIntentBody,
  CaptureIntentBody,
  ConfirmIntentBody,
  CreateIntentBody,
  IdParams,
  IntendBody,
  ListIntentsQuery,
  RetrieveQuery,
  SearchQuery,
  UpdateIntentBody,
} from '../schemas.ts';
import { archivedFrom } from '../../archive/lookup.ts';
import { chargeObject } from './charges.ts';

const now = () => Math.floor(Date.now() / 1000);

/** The statuses in which an intent can take a (new) card. */
const CONFIRMABLE: ReadonlySet<string> = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);


export function checkCurrency(c: string): string {
  const lc = c.toLowerCase();
  if (!isCurrency(lc)) throw invalidParam('currency', `Invalid currency: ${c}. Stripe currently supports these currencies: https://stripe.com/docs/currencies`);
  return lc;
}

export function checkAmount(amount: number, currency: string, param = 'amount'): number {
  const min = minimumAmount(currency);
  if (amount < min) throw new ApiError(400, 'invalid_request_error', 'amount_too_small', `Amount must be at least ${formatAmount(min, currency)}`, param);
  if (amount > MAX_AMOUNT) throw new ApiError(400, 'invalid_request_error', 'amount_too_large', `Amount must be no more than ${MAX_AMOUNT}.`, param);
  return amount;
}

/** Stripe's `expand`: the ids an object points at, replaced by the objects. */
async function render(deps: GatewayDeps, merchantId: string, i: Intent, expand: string[] | undefined): Promise<Record<string, unknown>> {
  const o = renderPaymentIntent(i);
  for (const path of expand ?? []) {
    if (path === 'latest_charge' || path === 'latest_charge.balance_transaction') {
      const a = i.attempts[i.attempts.length - 1];
      // Its balance transaction too when asked (how integrations read what a payment added to the balance).
      const withTxn = expand!.includes('latest_charge.balance_transaction');
      o.latest_charge = a ? chargeObject(deps, i, a, withTxn ? ['balance_transaction'] : undefined) : null;
    } else if (path === 'payment_method') {
      const pm = i.payment_method ? await deps.vault.get(merchantId, i.payment_method, i.livemode) : null;
      o.payment_method = pm ? renderPaymentMethod(pm) : null;
    } else if (path === 'customer') {
      const c = i.customer && ID_PATTERN.test(i.customer) ? await deps.readCustomer(merchantId, i.customer) : null;
      if (c && c.livemode === i.livemode) o.customer = renderCustomer(c);
    } else {
      throw cannotExpand(path);
    }
  }
  return o;
}

/** An intent of this key's merchant and mode; anything else does not exist for this key. */
async function readOwnIntent(deps: GatewayDeps, p: Principal, id: string): Promise<Intent | null> {
  const i = await deps.readIntent(p.merchant_id, id);
  return i && i.livemode === (p.mode === 'live') ? i : null;
}

const emptyToNull = (v: string | undefined) => (v === undefined ? undefined : v === '' ? null : v);

export interface CreateInput {
  amount: number;
  currency: string;
  captureMethod: CaptureMethod;
  paymentMethod: string | null;
  metadata: Record<string, string>;
  description: string | null;
  receiptEmail: string | null;
  customer: string | null;
  userEmail: string | null;
  productId: string | null;
  confirm: boolean;
  returnUrl: string | null;
  /** off_session / error_on_requires_action: a card that asks for 3-D Secure is declined instead. */
  noAuthentication?: boolean;
  setupFutureUsage?: SetupFutureUsage | null;
  /** Stripe's shipping and statement descriptors, as sent (shippingOf). */
  shipping?: Shipping | null;
  statementDescriptor?: string | null;
  statementDescriptorSuffix?: string | null;
  /** payment_method_options[card] (cardOptionsOf) and automatic_payment_methods (automaticPaymentMethodsOf), as sent. */
  cardOptions?: CardOptionsPatch | null;
  automaticPaymentMethods?: AutomaticPaymentMethods;
  /** The Checkout Session this intent pays (its id, and its line items', are made here with the intent's). */
  /** Line items of the catalogue name their price and product; price_data's get ad-hoc ids from the session. */
  checkout?: Omit<CheckoutSession, 'id' | 'line_items'> & { line_items: (Omit<LineItem, 'id' | 'price' | 'product'> & Partial<Pick<LineItem, 'price' | 'product'>>)[] };
  /** payment_method_data's card, checked: made into a PaymentMethod once the rest of the request is found good. */
  paymentMethodData?: CardData;
}

/**
 * payment_method_data's card stored for an intent that can take a card now (its id); null for one
 * that cannot: the request is then refused by the intent as it would be anyway, and no card is stored.
 */
/**
 * The card a payment goes with: a test card id (pm_card_visa, every merchant's) that the payment is to
 * save for its customer (setup_future_usage) first becomes a card of the merchant's own, as Stripe
 * makes one, so that the card saved is a real one the customer can pay with again; any other card
 * (and a test card id that nothing saves) goes as it is.
 */
async function cardToPayWith(deps: GatewayDeps, req: FastifyRequest, p: Principal, pm: PaymentMethodRecord, saves: boolean, idem: CommandIdem | undefined, route: string): Promise<string> {
  return saves && MAGIC_PAYMENT_METHODS[pm.id] ? (await ownCard(deps, req, p, pm, idem, route)).id : pm.id;
}

/** Whether an intent, with a request's changes, saves the card that pays to its customer. */
const savesCard = (i: Pick<Intent, 'customer' | 'setup_future_usage'> | null, changes: Pick<Updatable, 'customer' | 'setup_future_usage'>): boolean =>
  !!((changes.customer !== undefined ? changes.customer : i?.customer) && (changes.setup_future_usage !== undefined ? changes.setup_future_usage : i?.setup_future_usage));

async function cardForIntent(deps: GatewayDeps, req: FastifyRequest, p: Principal, intentId: string, data: CardData, idem: CommandIdem | undefined, route: string): Promise<string | null> {
  const i = await readOwnIntent(deps, p, intentId);
  if (!i) throw noSuch('payment_intent', intentId, 'intent');
  if (!CONFIRMABLE.has(i.status)) return null;
  return (await tokenizeCard(deps, req, p, data, idem, `${route} payment_method_data`)).id;
}

type Presence = { off_session?: boolean | 'one_off' | 'recurring'; error_on_requires_action?: boolean };
const offSession = (b: Presence): boolean => b.off_session !== undefined && b.off_session !== false;
/** Whether this confirmation has no cardholder to authenticate (off_session), or is to fail rather than ask (error_on_requires_action). */
const noAuthentication = (b: Presence): boolean => offSession(b) || b.error_on_requires_action === true;

/** Stripe refuses to save a card for later from a payment the cardholder is not present for. */
function checkOffSession(b: Presence, setupFutureUsage: SetupFutureUsage | null | undefined): void {
  if (offSession(b) && setupFutureUsage) {
    throw new ApiError(
      400,
      'invalid_request_error',
      undefined,
      'You cannot confirm with the `off_session` parameter when `setup_future_usage` is also set on the PaymentIntent because you cannot set up future usages when processing payments off-session.',
      'off_session',
    );
  }
}

/**
 * payment_method_options[card]'s options the intent keeps (capture_method, request_three_d_secure), as a
 * patch: '' unsets one, card='' unsets both; undefined when the request names neither.
 */
function cardOptionsOf(pmo: CreateIntentBody['payment_method_options']): CardOptionsPatch | null | undefined {
  const card = pmo?.card;
  if (card === undefined) return undefined;
  if (card === '') return null;
  const patch: CardOptionsPatch = {};
  if (card.capture_method !== undefined) patch.capture_method = card.capture_method || null;
  if (card.request_three_d_secure !== undefined) patch.request_three_d_secure = card.request_three_d_secure;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/**
 * Stripe's automatic_payment_methods: refused beside payment_method_types; allow_redirects is
 * 'always' when enabled and not given.
 */
function automaticPaymentMethodsOf(b: Pick<CreateIntentBody, 'automatic_payment_methods' | 'payment_method_types'>): AutomaticPaymentMethods | undefined {
  const apm = b.automatic_payment_methods;
  if (apm === undefined) return undefined;
  if (b.payment_method_types !== undefined) throw onlyOneOf('automatic_payment_methods', 'payment_method_types');
  const allowRedirects = apm.allow_redirects ?? (apm.enabled ? 'always' : undefined);
  return { enabled: apm.enabled, ...(allowRedirects ? { allow_redirects: allowRedirects } : {}) };
}

/** setup_future_usage as sent: '' unsets it. */
const setupFutureUsageOf = (v: SetupFutureUsage | ''): SetupFutureUsage | null => v || null;

/** After an answer that may be a successful payment: the card saved to the customer when the intent asks for it. */
const saveCard = (deps: GatewayDeps, req: FastifyRequest, p: Principal, i: Intent) => {
  const { commandId: _none, ...ctx } = commandCtx(req, p, '');
  return saveCardAfterPayment(deps, i, ctx, req.log);
};

/**
 * The charge (attempt) id a confirmation under `confirmId` gets. One that does not name its intent
 * (gateway/ids.ts) goes in pay_index first, so GET /v1/charges/:id finds the charge the moment it exists.
 */
async function newAttemptId(deps: GatewayDeps, p: Principal, intentId: string, confirmId: string): Promise<string> {
  const attemptId = chargeIdFor(intentId, confirmId);
  if (intentIdOfCharge(attemptId) !== intentId) await deps.writeIndex(attemptId, { merchant_id: p.merchant_id, intent_id: intentId, livemode: p.mode === 'live' });
  return attemptId;
}

export async function createIntent(deps: GatewayDeps, req: FastifyRequest, p: Principal, route: string, input: CreateInput, idem: CommandIdem | undefined): Promise<Intent> {
  const merchantId = p.merchant_id;
  const currency = checkCurrency(input.currency);
  checkAmount(input.amount, currency);
  const pm = input.paymentMethod ? await deps.vault.get(merchantId, input.paymentMethod, p.mode === 'live') : null;
  if (input.paymentMethod) {
    if (!pm) throw noSuch('PaymentMethod', input.paymentMethod, 'payment_method');
    await cardForCustomer(deps.vault, merchantId, pm, input.customer ?? null);
  }
  if (input.customer) await requireCustomerParam(deps, p, input.customer);
  // Everything else is found good: the card of payment_method_data becomes the intent's PaymentMethod,
  // and a test card id the payment saves becomes a card of the merchant's own.
  const made = input.paymentMethodData ? await tokenizeCard(deps, req, p, input.paymentMethodData, idem, `${route} payment_method_data`) : null;
  if (made) input = { ...input, paymentMethod: made.id };
  else if (pm) input = { ...input, paymentMethod: await cardToPayWith(deps, req, p, pm, !!(input.customer && input.setupFutureUsage), idem, route) };
  const cmdId = commandId(scopeOf(p), route, idempotencyKeyOf(req));
  const intentId = derivedId('pi', cmdId);
  const sessionId = input.checkout ? checkoutSessionId(cmdId, p.mode) : null;
  // The session's id names its line items (and their ad-hoc prices and products).
  const lineItem = (li: NonNullable<typeof input.checkout>['line_items'][number], n: number): LineItem => {
    const ids = lineItemIds(sessionId!, n);
    return { ...li, id: ids.id, price: li.price ?? ids.price, product: li.product ?? ids.product };
  };
  const checkout = input.checkout && sessionId ? { ...input.checkout, id: sessionId, line_items: input.checkout.line_items.map(lineItem) } : undefined;
  // The session id finds its intent (GET /v1/checkout/sessions/:id, the hosted page) through pay_index.
  if (checkout) await deps.writeIndex(checkout.id, { merchant_id: merchantId, intent_id: intentId, livemode: p.mode === 'live' });
  const ctx = commandCtx(req, p, cmdId, idem);
  if (!idempotencyKeyOf(req)) ctx.freshIds = true; // cmdId is random (gateway/ids.ts)
  let state = (await deps.commands.send({
    op: 'intent.create',
    merchantId,
    intentId,
    command: {
      type: 'Create',
      intentId,
      merchantId,
      livemode: p.mode === 'live',
      amount: input.amount,
      currency,
      clientSecret: clientSecretFor(deps.ring.secretsKey, intentId),
      captureMethod: input.captureMethod,
      description: input.description,
      metadata: input.metadata,
      receiptEmail: input.receiptEmail,
      customer: input.customer,
      userEmail: input.userEmail,
      productId: input.productId,
      paymentMethod: input.paymentMethod,
      ...(input.setupFutureUsage ? { setupFutureUsage: input.setupFutureUsage } : {}),
      ...(input.shipping ? { shipping: input.shipping } : {}),
      ...(input.statementDescriptor ? { statementDescriptor: input.statementDescriptor } : {}),
      ...(input.statementDescriptorSuffix ? { statementDescriptorSuffix: input.statementDescriptorSuffix } : {}),
      ...(input.cardOptions ? { cardOptions: input.cardOptions } : {}),
      ...(input.automaticPaymentMethods ? { automaticPaymentMethods: input.automaticPaymentMethods } : {}),
      ...(checkout ? { checkout } : {}),
      now: now(),
    },
    ctx,
  }, idem?.trace)) as Intent;
  if (input.confirm) {
    const confirmId = `${cmdId}:confirm`;
    const attemptId = await newAttemptId(deps, p, intentId, confirmId);
    state = (await deps.commands.send({
      op: 'intent.confirm',
      merchantId,
      intentId,
      attemptId,
      changes: {},
      challengeUrl: challengeUrl(deps, req, merchantId, intentId, attemptId),
      returnUrl: input.returnUrl,
      ...(input.noAuthentication ? { noAuthentication: true } : {}),
      ctx: commandCtx(req, p, confirmId, idem),
    }, idem?.trace)) as Intent;
    await saveCard(deps, req, p, state);
  }
  return state;
}

/**
 * A confirmation (POST /v1/payment_intents/:id/confirm, and the hosted Checkout page's payment): the
 * changes it brings (a card, the receipt email, shipping, capture method) and a new attempt.
 */
export async function confirmIntent(deps: GatewayDeps, req: FastifyRequest, p: Principal, id: string, b: ConfirmIntentBody, paymentMethodData: CardData | undefined, idem: CommandIdem | undefined): Promise<Intent> {
  const changes: Updatable = {};
  if (b.setup_future_usage !== undefined) changes.setup_future_usage = setupFutureUsageOf(b.setup_future_usage);
  if (b.payment_method) {
    const pm = await deps.vault.get(p.merchant_id, b.payment_method, p.mode === 'live');
    if (!pm) throw noSuch('PaymentMethod', b.payment_method, 'payment_method');
    // Only a test card id needs the intent read (does the payment save it?): a real card goes as it is.
    const saves = !!MAGIC_PAYMENT_METHODS[pm.id] && savesCard(await readOwnIntent(deps, p, id), changes);
    changes.payment_method = await cardToPayWith(deps, req, p, pm, saves, idem, `POST /v1/payment_intents/${id}/confirm`);
  }
  if (paymentMethodData) {
    const made = await cardForIntent(deps, req, p, id, paymentMethodData, idem, `POST /v1/payment_intents/${id}/confirm`);
    if (made) changes.payment_method = made;
  }
  if (b.receipt_email !== undefined) changes.receipt_email = emptyToNull(b.receipt_email) ?? null;
  if (b.shipping !== undefined) changes.shipping = shippingOf(b.shipping);
  if (b.capture_method !== undefined) changes.capture_method = b.capture_method;
  const cardOptions = cardOptionsOf(b.payment_method_options);
  if (cardOptions !== undefined) changes.card_options = cardOptions;
  const cmdId = commandId(scopeOf(p), `POST /v1/payment_intents/${id}/confirm`, idempotencyKeyOf(req));
  const attemptId = await newAttemptId(deps, p, id, cmdId);
  const state = (await deps.commands.send({
    op: 'intent.confirm',
    merchantId: p.merchant_id,
    intentId: id,
    attemptId,
    changes,
    challengeUrl: challengeUrl(deps, req, p.merchant_id, id, attemptId),
    returnUrl: b.return_url ?? null,
    ...(noAuthentication(b) ? { noAuthentication: true } : {}),
    ctx: commandCtx(req, p, cmdId, idem),
  }, idem?.trace)) as Intent;
  await saveCard(deps, req, p, state);
  return state;
}

export function registerIntents(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateIntentBody }>('/v1/payment_intents', { schema: { body: CreateIntentBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const paymentMethodData = cardOfData(b, p);
    if (b.confirm === true) checkOffSession(b, b.setup_future_usage || null);
    const automaticPaymentMethods = automaticPaymentMethodsOf(b);
    const cardOptions = cardOptionsOf(b.payment_method_options);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const state = await createIntent(deps, req, p, 'POST /v1/payment_intents', {
        ...(paymentMethodData ? { paymentMethodData } : {}),
        amount: b.amount,
        currency: b.currency,
        captureMethod: b.capture_method ?? 'automatic',
        paymentMethod: b.payment_method || null,
        metadata: b.metadata || {},
        description: b.description || null,
        receiptEmail: emptyToNull(b.receipt_email) ?? null,
        customer: b.customer || null,
        userEmail: b.user_email ?? null,
        productId: b.product_id ?? null,
        confirm: b.confirm === true,
        returnUrl: b.return_url ?? null,
        noAuthentication: noAuthentication(b),
        setupFutureUsage: b.setup_future_usage === undefined ? null : setupFutureUsageOf(b.setup_future_usage),
        shipping: shippingOf(b.shipping) ?? null,
        statementDescriptor: b.statement_descriptor || null,
        statementDescriptorSuffix: b.statement_descriptor_suffix || null,
        ...(cardOptions ? { cardOptions } : {}),
        ...(automaticPaymentMethods ? { automaticPaymentMethods } : {}),
      }, idem);
      return { status: 200, body: await render(deps, p.merchant_id, state, b.expand) };
    });
  });

  // The seed's API: JSON, returns intent_id beside the Stripe object.
  app.post<{ Body: IntendBody }>('/stripe/intend', { schema: { body: IntendBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    if (b.merchant_id !== p.merchant_id) {
      throw new ApiError(403, 'permission_error', 'merchant_mismatch', 'merchant_id does not belong to the API key used.', 'merchant_id');
    }
    return idempotentCommands(req, reply, deps, async (idem) => {
      const state = await createIntent(deps, req, p, 'POST /stripe/intend', {
        amount: b.amount,
        currency: b.currency,
        captureMethod: b.capture_method ?? 'automatic',
        paymentMethod: null,
        metadata: b.metadata ?? {},
        description: b.description ?? null,
        receiptEmail: null,
        customer: null,
        userEmail: b.user_email,
        productId: b.product_id,
        confirm: false,
        returnUrl: null,
      }, idem);
      const body = await render(deps, p.merchant_id, state, undefined);
      return { status: 201, body: { intent_id: state.id, merchant_id: p.merchant_id, user_email: state.user_email, product_id: state.product_id, ...body } };
    });
  });

  app.get<{ Querystring: SearchQuery }>('/v1/payment_intents/search', { schema: { querystring: SearchQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const page = await deps.searchIntents({ merchantId: p.merchant_id, livemode: p.mode === 'live', query: parseSearchQuery('payment_intents', q.query), limit: q.limit ?? 10, ...(q.page ? { after: q.page } : {}) });
    const expand = itemExpand(q.expand);
    return searchResult('/v1/payment_intents/search', await Promise.all(page.data.map((i) => render(deps, p.merchant_id, i, expand))), page.hasMore, page.data.at(-1)?.id);
  });

  app.get<{ Params: IdParams; Querystring: RetrieveQuery }>(
    '/v1/payment_intents/:id',
    { schema: { params: IdParams, querystring: RetrieveQuery } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      const i = await readOwnIntent(deps, p, req.params.id);
      if (!i) throw noSuch('payment_intent', req.params.id, 'intent');
      checkClientSecret(p, i.client_secret, req.query.client_secret, 'PaymentIntent');
      // Read from the archive (the yearly export moved it out of the hot tables): slower, and said so.
      const archived = archivedFrom(i);
      if (archived) void reply.header('Paynats-Archived', archived.chunk);
      return render(deps, p.merchant_id, i, req.query.expand);
    },
  );

  app.get<{ Querystring: ListIntentsQuery }>('/v1/payment_intents', { schema: { querystring: ListIntentsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    checkCursors(req.query);
    const page = await deps.listIntents(p.merchant_id, p.mode === 'live', req.query);
    const expand = (req.query.expand ?? []).filter((e) => e.startsWith('data.')).map((e) => e.slice(5));
    return listObject('/v1/payment_intents', await Promise.all(page.data.map((i) => render(deps, p.merchant_id, i, expand))), page.hasMore);
  });

  app.post<{ Params: IdParams; Body: UpdateIntentBody }>(
    '/v1/payment_intents/:id',
    { schema: { params: IdParams, body: UpdateIntentBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body;
      const paymentMethodData = cardOfData(b, p);
      return idempotentCommands(req, reply, deps, async (idem) => {
        const changes: Updatable = {};
        if (b.currency !== undefined) changes.currency = checkCurrency(b.currency);
        if (b.amount !== undefined || b.currency !== undefined) {
          const current = await readOwnIntent(deps, p, req.params.id);
          if (!current) throw noSuch('payment_intent', req.params.id, 'intent');
          const amount = b.amount ?? current.amount;
          checkAmount(amount, changes.currency ?? current.currency);
          if (b.amount !== undefined) changes.amount = amount;
        }
        if (b.capture_method !== undefined) changes.capture_method = b.capture_method;
        if (b.setup_future_usage !== undefined) changes.setup_future_usage = setupFutureUsageOf(b.setup_future_usage);
        if (b.description !== undefined) changes.description = b.description || null;
        if (b.receipt_email !== undefined) changes.receipt_email = emptyToNull(b.receipt_email) ?? null;
        if (b.shipping !== undefined) changes.shipping = shippingOf(b.shipping);
        if (b.statement_descriptor !== undefined) changes.statement_descriptor = b.statement_descriptor || null;
        if (b.statement_descriptor_suffix !== undefined) changes.statement_descriptor_suffix = b.statement_descriptor_suffix || null;
        const cardOptions = cardOptionsOf(b.payment_method_options);
        if (cardOptions !== undefined) changes.card_options = cardOptions;
        if (b.customer) await requireCustomerParam(deps, p, b.customer);
        if (b.customer !== undefined) changes.customer = b.customer || null;
        if (b.payment_method !== undefined) {
          const pm = b.payment_method ? await deps.vault.get(p.merchant_id, b.payment_method, p.mode === 'live') : null;
          if (b.payment_method && !pm) throw noSuch('PaymentMethod', b.payment_method, 'payment_method');
          const saves = !!pm && !!MAGIC_PAYMENT_METHODS[pm.id] && savesCard(await readOwnIntent(deps, p, req.params.id), changes);
          changes.payment_method = pm ? await cardToPayWith(deps, req, p, pm, saves, idem, `POST /v1/payment_intents/${req.params.id}`) : null;
        }
        if (paymentMethodData) {
          const made = await cardForIntent(deps, req, p, req.params.id, paymentMethodData, idem, `POST /v1/payment_intents/${req.params.id}`);
          if (made) changes.payment_method = made;
        }
        if (b.metadata !== undefined) {
          const existing = (await readOwnIntent(deps, p, req.params.id))?.metadata ?? {};
          // Stripe merges metadata keys; an empty value removes a key; metadata='' removes all.
          changes.metadata = b.metadata === '' ? {} : Object.fromEntries(Object.entries({ ...existing, ...b.metadata }).filter(([, v]) => v !== ''));
        }
        const cmdId = commandId(scopeOf(p), `POST /v1/payment_intents/${req.params.id}`, idempotencyKeyOf(req));
        const state = (await deps.commands.send({ op: 'intent.update', merchantId: p.merchant_id, intentId: req.params.id, changes, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace)) as Intent;
        return { status: 200, body: await render(deps, p.merchant_id, state, b.expand) };
      });
    },
  );

  app.post<{ Params: IdParams; Body: ConfirmIntentBody }>(
    '/v1/payment_intents/:id/confirm',
    { schema: { params: IdParams, body: ConfirmIntentBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      const b = req.body;
      const id = req.params.id;
      if (p.kind === 'publishable') {
        const i = await readOwnIntent(deps, p, id);
        if (!i) throw noSuch('payment_intent', id, 'intent');
        checkClientSecret(p, i.client_secret, b.client_secret, 'PaymentIntent');
        // As Stripe: the browser may choose the card (and the receipt address), not how money is captured.
        if (b.capture_method !== undefined) {
          throw new ApiError(400, 'invalid_request_error', 'parameter_unknown', 'Received unknown parameter: capture_method. This parameter cannot be set with a publishable API key.', 'capture_method');
        }
        const card = b.payment_method_options?.card;
        if (card && card.capture_method !== undefined) {
          throw new ApiError(400, 'invalid_request_error', 'parameter_unknown', 'Received unknown parameter: payment_method_options[card][capture_method]. This parameter cannot be set with a publishable API key.', 'payment_method_options[card][capture_method]');
        }
      }
      const paymentMethodData = cardOfData(b, p);
      if (offSession(b)) {
        const i = await readOwnIntent(deps, p, id);
        if (!i) throw noSuch('payment_intent', id, 'intent');
        checkOffSession(b, b.setup_future_usage === undefined ? i.setup_future_usage : setupFutureUsageOf(b.setup_future_usage));
      }
      return idempotentCommands(req, reply, deps, async (idem) => {
        const state = await confirmIntent(deps, req, p, id, b, paymentMethodData, idem);
        return { status: 200, body: await render(deps, p.merchant_id, state, b.expand) };
      });
    },
  );

  app.post<{ Params: IdParams; Body: CaptureIntentBody }>(
    '/v1/payment_intents/:id/capture',
    { schema: { params: IdParams, body: CaptureIntentBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      return idempotentCommands(req, reply, deps, async (idem) => {
        const cmdId = commandId(scopeOf(p), `POST /v1/payment_intents/${req.params.id}/capture`, idempotencyKeyOf(req));
        const state = (await deps.commands.send({
          op: 'intent.capture',
          merchantId: p.merchant_id,
          intentId: req.params.id,
          ...(req.body.amount_to_capture !== undefined ? { amountToCapture: req.body.amount_to_capture } : {}),
          ctx: commandCtx(req, p, cmdId, idem),
        }, idem?.trace)) as Intent;
        return { status: 200, body: await render(deps, p.merchant_id, state, req.body.expand) };
      });
    },
  );

  app.post<{ Params: IdParams; Body: CancelIntentBody }>(
    '/v1/payment_intents/:id/cancel',
    { schema: { params: IdParams, body: CancelIntentBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      return idempotentCommands(req, reply, deps, async (idem) => {
        const cmdId = commandId(scopeOf(p), `POST /v1/payment_intents/${req.params.id}/cancel`, idempotencyKeyOf(req));
        const state = (await deps.commands.send({
          op: 'intent.cancel',
          merchantId: p.merchant_id,
          intentId: req.params.id,
          reason: (req.body.cancellation_reason as Intent['cancellation_reason']) ?? null,
          ctx: commandCtx(req, p, cmdId, idem),
        }, idem?.trace)) as Intent;
        return { status: 200, body: await render(deps, p.merchant_id, state, req.body.expand) };
      });
    },
  );
}
