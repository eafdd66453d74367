import t from 'tap';
import { spec } from '../testing.ts';
import { couponDecider, couponUnusable, discountOf, promotionCodeUnusable, spreadDiscount, type Coupon, type CouponCommand, type CouponEvent } from './coupon.ts';

const it = spec(couponDecider);

const T0 = 1_700_000_000;

const coupon: Omit<Coupon, 'created' | 'deleted'> = {
  id: 'SPRING25',
  merchant_id: 'acct_1',
  livemode: false,
  name: 'Spring sale',
  percent_off: 25,
  amount_off: null,
  currency: null,
  duration: 'once',
  duration_in_months: null,
  max_redemptions: null,
  redeem_by: null,
  metadata: {},
  created_by: 'cmd_1',
};
const create: CouponCommand = { type: 'Create', coupon, now: T0 };
const created: CouponEvent = { type: 'coupon.created', at: T0, data: { ...coupon, created: T0 } };

t.test('a coupon: percent off or amount off, exactly one', async (t) => {
  it.given(t, []).when(create).then([created]).thenState({ percent_off: 25, created: T0 });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, percent_off: null, amount_off: 500, currency: 'usd' }, now: T0 }).thenState({ amount_off: 500, currency: 'usd' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, percent_off: null }, now: T0 }).thenThrows('parameter_missing', { param: 'percent_off' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, amount_off: 500, currency: 'usd' }, now: T0 }).thenThrows('parameter_missing', { param: 'percent_off' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, percent_off: 120 }, now: T0 }).thenThrows('parameter_invalid', { param: 'percent_off' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, percent_off: null, amount_off: 500 }, now: T0 }).thenThrows('parameter_missing', { param: 'currency' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, duration: 'repeating' }, now: T0 }).thenThrows('parameter_missing', { param: 'duration_in_months' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, redeem_by: T0 - 1 }, now: T0 }).thenThrows('parameter_invalid', { param: 'redeem_by' });
  it.given(t, []).when({ type: 'Create', coupon: { ...coupon, max_redemptions: 0 }, now: T0 }).thenThrows('parameter_invalid', { param: 'max_redemptions' });
});

t.test('the same create twice writes nothing; another with the id is refused', async (t) => {
  it.given(t, [created]).when(create).thenNothing();
  it.given(t, [created]).when({ type: 'Create', coupon: { ...coupon, created_by: 'cmd_2' }, now: T0 }).thenThrows('resource_already_exists', { param: 'id' });
});

t.test('update: name and metadata only; delete; a deleted coupon takes no change', async (t) => {
  it.given(t, [created]).when({ type: 'Update', name: 'Big sale', metadata: { a: '1' }, now: T0 + 1 }).then([{ type: 'coupon.updated', at: T0 + 1, data: { name: 'Big sale', metadata: { a: '1' } } }]);
  it.given(t, [created]).when({ type: 'Update', name: 'Spring sale', now: T0 + 1 }).thenNothing();
  const deleted: CouponEvent = { type: 'coupon.deleted', at: T0 + 2, data: {} };
  it.given(t, [created]).when({ type: 'Delete', now: T0 + 2 }).then([deleted]).thenState({ deleted: true });
  it.given(t, [created, deleted]).when({ type: 'Delete', now: T0 + 3 }).thenNothing();
  it.given(t, [created, deleted]).when({ type: 'Update', name: 'x', now: T0 + 3 }).thenThrows('resource_missing', { status: 404 });
  it.given(t, []).when({ type: 'Delete', now: T0 }).thenThrows('resource_missing', { status: 404 });
});

t.test('usable: not deleted, not past redeem_by, under max_redemptions', async (t) => {
  const c = { ...coupon, created: T0 };
  t.equal(couponUnusable(c, T0, 0), null);
  t.match(couponUnusable({ ...c, deleted: true }, T0, 0), /deleted/);
  t.match(couponUnusable({ ...c, redeem_by: T0 + 10 }, T0 + 10, 0), /expired/);
  t.equal(couponUnusable({ ...c, max_redemptions: 2 }, T0, 1), null);
  t.match(couponUnusable({ ...c, max_redemptions: 2 }, T0, 2), /maximum/);
});

t.test('discounts: percent rounded, amount off capped, other currencies do not apply', async (t) => {
  t.equal(discountOf({ percent_off: 25, amount_off: null, currency: null }, 3300, 'usd'), 825);
  t.equal(discountOf({ percent_off: 33.3, amount_off: null, currency: null }, 1001, 'usd'), 333);
  t.equal(discountOf({ percent_off: null, amount_off: 500, currency: 'usd' }, 3300, 'usd'), 500);
  t.equal(discountOf({ percent_off: null, amount_off: 5000, currency: 'usd' }, 3300, 'usd'), 3300);
  t.equal(discountOf({ percent_off: null, amount_off: 500, currency: 'eur' }, 3300, 'usd'), null);
});

t.test('a discount spread over lines sums to it and never exceeds a line', async (t) => {
  t.strictSame(spreadDiscount([2500, 800], 825), [625, 200]);
  t.strictSame(spreadDiscount([5, 5, 1], 10), [5, 4, 1]);
  for (let n = 0; n < 200; n++) {
    const amounts = Array.from({ length: 1 + (n % 5) }, (_, k) => 1 + ((n * 7919 + k * 104729) % 5000));
    const total = amounts.reduce((a, b) => a + b, 0);
    const d = (n * 31337) % (total + 1);
    const s = spreadDiscount(amounts, d);
    if (s.reduce((a, b) => a + b, 0) !== d || s.some((x, k) => x < 0 || x > amounts[k]!)) t.fail(`spread ${d} over ${amounts}: ${s}`);
  }
  t.pass('200 random spreads hold');
});

t.test('promotion codes: held by their coupon, with limits of their own', async (t) => {
  const promo = { id: 'promo_1', code: 'SPRING', active: true, max_redemptions: null, expires_at: null, minimum_amount: null, minimum_amount_currency: null, metadata: {} };
  const added: CouponEvent = { type: 'promotion_code.created', at: T0 + 1, data: { ...promo, created: T0 + 1 } };
  it.given(t, [created]).when({ type: 'AddPromotionCode', promotionCode: promo, now: T0 + 1 }).then([added]).thenState((s) => s?.promotion_codes?.length === 1);
  it.given(t, [created, added]).when({ type: 'AddPromotionCode', promotionCode: promo, now: T0 + 2 }).thenNothing();
  it.given(t, []).when({ type: 'AddPromotionCode', promotionCode: promo, now: T0 }).thenThrows('resource_missing', { status: 404 });
  it.given(t, [created, { type: 'coupon.deleted', at: T0 + 1, data: {} }]).when({ type: 'AddPromotionCode', promotionCode: promo, now: T0 + 2 }).thenThrows('resource_missing', { param: 'promotion[coupon]', status: 400 });
  it.given(t, [created]).when({ type: 'AddPromotionCode', promotionCode: { ...promo, expires_at: T0 }, now: T0 + 1 }).thenThrows('parameter_invalid', { param: 'expires_at' });
  it.given(t, [created]).when({ type: 'AddPromotionCode', promotionCode: { ...promo, minimum_amount: 1000 }, now: T0 + 1 }).thenThrows('parameter_missing', { param: 'restrictions[minimum_amount_currency]' });
  it.given(t, [{ ...created, data: { ...(created.data as Coupon), redeem_by: T0 + 100 } } as CouponEvent])
    .when({ type: 'AddPromotionCode', promotionCode: { ...promo, expires_at: T0 + 200 }, now: T0 + 1 })
    .thenThrows('parameter_invalid', { param: 'expires_at' });
  it.given(t, [created, added])
    .when({ type: 'UpdatePromotionCode', id: 'promo_1', active: false, metadata: { a: '1' }, now: T0 + 3 })
    .then([{ type: 'promotion_code.updated', at: T0 + 3, data: { id: 'promo_1', active: false, metadata: { a: '1' } } }])
    .thenState((s) => s?.promotion_codes?.[0]?.active === false);
  it.given(t, [created, added]).when({ type: 'UpdatePromotionCode', id: 'promo_1', active: true, now: T0 + 3 }).thenNothing();
  it.given(t, [created]).when({ type: 'UpdatePromotionCode', id: 'promo_9', active: false, now: T0 + 3 }).thenThrows('resource_missing', { status: 404 });
  const p = { ...promo, created: T0 };
  t.equal(promotionCodeUnusable(p, T0, 0, 1000, 'usd'), null);
  t.match(promotionCodeUnusable({ ...p, active: false }, T0, 0, 1000, 'usd'), /not active/);
  t.match(promotionCodeUnusable({ ...p, expires_at: T0 }, T0, 0, 1000, 'usd'), /expired/);
  t.match(promotionCodeUnusable({ ...p, max_redemptions: 1 }, T0, 1, 1000, 'usd'), /maximum/);
  t.match(promotionCodeUnusable({ ...p, minimum_amount: 2000, minimum_amount_currency: 'usd' }, T0, 0, 1999, 'usd'), /minimum/);
  t.equal(promotionCodeUnusable({ ...p, minimum_amount: 2000, minimum_amount_currency: 'usd' }, T0, 0, 2000, 'usd'), null);
  t.match(promotionCodeUnusable({ ...p, minimum_amount: 2000, minimum_amount_currency: 'eur' }, T0, 0, 5000, 'usd'), /minimum/);
});
