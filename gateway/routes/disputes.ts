// /v1/disputes: retrieve, update (evidence, metadata, submit), close, list. A dispute lives in the
// intent that holds the disputed charge (actors/payment-intent/dispute.ts); it is opened by the card
// network, never by the API, and found by id through pay_index (reconcile/disputes.ts writes it).
import type { FastifyInstance } from 'fastify';
import { luhnValid } from '../../vault/card.ts';
import { DISPUTE_EVIDENCE_FILE_FIELDS, type Dispute, type DisputeEvidencePatch, type Intent } from '../../actors/mod.ts';
import { ApiError, cannotExpand, noSuch } from '../../stripe/errors.ts';
import { renderDispute, renderPaymentIntent } from '../../stripe/objects.ts';
import { commandCtx, idempotencyKeyOf, idempotentCommands, principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId } from '../ids.ts';
import { itemExpand, listObject, listScope, pageCursor } from '../lists.ts';
import { CloseDisputeBody, IdParams, ListDisputesQuery, RetrieveExpandQuery, UpdateDisputeBody, type DisputeEvidence } from '../schemas.ts';
import { chargeObject, intentHolding } from './charges.ts';

type Obj = Record<string, unknown>;

const now = () => Math.floor(Date.now() / 1000);
const EXPANDABLE = new Set(['charge', 'payment_intent']);

/** A bad expand is refused before anything is written. */
function checkExpand(expand: readonly string[] | undefined): void {
  for (const path of expand ?? []) if (!EXPANDABLE.has(path)) throw cannotExpand(path);
}

function disputeObject(deps: Pick<GatewayDeps, 'config'>, i: Intent, d: Dispute, expand: readonly string[] | undefined): Obj {
  checkExpand(expand);
  const o = renderDispute(i, d, now());
  if (expand?.includes('charge')) {
    const a = i.attempts.find((x) => x.id === d.charge);
    if (a) o.charge = chargeObject(deps, i, a, undefined);
  }
  if (expand?.includes('payment_intent')) o.payment_intent = renderPaymentIntent(i);
  return o;
}

/** The key's own dispute and the intent holding it, or Stripe's 404. */
async function ownDispute(deps: GatewayDeps, p: Principal, id: string): Promise<{ i: Intent; d: Dispute }> {
  const i = await intentHolding(deps, p, id);
  const d = i?.disputes?.find((x) => x.id === id);
  if (!i || !d) throw noSuch('dispute', id);
  return { i, d };
}

/** A run of 13–19 digits (spaces or dashes between them allowed) that passes Luhn: a card number. */
function containsCardNumber(text: string): boolean {
  for (const m of text.matchAll(/\d(?:[ -]?\d){12,18}/g)) if (luhnValid(m[0].replace(/[ -]/g, ''))) return true;
  return false;
}

/**
 * The evidence patch the intent records: the text fields. A file field names a File, and we have no
 * Files API, so no id can name one (Stripe's 404 for an unknown file). A card number is refused
 * wherever it is typed: evidence is kept in the event stream, where card numbers never go.
 */
function evidencePatch(e: DisputeEvidence | undefined): DisputeEvidencePatch | undefined {
  if (e === undefined) return undefined;
  const patch: DisputeEvidencePatch = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined) continue;
    if ((DISPUTE_EVIDENCE_FILE_FIELDS as readonly string[]).includes(k)) {
      if (v === '') continue;
      throw new ApiError(400, 'invalid_request_error', 'resource_missing', `No such file upload: '${v}'`, `evidence[${k}]`);
    }
    if (containsCardNumber(v)) {
      throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'Evidence must not contain a card number: give its last four digits instead.', `evidence[${k}]`);
    }
    patch[k as keyof DisputeEvidencePatch] = v;
  }
  return patch;
}

export function registerDisputes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>('/v1/disputes/:id', { schema: { params: IdParams, querystring: RetrieveExpandQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    checkExpand(req.query.expand);
    const { i, d } = await ownDispute(deps, p, req.params.id);
    return disputeObject(deps, i, d, req.query.expand);
  });

  app.post<{ Params: IdParams; Body: UpdateDisputeBody }>('/v1/disputes/:id', { schema: { params: IdParams, body: UpdateDisputeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    checkExpand(b.expand);
    const evidence = evidencePatch(b.evidence);
    const { i } = await ownDispute(deps, p, req.params.id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/disputes/${req.params.id}`, idempotencyKeyOf(req));
      const nothing = evidence === undefined && b.metadata === undefined && !b.submit;
      const state = nothing
        ? i
        : ((await deps.commands.send(
            {
              op: 'intent.dispute_update',
              merchantId: p.merchant_id,
              intentId: i.id,
              disputeId: req.params.id,
              ...(evidence !== undefined ? { evidence } : {}),
              ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
              submit: b.submit === true,
              ctx: commandCtx(req, p, cmdId, idem),
            },
            idem?.trace,
          )) as Intent);
      const d = state.disputes?.find((x) => x.id === req.params.id);
      if (!d) throw noSuch('dispute', req.params.id);
      return { status: 200, body: disputeObject(deps, state, d, b.expand) };
    });
  });

  // Stripe's close: the merchant accepts the dispute (lost; an inquiry warning_closed).
  app.post<{ Params: IdParams; Body: CloseDisputeBody }>('/v1/disputes/:id/close', { schema: { params: IdParams, body: CloseDisputeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    checkExpand(req.body?.expand);
    const { i } = await ownDispute(deps, p, req.params.id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/disputes/${req.params.id}/close`, idempotencyKeyOf(req));
      const state = (await deps.commands.send(
        { op: 'intent.dispute_close', merchantId: p.merchant_id, intentId: i.id, disputeId: req.params.id, ctx: commandCtx(req, p, cmdId, idem) },
        idem?.trace,
      )) as Intent;
      const d = state.disputes?.find((x) => x.id === req.params.id);
      if (!d) throw noSuch('dispute', req.params.id);
      return { status: 200, body: disputeObject(deps, state, d, req.body?.expand) };
    });
  });

  app.get<{ Querystring: ListDisputesQuery }>('/v1/disputes', { schema: { querystring: ListDisputesQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const expand = itemExpand(q.expand);
    checkExpand(expand);
    const page = await deps.listDisputes({
      ...listScope(p, q),
      ...pageCursor(q),
      ...(q.charge ? { charge: q.charge } : {}),
      ...(q.payment_intent ? { paymentIntent: q.payment_intent } : {}),
    });
    const data: Obj[] = [];
    // The object is rendered from its intent (evidence is not in the read model): one read per intent of the page.
    const intents = new Map<string, Promise<Intent | null>>();
    for (const row of page.data) {
      if (!intents.has(row.intent_id)) intents.set(row.intent_id, deps.readIntent(p.merchant_id, row.intent_id));
      const i = await intents.get(row.intent_id)!;
      const d = i?.disputes?.find((x) => x.id === row.id);
      if (i && d) data.push(disputeObject(deps, i, d, expand));
    }
    return listObject('/v1/disputes', data, page.hasMore);
  });
}
