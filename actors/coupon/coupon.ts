// The coupon aggregate: Stripe's Coupon, a discount a Checkout Session applies (`discounts[][coupon]`):
// a percentage off, or an amount off in one currency; and the promotion codes customers type for it
// (`discounts[][promotion_code]`), which belong to their coupon for life, so the coupon is their single writer. Its amount and kind never change once made (as
// at Stripe: only its name and metadata do); it can be deleted, after which no new session takes it.
// How often it was redeemed is counted from the sessions that completed with it (the read model), not
// kept here. Pure: ids, the mode and `now` ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';

export type CouponDuration = 'once' | 'repeating' | 'forever';

export interface Coupon {
  id: string;
  merchant_id: string;
  livemode: boolean;
  name: string | null;
  /** Exactly one of percent_off (0 < p ≤ 100) and amount_off (minor units of `currency`). */
  percent_off: number | null;
  amount_off: number | null;
  currency: string | null;
  /** Kept and shown: a one-time payment takes a coupon once whatever its duration. */
  duration: CouponDuration;
  duration_in_months: number | null;
  max_redemptions: number | null;
  /** Unix seconds after which no new session takes it. */
  redeem_by: number | null;
  metadata: Record<string, string>;
  created: number;
  /** The command that created it: a merchant's second create with the same id is refused, a repeat of the first is not. */
  created_by: string;
  deleted?: true;
  /** Its promotion codes, oldest first (at most MAX_PROMOTION_CODES). */
  promotion_codes?: PromotionCode[];
}

export type CouponState = Coupon | null;

/** Stripe's PromotionCode: a code customers type for its coupon, with limits of its own. */
export interface PromotionCode {
  id: string; // promo_…
  /** As the merchant gave it; unique per merchant and mode among active codes, case-insensitively (the gateway keeps the index). */
  code: string;
  active: boolean;
  max_redemptions: number | null;
  expires_at: number | null;
  /** Stripe's restrictions.minimum_amount: the session's subtotal must reach it (in its currency). */
  minimum_amount: number | null;
  minimum_amount_currency: string | null;
  metadata: Record<string, string>;
  created: number;
}

export const MAX_PROMOTION_CODES = 100;

export type CouponCommand =
  | { type: 'Create'; coupon: Omit<Coupon, 'created' | 'deleted'>; now: number }
  | { type: 'Update'; name?: string | null; metadata?: MetadataPatch; now: number }
  | { type: 'Delete'; now: number }
  | { type: 'AddPromotionCode'; promotionCode: Omit<PromotionCode, 'created'>; now: number }
  | { type: 'UpdatePromotionCode'; id: string; active?: boolean; metadata?: MetadataPatch; now: number };

export type CouponEvent =
  | { type: 'coupon.created'; at: number; data: Omit<Coupon, 'deleted'> }
  | { type: 'coupon.updated'; at: number; data: { name?: string | null; metadata?: Record<string, string> } }
  | { type: 'coupon.deleted'; at: number; data: Record<string, never> }
  | { type: 'promotion_code.created'; at: number; data: PromotionCode }
  | { type: 'promotion_code.updated'; at: number; data: { id: string; active?: boolean; metadata?: Record<string, string> } };

export type CouponEventType = CouponEvent['type'];

const gone = () => new DomainError('resource_missing', 'No such coupon.', 'id', 404);

function decide(cmd: CouponCommand, s: CouponState): CouponEvent[] {
  switch (cmd.type) {
    case 'Create': {
      const c = cmd.coupon;
      if (s !== null) {
        if (s.created_by === c.created_by) return []; // the same create delivered twice writes nothing
        throw new DomainError('resource_already_exists', 'Coupon already exists.', 'id');
      }
      if ((c.percent_off === null) === (c.amount_off === null)) throw new DomainError('parameter_missing', 'You must pass exactly one of percent_off or amount_off.', 'percent_off');
      if (c.percent_off !== null && !(c.percent_off > 0 && c.percent_off <= 100)) throw new DomainError('parameter_invalid', 'percent_off must be greater than 0 and at most 100.', 'percent_off');
      if (c.amount_off !== null && (!Number.isInteger(c.amount_off) || c.amount_off <= 0)) throw new DomainError('parameter_invalid', 'amount_off must be a positive integer.', 'amount_off');
      if (c.amount_off !== null && c.currency === null) throw new DomainError('parameter_missing', 'You must pass currency when passing amount_off.', 'currency');
      if (c.duration === 'repeating' && c.duration_in_months === null) throw new DomainError('parameter_missing', 'You must pass duration_in_months when duration is repeating.', 'duration_in_months');
      if (c.max_redemptions !== null && c.max_redemptions < 1) throw new DomainError('parameter_invalid', 'max_redemptions must be at least 1.', 'max_redemptions');
      if (c.redeem_by !== null && c.redeem_by <= cmd.now) throw new DomainError('parameter_invalid', 'redeem_by must be in the future.', 'redeem_by');
      checkMetadata(c.metadata);
      return [{ type: 'coupon.created', at: cmd.now, data: { ...c, created: cmd.now } }];
    }
    case 'Update': {
      if (s === null || s.deleted) throw gone();
      const data: Extract<CouponEvent, { type: 'coupon.updated' }>['data'] = {};
      if (cmd.name !== undefined && cmd.name !== s.name) data.name = cmd.name;
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(s.metadata, cmd.metadata);
        if (JSON.stringify(metadata) !== JSON.stringify(s.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      return Object.keys(data).length === 0 ? [] : [{ type: 'coupon.updated', at: cmd.now, data }];
    }
    case 'Delete':
      if (s === null) throw gone();
      return s.deleted ? [] : [{ type: 'coupon.deleted', at: cmd.now, data: {} }];
    case 'AddPromotionCode': {
      if (s === null || s.deleted) throw new DomainError('resource_missing', 'No such coupon.', 'promotion[coupon]', s === null ? 404 : 400);
      const codes = s.promotion_codes ?? [];
      if (codes.some((p) => p.id === cmd.promotionCode.id)) return [];
      if (codes.length >= MAX_PROMOTION_CODES) throw new DomainError('parameter_invalid', `A coupon can have at most ${MAX_PROMOTION_CODES} promotion codes here.`, 'promotion[coupon]');
      const p = cmd.promotionCode;
      if (p.max_redemptions !== null && p.max_redemptions < 1) throw new DomainError('parameter_invalid', 'max_redemptions must be at least 1.', 'max_redemptions');
      if (p.expires_at !== null && p.expires_at <= cmd.now) throw new DomainError('parameter_invalid', 'expires_at must be in the future.', 'expires_at');
      if (s.redeem_by !== null && p.expires_at !== null && p.expires_at > s.redeem_by) throw new DomainError('parameter_invalid', "A promotion code cannot expire after its coupon's redeem_by.", 'expires_at');
      if (p.minimum_amount !== null && p.minimum_amount_currency === null) throw new DomainError('parameter_missing', 'You must pass restrictions[minimum_amount_currency] with restrictions[minimum_amount].', 'restrictions[minimum_amount_currency]');
      checkMetadata(p.metadata);
      return [{ type: 'promotion_code.created', at: cmd.now, data: { ...p, created: cmd.now } }];
    }
    case 'UpdatePromotionCode': {
      if (s === null) throw gone();
      const p = (s.promotion_codes ?? []).find((x) => x.id === cmd.id);
      if (!p) throw new DomainError('resource_missing', `No such promotion code: '${cmd.id}'`, 'id', 404);
      const data: Extract<CouponEvent, { type: 'promotion_code.updated' }>['data'] = { id: p.id };
      if (cmd.active !== undefined && cmd.active !== p.active) data.active = cmd.active;
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(p.metadata, cmd.metadata);
        if (JSON.stringify(metadata) !== JSON.stringify(p.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      return Object.keys(data).length === 1 ? [] : [{ type: 'promotion_code.updated', at: cmd.now, data }];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(s: CouponState, e: CouponEvent): CouponState {
  switch (e.type) {
    case 'coupon.created':
      return { ...e.data, metadata: { ...e.data.metadata } };
    case 'coupon.updated':
      return s && { ...s, ...e.data };
    case 'coupon.deleted':
      return s && { ...s, deleted: true };
    case 'promotion_code.created':
      return s && { ...s, promotion_codes: [...(s.promotion_codes ?? []), { ...e.data, metadata: { ...e.data.metadata } }] };
    case 'promotion_code.updated': {
      if (s === null) return s;
      const { id, ...changes } = e.data;
      return { ...s, promotion_codes: (s.promotion_codes ?? []).map((p) => (p.id === id ? { ...p, ...changes } : p)) };
    }
    default:
      return assertNever(e);
  }
}

export const couponDecider: Decider<CouponCommand, CouponEvent, CouponState> = {
  initialState: null,
  decide,
  evolve,
};

/** Why a coupon cannot be applied now (redeemed: how many completed sessions took it), or null when it can. */
export function couponUnusable(c: Coupon, now: number, redeemed: number): string | null {
  if (c.deleted) return 'This coupon has been deleted.';
  if (c.redeem_by !== null && now >= c.redeem_by) return 'This coupon has expired.';
  if (c.max_redemptions !== null && redeemed >= c.max_redemptions) return 'This coupon has reached its maximum number of redemptions.';
  return null;
}

/** Why a promotion code cannot be applied now to a subtotal (redeemed: completed sessions that took it), or null when it can. */
export function promotionCodeUnusable(p: PromotionCode, now: number, redeemed: number, subtotal: number, currency: string): string | null {
  if (!p.active) return 'This promotion code is not active.';
  if (p.expires_at !== null && now >= p.expires_at) return 'This promotion code has expired.';
  if (p.max_redemptions !== null && redeemed >= p.max_redemptions) return 'This promotion code has reached its maximum number of redemptions.';
  if (p.minimum_amount !== null && (p.minimum_amount_currency !== currency || subtotal < p.minimum_amount)) return 'This promotion code cannot be applied: the order does not reach its minimum amount.';
  return null;
}

/**
 * The discount a coupon gives on `subtotal` (minor units of `currency`): a percentage rounded to the
 * nearest minor unit, or the amount off, never more than the subtotal. An amount off in another
 * currency does not apply (null).
 */
export function discountOf(c: Pick<Coupon, 'percent_off' | 'amount_off' | 'currency'>, subtotal: number, currency: string): number | null {
  if (c.percent_off !== null) return Math.min(subtotal, Math.round((subtotal * c.percent_off) / 100));
  if (c.currency !== currency) return null;
  return Math.min(subtotal, c.amount_off ?? 0);
}

/**
 * A discount spread over line items in proportion to their amounts, in whole minor units that sum to
 * it (largest remainders first), none more than its line's amount.
 */
export function spreadDiscount(amounts: readonly number[], discount: number): number[] {
  const total = amounts.reduce((a, b) => a + b, 0);
  if (total === 0) return amounts.map(() => 0);
  const exact = amounts.map((a) => (a * discount) / total);
  const shares = exact.map(Math.floor);
  let left = discount - shares.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, n) => [x - Math.floor(x), n] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, n] of byRemainder) {
    if (left <= 0) break;
    shares[n]! += 1;
    left -= 1;
  }
  return shares;
}
