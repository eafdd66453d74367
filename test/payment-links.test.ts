// Payment Links through the official SDK and a browser's requests against the real stack: a link for
// prices of the catalogue; its URL opens a Checkout Session for them on each visit (prefilled_email and
// client_reference_id passed on) and sends the customer to its page; paying there completes the session
// (which names the link) and shows the link's message or goes to its redirect URL; a deactivated link
// says so; line items, list, update, events; bad prices refused; another merchant sees none of it
// (every route and the other mode: test/tenant-isolation.test.ts).
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

t.test('payment links', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const poster = await stripe.products.create({ name: 'Poster', default_price_data: { currency: 'usd', unit_amount: 1250 } });
  const frame = await stripe.products.create({ name: 'Frame', default_price_data: { currency: 'usd', unit_amount: 800 } });

  t.test('a link sells its prices; each visit opens a session; paying completes it', async (t) => {
    const link = await stripe.paymentLinks.create({
      line_items: [
        { price: poster.default_price as string, quantity: 2 },
        { price: frame.default_price as string, quantity: 1 },
      ],
      after_completion: { type: 'hosted_confirmation', hosted_confirmation: { custom_message: 'Thanks! Ships in 2 days.' } },
      metadata: { campaign: 'spring' },
      expand: ['line_items'],
    });
    t.match(link.id, /^plink_[0-9a-f]{24}$/);
    t.equal(link.object, 'payment_link');
    t.equal(link.active, true);
    t.equal(link.currency, 'usd');
    t.equal(link.url, `${stack.url}/b/${link.id}`);
    t.equal(link.after_completion.hosted_confirmation?.custom_message, 'Thanks! Ships in 2 days.');
    t.equal(link.line_items?.data.length, 2, 'line_items expanded');
    t.equal(link.line_items?.data[0]!.amount_total, 2500);
    const items = await stripe.paymentLinks.listLineItems(link.id);
    t.strictSame(items.data.map((li) => [li.price?.id, li.quantity]), [[poster.default_price, 2], [frame.default_price, 1]]);

    const visit = await fetch(`${link.url}?prefilled_email=ann@example.com&client_reference_id=order-7`, { redirect: 'manual' });
    t.equal(visit.status, 303, 'the link sends the customer on');
    const page = visit.headers.get('location')!;
    const sessionId = /\/c\/pay\/(cs_test_[0-9a-f]{32})$/.exec(page)?.[1];
    t.ok(sessionId, 'to a Checkout Session’s page');
    const session = await stripe.checkout.sessions.retrieve(sessionId!);
    t.equal(session.payment_link, link.id, 'the session names its link');
    t.equal(session.amount_total, 3300);
    t.equal(session.customer_email, 'ann@example.com', 'prefilled_email');
    t.equal(session.client_reference_id, 'order-7');
    t.strictSame(session.metadata, { campaign: 'spring' });
    const second = await fetch(link.url, { redirect: 'manual' });
    t.not(second.headers.get('location'), page, 'another visit, another session');
    const head = await fetch(link.url, { method: 'HEAD', redirect: 'manual' });
    t.not(head.status, 303, 'a HEAD (a link preview) opens nothing');

    const paid = await fetch(page, form({ number: '4242 4242 4242 4242', exp: '12/34', cvc: '123', name: 'Ann' }));
    t.equal(paid.status, 200, 'hosted confirmation: our page');
    const text = await paid.text();
    t.match(text, /Payment complete: \$33\.00/);
    t.match(text, /Thanks! Ships in 2 days\./, 'with the link’s message');
    const done = await stripe.checkout.sessions.retrieve(sessionId!);
    t.equal(done.status, 'complete');
    t.equal(done.payment_status, 'paid');
    const listed = await eventually(async () => {
      const l = await stripe.checkout.sessions.list({ payment_link: link.id });
      // The list reads the read model: the payment (made on the hosted page, not with this key) reaches it a moment later.
      return l.data.length === 2 && l.data.some((s) => s.id === sessionId && s.status === 'complete') ? l : null;
    }, 20_000);
    t.ok(listed.data.some((s) => s.id === sessionId && s.status === 'complete'), 'sessions listed by payment_link');
    const event = await eventually(async () => (await stripe.events.list({ type: 'payment_link.created' })).data.find((e) => (e.data.object as Stripe.PaymentLink).id === link.id), 20_000);
    t.equal((event.data.object as Stripe.PaymentLink).url, link.url, 'payment_link.created carries the link');
  });

  t.test('after_completion redirect; deactivation', async (t) => {
    const link = await stripe.paymentLinks.create({
      line_items: [{ price: poster.default_price as string, quantity: 1 }],
      after_completion: { type: 'redirect', redirect: { url: 'https://example.com/thanks?s={CHECKOUT_SESSION_ID}' } },
      payment_intent_data: { capture_method: 'manual', description: 'Poster order' },
    });
    const page = (await fetch(link.url, { redirect: 'manual' })).headers.get('location')!;
    const sessionId = /(cs_test_[0-9a-f]{32})$/.exec(page)![1]!;
    const paid = await fetch(page, form({ number: '4242424242424242', exp: '12/34', cvc: '123' }));
    t.equal(paid.status, 303);
    t.equal(paid.headers.get('location'), `https://example.com/thanks?s=${sessionId}`, 'on to the redirect URL, the session id filled in');
    const s = await stripe.checkout.sessions.retrieve(sessionId, { expand: ['payment_intent'] });
    const pi = s.payment_intent as Stripe.PaymentIntent;
    t.equal(pi.status, 'requires_capture', 'payment_intent_data reaches the intent');
    t.equal(pi.description, 'Poster order');

    const off = await stripe.paymentLinks.update(link.id, { active: false, inactive_message: 'Sold out, sorry.' });
    t.equal(off.active, false);
    t.equal(off.inactive_message, 'Sold out, sorry.');
    const gone = await fetch(link.url, { redirect: 'manual' });
    t.equal(gone.status, 410, 'a deactivated link opens nothing');
    t.match(await gone.text(), /Sold out, sorry\./);
    const inactive = await eventually(async () => {
      const l = await stripe.paymentLinks.list({ active: false });
      return l.data.some((x) => x.id === link.id) ? l : null;
    }, 20_000);
    t.ok(inactive.data.every((x) => x.active === false), 'list by active');
    t.equal((await stripe.paymentLinks.update(link.id, { active: true })).active, true, 'and back on');
    t.equal((await fetch(link.url, { redirect: 'manual' })).status, 303);
  });

  t.test('visits spend the merchant’s rate limit', async (t) => {
    const small = await stack.onboard({ name: 'Small shop' });
    const res = await fetch(`${stack.url}/admin/merchants/${small.merchant_id}/security`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rate_limit: { test: 2 } }),
    });
    t.equal(res.status, 200);
    const shop = new Stripe(small.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 3 });
    const prod = await shop.products.create({ name: 'Pin', default_price_data: { currency: 'usd', unit_amount: 500 } });
    const link = await shop.paymentLinks.create({ line_items: [{ price: prod.default_price as string, quantity: 1 }] });
    const statuses = await Promise.all(Array.from({ length: 12 }, () => fetch(link.url, { redirect: 'manual' }).then((r) => r.status)));
    t.ok(statuses.includes(429), `a flood of visits meets 429 (${statuses.join(',')})`);
    t.ok(statuses.every((s) => s === 303 || s === 429), 'each visit opens a session or is turned away');
  });

  t.test('what a link refuses', async (t) => {
    const none = await fails(stripe.paymentLinks.create({ line_items: [] }));
    t.equal(none?.code, 'parameter_missing');
    const missing = await fails(stripe.paymentLinks.create({ line_items: [{ price: 'price_000000000000000000000000', quantity: 1 }] }));
    t.equal(missing?.code, 'resource_missing');
    t.equal(missing?.param, 'line_items[0][price]');
    const yearly = await stripe.prices.create({ product: poster.id, currency: 'usd', unit_amount: 9900, recurring: { interval: 'year' } });
    const recurring = await fails(stripe.paymentLinks.create({ line_items: [{ price: yearly.id, quantity: 1 }] }));
    t.match(recurring?.message, /Recurring prices/);
    const eur = await stripe.prices.create({ product: frame.id, currency: 'eur', unit_amount: 700 });
    const mixed = await fails(stripe.paymentLinks.create({ line_items: [{ price: poster.default_price as string, quantity: 1 }, { price: eur.id, quantity: 1 }] }));
    t.match(mixed?.message, /same currency/);
    const archived = await stripe.prices.create({ product: frame.id, currency: 'usd', unit_amount: 100, active: false });
    t.match((await fails(stripe.paymentLinks.create({ line_items: [{ price: archived.id, quantity: 1 }] })))?.message, /inactive/);
    const badUrl = await fails(stripe.paymentLinks.create({ line_items: [{ price: poster.default_price as string, quantity: 1 }], after_completion: { type: 'redirect', redirect: { url: 'javascript:alert(1)' } } }));
    t.equal(badUrl?.code, 'url_invalid');
    t.equal((await fetch(`${stack.url}/b/plink_000000000000000000000000`)).status, 404, 'no such link');
    const other = new Stripe((await stack.onboard()).secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
    const theirs = await fails(other.paymentLinks.create({ line_items: [{ price: poster.default_price as string, quantity: 1 }] }));
    t.equal(theirs?.code, 'resource_missing', 'another merchant cannot sell our prices');
  });
});
