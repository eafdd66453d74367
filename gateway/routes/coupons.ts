// /v1/coupons: Stripe's Coupons, applied by Checkout Sessions (`discounts[][coupon]`). A coupon is
// its own single-writer aggregate (actors/coupon); its times_redeemed is counted from the sessions that
// completed with it. Secret keys only; a coupon of another merchant or of the other mode does not
// exist for the key.
import type { FastifyInstance } from 'fastify';
import { createHash } from 'node:crypto';
import type { Coupon } from '../../actors/mod.ts';
import { expandOnly, noSuch } from '../../stripe/errors.ts';
import { renderCoupon } from '../../stripe/objects.ts';
import { ID_PATTERN } from '../../streams/subjects.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId } from '../ids.ts';
import { checkCursors, listObject } from '../lists.ts';
import { checkCurrency } from './payment-intents.ts';
import { CreateCouponBody, IdParams, ListCouponsQuery, RetrieveCustomerQuery as RetrieveExpand, UpdateCouponBody } from '../schemas.ts';

const now = () => Math.floor(Date.now() / 1000);

/** A coupon of this key's merchant and mode (deleted ones too), or null. */
export async function readOwnCoupon(deps: Pick<GatewayDeps, 'readCoupon'>, p: Pick<Principal, 'merchant_id' | 'mode'>, id: string): Promise<Coupon | null> {
  if (!ID_PATTERN.test(id)) return null;
  const c = await deps.readCoupon(p.merchant_id, id);
  return c && c.merchant_id === p.merchant_id && c.livemode === (p.mode === 'live') ? c : null;
}

/** Stripe's coupon ids: 8 upper-case letters and digits (ours derived from the command, so a retried create makes the same). */
const couponIdFor = (cmdId: string) => createHash('sha256').update(`coupon:${cmdId}`).digest('base64').replace(/[^A-Za-z0-9]/g, '').toUpperCase().slice(0, 8);

export function registerCoupons(app: FastifyInstance, deps: GatewayDeps): void {
  const render = async (c: Coupon) => renderCoupon(c, c.deleted ? 0 : ((await deps.couponRedemptions(c.merchant_id, [c.id])).get(c.id) ?? 0));

  app.post<{ Body: CreateCouponBody }>('/v1/coupons', { schema: { body: CreateCouponBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    expandOnly(b.expand);
    const cmdId = commandId(scopeOf(p), 'POST /v1/coupons', idempotencyKeyOf(req));
    const id = b.id ?? couponIdFor(cmdId);
    const currency = b.currency !== undefined ? checkCurrency(b.currency) : null;
    return idempotentCommands(req, reply, deps, async (idem) => {
      const c = (await deps.commands.send({
        op: 'coupon.create',
        merchantId: p.merchant_id,
        couponId: id,
        command: {
          type: 'Create',
          coupon: {
            id,
            merchant_id: p.merchant_id,
            livemode: p.mode === 'live',
            name: b.name || null,
            percent_off: b.percent_off ?? null,
            amount_off: b.amount_off ?? null,
            currency,
            duration: b.duration ?? 'once',
            duration_in_months: b.duration_in_months ?? null,
            max_redemptions: b.max_redemptions ?? null,
            redeem_by: b.redeem_by ?? null,
            metadata: b.metadata || {},
            created_by: cmdId,
          },
          now: now(),
        },
        ctx: commandCtx(req, p, cmdId, idem),
      }, idem?.trace)) as Coupon;
      return { status: 200, body: await render(c) };
    });
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpand }>('/v1/coupons/:id', { schema: { params: IdParams, querystring: RetrieveExpand } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    expandOnly(req.query.expand);
    const c = await readOwnCoupon(deps, p, req.params.id);
    if (!c) throw noSuch('coupon', req.params.id);
    return render(c);
  });

  app.post<{ Params: IdParams; Body: UpdateCouponBody }>('/v1/coupons/:id', { schema: { params: IdParams, body: UpdateCouponBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    expandOnly(b.expand);
    const id = req.params.id;
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/coupons/${id}`, idempotencyKeyOf(req));
      const c = (await deps.commands.send({
        op: 'coupon.change',
        merchantId: p.merchant_id,
        couponId: id,
        command: { type: 'Update', ...(b.name !== undefined ? { name: b.name || null } : {}), ...(b.metadata !== undefined ? { metadata: b.metadata } : {}), now: now() },
        ctx: commandCtx(req, p, cmdId, idem),
      }, idem?.trace)) as Coupon;
      return { status: 200, body: await render(c) };
    });
  });

  // Stripe's delete: no new session takes it; sessions that took it keep their discount.
  app.delete<{ Params: IdParams }>('/v1/coupons/:id', { schema: { params: IdParams } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const id = req.params.id;
    const before = await readOwnCoupon(deps, p, id);
    if (!before) throw noSuch('coupon', id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      // Deleted already: only the repeat of the request that deleted it gets its answer again.
      if (before.deleted && !idem) throw noSuch('coupon', id);
      const cmdId = commandId(scopeOf(p), `DELETE /v1/coupons/${id}`, idempotencyKeyOf(req));
      const c = (await deps.commands.send({ op: 'coupon.change', merchantId: p.merchant_id, couponId: id, command: { type: 'Delete', now: now() }, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace)) as Coupon;
      if (before.deleted && !idem?.trace.replayed) throw noSuch('coupon', id);
      return { status: 200, body: renderCoupon(c, 0) };
    });
  });

  app.get<{ Querystring: ListCouponsQuery }>('/v1/coupons', { schema: { querystring: ListCouponsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    expandOnly(q.expand);
    const page = await deps.listCoupons({
      merchantId: p.merchant_id,
      livemode: p.mode === 'live',
      limit: q.limit ?? 10,
      ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
      ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
      ...(q.created !== undefined ? { created: typeof q.created === 'number' ? { gte: q.created, lte: q.created } : q.created } : {}),
    });
    // One grouped count for the page's coupons.
    const redeemed = await deps.couponRedemptions(p.merchant_id, page.data.map((c) => c.id));
    return listObject('/v1/coupons', page.data.map((c) => renderCoupon(c, c.deleted ? 0 : (redeemed.get(c.id) ?? 0))), page.hasMore);
  });
}
