// Checkout Sessions end to end, through the official SDK and the hosted page as a browser uses it
// (GET the session's url, POST its card form, follow the redirects): a decline stays on the page and
// is retried under the same intent; a good card sends the customer to success_url with the session id
// filled in, and the session is complete and paid, with checkout.session.completed among the events;
// 3-D Secure goes through the challenge and back; a session expires when asked (its intent canceled,
// checkout.session.expired) or once its expires_at has passed (the projector role's sweep); list,
// retrieve, line items, bad input, another merchant's session.
import t from 'tap';
import Stripe from 'stripe';
import { expireCheckoutSessions } from '../checkout/expiry.ts';
import { createCommandClient } from '../runtime/client.ts';
import { connectNats } from '../nats/mod.ts';
import { startStack, eventually } from './helpers/stack.ts';
import pino from 'pino';

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

t.test('Checkout Sessions', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard({ name: 'Tea Shop' });
  const other = await stack.onboard({ name: 'Other Shop' });
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const stripe = sdk(m.secret_key);
  const lineItems = [
    { price_data: { currency: 'usd', unit_amount: 1500, product_data: { name: 'Green tea', description: 'Loose leaf, 100 g' } }, quantity: 2 },
    { price_data: { currency: 'usd', unit_amount: 499, product_data: { name: 'Tea strainer' } }, quantity: 1 },
  ];
  const create = (extra: Partial<Stripe.Checkout.SessionCreateParams> = {}) =>
    stripe.checkout.sessions.create({ mode: 'payment', line_items: lineItems, success_url: 'https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}', cancel_url: 'https://shop.example/cart', ...extra });

  const session = await create({ client_reference_id: 'order-42', metadata: { order: '42' }, customer_email: 'jenny@example.com' });

  t.test('create answers with Stripe’s Checkout Session', async (t) => {
    t.match(session.id, /^cs_test_[0-9a-f]{32}$/);
    t.match(session, {
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_subtotal: 3499,
      amount_total: 3499,
      currency: 'usd',
      client_reference_id: 'order-42',
      customer_email: 'jenny@example.com',
      metadata: { order: '42' },
      livemode: false,
      success_url: 'https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://shop.example/cart',
      payment_method_types: ['card'],
    });
    t.equal(session.url, `${stack.url}/c/pay/${session.id}`, 'the customer is sent to our hosted page');
    t.ok(Math.abs(session.expires_at - (session.created + 24 * 3600)) <= 1, 'expires in 24 hours by default');
    const pi = await stripe.paymentIntents.retrieve(session.payment_intent as string);
    t.match(pi, { amount: 3499, currency: 'usd', status: 'requires_payment_method' }, 'its PaymentIntent, for the total');
    t.strictSame(await stripe.checkout.sessions.retrieve(session.id), session, 'retrieve answers the same');
    const items = await stripe.checkout.sessions.listLineItems(session.id);
    t.equal(items.data.length, 2);
    t.match(items.data[0], { object: 'item', description: 'Green tea', quantity: 2, amount_total: 3000, price: { object: 'price', unit_amount: 1500, type: 'one_time' } });
    const first = await stripe.checkout.sessions.listLineItems(session.id, { limit: 1 });
    t.equal(first.has_more, true);
    const second = await stripe.checkout.sessions.listLineItems(session.id, { limit: 1, starting_after: first.data[0]!.id });
    t.equal(second.data[0]!.description, 'Tea strainer', 'line items page');
    const expanded = await stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items', 'payment_intent'] });
    t.equal(expanded.line_items?.data.length, 2, 'expand[]=line_items');
    t.equal((expanded.payment_intent as Stripe.PaymentIntent).object, 'payment_intent', 'expand[]=payment_intent');
  });

  t.test('the hosted page: a decline stays, a good card pays and goes on to success_url', async (t) => {
    const page = await fetch(session.url!);
    t.equal(page.status, 200);
    t.match(page.headers.get('content-security-policy'), /default-src 'none'/);
    t.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/, 'never framed');
    const html = await page.text();
    t.match(html, /Tea Shop/);
    t.match(html, /Green tea/);
    t.match(html, /\$34\.99/, 'the amount as a customer reads it');
    t.notMatch(html, /name="email"/, 'no email asked: the session has one');

    const declined = await fetch(session.url!, form({ number: '4000 0000 0000 0002', exp: '12 / 34', cvc: '123', name: 'Jenny Rosen' }));
    t.equal(declined.status, 402);
    t.match(await declined.text(), /Your card was declined/, 'the page says so, and asks again');
    t.equal((await stripe.checkout.sessions.retrieve(session.id)).status, 'open', 'the session stays open');

    const unreadable = await fetch(session.url!, form({ number: '4242424242424242', exp: 'soon', cvc: '123' }));
    t.equal(unreadable.status, 400, 'an expiry that is no date is asked again');
    const bad = await fetch(session.url!, form({ number: '4242424242424242', exp: '13/99', cvc: '123' }));
    t.equal(bad.status, 402, 'a bad expiry month is a card error, asked again');
    t.match(await bad.text(), /expiration month is invalid/);
    const wrongNumber = await fetch(session.url!, form({ number: '4242424242424241', exp: '12/34', cvc: '123' }));
    t.equal(wrongNumber.status, 402, 'a number that fails Luhn is asked again');

    const paid = await fetch(session.url!, form({ number: '4242 4242 4242 4242', exp: '12/34', cvc: '123', name: 'Jenny Rosen' }));
    t.equal(paid.status, 303, paid.status === 303 ? 'redirected' : await paid.clone().text());
    t.equal(paid.headers.get('location'), `https://shop.example/thanks?session_id=${session.id}`, 'to success_url, the session id filled in');

    const done = await stripe.checkout.sessions.retrieve(session.id);
    t.match(done, { status: 'complete', payment_status: 'paid', url: null, customer_details: { email: 'jenny@example.com' } });
    const pi = await stripe.paymentIntents.retrieve(session.payment_intent as string);
    t.equal(pi.status, 'succeeded');
    t.equal(pi.amount_received, 3499);
    const charges = await eventually(async () => {
      const list = (await stripe.charges.list({ payment_intent: pi.id })).data;
      return list.length === 2 ? list : null;
    }, 20_000);
    t.same(charges.map((c) => c.status).sort(), ['failed', 'succeeded'], 'the decline and the payment: two attempts under one intent');

    const again = await fetch(session.url!, { redirect: 'manual' });
    t.equal(again.status, 303, 'the page of a paid session sends the customer on');
    const repost = await fetch(session.url!, form({ number: '4242424242424242', exp: '12/34', cvc: '123' }));
    t.equal(repost.status, 303, 'a second submit charges nothing more');
    t.equal((await stripe.paymentIntents.retrieve(pi.id)).amount_received, 3499);

    const completed = await eventually(async () => (await stripe.events.list({ type: 'checkout.session.completed', limit: 10 })).data.find((e) => (e.data.object as Stripe.Checkout.Session).id === session.id), 20_000);
    t.match(completed.data.object, { object: 'checkout.session', status: 'complete', payment_status: 'paid', client_reference_id: 'order-42', payment_intent: pi.id });
  });

  t.test('3-D Secure: through the challenge and back to success_url', async (t) => {
    const s = await create();
    const page = await fetch(s.url!);
    t.match(await page.text(), /name="email"/, 'no email known: the page asks for one');
    const started = await fetch(s.url!, form({ email: 'sam@example.com', number: '4000002760003184', exp: '12/34', cvc: '123' }));
    t.equal(started.status, 303);
    const challenge = started.headers.get('location')!;
    t.match(challenge, /\/3ds\/challenge\//, 'to the issuer’s challenge');
    const tok = new URL(challenge).searchParams.get('t')!;
    const completed = await fetch(`${challenge.split('?')[0]}/complete`, form({ t: tok }));
    t.equal(completed.status, 303);
    const back = completed.headers.get('location')!;
    t.ok(back.startsWith(s.url!), 'back to the hosted page');
    const onward = await fetch(back, { redirect: 'manual' });
    t.equal(onward.status, 303);
    t.equal(onward.headers.get('location'), `https://shop.example/thanks?session_id=${s.id}`);
    t.match(await stripe.checkout.sessions.retrieve(s.id), { status: 'complete', payment_status: 'paid', customer_details: { email: 'sam@example.com' } });
  });

  t.test('card testing: after ten declines the page takes no more cards', async (t) => {
    const s = await create({ customer_email: 'tester@example.com' });
    for (let n = 0; n < 10; n++) t.equal((await fetch(s.url!, form({ number: '4000000000000002', exp: '12/34', cvc: '123' }))).status, 402, `decline ${n + 1}`);
    const stopped = await fetch(s.url!, form({ number: '4242424242424242', exp: '12/34', cvc: '123' }));
    t.equal(stopped.status, 429);
    t.equal((await stripe.checkout.sessions.retrieve(s.id)).status, 'open', 'nothing was charged');
    await stripe.checkout.sessions.expire(s.id);
  });

  t.test('expire: asked, or once expires_at has passed', async (t) => {
    const s = await create();
    t.match(await fails(stripe.paymentIntents.cancel(s.payment_intent as string)), { statusCode: 400, code: 'payment_intent_unexpected_state' }, 'the intent of an open session is not canceled directly');
    const expired = await stripe.checkout.sessions.expire(s.id);
    t.match(expired, { status: 'expired', url: null, payment_status: 'unpaid' });
    t.match(await stripe.paymentIntents.retrieve(s.payment_intent as string), { status: 'canceled', cancellation_reason: 'abandoned' }, 'its intent is canceled');
    t.match(await fails(stripe.checkout.sessions.expire(s.id)), { statusCode: 400, code: 'checkout_session_not_open', message: /status in \["open"\]/ }, 'an expired session is not expired again (Stripe: 400)');
    const gone = await fetch(s.url!);
    t.equal(gone.status, 410, 'the page says the session expired');
    t.match(await gone.text(), /expired/);
    t.match(await fails(stripe.checkout.sessions.expire(session.id)), { statusCode: 400, code: 'checkout_session_not_open' }, 'a complete session does not expire');
    await eventually(async () => (await stripe.events.list({ type: 'checkout.session.expired', limit: 10 })).data.find((e) => (e.data.object as Stripe.Checkout.Session).id === s.id), 20_000);

    // The sweep (projector role): an open session past its expires_at, as an hour from now sees it.
    const late = await create({ expires_at: Math.floor(Date.now() / 1000) + 31 * 60 });
    await eventually(async () => (await stripe.checkout.sessions.list({ payment_intent: late.payment_intent as string })).data.length === 1, 20_000);
    const nc = await connectNats(stack.nats.url, 'checkout-sweep-test');
    t.teardown(() => nc.close());
    const commands = createCommandClient(nc, { partitions: Number(stack.config.partitions), timeoutMs: 15_000 });
    const n = await expireCheckoutSessions({ db: stack.node.database!.db, commands, log: pino({ level: 'silent' }) }, Math.floor(Date.now() / 1000) + 3600);
    t.ok(n >= 1, `the sweep expired ${n} session(s)`);
    t.equal((await stripe.checkout.sessions.retrieve(late.id)).status, 'expired', 'the late one among them');
    t.equal((await stripe.checkout.sessions.retrieve(session.id)).status, 'complete', 'a paid one is untouched');
  });

  t.test('list: newest first, filters', async (t) => {
    const all = await eventually(async () => {
      const l = await stripe.checkout.sessions.list({ limit: 100 });
      return l.data.length >= 4 ? l : null;
    }, 20_000);
    t.ok(all.data.some((x) => x.id === session.id), 'the first session is in it');
    t.ok(all.data.every((x, n) => n === 0 || all.data[n - 1]!.created >= x.created), 'newest first');
    const byIntent = await stripe.checkout.sessions.list({ payment_intent: session.payment_intent as string });
    t.same(byIntent.data.map((x) => x.id), [session.id]);
    const complete = await stripe.checkout.sessions.list({ status: 'complete' });
    t.ok(complete.data.length >= 2 && complete.data.every((x) => x.status === 'complete'), 'status=complete');
    const expired = await eventually(async () => {
      const l = await stripe.checkout.sessions.list({ status: 'expired' });
      return l.data.length >= 2 ? l : null;
    }, 20_000);
    t.ok(expired.data.every((x) => x.status === 'expired'), 'status=expired');
    const page1 = await stripe.checkout.sessions.list({ limit: 1 });
    const page2 = await stripe.checkout.sessions.list({ limit: 1, starting_after: page1.data[0]!.id });
    t.not(page2.data[0]!.id, page1.data[0]!.id, 'pages by session id');
  });

  t.test('bad input gets Stripe’s errors; nothing is made', async (t) => {
    const cases: [string, () => Promise<unknown>, Record<string, unknown>][] = [
      ['no line items', () => stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://x.test' }), { code: 'parameter_missing', param: 'line_items' }],
      ['a saved price', () => stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: 'price_123', quantity: 1 }], success_url: 'https://x.test' }), { code: 'resource_missing', param: 'line_items[0][price]' }],
      ['two currencies', () => create({ line_items: [lineItems[0]!, { price_data: { currency: 'eur', unit_amount: 100, product_data: { name: 'x' } }, quantity: 1 }] }), { param: 'line_items[1][price_data][currency]' }],
      ['no quantity', () => create({ line_items: [{ price_data: lineItems[0]!.price_data }] }), { code: 'parameter_missing', param: 'line_items[0][quantity]' }],
      ['subscription mode', () => create({ mode: 'subscription' }), { param: 'mode' }],
      ['customer and customer_email', () => create({ customer: 'cus_x', customer_email: 'a@b.co' }), { param: 'customer_email' }],
      ['expires too soon', () => create({ expires_at: Math.floor(Date.now() / 1000) + 60 }), { param: 'expires_at' }],
      ['an unknown customer', () => create({ customer: 'cus_nope' }), { code: 'resource_missing', param: 'customer' }],
      ['under the minimum', () => create({ line_items: [{ price_data: { currency: 'usd', unit_amount: 10, product_data: { name: 'x' } }, quantity: 1 }] }), { code: 'amount_too_small' }],
      ['a javascript: cancel_url', () => create({ cancel_url: 'javascript:alert(1)' }), { code: 'url_invalid', param: 'cancel_url' }],
      ['a customer_email that is none', () => create({ customer_email: 'not-an-email' }), { code: 'email_invalid', param: 'customer_email' }],
      ['a success_url with a quote', () => create({ success_url: 'https://shop.example/x"onload=1' }), { code: 'url_invalid', param: 'success_url' }],
    ];
    for (const [what, call, want] of cases) t.match(await fails(call()), { statusCode: 400, type: 'StripeInvalidRequestError', ...want }, what);
    t.match(await fails(stripe.checkout.sessions.retrieve('cs_test_' + '0'.repeat(32))), { statusCode: 404, code: 'resource_missing' });
    t.equal((await fetch(`${stack.url}/c/pay/cs_test_nope`)).status, 404, 'no page for an unknown session');
  });

  t.test('another merchant’s session does not exist for its key', async (t) => {
    const theirs = sdk(other.secret_key);
    t.match(await fails(theirs.checkout.sessions.retrieve(session.id)), { statusCode: 404 });
    t.match(await fails(theirs.checkout.sessions.expire(session.id)), { statusCode: 404 });
    t.equal((await theirs.checkout.sessions.list()).data.length, 0);
  });
});
