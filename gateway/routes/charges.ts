// /v1/charges (create, capture, retrieve, list) and /v1/charges/:id/refunds. A charge is an attempt of an intent:
// a single charge is read from its intent's last commit (its id names the intent; older ones are
// found through pay_index), lists come from
// the projection. Another merchant's or the other mode's charge does not exist for the key.
// The legacy Charges API's create is a PaymentIntent created and confirmed at once, answered as its
// charge; its capture is the intent's capture.
import type { FastifyInstance } from 'fastify';
import type { Attempt, Intent } from '../../actors/mod.ts';
import { ApiError, noSuch, cannotExpand } from '../../stripe/errors.ts';
import { renderCharge, renderPaymentIntent, renderRefund } from '../../stripe/objects.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type GatewayDeps } from '../app.ts';
import { cardOf } from './payment-methods.ts';
import { createIntent, type CreateInput } from './payment-intents.ts';
import { shippingOf } from '../shipping.ts';
import { requireCustomerParam } from './customers.ts';
import { commandId } from '../ids.ts';
import { itemExpand, listObject, listScope, pageCursor, searchResult } from '../lists.ts';
import { parseSearchQuery } from '../../stripe/search.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { CaptureChargeBody, CreateChargeBody, IdParams, ListChargesQuery, ListRefundsQuery, RetrieveExpandQuery, SearchQuery, UpdateChargeBody } from '../schemas.ts';
import { archivedFrom } from '../../archive/lookup.ts';
import type { ChargeEntry } from '../../storage/mod.ts';
import { balanceTransactionObject } from './balance.ts';
import { intentIdOfCharge } from '../ids.ts';

type Obj = Record<string, unknown>;

/** The intent that holds a charge or refund id of this key's merchant and mode; null: no such object for this key. */
export async function intentHolding(deps: GatewayDeps, p: Principal, id: string): Promise<Intent | null> {
  const livemode = p.mode === 'live';
  // A charge id names its intent (gateway/ids.ts); older charge ids and refund ids are in pay_index.
  let intentId = intentIdOfCharge(id);
  if (!intentId) {
    const e = await deps.readIndex(id);
    if (!e || e.merchant_id !== p.merchant_id || e.livemode !== livemode) return null;
    intentId = e.intent_id;
  }
  const i = await deps.readIntent(p.merchant_id, intentId);
  return i && i.merchant_id === p.merchant_id && i.livemode === livemode ? i : null;
}


/** What a charge's expand may name: payment_intent and balance_transaction are expanded; refunds are embedded already, customers stay ids. */
const EXPANDABLE = new Set(['payment_intent', 'refunds', 'balance_transaction', 'customer']);

/** A bad expand is refused before anything is written. */
function checkChargeExpand(expand: readonly string[] | undefined): void {
  for (const path of expand ?? []) if (!EXPANDABLE.has(path)) throw cannotExpand(path);
}

export function chargeObject(deps: Pick<GatewayDeps, 'config'>, i: Intent, a: Attempt, expand: readonly string[] | undefined): Obj {
  checkChargeExpand(expand);
  const o = renderCharge(i, a);
  if (expand?.includes('payment_intent')) o.payment_intent = renderPaymentIntent(i);
  if (expand?.includes('balance_transaction') && o.balance_transaction) o.balance_transaction = balanceTransactionObject(deps, i, { charge: a });
  return o;
}

/** A page of listed charges (the list and the search) as Stripe's charges. */
function chargeObjects(deps: Pick<GatewayDeps, 'config'>, entries: readonly ChargeEntry[], expand: readonly string[]): Obj[] {
  return entries.flatMap((c) => {
    const a = c.intent.attempts.find((x) => x.id === c.id);
    return a ? [chargeObject(deps, c.intent, a, expand)] : [];
  });
}

/** The card a legacy charge is made with: a test token, a PaymentMethod, or the customer's default card. */
async function chargeCard(deps: GatewayDeps, p: Principal, b: CreateChargeBody): Promise<Pick<CreateInput, 'paymentMethod' | 'paymentMethodData'>> {
  if (b.source?.startsWith('tok_')) return { paymentMethod: null, paymentMethodData: { card: cardOf({ token: b.source }, p.mode === 'live', Math.floor(Date.now() / 1000), 'card') } };
  if (b.source) return { paymentMethod: b.source };
  if (!b.customer) throw new ApiError(400, 'invalid_request_error', 'parameter_missing', 'Must provide source or customer.', 'source');
  const c = await requireCustomerParam(deps, p, b.customer);
  const pm = c.default_payment_method ?? c.payment_methods?.at(-1);
  if (!pm) throw new ApiError(402, 'card_error', 'missing', 'Cannot charge a customer that has no active card', 'card');
  return { paymentMethod: pm };
}

export function registerCharges(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateChargeBody }>('/v1/charges', { schema: { body: CreateChargeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const card = await chargeCard(deps, p, b);
    checkChargeExpand(b.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const i = await createIntent(deps, req, p, 'POST /v1/charges', {
        amount: b.amount,
        currency: b.currency,
        captureMethod: b.capture === false ? 'manual' : 'automatic',
        ...card,
        metadata: b.metadata || {},
        description: b.description ?? null,
        receiptEmail: b.receipt_email ?? null,
        shipping: shippingOf(b.shipping) ?? null,
        statementDescriptor: b.statement_descriptor || null,
        statementDescriptorSuffix: b.statement_descriptor_suffix || null,
        customer: b.customer ?? null,
        userEmail: null,
        productId: null,
        confirm: true,
        returnUrl: null,
        // The Charges API cannot authenticate: Stripe declines a card that asks for it (a failed charge).
        noAuthentication: true,
      }, idem);
      const a = i.attempts.at(-1);
      if (!a) throw new Error(`charge ${i.id}: no attempt after confirm`);
      return { status: 200, body: chargeObject(deps, i, a, b.expand) };
    });
  });

  app.post<{ Params: IdParams; Body: CaptureChargeBody }>('/v1/charges/:id/capture', { schema: { params: IdParams, body: CaptureChargeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const i0 = await intentHolding(deps, p, req.params.id);
    if (!i0 || !i0.attempts.some((x) => x.id === req.params.id)) throw noSuch('charge', req.params.id);
    checkChargeExpand(req.body.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/charges/${req.params.id}/capture`, idempotencyKeyOf(req));
      const i = (await deps.commands.send({
        op: 'intent.capture',
        merchantId: p.merchant_id,
        intentId: i0.id,
        ...(req.body.amount !== undefined ? { amountToCapture: req.body.amount } : {}),
        ctx: commandCtx(req, p, cmdId, idem),
      }, idem?.trace)) as Intent;
      const a = i.attempts.find((x) => x.id === req.params.id)!;
      return { status: 200, body: chargeObject(deps, i, a, req.body.expand) };
    });
  });

  // Stripe's charge update: its description and metadata (the charge's own from then on; until then
  // it shows its intent's), and the receipt email (its intent's, which every charge of it shows),
  // changed by the intent's single writer (charge.updated). Nothing to change writes nothing.
  app.post<{ Params: IdParams; Body: UpdateChargeBody }>('/v1/charges/:id', { schema: { params: IdParams, body: UpdateChargeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const i0 = await intentHolding(deps, p, req.params.id);
    if (!i0 || !i0.attempts.some((x) => x.id === req.params.id)) throw noSuch('charge', req.params.id);
    checkChargeExpand(b.expand);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/charges/${req.params.id}`, idempotencyKeyOf(req));
      const i = (await deps.commands.send(
        {
          op: 'intent.charge_update',
          merchantId: p.merchant_id,
          intentId: i0.id,
          chargeId: req.params.id,
          ...(b.description !== undefined ? { description: b.description || null } : {}),
          ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
          ...(b.receipt_email !== undefined ? { receiptEmail: b.receipt_email || null } : {}),
          ctx: commandCtx(req, p, cmdId, idem),
        },
        idem?.trace,
      )) as Intent;
      const a = i.attempts.find((x) => x.id === req.params.id)!;
      return { status: 200, body: chargeObject(deps, i, a, b.expand) };
    });
  });

  // Stripe's search over charges (stripe/search.ts: amount, created, currency, customer, status,
  // refunded, disputed, payment_intent, payment_method_details.card.last4|brand, metadata).
  app.get<{ Querystring: SearchQuery }>('/v1/charges/search', { schema: { querystring: SearchQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const page = await deps.searchCharges({ merchantId: p.merchant_id, livemode: p.mode === 'live', query: parseSearchQuery('charges', q.query), limit: q.limit ?? 10, ...(q.page ? { after: q.page } : {}) });
    const expand = itemExpand(q.expand);
    return searchResult('/v1/charges/search', chargeObjects(deps, page.data, expand), page.hasMore, page.data.at(-1)?.id);
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>(
    '/v1/charges/:id',
    { schema: { params: IdParams, querystring: RetrieveExpandQuery } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const i = await intentHolding(deps, p, req.params.id);
      const a = i?.attempts.find((x) => x.id === req.params.id);
      if (!i || !a) throw noSuch('charge', req.params.id);
      // Its intent came from the archive (yearly export): slower, and said so.
      const archived = archivedFrom(i);
      if (archived) void reply.header('Paynats-Archived', archived.chunk);
      return chargeObject(deps, i, a, req.query.expand);
    },
  );

  app.get<{ Querystring: ListChargesQuery }>('/v1/charges', { schema: { querystring: ListChargesQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const page = await deps.listCharges({
      ...listScope(p, q),
      ...pageCursor(q),
      ...(q.payment_intent ? { paymentIntent: q.payment_intent } : {}),
      ...(q.customer ? { customer: q.customer } : {}),
    });
    const expand = itemExpand(q.expand);
    return listObject('/v1/charges', chargeObjects(deps, page.data, expand), page.hasMore);
  });

  // The list a charge's `refunds.url` points at: read from the intent, newest first.
  app.get<{ Params: IdParams; Querystring: ListRefundsQuery }>(
    '/v1/charges/:id/refunds',
    { schema: { params: IdParams, querystring: ListRefundsQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const q = req.query;
      const i = await intentHolding(deps, p, req.params.id);
      if (!i || !i.attempts.some((x) => x.id === req.params.id)) throw noSuch('charge', req.params.id);
      const all = (i.refunds ?? []).filter((r) => r.charge === req.params.id).reverse();
      const cursor = pageCursor(q);
      const limit = q.limit ?? 10;
      let from = 0;
      let to = all.length;
      if (cursor.startingAfter !== undefined) from = all.findIndex((r) => r.id === cursor.startingAfter) + 1 || all.length;
      if (cursor.endingBefore !== undefined) to = Math.max(0, all.findIndex((r) => r.id === cursor.endingBefore));
      const window = all.slice(from, to);
      const page = cursor.endingBefore !== undefined ? window.slice(-limit) : window.slice(0, limit);
      return listObject(`/v1/charges/${req.params.id}/refunds`, page.map((r) => renderRefund(i, r)), window.length > page.length);
    },
  );
}
