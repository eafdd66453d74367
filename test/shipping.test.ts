// Shipping details and statement descriptors through the official SDK against the real stack: set on
// create, update and confirm (and on the legacy POST /v1/charges), shown on the PaymentIntent, its
// charge and the events a webhook endpoint receives; '' unsets them; a shipping hash without a name or
// address is refused as at Stripe; an erasure request clears the shipping details everywhere the read
// model holds them (the intent, its list, its stored events), the amounts and the descriptor stay.
// A customer's address and shipping: the same, on create and update, and erased with the customer.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

const SHIPPING = { name: 'Jenny Rosen', phone: '+15555550100', address: { line1: '510 Townsend St', city: 'San Francisco', state: 'CA', postal_code: '94103', country: 'US' } };
const SHOWN = {
  name: 'Jenny Rosen',
  phone: '+15555550100',
  carrier: null,
  tracking_number: null,
  address: { city: 'San Francisco', country: 'US', line1: '510 Townsend St', line2: null, postal_code: '94103', state: 'CA' },
};

t.test('shipping and statement descriptors', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });

  t.test('set on create, shown on the intent and its charge', async (t) => {
    const pi = await stripe.paymentIntents.create({
      amount: 2500,
      currency: 'usd',
      shipping: SHIPPING,
      statement_descriptor_suffix: 'ORDER 42',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    t.equal(pi.status, 'succeeded');
    t.strictSame(pi.shipping, SHOWN, 'every field, null where not given');
    t.equal(pi.statement_descriptor_suffix, 'ORDER 42');
    t.equal(pi.statement_descriptor, null);
    const charge = await stripe.charges.retrieve(pi.latest_charge as string);
    t.strictSame(charge.shipping, SHOWN, 'the charge shows the intent’s shipping');
    t.equal(charge.statement_descriptor_suffix, 'ORDER 42', 'and its descriptor suffix');
    t.strictSame((await stripe.paymentIntents.retrieve(pi.id)).shipping, SHOWN, 'retrieve shows it');
    const listed = await eventually(async () => (await stripe.paymentIntents.list({ limit: 10 })).data.find((x) => x.id === pi.id && x.status === 'succeeded'), 20_000);
    t.strictSame(listed.shipping, SHOWN, 'the list (the read model) shows it');
    const event = await eventually(async () => (await stripe.events.list({ type: 'payment_intent.succeeded', limit: 10 })).data.find((e) => (e.data.object as Stripe.PaymentIntent).id === pi.id), 20_000);
    t.strictSame((event.data.object as Stripe.PaymentIntent).shipping, SHOWN, 'the event a webhook carries shows it');
  });

  t.test('update sets, changes and unsets; confirm sets', async (t) => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
    t.equal(pi.shipping, null, 'none until given');
    const set = await stripe.paymentIntents.update(pi.id, { shipping: SHIPPING, statement_descriptor: 'PAYNATS STORE', statement_descriptor_suffix: 'A1' });
    t.strictSame(set.shipping, SHOWN);
    t.equal(set.statement_descriptor, 'PAYNATS STORE');
    t.equal(set.statement_descriptor_suffix, 'A1');
    const changed = await stripe.paymentIntents.update(pi.id, { shipping: { ...SHIPPING, carrier: 'UPS', tracking_number: '1Z999' } });
    t.match(changed.shipping, { carrier: 'UPS', tracking_number: '1Z999', name: 'Jenny Rosen' });
    const unset = await stripe.paymentIntents.update(pi.id, { shipping: '', statement_descriptor_suffix: '' });
    t.equal(unset.shipping, null, "'' unsets shipping");
    t.equal(unset.statement_descriptor_suffix, null, "'' unsets the suffix");
    t.equal(unset.statement_descriptor, 'PAYNATS STORE', 'what was not sent stays');
    const confirmed = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa', shipping: { name: 'Sam', address: { line1: '1 Main St', country: 'GB' } } });
    t.equal(confirmed.status, 'succeeded');
    t.match(confirmed.shipping, { name: 'Sam', phone: null, address: { line1: '1 Main St', country: 'GB', city: null } }, 'confirm sets it');
  });

  t.test('the legacy Charges API keeps them', async (t) => {
    const ch = await stripe.charges.create({ amount: 1200, currency: 'usd', source: 'tok_visa', shipping: SHIPPING, statement_descriptor_suffix: 'LEGACY' });
    t.strictSame(ch.shipping, SHOWN);
    t.equal(ch.statement_descriptor_suffix, 'LEGACY');
  });

  t.test('a shipping hash without a name or an address is refused', async (t) => {
    t.match(await fails(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', shipping: { address: { line1: 'x' } } as Stripe.PaymentIntentCreateParams.Shipping })), {
      statusCode: 400,
      type: 'StripeInvalidRequestError',
      code: 'parameter_missing',
      param: 'shipping[name]',
    });
    t.match(await fails(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', shipping: { name: 'A' } as Stripe.PaymentIntentCreateParams.Shipping })), { statusCode: 400, code: 'parameter_missing', param: 'shipping[address]' });
    t.match(await fails(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', shipping: { ...SHIPPING, color: 'red' } as Stripe.PaymentIntentCreateParams.Shipping })), { statusCode: 400, code: 'parameter_unknown', param: 'shipping[color]' });
    t.match(await fails(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', statement_descriptor_suffix: 'x'.repeat(23) })), { statusCode: 400, param: 'statement_descriptor_suffix' });
  });

  t.test('a customer’s address and shipping', async (t) => {
    const address = { line1: '1 MG Road', city: 'Pune', postal_code: '411001', country: 'IN' };
    const cus = await stripe.customers.create({ email: 'a@example.com', address, shipping: { name: 'Ana', address } });
    const shownAddress = { city: 'Pune', country: 'IN', line1: '1 MG Road', line2: null, postal_code: '411001', state: null };
    t.strictSame(cus.address, shownAddress, 'the address, every field shown');
    t.strictSame(cus.shipping, { name: 'Ana', phone: null, address: shownAddress }, 'the shipping: no carrier or tracking number on a customer');
    const moved = await stripe.customers.update(cus.id, { address: { line1: '2 FC Road', city: 'Pune', country: 'IN' }, shipping: '' });
    t.match(moved.address, { line1: '2 FC Road', postal_code: null }, 'an update replaces the address');
    t.equal(moved.shipping, null, "'' unsets the shipping");
    t.strictSame((await stripe.customers.retrieve(cus.id)) as Stripe.Customer, moved, 'retrieve shows the same');
    const listed = await eventually(async () => (await stripe.customers.list({ email: 'a@example.com' })).data.find((c) => c.id === cus.id && c.address?.line1 === '2 FC Road'), 20_000);
    t.equal(listed.shipping, null, 'the list shows it');
    t.match(await fails(stripe.customers.update(cus.id, { shipping: { name: 'Ana', address, carrier: 'UPS' } as Stripe.CustomerUpdateParams.Shipping })), { statusCode: 400, code: 'parameter_unknown', param: 'shipping[carrier]' });
    t.match(await fails(stripe.customers.create({ shipping: { address } as Stripe.CustomerCreateParams.Shipping })), { statusCode: 400, code: 'parameter_missing', param: 'shipping[name]' });
  });

  t.test('an erasure clears the shipping details; amounts and descriptors stay', async (t) => {
    const cus = await stripe.customers.create({ email: 'jenny.rosen@example.com', address: { line1: '9 Erase St', country: 'US' }, shipping: SHIPPING });
    const pi = await stripe.paymentIntents.create({ amount: 3000, currency: 'usd', customer: cus.id, shipping: SHIPPING, statement_descriptor_suffix: 'KEEP', payment_method: 'pm_card_visa', confirm: true });
    await eventually(async () => (await stripe.paymentIntents.list({ customer: cus.id })).data.find((x) => x.id === pi.id && x.status === 'succeeded'), 20_000);
    const res = await fetch(`${stack.url}/admin/merchants/${m.merchant_id}/erasures`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ customer: cus.id }),
    });
    t.equal(res.status, 200, 'the erasure is accepted');
    const after = await eventually(async () => {
      const x = await stripe.paymentIntents.retrieve(pi.id);
      return x.shipping === null ? x : null;
    }, 20_000);
    t.equal(after.amount_received, 3000, 'the amount stays');
    t.equal(after.statement_descriptor_suffix, 'KEEP', 'the descriptor is not personal data');
    const listed = await eventually(async () => (await stripe.paymentIntents.list({ customer: cus.id })).data.find((x) => x.id === pi.id && x.shipping === null), 20_000);
    t.equal(listed.status, 'succeeded', 'the list shows it without shipping');
    const events = await eventually(async () => {
      const all = (await stripe.events.list({ limit: 100 })).data.filter((e) => (e.data.object as { id?: string; payment_intent?: string }).id === pi.id || (e.data.object as { payment_intent?: string }).payment_intent === pi.id);
      return all.length > 0 && all.every((e) => (e.data.object as { shipping?: unknown }).shipping === null) ? all : null;
    }, 20_000);
    t.ok(events.length >= 2, `the intent's ${events.length} stored events hold no shipping details`);
    const c = (await stripe.customers.retrieve(cus.id)) as Stripe.Customer;
    t.equal(c.address, null, 'the customer’s address is erased');
    t.equal(c.shipping, null, 'and its shipping');
    const created = await eventually(async () => {
      const e = (await stripe.events.list({ type: 'customer.created', limit: 100 })).data.find((x) => (x.data.object as Stripe.Customer).id === cus.id);
      return e && (e.data.object as Stripe.Customer).address === null ? e : null;
    }, 20_000);
    t.equal((created.data.object as Stripe.Customer).shipping, null, 'the stored customer.created event holds neither');
  });
});
