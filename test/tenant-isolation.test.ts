// Tenant isolation: merchant A makes one of everything (test and live); every authenticated route
// the gateway registers (read from its own /openapi.json, so a new route is covered the day it is
// added, and fails this test until it has a probe below) is then tried with A's ids and
// - merchant B's keys (secret, publishable, an all-permissions restricted key; test and live),
// - A's own keys of the other mode (test objects with live keys, live objects with test keys),
// and must answer 401, 403 or 404, never A's data. Lists and creates that take A's ids as
// filters or references must not show or touch A's objects either.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

type Onboarded = Awaited<ReturnType<Awaited<ReturnType<typeof startStack>>['onboard']>> & {
  live_secret_key: string;
  live_publishable_key: string;
};

interface Ids {
  merchant: string;
  payment_intent: string;
  charge: string;
  refund: string;
  customer: string;
  payment_method: string;
  setup_intent: string;
  event: string;
  webhook_endpoint: string;
  token: string;
  checkout_session: string;
  product: string;
  price: string;
  payment_link: string;
  coupon: string;
  promotion_code: string;
  dispute: string;
  early_fraud_warning: string;
  email: string;
}

interface Probe {
  /** Path params by name. */
  params?: (ids: Ids) => Record<string, string>;
  query?: (ids: Ids) => Record<string, string>;
  body?: (ids: Ids) => Record<string, unknown>;
  /**
   * 'object': the route addresses one of A's objects → only 401/403/404.
   * 'reference': it takes A's ids as references (creates) → 401/403/404 (or Stripe's 400 resource_missing).
   * 'list': 2xx allowed, but with none of A's objects in it.
   */
  kind: 'object' | 'reference' | 'list';
  /** With A's own key of the other mode the route is simply A's own call (it names A's merchant, not an object). */
  ownMerchantOk?: boolean;
}

/** One probe per authenticated route; the test fails for a route without one. */
const PROBES: Record<string, Probe> = {
  'get /v1/payment_intents': { kind: 'list', query: (i) => ({ customer: i.customer }) },
  'post /v1/payment_intents': { kind: 'reference', body: (i) => ({ amount: 1000, currency: 'usd', customer: i.customer, payment_method: i.payment_method }) },
  'get /v1/payment_intents/{id}': { kind: 'object', params: (i) => ({ id: i.payment_intent }) },
  'post /v1/payment_intents/{id}': { kind: 'object', params: (i) => ({ id: i.payment_intent }), body: () => ({ metadata: { x: '1' } }) },
  'post /v1/payment_intents/{id}/confirm': { kind: 'object', params: (i) => ({ id: i.payment_intent }), body: () => ({ payment_method: 'pm_card_visa' }) },
  'post /v1/payment_intents/{id}/capture': { kind: 'object', params: (i) => ({ id: i.payment_intent }), body: () => ({}) },
  'post /v1/payment_intents/{id}/cancel': { kind: 'object', params: (i) => ({ id: i.payment_intent }), body: () => ({}) },
  'get /v1/charges': { kind: 'list', query: (i) => ({ payment_intent: i.payment_intent }) },
  'post /v1/charges': { kind: 'reference', body: (i) => ({ amount: 1000, currency: 'usd', customer: i.customer }) },
  'post /v1/charges/{id}/capture': { kind: 'object', params: (i) => ({ id: i.charge }), body: () => ({}) },
  'get /v1/charges/{id}': { kind: 'object', params: (i) => ({ id: i.charge }) },
  'post /v1/charges/{id}': { kind: 'object', params: (i) => ({ id: i.charge }), body: () => ({ metadata: { x: '1' } }) },
  'get /v1/charges/{id}/refunds': { kind: 'object', params: (i) => ({ id: i.charge }) },
  'get /v1/refunds': { kind: 'list', query: (i) => ({ payment_intent: i.payment_intent }) },
  'post /v1/refunds': { kind: 'reference', body: (i) => ({ payment_intent: i.payment_intent, amount: 100 }) },
  'get /v1/refunds/{id}': { kind: 'object', params: (i) => ({ id: i.refund }) },
  'post /v1/refunds/{id}': { kind: 'object', params: (i) => ({ id: i.refund }), body: () => ({ metadata: { x: '1' } }) },
  'get /v1/customers': { kind: 'list', query: (i) => ({ email: i.email }) },
  'get /v1/account': { kind: 'list', ownMerchantOk: true },
  'get /v1/accounts/{id}': { kind: 'object', params: (i) => ({ id: i.merchant }), ownMerchantOk: true },
  'get /v1/customers/search': { kind: 'list', query: (i) => ({ query: `email:'${i.email}'` }) },
  'get /v1/payment_intents/search': { kind: 'list', query: (i) => ({ query: `customer:'${i.customer}'` }) },
  'get /v1/charges/search': { kind: 'list', query: (i) => ({ query: `payment_intent:'${i.payment_intent}'` }) },
  'post /v1/customers': { kind: 'list', body: () => ({ email: 'mallory@example.com' }) },
  'get /v1/customers/{id}': { kind: 'object', params: (i) => ({ id: i.customer }) },
  'post /v1/customers/{id}': { kind: 'object', params: (i) => ({ id: i.customer }), body: () => ({ name: 'Mallory' }) },
  'delete /v1/customers/{id}': { kind: 'object', params: (i) => ({ id: i.customer }) },
  'post /v1/payment_methods': { kind: 'list', body: () => ({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } }) },
  'get /v1/payment_methods/{id}': { kind: 'object', params: (i) => ({ id: i.payment_method }) },
  'post /v1/payment_methods/{id}': { kind: 'object', params: (i) => ({ id: i.payment_method }), body: () => ({ metadata: { x: '1' } }) },
  'get /v1/payment_methods': { kind: 'object', query: (i) => ({ customer: i.customer }) },
  'post /v1/payment_methods/{id}/attach': { kind: 'reference', params: (i) => ({ id: i.payment_method }), body: (i) => ({ customer: i.customer }) },
  'post /v1/payment_methods/{id}/detach': { kind: 'object', params: (i) => ({ id: i.payment_method }), body: () => ({}) },
  'get /v1/customers/{id}/payment_methods': { kind: 'object', params: (i) => ({ id: i.customer }) },
  'get /v1/customers/{id}/payment_methods/{payment_method}': { kind: 'object', params: (i) => ({ id: i.customer, payment_method: i.payment_method }) },
  'get /v1/setup_intents': { kind: 'list', query: (i) => ({ customer: i.customer }) },
  'post /v1/setup_intents': { kind: 'reference', body: (i) => ({ customer: i.customer, payment_method: i.payment_method }) },
  'get /v1/setup_intents/{id}': { kind: 'object', params: (i) => ({ id: i.setup_intent }) },
  'post /v1/setup_intents/{id}': { kind: 'object', params: (i) => ({ id: i.setup_intent }), body: () => ({ metadata: { x: '1' } }) },
  'post /v1/setup_intents/{id}/confirm': { kind: 'object', params: (i) => ({ id: i.setup_intent }), body: () => ({ payment_method: 'pm_card_visa' }) },
  'post /v1/setup_intents/{id}/cancel': { kind: 'object', params: (i) => ({ id: i.setup_intent }), body: () => ({}) },
  'get /v1/setup_attempts': { kind: 'object', query: (i) => ({ setup_intent: i.setup_intent }) },
  'get /v1/balance': { kind: 'list', ownMerchantOk: true },
  'get /v1/balance_transactions': { kind: 'list', query: (i) => ({ source: i.charge }) },
  'get /v1/balance_transactions/{id}': { kind: 'object', params: (i) => ({ id: `txn_${i.charge.replace('_', '')}` }) },
  'get /v1/radar/early_fraud_warnings': { kind: 'list', query: (i) => ({ payment_intent: i.payment_intent }) },
  'get /v1/radar/early_fraud_warnings/{id}': { kind: 'object', params: (i) => ({ id: i.early_fraud_warning }) },
  'get /v1/disputes': { kind: 'list', query: (i) => ({ payment_intent: i.payment_intent }) },
  'get /v1/disputes/{id}': { kind: 'object', params: (i) => ({ id: i.dispute }) },
  'post /v1/disputes/{id}': { kind: 'object', params: (i) => ({ id: i.dispute }), body: () => ({ metadata: { x: '1' } }) },
  'post /v1/disputes/{id}/close': { kind: 'object', params: (i) => ({ id: i.dispute }), body: () => ({}) },
  'post /v1/refunds/{id}/cancel': { kind: 'object', params: (i) => ({ id: i.refund }), body: () => ({}) },
  'get /v1/events': { kind: 'list', query: () => ({ limit: '100' }) },
  'get /v1/events/{id}': { kind: 'object', params: (i) => ({ id: i.event }) },
  'post /v1/events/{id}/retry': { kind: 'object', params: (i) => ({ id: i.event }), body: (i) => ({ webhook_endpoint: i.webhook_endpoint }) },
  'get /v1/webhook_endpoints': { kind: 'list', query: () => ({ limit: '100' }) },
  'post /v1/webhook_endpoints': { kind: 'list', body: () => ({ url: 'https://203.0.113.10/hook', enabled_events: ['*'] }) },
  'get /v1/webhook_endpoints/{id}': { kind: 'object', params: (i) => ({ id: i.webhook_endpoint }) },
  'post /v1/webhook_endpoints/{id}': { kind: 'object', params: (i) => ({ id: i.webhook_endpoint }), body: () => ({ description: 'taken over' }) },
  'delete /v1/webhook_endpoints/{id}': { kind: 'object', params: (i) => ({ id: i.webhook_endpoint }) },
  'post /v1/webhook_endpoints/{id}/roll_secret': { kind: 'object', params: (i) => ({ id: i.webhook_endpoint }), body: () => ({ expires_in: 60 }) },
  'post /v1/tokens': { kind: 'list', body: () => ({ card: { number: '4242424242424242', exp_month: 12, exp_year: 2040 } }) },
  'get /v1/tokens/{id}': { kind: 'object', params: (i) => ({ id: i.token }) },
  'get /v1/checkout/sessions': { kind: 'list', query: (i) => ({ payment_intent: i.payment_intent }) },
  'post /v1/checkout/sessions': {
    kind: 'reference',
    body: (i) => ({ mode: 'payment', customer: i.customer, success_url: 'https://203.0.113.10/ok', line_items: [{ price_data: { currency: 'usd', unit_amount: 1000, product_data: { name: 'x' } }, quantity: 1 }] }),
  },
  'get /v1/checkout/sessions/{id}': { kind: 'object', params: (i) => ({ id: i.checkout_session }) },
  'get /v1/checkout/sessions/{id}/line_items': { kind: 'object', params: (i) => ({ id: i.checkout_session }) },
  'post /v1/checkout/sessions/{id}/expire': { kind: 'object', params: (i) => ({ id: i.checkout_session }), body: () => ({}) },
  'get /v1/products': { kind: 'list', query: (i) => ({ 'ids[0]': i.product }) },
  'post /v1/products': { kind: 'list', body: () => ({ name: 'Mallory product' }) },
  'get /v1/products/{id}': { kind: 'object', params: (i) => ({ id: i.product }) },
  'post /v1/products/{id}': { kind: 'object', params: (i) => ({ id: i.product }), body: () => ({ name: 'taken over' }) },
  'delete /v1/products/{id}': { kind: 'object', params: (i) => ({ id: i.product }) },
  'get /v1/prices': { kind: 'list', query: (i) => ({ product: i.product }) },
  'get /v1/products/search': { kind: 'list', query: () => ({ query: "name:'A product'" }) },
  'get /v1/prices/search': { kind: 'list', query: (i) => ({ query: `product:'${i.product}'` }) },
  'post /v1/prices': { kind: 'reference', body: (i) => ({ product: i.product, currency: 'usd', unit_amount: 100 }) },
  'get /v1/prices/{id}': { kind: 'object', params: (i) => ({ id: i.price }) },
  'post /v1/prices/{id}': { kind: 'object', params: (i) => ({ id: i.price }), body: () => ({ nickname: 'taken over' }) },
  'get /v1/payment_links': { kind: 'list', query: () => ({ active: 'true' }) },
  'post /v1/payment_links': { kind: 'reference', body: (i) => ({ line_items: [{ price: i.price, quantity: 1 }] }) },
  'get /v1/payment_links/{id}': { kind: 'object', params: (i) => ({ id: i.payment_link }) },
  'post /v1/payment_links/{id}': { kind: 'object', params: (i) => ({ id: i.payment_link }), body: () => ({ active: 'false' }) },
  'get /v1/payment_links/{id}/line_items': { kind: 'object', params: (i) => ({ id: i.payment_link }) },
  'get /v1/coupons': { kind: 'list', query: () => ({ limit: '100' }) },
  'post /v1/coupons': { kind: 'list', body: () => ({ percent_off: '5' }) },
  'get /v1/coupons/{id}': { kind: 'object', params: (i) => ({ id: i.coupon }) },
  'post /v1/coupons/{id}': { kind: 'object', params: (i) => ({ id: i.coupon }), body: () => ({ name: 'taken over' }) },
  'delete /v1/coupons/{id}': { kind: 'object', params: (i) => ({ id: i.coupon }) },
  'get /v1/promotion_codes': { kind: 'list', query: (i) => ({ coupon: i.coupon }) },
  'post /v1/promotion_codes': { kind: 'reference', body: (i) => ({ promotion: { type: 'coupon', coupon: i.coupon } }) },
  'get /v1/promotion_codes/{id}': { kind: 'object', params: (i) => ({ id: i.promotion_code }) },
  'post /v1/promotion_codes/{id}': { kind: 'object', params: (i) => ({ id: i.promotion_code }), body: () => ({ active: 'false' }) },
  'post /stripe/intend': { kind: 'reference', ownMerchantOk: true, body: (i) => ({ merchant_id: i.merchant, user_email: 'a@b.co', product_id: 'sku_1', amount: 4999, currency: 'inr' }) },
};

/** Routes that are not merchant data (our public JWE keys). */
const PUBLIC = new Set(['get /v1/encryption_keys']);

t.test('every authenticated route refuses other tenants and the other mode', async (t) => {
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${stack.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as { secret: string };
  };
  const a = (await stack.onboard({ name: 'Merchant A' })) as Onboarded;
  const b = (await stack.onboard({ name: 'Merchant B' })) as Onboarded;
  const allPerms = { payment_intents: 'write', charges: 'write', refunds: 'write', customers: 'write', payment_methods: 'write', setup_intents: 'write', events: 'write', webhook_endpoints: 'write', balance: 'read', tokens: 'write', checkout_sessions: 'write', products: 'write', prices: 'write', payment_links: 'write', coupons: 'write', promotion_codes: 'write', disputes: 'write', radar_early_fraud_warnings: 'read' };
  const bRk = (await admin(`/admin/merchants/${b.merchant_id}/keys`, { permissions: allPerms })).secret;
  const bRkLive = (await admin(`/admin/merchants/${b.merchant_id}/keys`, { mode: 'live', permissions: allPerms })).secret;

  // A's objects, in test mode (with A's test key) and in live mode (with A's live key).
  async function make(key: string, live: boolean): Promise<Ids> {
    const s = sdk(key);
    const email = `${live ? 'live' : 'test'}.${a.merchant_id}@example.com`;
    const customer = await s.customers.create({ email, name: 'Alice' });
    const pm = await s.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } });
    const we = await s.webhookEndpoints.create({ url: `https://203.0.113.10/${live ? 'live' : 'test'}`, enabled_events: ['*'] });
    const si = await s.setupIntents.create({ customer: customer.id, metadata: { owner: 'A' } });
    const token = await s.tokens.create({ card: { number: '4242424242424242', exp_month: '12', exp_year: '2040', cvc: '123' } });
    const cs = await s.checkout.sessions.create({ mode: 'payment', customer: customer.id, success_url: 'https://203.0.113.10/ok', line_items: [{ price_data: { currency: 'usd', unit_amount: 1200, product_data: { name: 'A thing' } }, quantity: 1 }] });
    const product = await s.products.create({ name: 'A product', default_price_data: { currency: 'usd', unit_amount: 700 } });
    const coupon = await s.coupons.create({ percent_off: 10, name: `A ${live ? 'live' : 'test'}` });
    const promo = await s.promotionCodes.create({ promotion: { type: 'coupon', coupon: coupon.id } });
    const link = await s.paymentLinks.create({ line_items: [{ price: product.default_price as string, quantity: 1 }] });
    let pi: Stripe.PaymentIntent;
    if (!live) {
      pi = await s.paymentIntents.create({ amount: 4242, currency: 'usd', customer: customer.id, payment_method: pm.id, confirm: true });
    } else {
      // No live card network here: a live intent that stays unconfirmed still has an id to probe.
      pi = await s.paymentIntents.create({ amount: 4343, currency: 'usd', customer: customer.id });
    }
    const charge = (pi.latest_charge as string | null) ?? `ch_${'0'.repeat(24)}`;
    const refund = live ? `re_${'0'.repeat(24)}` : (await s.refunds.create({ payment_intent: pi.id, amount: 100 })).id;
    // A disputed charge (the network files the chargeback; the reconcile role opens the dispute).
    const dispute = live
      ? `dp_${'0'.repeat(24)}`
      : await (async () => {
          const dpi = await s.paymentIntents.create({ amount: 999, currency: 'usd', payment_method: 'pm_card_createDispute', confirm: true });
          return eventually(async () => (await s.disputes.list({ payment_intent: dpi.id })).data[0]?.id, 20_000, 100);
        })();
    const earlyFraudWarning = live
      ? `issfr_${'0'.repeat(24)}`
      : await (async () => {
          const wpi = await s.paymentIntents.create({ amount: 888, currency: 'usd', payment_method: 'pm_card_createIssuerFraudRecord', confirm: true });
          return eventually(async () => (await s.radar.earlyFraudWarnings.list({ payment_intent: wpi.id })).data[0]?.id, 20_000, 100);
        })();
    const event = live ? `evt_${'0'.repeat(24)}` : await eventually(async () => (await s.events.list({ limit: 1 })).data[0]?.id, 20_000, 200);
    return { merchant: a.merchant_id, payment_intent: pi.id, charge, refund, customer: customer.id, payment_method: pm.id, setup_intent: si.id, event, webhook_endpoint: we.id, token: token.id, checkout_session: cs.id, product: product.id, price: product.default_price as string, payment_link: link.id, coupon: coupon.id, promotion_code: promo.id, dispute, early_fraud_warning: earlyFraudWarning, email };
  }
  // A's live key may send a raw card number only if A is PCI-validated (gateway/jwe.ts).
  await admin(`/admin/merchants/${a.merchant_id}/security`, { pci_validated: true });
  const aTest = await make(a.secret_key, false);
  const aLive = await make(a.live_secret_key, true);
  const real = (ids: Ids) => Object.values(ids).filter((v) => !/_0{24}$/.test(v) && v !== a.merchant_id);

  const doc = (await (await fetch(`${stack.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(doc.paths)
    .filter(([p]) => p.startsWith('/v1/') || p.startsWith('/stripe/'))
    .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
    .filter((r) => !PUBLIC.has(r));
  t.ok(routes.length >= 25, `${routes.length} authenticated routes found in the route table`);
  const missing = routes.filter((r) => !PROBES[r]);
  t.same(missing, [], 'every authenticated route has a probe (add one for a new route)');

  const attackers: { who: string; key: string; target: Ids; own?: boolean }[] = [
    { who: 'B test secret → A test', key: b.secret_key, target: aTest },
    { who: 'B test publishable → A test', key: b.publishable_key, target: aTest },
    { who: 'B test restricted (all) → A test', key: bRk, target: aTest },
    { who: 'B live secret → A test', key: b.live_secret_key, target: aTest },
    { who: 'B live secret → A live', key: b.live_secret_key, target: aLive },
    { who: 'B live publishable → A live', key: b.live_publishable_key, target: aLive },
    { who: 'B live restricted (all) → A live', key: bRkLive, target: aLive },
    { who: 'A live secret → A test', key: a.live_secret_key, target: aTest, own: true },
    { who: 'A test secret → A live', key: a.secret_key, target: aLive, own: true },
  ];

  let tries = 0;
  const leaks: string[] = [];
  for (const route of routes) {
    const probe = PROBES[route];
    if (!probe) continue;
    const [method, template] = route.split(' ') as [string, string];
    for (const at of attackers) {
      const params = probe.params?.(at.target) ?? {};
      const path = template.replace(/\{(\w+)\}/g, (_m, n: string) => encodeURIComponent(params[n] ?? 'missing'));
      const qs = probe.query ? `?${new URLSearchParams(probe.query(at.target)).toString()}` : '';
      const body = probe.body?.(at.target);
      const res = await fetch(`${stack.url}${path}${qs}`, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${at.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      tries++;
      const denied = res.status === 401 || res.status === 403 || res.status === 404;
      const refused = denied || (probe.kind === 'reference' && res.status === 400 && /resource_missing|merchant_mismatch/.test(text));
      // The answer may echo the ids it was given; it must carry none of the target's other data (and
      // for another merchant, none of A's data in either mode; A's own key may of course see its own mode).
      // Every string the request carried (a coupon's id has no prefix_ to spot it by).
      const leaves = (v: unknown): string[] => (typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(leaves) : []);
      const given = new Set([...Object.values(params), ...Object.values(probe.query?.(at.target) ?? {}), ...leaves(body ?? {})]);
      const secrets = at.own ? real(at.target) : [...real(aTest), ...real(aLive)];
      const leaked = secrets.filter((s) => !given.has(s) && text.includes(s));
      if (probe.kind === 'list' || (at.own && probe.ownMerchantOk)) {
        if (res.status >= 500) leaks.push(`${route} [${at.who}] → ${res.status}`);
        if (leaked.length) leaks.push(`${route} [${at.who}] → ${res.status} shows ${leaked.join(', ')}`);
      } else if (!refused || leaked.length) {
        leaks.push(`${route} [${at.who}] → ${res.status} ${text.slice(0, 160)}`);
      }
    }
  }
  t.same(leaks, [], `${tries} cross-tenant / cross-mode requests: none answered with A's data`);

  // A's objects are untouched by all of that.
  const s = sdk(a.secret_key);
  const pi = await s.paymentIntents.retrieve(aTest.payment_intent);
  t.equal(pi.status, 'succeeded');
  t.same(pi.metadata, {}, 'no update from another tenant landed');
  t.same((await s.charges.retrieve(aTest.charge)).metadata, {}, 'nor on its charge');
  t.equal(pi.amount_received, 4242);
  t.equal((await s.refunds.list({ payment_intent: pi.id })).data.length, 1, 'no refund from another tenant landed');
  const dispute = await s.disputes.retrieve(aTest.dispute);
  t.equal(dispute.status, 'needs_response', 'no other tenant closed the dispute');
  t.same(dispute.metadata, {}, 'nor updated it');
  t.equal((await s.customers.retrieve(aTest.customer) as Stripe.Customer).name, 'Alice');
  t.equal((await s.webhookEndpoints.retrieve(aTest.webhook_endpoint)).status, 'enabled');
  t.equal((await sdk(a.live_secret_key).paymentIntents.retrieve(aLive.payment_intent)).status, 'requires_payment_method');
});
