// /v1/refunds: create (by payment_intent or charge), retrieve, list. A refund lives in its intent
// aggregate, whose single writer decides it: the amount is checked against what is left of the
// charge there, so two refunds racing can never refund more than was captured.
import type { FastifyInstance } from 'fastify';
import type { Intent, Refund } from '../../actors/mod.ts';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import { renderPaymentIntent, renderRefund } from '../../stripe/objects.ts';
import type { RefundRecord } from '../../storage/mod.ts';
import { commandCtx, idempotencyKeyOf, idempotentCommands, principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import { itemExpand, listObject, listScope, pageCursor } from '../lists.ts';
import { CancelRefundBody, CreateRefundBody, IdParams, ListRefundsQuery, RetrieveExpandQuery, UpdateRefundBody } from '../schemas.ts';
import { chargeObject, intentHolding } from './charges.ts';
import { balanceTransactionObject } from './balance.ts';
import { cannotExpand } from '../../stripe/errors.ts';

type Obj = Record<string, unknown>;


function refundObject(deps: Pick<GatewayDeps, 'config'>, i: Intent, r: Refund, expand: readonly string[] | undefined): Obj {
  const o = renderRefund(i, r);
  for (const path of expand ?? []) {
    if (path === 'charge') {
      const a = i.attempts.find((x) => x.id === r.charge);
      o.charge = a ? chargeObject(deps, i, a, undefined) : r.charge;
    } else if (path === 'payment_intent') o.payment_intent = renderPaymentIntent(i);
    else if (path === 'balance_transaction') {
      if (o.balance_transaction) o.balance_transaction = balanceTransactionObject(deps, i, { refund: r });
    } else throw cannotExpand(path);
  }
  return o;
}

/** The key's own refund and the intent holding it, or Stripe's 404. */
async function ownRefund(deps: GatewayDeps, p: Principal, id: string): Promise<{ i: Intent; r: Refund }> {
  const i = await intentHolding(deps, p, id);
  const r = i?.refunds?.find((x) => x.id === id);
  if (!i || !r) throw noSuch('refund', id);
  return { i, r };
}

/** A listed refund (a projection row) as the Refund the renderer takes. */
function refundOfRecord(r: RefundRecord): Refund {
  return {
    id: r.id,
    charge: r.charge_id,
    amount: r.amount,
    reason: r.reason,
    metadata: r.metadata,
    status: r.status,
    failure_reason: r.failure_reason,
    network_ref: null,
    created: r.created,
    settled_at: null,
  };
}

export function registerRefunds(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateRefundBody }>('/v1/refunds', { schema: { body: CreateRefundBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    if (!b.payment_intent && !b.charge) {
      throw new ApiError(400, 'invalid_request_error', 'parameter_missing', 'One of the following params should be provided for this request: payment_intent or charge.', 'payment_intent');
    }
    return idempotentCommands(req, reply, deps, async (idem) => {
      const livemode = p.mode === 'live';
      let intentId: string;
      let attemptId: string | undefined;
      if (b.charge) {
        const holder = await intentHolding(deps, p, b.charge);
        if (!holder || !holder.attempts.some((a) => a.id === b.charge)) throw noSuch('charge', b.charge, 'charge');
        if (b.payment_intent && b.payment_intent !== holder.id) {
          throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Charge ${b.charge} does not belong to PaymentIntent ${b.payment_intent}.`, 'charge');
        }
        intentId = holder.id;
        attemptId = b.charge;
      } else {
        intentId = b.payment_intent as string;
        const i = await deps.readIntent(p.merchant_id, intentId);
        if (!i || i.livemode !== livemode) throw noSuch('payment_intent', intentId, 'payment_intent');
      }
      const cmdId = commandId(scopeOf(p), 'POST /v1/refunds', idempotencyKeyOf(req));
      const refundId = derivedId('re', cmdId);
      // The index first: a retrieve must find the refund the moment it exists.
      await deps.writeIndex(refundId, { merchant_id: p.merchant_id, intent_id: intentId, livemode });
      const state = (await deps.commands.send({
        op: 'intent.refund',
        merchantId: p.merchant_id,
        intentId,
        refundId,
        ...(attemptId !== undefined ? { attemptId } : {}),
        ...(b.amount !== undefined ? { amount: b.amount } : {}),
        reason: b.reason ?? null,
        metadata: b.metadata || {},
        ctx: commandCtx(req, p, cmdId, idem),
      }, idem?.trace)) as Intent;
      const r = state.refunds.find((x) => x.id === refundId);
      if (!r) throw new Error(`refund ${refundId} missing from the intent's answer`);
      return { status: 200, body: refundObject(deps, state, r, b.expand) };
    });
  });

  // Stripe's refund update: its metadata, merged by the intent's single writer (refund.updated).
  app.post<{ Params: IdParams; Body: UpdateRefundBody }>('/v1/refunds/:id', { schema: { params: IdParams, body: UpdateRefundBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const { i } = await ownRefund(deps, p, req.params.id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/refunds/${req.params.id}`, idempotencyKeyOf(req));
      const state =
        b.metadata === undefined
          ? i
          : ((await deps.commands.send({ op: 'intent.refund_update', merchantId: p.merchant_id, intentId: i.id, refundId: req.params.id, metadata: b.metadata, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace)) as Intent);
      const r = state.refunds.find((x) => x.id === req.params.id)!;
      return { status: 200, body: refundObject(deps, state, r, b.expand) };
    });
  });

  // Only a refund waiting for the customer (requires_action) can be canceled at Stripe, and a card
  // refund never waits for one: every refund here is refused, with its status named.
  app.post<{ Params: IdParams; Body: CancelRefundBody }>('/v1/refunds/:id/cancel', { schema: { params: IdParams, body: CancelRefundBody } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const { r } = await ownRefund(deps, p, req.params.id);
    throw new ApiError(400, 'invalid_request_error', undefined, `You can only cancel refunds with a status of \`requires_action\`. This refund has a status of \`${r.status}\`.`);
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>(
    '/v1/refunds/:id',
    { schema: { params: IdParams, querystring: RetrieveExpandQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const { i, r } = await ownRefund(deps, p, req.params.id);
      return refundObject(deps, i, r, req.query.expand);
    },
  );

  app.get<{ Querystring: ListRefundsQuery }>('/v1/refunds', { schema: { querystring: ListRefundsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const page = await deps.listRefunds({
      ...listScope(p, q),
      ...pageCursor(q),
      ...(q.charge ? { charge: q.charge } : {}),
      ...(q.payment_intent ? { paymentIntent: q.payment_intent } : {}),
    });
    const expand = itemExpand(q.expand);
    const data: Obj[] = [];
    for (const row of page.data) {
      const r = refundOfRecord(row);
      if (expand.length === 0) {
        data.push(renderRefund({ id: row.intent_id, currency: row.currency }, r));
        continue;
      }
      // Expanding needs the intent: its last commit (it holds the refund's charge).
      const i = await deps.readIntent(row.merchant_id, row.intent_id);
      data.push(i ? refundObject(deps, i, i.refunds.find((x) => x.id === r.id) ?? r, expand) : renderRefund({ id: row.intent_id, currency: row.currency }, r));
    }
    return listObject('/v1/refunds', data, page.hasMore);
  });
}
