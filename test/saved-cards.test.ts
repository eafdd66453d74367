// Saved cards through the official stripe SDK against the real stack: attach a payment method to a
// customer, list and retrieve the customer's cards, detach; a card belongs to one customer at most
// (also when two attaches race); a test card id attaches as a card of the customer's own; the
// payment_method.attached / .detached events; a saved card pays; another merchant sees nothing.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) => p.then(
  () => null,
  (e: unknown) => e as Stripe.errors.StripeError,
);

t.test('saved cards through the official stripe SDK', async (t) => {
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const m = await stack.onboard();
  const other = await stack.onboard({ name: 'Other Store' });
  const stripe = sdk(m.secret_key);
  const card = (number = '4242424242424242') => stripe.paymentMethods.create({ type: 'card', card: { number, exp_month: 12, exp_year: 2034, cvc: '123' } });

  const jenny = await stripe.customers.create({ email: 'jenny@example.com' });
  const sam = await stripe.customers.create({ email: 'sam@example.com' });
  const pm = await card();
  t.equal(pm.customer, null, 'a new card is nobody’s');

  const attached = await stripe.paymentMethods.attach(pm.id, { customer: jenny.id });
  t.equal(attached.id, pm.id);
  t.equal(attached.customer, jenny.id, 'attach answers the card with its customer');
  t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, jenny.id, 'retrieve shows it');
  const expanded = await stripe.paymentMethods.retrieve(pm.id, { expand: ['customer'] });
  t.equal((expanded.customer as Stripe.Customer).email, 'jenny@example.com', 'expand[]=customer');

  const listed = await stripe.customers.listPaymentMethods(jenny.id);
  t.same(listed.data.map((x) => x.id), [pm.id], 'the customer’s cards');
  t.equal(listed.data[0]!.card!.last4, '4242');
  t.same((await stripe.paymentMethods.list({ customer: jenny.id, type: 'card' })).data.map((x) => x.id), [pm.id], 'GET /v1/payment_methods?customer=');
  t.equal((await stripe.customers.retrievePaymentMethod(jenny.id, pm.id)).id, pm.id);
  t.same((await stripe.customers.listPaymentMethods(sam.id)).data, [], 'another customer has none');

  t.test('a card belongs to one customer at most', async (t) => {
    const again = await stripe.paymentMethods.attach(pm.id, { customer: jenny.id });
    t.equal(again.customer, jenny.id, 'attaching it to its customer again is fine');
    const e = await fails(stripe.paymentMethods.attach(pm.id, { customer: sam.id }));
    t.equal(e?.statusCode, 400);
    t.equal(e?.code, 'payment_method_unexpected_state');
    t.same((await stripe.customers.listPaymentMethods(sam.id)).data, [], 'nothing attached to the other');

    // Two attaches of one new card to two customers at once: exactly one wins.
    const contested = await card('5555555555554444');
    const both = await Promise.allSettled([stripe.paymentMethods.attach(contested.id, { customer: jenny.id }), stripe.paymentMethods.attach(contested.id, { customer: sam.id })]);
    t.equal(both.filter((r) => r.status === 'fulfilled').length, 1, 'one attach succeeded');
    const winner = (both.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Stripe.PaymentMethod>).value.customer as string;
    const loser = winner === jenny.id ? sam.id : jenny.id;
    t.ok((await stripe.customers.listPaymentMethods(winner)).data.some((x) => x.id === contested.id), 'the winner lists it');
    t.notOk((await stripe.customers.listPaymentMethods(loser)).data.some((x) => x.id === contested.id), 'the loser does not');
    await stripe.paymentMethods.detach(contested.id);
  });

  t.test('errors are Stripe’s', async (t) => {
    const noCustomer = await fails(stripe.paymentMethods.attach(pm.id, { customer: 'cus_nope' }));
    t.match(noCustomer, { statusCode: 400, code: 'resource_missing', param: 'customer' });
    const noCard = await fails(stripe.paymentMethods.attach('pm_nope', { customer: jenny.id }));
    t.match(noCard, { statusCode: 404, code: 'resource_missing' });
    const missing = await fails(stripe.paymentMethods.attach(pm.id, {} as Stripe.PaymentMethodAttachParams));
    t.equal(missing?.statusCode, 400, 'customer is required');
    const noList = await fails(stripe.customers.listPaymentMethods('cus_nope'));
    t.match(noList, { statusCode: 404, code: 'resource_missing' });
    // Another merchant: neither the card nor the customer exists for it.
    const otherStripe = sdk(other.secret_key);
    t.match(await fails(otherStripe.paymentMethods.attach(pm.id, { customer: jenny.id })), { statusCode: 400, code: 'resource_missing' });
    const otherCustomer = await otherStripe.customers.create({ email: 'x@example.com' });
    t.match(await fails(otherStripe.paymentMethods.attach(pm.id, { customer: otherCustomer.id })), { statusCode: 404 });
    t.match(await fails(otherStripe.customers.listPaymentMethods(jenny.id)), { statusCode: 404 });
  });

  t.test('a test card id attaches as a card of the customer’s own', async (t) => {
    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: sam.id });
    t.not(visa.id, 'pm_card_visa');
    t.match(visa, { customer: sam.id, card: { brand: 'visa', last4: '4242' } });
    t.same((await stripe.customers.listPaymentMethods(sam.id)).data.map((x) => x.id), [visa.id]);
    await stripe.paymentMethods.detach(visa.id);
  });

  t.test('pages, newest attached first', async (t) => {
    const cards = [];
    for (let i = 0; i < 3; i++) cards.push((await stripe.paymentMethods.attach((await card()).id, { customer: sam.id })).id);
    const first = await stripe.customers.listPaymentMethods(sam.id, { limit: 2 });
    t.same(first.data.map((x) => x.id), [cards[2], cards[1]]);
    t.equal(first.has_more, true);
    const second = await stripe.customers.listPaymentMethods(sam.id, { limit: 2, starting_after: cards[1] });
    t.same(second.data.map((x) => x.id), [cards[0]]);
    t.equal(second.has_more, false);
    const back = await stripe.customers.listPaymentMethods(sam.id, { limit: 2, ending_before: cards[0] });
    t.same(back.data.map((x) => x.id), [cards[2], cards[1]]);
    const all: string[] = [];
    for await (const x of stripe.customers.listPaymentMethods(sam.id, { limit: 1 })) all.push(x.id);
    t.same(all, [...cards].reverse(), 'auto-pagination');
    t.same((await stripe.customers.listPaymentMethods(sam.id, { type: 'sepa_debit' })).data, [], 'no other types');
    for (const id of cards) await stripe.paymentMethods.detach(id);
  });

  t.test('a saved card pays', async (t) => {
    const pi = await stripe.paymentIntents.create({ amount: 4200, currency: 'usd', customer: jenny.id, payment_method: pm.id, confirm: true, off_session: true });
    t.equal(pi.status, 'succeeded');
    t.equal(pi.customer, jenny.id);
  });

  t.test('a saved card pays for its own customer only', async (t) => {
    const belongs = { statusCode: 400, type: 'StripeInvalidRequestError', code: 'parameter_missing', param: 'payment_method' };
    const noCustomer = await fails(stripe.paymentIntents.create({ amount: 500, currency: 'usd', payment_method: pm.id }));
    t.match(noCustomer, belongs, 'on an intent without a customer: refused at create');
    t.match(noCustomer?.message, `${pm.id} belongs to the Customer ${jenny.id}`, 'naming the customer, as Stripe does');
    t.match(await fails(stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: sam.id, payment_method: pm.id, confirm: true })), belongs, 'another customer’s intent: refused');
    const later = await stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: sam.id });
    t.match(await fails(stripe.paymentIntents.confirm(later.id, { payment_method: pm.id })), belongs, 'and at confirm');
    t.equal((await stripe.paymentIntents.retrieve(later.id)).status, 'requires_payment_method', 'nothing was attempted');
    const own = await stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: jenny.id });
    t.equal((await stripe.paymentIntents.confirm(own.id, { payment_method: pm.id })).status, 'succeeded', 'its own customer’s intent pays');
  });

  t.test('a card attached at create, and the default card (invoice_settings)', async (t) => {
    // Stripe's own test snippet: a test card id attaches as a card of the customer's own, and is its default.
    const lee = await stripe.customers.create({ email: 'lee@example.com', payment_method: 'pm_card_visa', invoice_settings: { default_payment_method: 'pm_card_visa' } });
    const dflt = lee.invoice_settings.default_payment_method as string;
    t.match(dflt, /^pm_/);
    t.not(dflt, 'pm_card_visa', 'the customer’s own card');
    t.same((await stripe.customers.listPaymentMethods(lee.id)).data.map((x) => x.id), [dflt], 'attached');
    const expanded = await stripe.customers.retrieve(lee.id, { expand: ['invoice_settings.default_payment_method'] });
    t.match(((expanded as Stripe.Customer).invoice_settings.default_payment_method as Stripe.PaymentMethod).card, { last4: '4242' }, 'expand[]=invoice_settings.default_payment_method');

    const second = await stripe.paymentMethods.attach((await card('5555555555554444')).id, { customer: lee.id });
    t.equal((await stripe.customers.update(lee.id, { invoice_settings: { default_payment_method: second.id } })).invoice_settings.default_payment_method, second.id, 'another attached card as default');
    const stranger = await card();
    t.match(
      await fails(stripe.customers.update(lee.id, { invoice_settings: { default_payment_method: stranger.id } })),
      { statusCode: 400, code: 'resource_missing', param: 'invoice_settings[default_payment_method]' },
      'a card not attached cannot be the default',
    );
    await stripe.paymentMethods.detach(second.id);
    t.equal((await stripe.customers.retrieve(lee.id) as Stripe.Customer).invoice_settings.default_payment_method, null, 'detaching the default unsets it');
    t.equal((await stripe.customers.update(lee.id, { invoice_settings: { default_payment_method: dflt } })).invoice_settings.default_payment_method, dflt);
    t.equal((await stripe.customers.update(lee.id, { invoice_settings: { default_payment_method: '' } })).invoice_settings.default_payment_method, null, "'' unsets it");

    t.match(await fails(stripe.customers.create({ email: 'x@example.com', invoice_settings: { default_payment_method: stranger.id } })), { statusCode: 400, param: 'invoice_settings[default_payment_method]' }, 'a default that is not the card attached at create');
    t.match(await fails(stripe.customers.create({ email: 'x@example.com', payment_method: dflt })), { statusCode: 400, code: 'payment_method_unexpected_state' }, 'another customer’s card at create');
    t.match(await fails(stripe.customers.create({ email: 'x@example.com', payment_method: 'pm_nope' })), { statusCode: 404, code: 'resource_missing', param: 'payment_method' });
  });

  t.test('update: billing details, metadata and expiry of a saved card', async (t) => {
    const updated = await stripe.paymentMethods.update(pm.id, { billing_details: { name: 'Jenny Rosen', email: 'jenny@example.com' }, metadata: { label: 'work' }, card: { exp_month: 6, exp_year: 2036 } });
    t.match(updated, { id: pm.id, customer: jenny.id, billing_details: { name: 'Jenny Rosen', email: 'jenny@example.com' }, metadata: { label: 'work' }, card: { exp_month: 6, exp_year: 2036, last4: '4242' } });
    t.match(await stripe.paymentMethods.retrieve(pm.id), { card: { exp_year: 2036 }, metadata: { label: 'work' } }, 'kept');
    // The billing address: fields sent replace the stored ones, '' clears one, '' for the address clears it.
    t.strictSame(updated.billing_details.address, { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, 'an address with every field null when none was given, as at Stripe');
    const addressed = await stripe.paymentMethods.update(pm.id, { billing_details: { address: { line1: '510 Townsend St', city: 'San Francisco', state: 'CA', postal_code: '94103', country: 'US' } } });
    t.strictSame(addressed.billing_details.address, { city: 'San Francisco', country: 'US', line1: '510 Townsend St', line2: null, postal_code: '94103', state: 'CA' });
    t.equal(addressed.billing_details.name, 'Jenny Rosen', 'the other details are kept');
    const moved = await stripe.paymentMethods.update(pm.id, { billing_details: { address: { line1: '1 Market St', state: '' } } });
    t.strictSame(moved.billing_details.address, { city: 'San Francisco', country: 'US', line1: '1 Market St', line2: null, postal_code: '94103', state: null }, 'merged field by field');
    t.match(await stripe.paymentMethods.retrieve(pm.id), { billing_details: { address: { line1: '1 Market St' } } }, 'kept in the card record');
    const listedCard = (await stripe.customers.listPaymentMethods(jenny.id)).data.find((x) => x.id === pm.id);
    t.equal(listedCard?.billing_details.address?.line1, '1 Market St', 'the customer’s list shows it');
    t.strictSame((await stripe.paymentMethods.update(pm.id, { billing_details: { address: '' as never } })).billing_details.address, { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, "'' clears it");
    t.match(await fails(stripe.paymentMethods.update(pm.id, { billing_details: { address: { street: 'x' } as never } })), { statusCode: 400, code: 'parameter_unknown', param: 'billing_details[address][street]' }, 'an unknown address field is refused');
    const created = await stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' }, billing_details: { address: { postal_code: '10001', country: 'US' } } });
    t.strictSame(created.billing_details.address, { city: null, country: 'US', line1: null, line2: null, postal_code: '10001', state: null }, 'given at create');
    t.match(await stripe.paymentMethods.update(pm.id, { metadata: { label: '' } }), { metadata: {} }, "a metadata key set to '' is removed");
    t.match(await fails(stripe.paymentMethods.update(pm.id, { card: { exp_month: 13 } })), { statusCode: 402, code: 'invalid_expiry_month', param: 'card[exp_month]' });
    t.match(await fails(stripe.paymentMethods.update(pm.id, { card: { exp_year: 2001 } })), { statusCode: 402, code: 'invalid_expiry_year' });
    const loose = await card('5555555555554444');
    t.match(await fails(stripe.paymentMethods.update(loose.id, { metadata: { a: 'b' } })), { statusCode: 400, message: /save this PaymentMethod to a customer/ }, 'a card nobody saved cannot be updated, as at Stripe');
    t.match(await fails(stripe.paymentMethods.update('pm_nope', { metadata: { a: 'b' } })), { statusCode: 404, code: 'resource_missing' });
    t.match(await fails(sdk(other.secret_key).paymentMethods.update(pm.id, { metadata: { a: 'b' } })), { statusCode: 404 }, 'another merchant’s card is not found');
    const ev = await eventually(async () => (await stripe.events.list({ type: 'payment_method.updated', limit: 10 })).data.find((e) => (e.data.object as { id: string }).id === pm.id), 10_000);
    t.match(ev?.data.object, { id: pm.id, object: 'payment_method', customer: jenny.id }, 'payment_method.updated');
  });

  t.test('allow_redisplay: set at create or update, shown, and a filter of the customer’s list', async (t) => {
    const sue = await stripe.customers.create({ email: 'sue@example.com' });
    t.equal((await card()).allow_redisplay, 'unspecified', 'unspecified unless set');
    const always = await stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' }, allow_redisplay: 'always' });
    t.equal(always.allow_redisplay, 'always');
    const limited = await card('5555555555554444');
    await stripe.paymentMethods.attach(always.id, { customer: sue.id });
    await stripe.paymentMethods.attach(limited.id, { customer: sue.id });
    t.equal((await stripe.paymentMethods.update(limited.id, { allow_redisplay: 'limited' })).allow_redisplay, 'limited', 'changed by an update');
    t.equal((await stripe.paymentMethods.retrieve(limited.id)).allow_redisplay, 'limited', 'and kept');
    t.same((await stripe.customers.listPaymentMethods(sue.id, { allow_redisplay: 'always' })).data.map((x) => x.id), [always.id], 'the customer’s list filtered by it');
    t.same((await stripe.customers.listPaymentMethods(sue.id, { allow_redisplay: 'unspecified' })).data, []);
    t.match(await fails(stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' }, allow_redisplay: 'sometimes' as never })), { statusCode: 400, param: 'allow_redisplay' });
  });

  t.test('detach', async (t) => {
    const detached = await stripe.paymentMethods.detach(pm.id);
    t.equal(detached.customer, null);
    t.same((await stripe.customers.listPaymentMethods(jenny.id)).data, [], 'no longer listed');
    t.match(await fails(stripe.customers.retrievePaymentMethod(jenny.id, pm.id)), { statusCode: 404 });
    const again = await fails(stripe.paymentMethods.detach(pm.id));
    t.match(again, { statusCode: 400, code: 'payment_method_unexpected_state' });
  });

  t.test('setup_future_usage saves the card once the payment succeeds', async (t) => {
    const lee = await stripe.customers.create({ email: 'lee@example.com' });
    const fresh = await card('4000056655665556');
    const pi = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', customer: lee.id, setup_future_usage: 'off_session', payment_method: fresh.id, confirm: true });
    t.equal(pi.status, 'succeeded');
    t.equal(pi.setup_future_usage, 'off_session', 'the intent shows it');
    t.same((await stripe.customers.listPaymentMethods(lee.id)).data.map((x) => x.id), [fresh.id], 'the card is saved to the customer');
    t.equal((await stripe.paymentMethods.retrieve(fresh.id)).customer, lee.id);

    // Set on confirm, with a decline first: only the card that paid is saved.
    const declined = await card('4000000000000002');
    const good = await card('5555555555554444');
    const pi2 = await stripe.paymentIntents.create({ amount: 900, currency: 'usd', customer: lee.id });
    t.equal(pi2.setup_future_usage, null);
    const e = await fails(stripe.paymentIntents.confirm(pi2.id, { payment_method: declined.id, setup_future_usage: 'on_session' }));
    t.equal(e?.code, 'card_declined');
    t.equal((await stripe.paymentMethods.retrieve(declined.id)).customer, null, 'a declined card is not saved');
    const ok = await stripe.paymentIntents.confirm(pi2.id, { payment_method: good.id });
    t.equal(ok.status, 'succeeded');
    t.equal(ok.setup_future_usage, 'on_session');
    t.same((await stripe.customers.listPaymentMethods(lee.id)).data.map((x) => x.id), [good.id, fresh.id]);

    // Without it, nothing is saved.
    const plain = await card();
    await stripe.paymentIntents.create({ amount: 700, currency: 'usd', customer: lee.id, payment_method: plain.id, confirm: true });
    t.equal((await stripe.paymentMethods.retrieve(plain.id)).customer, null, 'no setup_future_usage: not saved');
  });

  t.test('setup_future_usage with a test card id saves a card of the customer’s own, as at Stripe', async (t) => {
    const ari = await stripe.customers.create({ email: 'ari@example.com' });
    const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', customer: ari.id, setup_future_usage: 'off_session', payment_method: 'pm_card_visa', confirm: true });
    t.equal(pi.status, 'succeeded');
    const saved = pi.payment_method as string;
    t.match(saved, /^pm_/, 'the intent pays with a card of its own');
    t.not(saved, 'pm_card_visa', 'not the shared test card id');
    t.same((await stripe.customers.listPaymentMethods(ari.id)).data.map((x) => x.id), [saved], 'that card is saved to the customer');
    t.equal((await stripe.paymentMethods.retrieve(saved)).card?.last4, '4242');
    const again = await stripe.paymentIntents.create({ amount: 800, currency: 'usd', customer: ari.id, payment_method: saved, off_session: true, confirm: true });
    t.equal(again.status, 'succeeded', 'the saved card pays off-session');

    // Set on confirm: the test card id given there becomes the customer's card.
    const pi2 = await stripe.paymentIntents.create({ amount: 900, currency: 'usd', customer: ari.id, setup_future_usage: 'on_session' });
    const ok = await stripe.paymentIntents.confirm(pi2.id, { payment_method: 'pm_card_mastercard' });
    t.equal(ok.status, 'succeeded');
    t.not(ok.payment_method, 'pm_card_mastercard');
    t.equal((await stripe.customers.listPaymentMethods(ari.id)).data.length, 2, 'the second card is saved too');

    // Nothing to save: the test card id stays as it is.
    const plain = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', customer: ari.id, payment_method: 'pm_card_visa', confirm: true });
    t.equal(plain.payment_method, 'pm_card_visa', 'without setup_future_usage the test card id is used as given');
    t.equal((await stripe.customers.listPaymentMethods(ari.id)).data.length, 2, 'and nothing more is saved');
  });

  t.test('a deleted customer: a stub, no changes, not listed, its cards let go', async (t) => {
    const kim = await stripe.customers.create({ email: 'kim@example.com', name: 'Kim' });
    const kept = await stripe.paymentMethods.attach((await card()).id, { customer: kim.id });
    const del = await stripe.customers.del(kim.id);
    t.same(del, { id: kim.id, object: 'customer', deleted: true });
    t.same(await stripe.customers.retrieve(kim.id), { id: kim.id, object: 'customer', deleted: true }, 'retrieve answers the stub');
    t.match(await fails(stripe.customers.update(kim.id, { name: 'Kim 2' })), { statusCode: 404, code: 'resource_missing' });
    t.match(await fails(stripe.customers.del(kim.id)), { statusCode: 404, code: 'resource_missing' }, 'deleting it again: no such customer');
    t.match(await fails(stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: kim.id })), { statusCode: 400, code: 'resource_missing', param: 'customer' });
    t.match(await fails(stripe.customers.listPaymentMethods(kim.id)), { statusCode: 404 });
    t.equal((await stripe.paymentMethods.retrieve(kept.id)).customer, null, 'its saved card is nobody’s now');
    const listed = await eventually(async () => {
      const ids = (await stripe.customers.list({ limit: 100 })).data.map((c) => c.id);
      return ids.includes(jenny.id) ? ids : null;
    });
    t.notOk(listed.includes(kim.id), 'lists leave it out');
    const ev = await eventually(async () => (await stripe.events.list({ type: 'customer.deleted' })).data.find((e) => (e.data.object as { id: string }).id === kim.id), 10_000);
    t.match(ev.data.object, { id: kim.id, object: 'customer', email: 'kim@example.com' }, 'customer.deleted carries the customer as it was');
  });

  t.test('events: payment_method.attached and .detached', async (t) => {
    const types = async (type: string) => (await stripe.events.list({ type, limit: 100 })).data.filter((e) => (e.data.object as { id: string }).id === pm.id);
    const att = await eventually(async () => (await types('payment_method.attached'))[0], 10_000);
    t.match(att.data.object, { id: pm.id, object: 'payment_method', customer: jenny.id, card: { last4: '4242' } });
    const det = await eventually(async () => (await types('payment_method.detached'))[0], 10_000);
    t.match(det.data.object, { id: pm.id, customer: null });
  });
});
