// /v1/radar/early_fraud_warnings: retrieve and list Stripe Radar's early fraud warnings. A warning
// lives in the intent holding the reported charge (actors/payment-intent/fraud-warning.ts); the card
// network reports it and reconciliation records it (reconcile/disputes.ts), never the API.
import type { FastifyInstance } from 'fastify';
import type { FraudWarning, Intent } from '../../actors/mod.ts';
import { cannotExpand, noSuch } from '../../stripe/errors.ts';
import { renderCharge, renderEarlyFraudWarning, renderPaymentIntent } from '../../stripe/objects.ts';
import { principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, type Principal } from '../auth.ts';
import { itemExpand, listObject, listScope, pageCursor } from '../lists.ts';
import { IdParams, ListEarlyFraudWarningsQuery, RetrieveExpandQuery } from '../schemas.ts';
import { intentHolding } from './charges.ts';

type Obj = Record<string, unknown>;

function warningObject(i: Intent, w: FraudWarning, expand: readonly string[] | undefined): Obj {
  const o = renderEarlyFraudWarning(i, w);
  for (const path of expand ?? []) {
    if (path === 'charge') {
      const a = i.attempts.find((x) => x.id === w.charge);
      if (a) o.charge = renderCharge(i, a);
    } else if (path === 'payment_intent') o.payment_intent = renderPaymentIntent(i);
    else throw cannotExpand(path);
  }
  return o;
}

async function ownWarning(deps: GatewayDeps, p: Principal, id: string): Promise<{ i: Intent; w: FraudWarning }> {
  const i = await intentHolding(deps, p, id);
  const w = i?.fraud_warnings?.find((x) => x.id === id);
  if (!i || !w) throw noSuch('early fraud warning', id);
  return { i, w };
}

export function registerEarlyFraudWarnings(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>('/v1/radar/early_fraud_warnings/:id', { schema: { params: IdParams, querystring: RetrieveExpandQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const { i, w } = await ownWarning(deps, p, req.params.id);
    return warningObject(i, w, req.query.expand);
  });

  app.get<{ Querystring: ListEarlyFraudWarningsQuery }>('/v1/radar/early_fraud_warnings', { schema: { querystring: ListEarlyFraudWarningsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const expand = itemExpand(q.expand);
    for (const path of expand) if (path !== 'charge' && path !== 'payment_intent') throw cannotExpand(path);
    const page = await deps.listEarlyFraudWarnings({
      ...listScope(p, q),
      ...pageCursor(q),
      ...(q.charge ? { charge: q.charge } : {}),
      ...(q.payment_intent ? { paymentIntent: q.payment_intent } : {}),
    });
    const intents = new Map<string, Promise<Intent | null>>();
    const data: Obj[] = [];
    for (const row of page.data) {
      if (!intents.has(row.intent_id)) intents.set(row.intent_id, deps.readIntent(p.merchant_id, row.intent_id));
      const i = await intents.get(row.intent_id)!;
      const w = i?.fraud_warnings?.find((x) => x.id === row.id);
      if (i && w) data.push(warningObject(i, w, expand));
    }
    return listObject('/v1/radar/early_fraud_warnings', data, page.hasMore);
  });
}
