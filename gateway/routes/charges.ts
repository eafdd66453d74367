// /v1/charges (retrieve, list) and /v1/charges/:id/refunds. A charge is an attempt of an intent:
// a single charge is read from its intent's last commit (found through pay_index), lists come from
// the projection. Another merchant's or the other mode's charge does not exist for the key.
import type { FastifyInstance } from 'fastify';
import type { Attempt, Intent } from '../../actors/mod.ts';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import { renderCharge, renderPaymentIntent, renderRefund } from '../../stripe/objects.ts';
import type { CreatedFilter } from '../../storage/mod.ts';
import { principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, type Principal } from '../auth.ts';
import { IdParams, ListChargesQuery, ListRefundsQuery, RetrieveExpandQuery } from '../schemas.ts';

type Obj = Record<string, unknown>;

/** The intent that holds a charge or refund id of this key's merchant and mode; null: no such object for this key. */
export async function intentHolding(deps: GatewayDeps, p: Principal, id: string): Promise<Intent | null> {
  const e = await deps.readIndex(id);
  const livemode = p.mode === 'live';
  if (!e || e.merchant_id !== p.merchant_id || e.livemode !== livemode) return null;
  const i = await deps.readIntent(e.merchant_id, e.intent_id);
  return i && i.merchant_id === p.merchant_id && i.livemode === livemode ? i : null;
}

export const cannotExpand = (path: string) => new ApiError(400, 'invalid_request_error', 'parameter_invalid', `This property cannot be expanded (${path}).`, 'expand');

/** Stripe's created filter: an integer is that second exactly. */
export function createdFilter(c: number | CreatedFilter | undefined): { created?: CreatedFilter } {
  if (c === undefined) return {};
  return { created: typeof c === 'number' ? { gte: c, lte: c } : c };
}

export function pageCursor(q: { starting_after?: string | undefined; ending_before?: string | undefined }): { startingAfter?: string; endingBefore?: string } {
  if (q.starting_after !== undefined && q.ending_before !== undefined) {
    throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'You may only specify one of these parameters: ending_before, starting_after.', 'starting_after');
  }
  return { ...(q.starting_after ? { startingAfter: q.starting_after } : {}), ...(q.ending_before ? { endingBefore: q.ending_before } : {}) };
}

export function chargeObject(i: Intent, a: Attempt, expand: readonly string[] | undefined): Obj {
  const o = renderCharge(i, a);
  for (const path of expand ?? []) {
    if (path === 'payment_intent') o.payment_intent = renderPaymentIntent(i);
    else if (path === 'refunds' || path === 'balance_transaction' || path === 'customer') {
      // refunds are embedded already; there are no balance transactions; customers stay ids.
    } else throw cannotExpand(path);
  }
  return o;
}

export function registerCharges(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>(
    '/v1/charges/:id',
    { schema: { params: IdParams, querystring: RetrieveExpandQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const i = await intentHolding(deps, p, req.params.id);
      const a = i?.attempts.find((x) => x.id === req.params.id);
      if (!i || !a) throw noSuch('charge', req.params.id);
      return chargeObject(i, a, req.query.expand);
    },
  );

  app.get<{ Querystring: ListChargesQuery }>('/v1/charges', { schema: { querystring: ListChargesQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const page = await deps.listCharges({
      merchantId: p.merchant_id,
      livemode: p.mode === 'live',
      limit: q.limit ?? 10,
      ...pageCursor(q),
      ...(q.payment_intent ? { paymentIntent: q.payment_intent } : {}),
      ...(q.customer ? { customer: q.customer } : {}),
      ...createdFilter(q.created),
    });
    const expand = (q.expand ?? []).map((e) => (e.startsWith('data.') ? e.slice(5) : e));
    const data: Obj[] = [];
    for (const c of page.data) {
      const a = c.intent.attempts.find((x) => x.id === c.id);
      if (a) data.push(chargeObject(c.intent, a, expand));
    }
    return { object: 'list', data, has_more: page.hasMore, url: '/v1/charges' };
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
      return { object: 'list', data: page.map((r) => renderRefund(i, r)), has_more: window.length > page.length, url: `/v1/charges/${req.params.id}/refunds` };
    },
  );
}
