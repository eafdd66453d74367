// /v1/promotion_codes: Stripe's PromotionCodes, the codes customers type for a coupon (a Checkout Session
// applies one with `discounts[][promotion_code]`). A code belongs to its coupon for life, so the coupon
// aggregate is its single writer (actors/coupon); its id finds the coupon through pay_index, and its code
// is unique among the merchant's active codes of a mode, case-insensitively (claimed there by
// compare-and-set). Secret keys only; another merchant's or mode's codes do not exist for the key.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { Coupon, CouponCommand, PromotionCode } from '../../actors/mod.ts';
import { expandOnly, invalidParam, noSuch } from '../../stripe/errors.ts';
import { renderCoupon, renderPromotionCode } from '../../stripe/objects.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type CommandIdem, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import { checkCursors, listObject } from '../lists.ts';
import type { PromotionCodeEntry } from '../pay-index.ts';
import { claimUniqueName } from '../unique-names.ts';
import { checkCurrency } from './payment-intents.ts';
import { readOwnCoupon } from './coupons.ts';
import { CreatePromotionCodeBody, IdParams, ListPromotionCodesQuery, RetrieveCustomerQuery as RetrieveExpand, UpdatePromotionCodeBody } from '../schemas.ts';

const now = () => Math.floor(Date.now() / 1000);
const livemodeOf = (p: Pick<Principal, 'mode'>) => p.mode === 'live';

/** A promotion code of this key's merchant and mode, with the coupon holding it, or null. */
export async function readOwnPromotionCode(deps: Pick<GatewayDeps, 'catalogue' | 'readCoupon'>, p: Pick<Principal, 'merchant_id' | 'mode'>, id: string): Promise<{ promotionCode: PromotionCode; coupon: Coupon } | null> {
  const e = await deps.catalogue.read<PromotionCodeEntry>('promo', id);
  if (!e || e.merchant_id !== p.merchant_id || e.livemode !== livemodeOf(p)) return null;
  const coupon = await readOwnCoupon(deps, p, e.coupon_id);
  const promotionCode = coupon?.promotion_codes?.find((x) => x.id === id);
  return coupon && promotionCode ? { promotionCode, coupon } : null;
}

/** Stripe makes a code when none is given: 8 upper-case letters and digits. */
const randomCode = () => randomBytes(12).toString('base64').replace(/[^A-Za-z0-9]/g, '').toUpperCase().slice(0, 8);

interface Redeemed {
  codes: Map<string, number>;
  coupons: Map<string, number>;
}

export function registerPromotionCodes(app: FastifyInstance, deps: GatewayDeps): void {
  /** `expand[]=promotion.coupon` renders the coupon in place of its id. */
  async function render(p: PromotionCode, coupon: Coupon, expand: readonly string[] | undefined, counted?: Redeemed): Promise<Record<string, unknown>> {
    expandOnly(expand, 'promotion.coupon');
    const withCoupon = expand?.includes('promotion.coupon') === true;
    const redeemed = counted ?? (await redemptionsOf(coupon.merchant_id, [p.id], withCoupon ? [coupon.id] : []));
    const o = renderPromotionCode(p, coupon, redeemed.codes.get(p.id) ?? 0);
    if (withCoupon) o.promotion = { coupon: renderCoupon(coupon, redeemed.coupons.get(coupon.id) ?? 0), type: 'coupon' };
    return o;
  }

  /** The redemptions of these codes and coupons: two grouped counts, however many there are. */
  async function redemptionsOf(merchantId: string, codes: readonly string[], coupons: readonly string[]): Promise<Redeemed> {
    const [c, k] = await Promise.all([deps.promotionCodeRedemptions(merchantId, codes), deps.couponRedemptions(merchantId, coupons)]);
    return { codes: c, coupons: k };
  }

  /** The code is the merchant's only active one (case-insensitively): claimed before the code is written, or refused. */
  async function claimCode(p: Principal, code: string, mine: { id: string; coupon: string }): Promise<void> {
    await claimUniqueName(deps.catalogue, 'promotion_code', p.merchant_id, livemodeOf(p), code, { id: mine.id, holder: mine.coupon }, {
      param: 'code',
      stillHolds: async (e) => {
        const held = await readOwnPromotionCode(deps, p, e.id);
        return !!held && held.promotionCode.active && held.promotionCode.code.toUpperCase() === code.toUpperCase();
      },
      held: async () => {
        throw invalidParam('code', `An active promotion code with \`code: ${code}\` already exists.`, 'resource_already_exists');
      },
    });
  }

  const send = (req: FastifyRequest, p: Principal, couponId: string, command: CouponCommand, cmdId: string, idem: CommandIdem | undefined) =>
    deps.commands.send({ op: 'coupon.change', merchantId: p.merchant_id, couponId, command, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace) as Promise<Coupon>;

  app.post<{ Body: CreatePromotionCodeBody }>('/v1/promotion_codes', { schema: { body: CreatePromotionCodeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    expandOnly(b.expand, 'promotion.coupon');
    const coupon = await readOwnCoupon(deps, p, b.promotion.coupon);
    if (!coupon || coupon.deleted) throw invalidParam('promotion[coupon]', `No such coupon: '${b.promotion.coupon}'`, 'resource_missing');
    const r = b.restrictions ?? {};
    if (r.minimum_amount_currency !== undefined && r.minimum_amount === undefined) throw invalidParam('restrictions[minimum_amount]', 'Missing required param: restrictions[minimum_amount].', 'parameter_missing');
    const cmdId = commandId(scopeOf(p), 'POST /v1/promotion_codes', idempotencyKeyOf(req));
    const id = derivedId('promo', cmdId);
    const code = b.code ?? randomCode();
    const active = b.active ?? true;
    return idempotentCommands(req, reply, deps, async (idem) => {
      await deps.catalogue.write(id, { merchant_id: p.merchant_id, coupon_id: coupon.id, livemode: livemodeOf(p) });
      if (active) await claimCode(p, code, { id, coupon: coupon.id });
      const c = await send(
        req,
        p,
        coupon.id,
        {
          type: 'AddPromotionCode',
          promotionCode: {
            id,
            code,
            active,
            max_redemptions: b.max_redemptions ?? null,
            expires_at: b.expires_at ?? null,
            minimum_amount: r.minimum_amount ?? null,
            minimum_amount_currency: r.minimum_amount_currency !== undefined ? checkCurrency(r.minimum_amount_currency) : null,
            metadata: b.metadata || {},
          },
          now: now(),
        },
        cmdId,
        idem,
      );
      const made = c.promotion_codes?.find((x) => x.id === id);
      if (!made) throw noSuch('promotion_code', id);
      return { status: 200, body: await render(made, c, b.expand) };
    });
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpand }>('/v1/promotion_codes/:id', { schema: { params: IdParams, querystring: RetrieveExpand } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const r = await readOwnPromotionCode(deps, p, req.params.id);
    if (!r) throw noSuch('promotion_code', req.params.id);
    return render(r.promotionCode, r.coupon, req.query.expand);
  });

  // Stripe's update: active (a code turned active again must still be the only active one with its code) and metadata.
  app.post<{ Params: IdParams; Body: UpdatePromotionCodeBody }>('/v1/promotion_codes/:id', { schema: { params: IdParams, body: UpdatePromotionCodeBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const id = req.params.id;
    expandOnly(b.expand, 'promotion.coupon');
    const r = await readOwnPromotionCode(deps, p, id);
    if (!r) throw noSuch('promotion_code', id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      if (b.active === true && !r.promotionCode.active) await claimCode(p, r.promotionCode.code, { id, coupon: r.coupon.id });
      const cmdId = commandId(scopeOf(p), `POST /v1/promotion_codes/${id}`, idempotencyKeyOf(req));
      const c = await send(req, p, r.coupon.id, { type: 'UpdatePromotionCode', id, ...(b.active !== undefined ? { active: b.active } : {}), ...(b.metadata !== undefined ? { metadata: b.metadata } : {}), now: now() }, cmdId, idem);
      return { status: 200, body: await render(c.promotion_codes!.find((x) => x.id === id)!, c, b.expand) };
    });
  });

  app.get<{ Querystring: ListPromotionCodesQuery }>('/v1/promotion_codes', { schema: { querystring: ListPromotionCodesQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    expandOnly(q.expand, 'data.promotion.coupon');
    const page = await deps.listPromotionCodes({
      merchantId: p.merchant_id,
      livemode: livemodeOf(p),
      limit: q.limit ?? 10,
      ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
      ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
      ...(q.active !== undefined ? { active: q.active } : {}),
      ...(q.code !== undefined ? { code: q.code } : {}),
      ...(q.coupon !== undefined ? { coupon: q.coupon } : {}),
      ...(q.created !== undefined ? { created: typeof q.created === 'number' ? { gte: q.created, lte: q.created } : q.created } : {}),
    });
    const expand = (q.expand ?? []).map((e) => e.slice(5));
    // A code's coupon is never gone (a deleted coupon keeps its snapshot): its current state renders the code.
    const coupons = new Map<string, ReturnType<typeof readOwnCoupon>>();
    for (const x of page.data) if (!coupons.has(x.coupon)) coupons.set(x.coupon, readOwnCoupon(deps, p, x.coupon)); // one read per coupon of the page
    const data = await Promise.all(page.data.map(async (x) => ({ x, coupon: await coupons.get(x.coupon)! })));
    const redeemed = await redemptionsOf(p.merchant_id, page.data.map((x) => x.promotionCode.id), expand.includes('promotion.coupon') ? [...new Set(page.data.map((x) => x.coupon))] : []);
    return listObject('/v1/promotion_codes', await Promise.all(data.flatMap(({ x, coupon }) => (coupon ? [render(x.promotionCode, coupon, expand, redeemed)] : []))), page.hasMore);
  });
}
