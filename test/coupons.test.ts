// Coupons through the official SDK against the real stack: create (percent off, amount off, the
// merchant's own id), retrieve, update, delete, list; a Checkout Session applies one (discounts[][coupon]):
// its totals, its line items' share of the discount, the intent's amount, the hosted page; paying counts
// a redemption (times_redeemed) and max_redemptions then refuses new sessions; what a coupon refuses.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  redirect: 'manual' as const,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

t.test('coupons', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const lines = [
    { price_data: { currency: 'usd', unit_amount: 2500, product_data: { name: 'Poster' } }, quantity: 1 },
    { price_data: { currency: 'usd', unit_amount: 800, product_data: { name: 'Frame' } }, quantity: 1 },
  ];

  t.test('create, retrieve, update, list, delete', async (t) => {
    const c = await stripe.coupons.create({ percent_off: 25, duration: 'once', name: 'Spring', metadata: { a: '1' } });
    t.match(c.id, /^[A-Z0-9]{8}$/);
    t.equal(c.object, 'coupon');
    t.equal(c.percent_off, 25);
    t.equal(c.amount_off, null);
    t.equal(c.valid, true);
    t.equal(c.times_redeemed, 0);
    const own = await stripe.coupons.create({ id: 'TENOFF', amount_off: 1000, currency: 'usd' });
    t.equal(own.id, 'TENOFF');
    t.equal(own.duration, 'once', 'once by default');
    t.equal((await fails(stripe.coupons.create({ id: 'TENOFF', percent_off: 5 })))?.code, 'resource_already_exists');
    t.equal((await stripe.coupons.update(c.id, { name: 'Spring sale', metadata: { b: '2' } })).name, 'Spring sale');
    t.strictSame((await stripe.coupons.retrieve(c.id)).metadata, { a: '1', b: '2' });
    const listed = await eventually(async () => {
      const l = await stripe.coupons.list({ limit: 10 });
      return l.data.length >= 2 ? l : null;
    }, 20_000);
    t.ok(listed.data.some((x) => x.id === 'TENOFF'));
    const bye = await stripe.coupons.create({ percent_off: 1 });
    t.strictSame(await stripe.coupons.del(bye.id), { id: bye.id, object: 'coupon', deleted: true });
    t.equal((await fails(stripe.coupons.update(bye.id, { name: 'x' })))?.statusCode, 404);
    t.equal((await fails(stripe.coupons.create({ percent_off: 150 })))?.param, 'percent_off');
    t.equal((await fails(stripe.coupons.create({ amount_off: 100 })))?.param, 'currency');
    t.equal((await fails(stripe.coupons.create({ name: 'nothing' })))?.param, 'percent_off', 'percent_off or amount_off');
    t.equal((await fails(stripe.coupons.create({ percent_off: 10, duration: 'repeating' })))?.param, 'duration_in_months');
    const other = new Stripe((await stack.onboard()).secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
    t.equal((await fails(other.coupons.retrieve('TENOFF')))?.statusCode, 404, 'another merchant sees none');
    t.equal((await other.coupons.create({ id: 'TENOFF', percent_off: 10 })).id, 'TENOFF', 'and has its own ids');
  });

  t.test('a Checkout Session with a coupon', async (t) => {
    const c = await stripe.coupons.create({ percent_off: 25, max_redemptions: 1 });
    const s = await stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, discounts: [{ coupon: c.id }], expand: ['line_items', 'payment_intent'] });
    t.equal(s.amount_subtotal, 3300);
    t.equal(s.amount_total, 2475, '25% off $33.00');
    t.equal(s.total_details?.amount_discount, 825);
    t.strictSame(s.discounts, [{ coupon: c.id, promotion_code: null }]);
    t.strictSame(s.line_items?.data.map((li) => [li.amount_subtotal, li.amount_discount, li.amount_total]), [[2500, 625, 1875], [800, 200, 600]], 'the discount spread over the lines');
    t.equal((s.payment_intent as Stripe.PaymentIntent).amount, 2475, 'the intent charges what is left');
    const page = await (await fetch(s.url!)).text();
    t.match(page, /Discount/);
    t.match(page, /\$24\.75/);
    const paid = await fetch(s.url!, form({ number: '4242424242424242', exp: '12/34', cvc: '123' }));
    t.equal(paid.status, 303);
    const redeemed = await eventually(async () => {
      const x = await stripe.coupons.retrieve(c.id);
      return x.times_redeemed === 1 ? x : null;
    }, 20_000);
    t.equal(redeemed.valid, false, 'max_redemptions reached');
    const again = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, discounts: [{ coupon: c.id }] }));
    t.equal(again?.param, 'discounts[0][coupon]');
    t.match(again?.message, /maximum number of redemptions/);
  });

  t.test('what a session refuses', async (t) => {
    const create = (extra: Partial<Stripe.Checkout.SessionCreateParams>) => stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, ...extra });
    t.equal((await fails(create({ discounts: [{ coupon: 'NOPE' }] })))?.code, 'resource_missing');
    const eur = await stripe.coupons.create({ amount_off: 500, currency: 'eur' });
    t.match((await fails(create({ discounts: [{ coupon: eur.id }] })))?.message, /currency/);
    const all = await stripe.coupons.create({ percent_off: 100 });
    t.equal((await fails(create({ discounts: [{ coupon: all.id }] })))?.code, 'amount_too_small', 'nothing left to charge');
    t.equal((await fails(create({ discounts: [{ promotion_code: 'promo_000000000000000000000000' }] })))?.code, 'resource_missing');
    const gone = await stripe.coupons.create({ percent_off: 10 });
    await stripe.coupons.del(gone.id);
    t.equal((await fails(create({ discounts: [{ coupon: gone.id }] })))?.code, 'resource_missing', 'a deleted coupon');
    const amount = await stripe.coupons.create({ amount_off: 1000, currency: 'usd' });
    const s = await create({ discounts: [{ coupon: amount.id }] });
    t.equal(s.amount_total, 2300, '$10 off');
  });
  t.test('promotion codes', async (t) => {
    const c = await stripe.coupons.create({ amount_off: 500, currency: 'usd', name: '$5 off' });
    const promo = await stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: c.id }, code: 'Welcome5', max_redemptions: 1, restrictions: { minimum_amount: 2000, minimum_amount_currency: 'usd' }, expand: ['promotion.coupon'] });
    t.match(promo.id, /^promo_[0-9a-f]{24}$/);
    t.equal(promo.code, 'Welcome5');
    t.equal(promo.active, true);
    t.equal((promo.promotion.coupon as Stripe.Coupon).name, '$5 off', 'promotion.coupon expanded');
    t.equal(promo.restrictions.minimum_amount, 2000);
    const made = await stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: c.id } });
    t.match(made.code, /^[A-Z0-9]{8}$/, 'a code is made when none is given');
    const clash = await fails(stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: c.id }, code: 'WELCOME5' }));
    t.equal(clash?.param, 'code', 'codes are unique among active ones, whatever their case');
    t.match(clash?.message, /already exists/);
    const found = await eventually(async () => {
      const l = await stripe.promotionCodes.list({ code: 'welcome5' });
      return l.data.length === 1 ? l : null;
    }, 20_000);
    t.equal(found.data[0]!.id, promo.id, 'listed by code, case-insensitively');
    const small = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: [{ price_data: { currency: 'usd', unit_amount: 1000, product_data: { name: 'x' } }, quantity: 1 }], discounts: [{ promotion_code: promo.id }] }));
    t.match(small?.message, /minimum amount/, 'restrictions.minimum_amount');
    const s = await stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, discounts: [{ promotion_code: promo.id }] });
    t.equal(s.amount_total, 2800);
    t.strictSame(s.discounts, [{ coupon: c.id, promotion_code: promo.id }]);
    t.equal((await fetch(s.url!, form({ number: '4242424242424242', exp: '12/34', cvc: '123' }))).status, 303);
    const used = await eventually(async () => {
      const x = await stripe.promotionCodes.retrieve(promo.id);
      return x.times_redeemed === 1 ? x : null;
    }, 20_000);
    t.equal(used.times_redeemed, 1);
    // Lists count a page's redemptions in one grouped query: each row still gets its own count.
    const listed = await stripe.promotionCodes.list({ coupon: c.id, expand: ['data.promotion.coupon'] });
    t.equal(listed.data.find((x) => x.id === promo.id)?.times_redeemed, 1, 'the redeemed code, in the list');
    t.equal(listed.data.find((x) => x.id === made.id)?.times_redeemed, 0, 'the other code of the same coupon');
    t.equal((listed.data.find((x) => x.id === promo.id)?.promotion.coupon as Stripe.Coupon).times_redeemed, 1, 'the expanded coupon counts it too');
    const coupons = await stripe.coupons.list({ limit: 100 });
    t.equal(coupons.data.find((x) => x.id === c.id)?.times_redeemed, 1, 'coupons list: this coupon redeemed once');
    t.ok(coupons.data.filter((x) => x.id !== c.id).some((x) => x.times_redeemed === 0), 'and the others keep their own counts');
    const spent = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, discounts: [{ promotion_code: promo.id }] }));
    t.match(spent?.message, /maximum number of redemptions/, 'its own max_redemptions');
    const off = await stripe.promotionCodes.update(promo.id, { active: false, metadata: { retired: 'yes' } });
    t.equal(off.active, false);
    const reuse = await stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: c.id }, code: 'WELCOME5' });
    t.equal(reuse.code, 'WELCOME5', 'an inactive code’s text can be taken again');
    const back = await fails(stripe.promotionCodes.update(promo.id, { active: true }));
    t.equal(back?.param, 'code', 'and the old one cannot come back while it is');
    t.equal((await fails(stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: 'NOPE' } })))?.code, 'resource_missing');
    t.equal((await fails(stripe.prices.retrieve(promo.id)))?.statusCode, 404, 'a promotion code’s id is no price');
    t.equal((await fails(stripe.promotionCodes.retrieve(c.id)))?.statusCode, 404, 'nor a coupon’s a promotion code');

    // A session that allows promotion codes: the customer types one on the hosted page.
    const pct = await stripe.coupons.create({ percent_off: 10 });
    const typed = await stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: pct.id }, code: 'TENPCT' });
    const open = await stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, allow_promotion_codes: true });
    t.equal(open.allow_promotion_codes, true);
    t.match(await (await fetch(open.url!)).text(), /Promotion code/, 'the page asks for a code');
    const wrong = await fetch(`${open.url}/code`, form({ code: 'NOSUCH' }));
    t.equal(wrong.status, 400);
    t.match(await wrong.text(), /This code is invalid/);
    const right = await fetch(`${open.url}/code`, form({ code: 'tenpct' }));
    t.equal(right.status, 303, 'a code, whatever its case, is applied');
    t.equal(right.headers.get('location'), open.url);
    const discounted = await stripe.checkout.sessions.retrieve(open.id, { expand: ['payment_intent'] });
    t.equal(discounted.amount_total, 2970, '10% off $33.00');
    t.strictSame(discounted.discounts, [{ coupon: pct.id, promotion_code: typed.id }]);
    t.equal((discounted.payment_intent as Stripe.PaymentIntent).amount, 2970, 'the intent charges the discounted total');
    t.match(await (await fetch(open.url!)).text(), /\$29\.70/);
    t.equal((await fetch(open.url!, form({ number: '4242424242424242', exp: '12/34', cvc: '123' }))).status, 303, 'paid');
    const late = await fetch(`${open.url}/code`, form({ code: 'TENPCT' }));
    t.equal(late.headers.get('location'), 'https://example.com/ok', 'a complete session takes no code: on to success_url');
    t.equal((await stripe.checkout.sessions.retrieve(open.id)).amount_total, 2970, 'nothing changed');
    const both = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: lines, allow_promotion_codes: true, discounts: [{ coupon: pct.id }] }));
    t.equal(both?.param, 'discounts', 'allow_promotion_codes or discounts, not both');
    const other = new Stripe((await stack.onboard()).secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
    t.equal((await fails(other.promotionCodes.retrieve(promo.id)))?.statusCode, 404, 'another merchant sees none');
    t.equal((await other.promotionCodes.create({ promotion: { type: 'coupon', coupon: (await other.coupons.create({ percent_off: 5 })).id }, code: 'WELCOME5' })).code, 'WELCOME5', 'and has its own codes');
  });
});
