// The account's money: GET /v1/balance (funds per currency in the key's mode) and its balance
// transactions, GET /v1/balance_transactions[/:id]. Both are derived from the charges, refunds and disputes in
// the read model (storage/balance.ts); a balance transaction is never stored, its id names its source
// (stripe/objects.ts). A captured charge is pending for BALANCE_PENDING_DAYS, then available; a
// refund leaves the available balance at once. No fees are modelled.
import type { FastifyInstance } from 'fastify';
import type { Intent } from '../../actors/mod.ts';
import { noSuch } from '../../stripe/errors.ts';
import { chargeBalanceTransactionId, defaultCurrencyOf, refundBalanceTransactionId, disputeBalanceTransactionId, renderBalance, renderDisputeBalanceTransactions, renderBalanceTransaction, sourceOfBalanceTransaction } from '../../stripe/objects.ts';
import { principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, type Principal } from '../auth.ts';
import { listObject, listScope, pageCursor } from '../lists.ts';
import { IdParams, ListBalanceTransactionsQuery, RetrieveExpandQuery } from '../schemas.ts';
import { intentHolding } from './charges.ts';

type Obj = Record<string, unknown>;
type Source = Parameters<typeof renderBalanceTransaction>[1];

const now = () => Math.floor(Date.now() / 1000);

/** A balance transaction as Stripe renders it (BALANCE_PENDING_DAYS from the deps' config, default 2). */
export function balanceTransactionObject(deps: Pick<GatewayDeps, 'config'>, i: Pick<Intent, 'currency'>, source: Source): Obj {
  return renderBalanceTransaction(i, source, deps.config.balancePendingDays ?? 2, now());
}

/** The charge or refund a balance transaction id names, if this key may see it and it has one. */
async function sourceOf(deps: GatewayDeps, p: Principal, id: string): Promise<{ i: Intent; source: Source } | null> {
  const sourceId = sourceOfBalanceTransaction(id);
  if (!sourceId) return null;
  const i = await intentHolding(deps, p, sourceId);
  if (!i) return null;
  // The charge or refund that has this balance transaction (the id rules of stripe/objects.ts).
  const a = i.attempts.find((x) => chargeBalanceTransactionId(x) === id);
  if (a) return { i, source: { charge: a } };
  const r = (i.refunds ?? []).find((x) => refundBalanceTransactionId(x) === id);
  return r ? { i, source: { refund: r } } : null;
}

/** A dispute's withdrawal or reinstatement (txn_dpw… / txn_dpr…), if this key may see it. */
async function disputeTransaction(deps: GatewayDeps, p: Principal, id: string): Promise<Obj | null> {
  const sourceId = sourceOfBalanceTransaction(id);
  if (!sourceId?.startsWith('dp_')) return null;
  const i = await intentHolding(deps, p, sourceId);
  const d = i?.disputes?.find((x) => x.id === sourceId);
  return (i && d && renderDisputeBalanceTransactions(i, d, now()).find((t) => t.id === id)) || null;
}

export function registerBalance(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/v1/balance', async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const m = await deps.readMerchant(p.merchant_id);
    if (!m) throw noSuch('account', p.merchant_id);
    const livemode = p.mode === 'live';
    return renderBalance(await deps.readBalance(p.merchant_id, livemode), livemode, defaultCurrencyOf(m));
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>('/v1/balance_transactions/:id', { schema: { params: IdParams, querystring: RetrieveExpandQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const dispute = await disputeTransaction(deps, p, req.params.id);
    if (dispute) return dispute;
    const found = await sourceOf(deps, p, req.params.id);
    if (!found) throw noSuch('balance transaction', req.params.id);
    return balanceTransactionObject(deps, found.i, found.source);
  });

  app.get<{ Querystring: ListBalanceTransactionsQuery }>('/v1/balance_transactions', { schema: { querystring: ListBalanceTransactionsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    // Charges, refunds and disputes' adjustments move this balance: no payouts or other types are made.
    const type = q.type;
    if ((type && type !== 'charge' && type !== 'refund' && type !== 'adjustment') || q.payout) return listObject('/v1/balance_transactions', [], false);
    // Cursors are balance transaction ids; the list pages by their keys (storage/balance.ts).
    const cursor = (id: string | undefined) => {
      if (id === undefined) return undefined;
      const d = /^txn_dp([wr])([A-Za-z0-9]+)$/.exec(id);
      return d ? `dp${d[1]}_${d[2]}` : (sourceOfBalanceTransaction(id) ?? id);
    };
    const { startingAfter, endingBefore } = pageCursor(q);
    const page = await deps.listBalanceTransactions({
      ...listScope(p, q),
      ...(startingAfter ? { startingAfter: cursor(startingAfter) } : {}),
      ...(endingBefore ? { endingBefore: cursor(endingBefore) } : {}),
      ...(type ? { type } : {}),
      ...(q.source ? { source: q.source } : {}),
      ...(q.currency ? { currency: q.currency.toLowerCase() } : {}),
    });
    const data: Obj[] = [];
    // A charge, its refunds and its disputes are one intent: read once per page.
    const intents = new Map<string, Promise<Intent | null>>();
    for (const row of page.data) {
      if (!intents.has(row.intentId)) intents.set(row.intentId, deps.readIntent(p.merchant_id, row.intentId));
      const i = await intents.get(row.intentId)!;
      if (!i) continue;
      if (row.kind === 'charge') {
        const a = i.attempts.find((x) => x.id === row.source);
        if (a) data.push(balanceTransactionObject(deps, i, { charge: a }));
      } else if (row.kind === 'refund') {
        const r = i.refunds?.find((x) => x.id === row.source);
        if (r) data.push(balanceTransactionObject(deps, i, { refund: r }));
      } else {
        const d = i.disputes?.find((x) => x.id === row.source);
        const id = d && disputeBalanceTransactionId(d, row.kind === 'dispute_withdrawal' ? 'withdrawal' : 'reinstatement');
        const txn = d && renderDisputeBalanceTransactions(i, d, now()).find((x) => x.id === id);
        if (txn) data.push(txn);
      }
    }
    return listObject('/v1/balance_transactions', data, page.hasMore);
  });
}
