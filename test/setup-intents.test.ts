// SetupIntents through the official stripe SDK against the real stack (nats-server, PGlite, the EPN
// simulator): a card checked by the network and saved to the customer; a declined card; a test card
// id saved as a card of the customer's own; 3-D Secure on setup through the challenge page; cancel;
// update; list with filters and pages; publishable-key access by client secret; keyed repeats; the
// setup_intent.* events; another merchant sees nothing.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) => p.then(
  () => null,
  (e: unknown) => e as Stripe.errors.StripeError,
);

t.test('SetupIntents through the official stripe SDK', async (t) => {
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const m = await stack.onboard({ name: 'Setup Store' });
  const other = await stack.onboard({ name: 'Other Store' });
  const stripe = sdk(m.secret_key);
  const card = (number = '4242424242424242') => stripe.paymentMethods.create({ type: 'card', card: { number, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const cus = await stripe.customers.create({ email: 'setup@example.com' });

  t.test('create, confirm, and the card is saved to the customer', async (t) => {
    const si = await stripe.setupIntents.create({ customer: cus.id, payment_method_types: ['card'], metadata: { plan: 'pro' } } as Stripe.SetupIntentCreateParams);
    t.match(si, { object: 'setup_intent', status: 'requires_payment_method', customer: cus.id, usage: 'off_session', payment_method: null, metadata: { plan: 'pro' }, livemode: false });
    t.match(si.id, /^seti_/);
    t.match(si.client_secret, new RegExp(`^${si.id}_secret_`));
    const pm = await card();
    const done = await stripe.setupIntents.confirm(si.id, { payment_method: pm.id });
    t.match(done, { status: 'succeeded', payment_method: pm.id, last_setup_error: null, next_action: null });
    t.match(done.latest_attempt, /^setatt_/);
    t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, cus.id, 'the card is attached to the customer');
    t.ok((await stripe.customers.listPaymentMethods(cus.id)).data.some((x) => x.id === pm.id), 'and listed as the customer’s');
    t.equal((await stripe.setupIntents.retrieve(si.id)).status, 'succeeded', 'retrieve reads it back');

    // The saved card pays off session later, without the customer.
    const pi = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', customer: cus.id, payment_method: pm.id, off_session: true, confirm: true });
    t.equal(pi.status, 'succeeded', 'the saved card pays off session');

    t.match(await fails(stripe.setupIntents.confirm(si.id, { payment_method: pm.id })), { statusCode: 400, code: 'setup_intent_unexpected_state' }, 'a succeeded SetupIntent cannot be confirmed again');
    t.match(await fails(stripe.setupIntents.cancel(si.id)), { statusCode: 400, code: 'setup_intent_unexpected_state' }, 'nor canceled');
    t.match(await fails(stripe.setupIntents.update(si.id, { description: 'late' })), { statusCode: 400, code: 'setup_intent_unexpected_state' }, 'nor updated');
  });

  t.test('a declined card: 402 card error, the SetupIntent waits for another card', async (t) => {
    const si = await stripe.setupIntents.create({ customer: cus.id });
    const declined = await card('4000000000000002');
    const e = await fails(stripe.setupIntents.confirm(si.id, { payment_method: declined.id }));
    t.match(e, { statusCode: 402, type: 'StripeCardError', code: 'card_declined', decline_code: 'generic_decline' });
    const raw = e?.raw as { setup_intent?: Stripe.SetupIntent };
    t.match(raw.setup_intent, { id: si.id, status: 'requires_payment_method', payment_method: null, last_setup_error: { code: 'card_declined', decline_code: 'generic_decline' } }, 'the error names the SetupIntent');
    t.equal((await stripe.paymentMethods.retrieve(declined.id)).customer, null, 'a declined card is not saved');
    const again = await stripe.setupIntents.confirm(si.id, { payment_method: 'pm_card_mastercard' });
    t.equal(again.status, 'succeeded', 'another card succeeds under the same SetupIntent');
    t.not(again.payment_method, 'pm_card_mastercard', 'a test card id becomes a card of the merchant’s own, as at Stripe');
    t.match(again.payment_method, /^pm_/);
    const saved = await stripe.paymentMethods.retrieve(again.payment_method as string);
    t.match(saved, { customer: cus.id, card: { brand: 'mastercard', last4: '4444' } }, 'and it is saved to the customer');
  });

  t.test('setup attempts: GET /v1/setup_attempts and latest_attempt expanded', async (t) => {
    const si = await stripe.setupIntents.create({ customer: cus.id });
    t.match(await fails(stripe.setupIntents.confirm(si.id, { payment_method: 'pm_card_chargeDeclined' })), { statusCode: 402 });
    const done = await stripe.setupIntents.confirm(si.id, { payment_method: 'pm_card_visa' });
    const list = await stripe.setupAttempts.list({ setup_intent: si.id });
    t.equal(list.object, 'list');
    t.equal(list.url, '/v1/setup_attempts');
    t.equal(list.data.length, 2, 'one per confirmation');
    const [ok, failed] = list.data;
    t.match(ok, { object: 'setup_attempt', setup_intent: si.id, status: 'succeeded', customer: cus.id, usage: 'off_session', livemode: false, setup_error: null, payment_method: done.payment_method, payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242' } } }, 'newest first: the one that succeeded');
    t.equal(ok?.id, done.latest_attempt, 'the SetupIntent’s latest_attempt');
    t.match(failed, { status: 'failed', setup_error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' } }, 'then the declined one, with its setup_error');
    t.match(failed?.id, /^setatt_/);
    const page = await stripe.setupAttempts.list({ setup_intent: si.id, limit: 1 });
    t.equal(page.has_more, true);
    const next = await stripe.setupAttempts.list({ setup_intent: si.id, limit: 1, starting_after: page.data[0]!.id });
    t.same(next.data.map((a) => a.id), [failed?.id], 'pages by starting_after');
    t.same((await stripe.setupAttempts.list({ setup_intent: si.id, created: { lt: 0 } })).data, [], 'the created filter');
    const expanded = await stripe.setupIntents.retrieve(si.id, { expand: ['latest_attempt'] });
    t.match(expanded.latest_attempt, { id: done.latest_attempt, object: 'setup_attempt', status: 'succeeded' }, 'latest_attempt expands');
    t.match(await fails(stripe.setupAttempts.list({ setup_intent: 'seti_nope' })), { statusCode: 404, code: 'resource_missing', param: 'setup_intent' });
    t.match(await fails(stripe.setupAttempts.list({} as Stripe.SetupAttemptListParams)), { statusCode: 400, param: 'setup_intent' }, 'setup_intent is required');
    t.match(await fails(sdk(other.secret_key).setupAttempts.list({ setup_intent: si.id })), { statusCode: 404 }, 'another merchant’s SetupIntent is not found');
  });

  t.test('create with confirm, payment_method_data, and keyed repeats', async (t) => {
    const key = `seti-${Date.now()}`;
    const params = { customer: cus.id, confirm: true, payment_method_data: { type: 'card' as const, card: { token: 'tok_amex' } } } as unknown as Stripe.SetupIntentCreateParams;
    const a = await stripe.setupIntents.create(params, { idempotencyKey: key });
    const b = await stripe.setupIntents.create(params, { idempotencyKey: key });
    t.equal(a.status, 'succeeded');
    t.equal(b.id, a.id, 'the repeat answers the same SetupIntent');
    t.equal(b.payment_method, a.payment_method, 'with the same card');
    t.match(await fails(stripe.setupIntents.create({ customer: cus.id }, { idempotencyKey: key })), { statusCode: 400, type: 'StripeIdempotencyError' }, 'other parameters under the key are refused');
  });

  t.test('3-D Secure on setup: the challenge page, then succeeded', async (t) => {
    const si = await stripe.setupIntents.create({ customer: cus.id, payment_method: 'pm_card_authenticationRequiredOnSetup', confirm: true, return_url: 'https://shop.example/setup-done' });
    t.equal(si.status, 'requires_action');
    t.equal(si.next_action?.type, 'redirect_to_url');
    const url = si.next_action!.redirect_to_url!.url!;
    const page = await fetch(url);
    t.equal(page.status, 200);
    t.match(await page.text(), /saving your card/, 'the challenge page says what it is for');
    const tok = new URL(url).searchParams.get('t')!;
    const res = await fetch(`${url.split('?')[0]}/complete`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `t=${encodeURIComponent(tok)}` });
    t.equal(res.status, 303);
    const back = new URL(res.headers.get('location')!);
    t.equal(back.origin + back.pathname, 'https://shop.example/setup-done');
    t.equal(back.searchParams.get('setup_intent'), si.id);
    t.equal(back.searchParams.get('setup_intent_client_secret'), si.client_secret);
    t.equal(back.searchParams.get('redirect_status'), 'succeeded');
    const after = await stripe.setupIntents.retrieve(si.id);
    t.equal(after.status, 'succeeded', 'authenticated, the card check passed');
    t.equal((await stripe.paymentMethods.retrieve(after.payment_method as string)).customer, cus.id, 'and the card is saved');

    const failing = await stripe.setupIntents.create({ payment_method: 'pm_card_threeDSecure2Required', confirm: true });
    const furl = failing.next_action!.redirect_to_url!.url!;
    const ftok = new URL(furl).searchParams.get('t')!;
    await fetch(`${furl.split('?')[0]}/fail`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `t=${encodeURIComponent(ftok)}` });
    t.match(await stripe.setupIntents.retrieve(failing.id), { status: 'requires_payment_method', last_setup_error: { code: 'setup_intent_authentication_failure' } }, 'a failed challenge');
  });

  t.test('update, cancel, list, another merchant, the publishable key', async (t) => {
    const si = await stripe.setupIntents.create({ description: 'first' });
    const pm = await card('5555555555554444');
    const updated = await stripe.setupIntents.update(si.id, { payment_method: pm.id, description: 'monthly plan', metadata: { k: 'v' } });
    t.match(updated, { status: 'requires_confirmation', payment_method: pm.id, description: 'monthly plan', metadata: { k: 'v' } });
    const canceled = await stripe.setupIntents.cancel(si.id, { cancellation_reason: 'abandoned' });
    t.match(canceled, { status: 'canceled', cancellation_reason: 'abandoned' });
    t.match(await fails(stripe.setupIntents.confirm(si.id)), { statusCode: 400, code: 'setup_intent_unexpected_state' }, 'a canceled SetupIntent cannot be confirmed');

    const missing = await stripe.setupIntents.create({});
    t.match(await fails(stripe.setupIntents.confirm(missing.id)), { statusCode: 400, code: 'setup_intent_unexpected_state', param: 'payment_method' }, 'confirm without a card');

    const listed = await eventually(async () => {
      const l = await stripe.setupIntents.list({ customer: cus.id, limit: 100 });
      return l.data.length >= 4 ? l : null;
    });
    t.ok(listed!.data.every((x) => x.customer === cus.id), 'the customer filter');
    const firstPage = await stripe.setupIntents.list({ limit: 2 });
    t.equal(firstPage.data.length, 2);
    t.equal(firstPage.has_more, true);
    const ids = new Set<string>();
    for await (const x of stripe.setupIntents.list({ limit: 3 })) ids.add(x.id);
    t.ok(ids.has(si.id) && ids.has(missing.id), 'auto-pagination reaches every SetupIntent');

    t.match(await fails(sdk(other.secret_key).setupIntents.retrieve(si.id)), { statusCode: 404, code: 'resource_missing' }, 'another merchant’s is not found');
    const pk = sdk(m.publishable_key);
    t.equal((await pk.setupIntents.retrieve(missing.id, { client_secret: missing.client_secret! })).id, missing.id, 'a publishable key reads it with its client secret');
    t.match(await fails(pk.setupIntents.retrieve(missing.id, { client_secret: 'seti_x_secret_wrong' })), { statusCode: 400, param: 'client_secret' });
    const byBrowser = await pk.setupIntents.confirm(missing.id, { payment_method: 'pm_card_visa', client_secret: missing.client_secret! } as Stripe.SetupIntentConfirmParams);
    t.equal(byBrowser.status, 'succeeded', 'Stripe.js confirms with the client secret');
    t.match(await fails(pk.setupIntents.create({})), { statusCode: 401 }, 'but cannot create one');
  });

  t.test('refusals are Stripe’s', async (t) => {
    t.match(await fails(stripe.setupIntents.create({ customer: 'cus_nope' })), { statusCode: 400, code: 'resource_missing', param: 'customer' });
    t.match(await fails(stripe.setupIntents.create({ payment_method: 'pm_nope' })), { statusCode: 404, code: 'resource_missing', param: 'payment_method' });
    t.match(await fails(stripe.setupIntents.create({ usage: 'sometimes' as never })), { statusCode: 400, param: 'usage' });
    t.match(await fails(stripe.setupIntents.create({ application_fee_amount: 5 } as never)), { statusCode: 400, code: 'parameter_unknown' });
    t.match(await fails(stripe.setupIntents.retrieve('seti_nope')), { statusCode: 404, code: 'resource_missing' });
    const owned = await card();
    const other = await stripe.customers.create({ email: 'other@example.com' });
    await stripe.paymentMethods.attach(owned.id, { customer: other.id });
    t.match(await fails(stripe.setupIntents.create({ customer: cus.id, payment_method: owned.id, confirm: true })), { statusCode: 400, param: 'payment_method' }, 'another customer’s card');
    t.match(await fails(stripe.setupIntents.retrieve('x', { expand: ['nope'] })), { statusCode: 404 });
  });

  t.test('the setup_intent.* events', async (t) => {
    const types = await eventually(async () => {
      const l = await stripe.events.list({ limit: 100 });
      const seen = new Set<string>(l.data.map((e) => e.type));
      return ['setup_intent.created', 'setup_intent.succeeded', 'setup_intent.setup_failed', 'setup_intent.requires_action', 'setup_intent.canceled'].every((x) => seen.has(x)) ? seen : null;
    });
    t.ok(types, 'created, succeeded, setup_failed, requires_action and canceled are listed');
    const ev = (await stripe.events.list({ type: 'setup_intent.succeeded', limit: 1 })).data[0];
    t.match(ev?.data.object, { object: 'setup_intent', status: 'succeeded' }, 'carrying the SetupIntent');
  });
});
