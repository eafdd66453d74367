// The legacy Charges API through the official SDK against the real stack: stripe.charges.create with
// a test token, a PaymentMethod or a customer's default card; declines and 3-D Secure cards refused
// as Stripe refuses them; capture: false then stripe.charges.capture; keyed repeats; refunds.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) => p.then(
  () => null,
  (e: unknown) => e as Stripe.errors.StripeError,
);

t.test('stripe.charges.create and capture', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard({ name: 'Legacy Store' });
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });

  const ch = await stripe.charges.create({ amount: 2000, currency: 'usd', source: 'tok_visa', description: 'Legacy order', metadata: { order: '42' } });
  t.match(ch, { object: 'charge', amount: 2000, currency: 'usd', status: 'succeeded', paid: true, captured: true, amount_captured: 2000, description: 'Legacy order', metadata: { order: '42' } });
  t.match(ch.id, /^ch_/);
  t.match(ch.payment_intent, /^pi_/, 'made as a PaymentIntent');
  t.equal((await stripe.charges.retrieve(ch.id)).id, ch.id, 'retrievable');
  const listed = await eventually(async () => ((await stripe.charges.list({ limit: 100 })).data.some((x) => x.id === ch.id) ? true : null));
  t.ok(listed, 'listed');
  const refund = await stripe.refunds.create({ charge: ch.id, amount: 500 });
  t.match(refund, { status: 'succeeded', amount: 500, charge: ch.id });

  const declined = await fails(stripe.charges.create({ amount: 2000, currency: 'usd', source: 'tok_chargeDeclined' }));
  t.match(declined, { statusCode: 402, type: 'StripeCardError', code: 'card_declined' }, 'a decline is a card error');
  t.match((declined?.raw as { charge?: string }).charge, /^ch_/, 'naming the declined charge');
  const unauthenticated = await fails(stripe.charges.create({ amount: 2000, currency: 'usd', source: 'tok_threeDSecure2Required' }));
  t.match(
    unauthenticated,
    { statusCode: 402, code: 'authentication_required', decline_code: 'authentication_required' },
    'a card that asks for authentication is declined (the Charges API cannot authenticate)',
  );
  const failedCharge = await stripe.charges.retrieve((unauthenticated?.raw as { charge: string }).charge);
  t.match(failedCharge, { status: 'failed', paid: false, failure_code: 'authentication_required' }, 'its charge failed, as at Stripe');
  t.equal((await stripe.paymentIntents.retrieve(failedCharge.payment_intent as string)).status, 'requires_payment_method', 'and no payment waits for an authentication nobody can give');

  const held = await stripe.charges.create({ amount: 3000, currency: 'usd', source: 'tok_mastercard', capture: false });
  t.match(held, { status: 'succeeded', captured: false, amount_captured: 0 }, 'authorized only');
  const captured = await stripe.charges.capture(held.id, { amount: 2500 });
  t.match(captured, { id: held.id, captured: true, amount_captured: 2500 }, 'captured in part');
  t.match(await fails(stripe.charges.capture('ch_nope000000000000000000')), { statusCode: 404, code: 'resource_missing' });

  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
  t.equal((await stripe.charges.create({ amount: 700, currency: 'eur', source: pm.id })).status, 'succeeded', 'a PaymentMethod as source');

  const cus = await stripe.customers.create({ email: 'old@example.com', payment_method: 'pm_card_visa', invoice_settings: { default_payment_method: 'pm_card_visa' } });
  const byCustomer = await stripe.charges.create({ amount: 1100, currency: 'usd', customer: cus.id });
  t.match(byCustomer, { status: 'succeeded', customer: cus.id, payment_method: cus.invoice_settings.default_payment_method }, 'the customer’s default card');
  const bare = await stripe.customers.create({ email: 'nocard@example.com' });
  t.match(await fails(stripe.charges.create({ amount: 1100, currency: 'usd', customer: bare.id })), { statusCode: 402, code: 'missing' }, 'a customer without a card');
  t.match(await fails(stripe.charges.create({ amount: 1100, currency: 'usd' })), { statusCode: 400, code: 'parameter_missing', param: 'source' });
  t.match(await fails(stripe.charges.create({ amount: 10, currency: 'usd', source: 'tok_visa' })), { statusCode: 400, code: 'amount_too_small' });

  const key = `charge_${Date.now()}`;
  const a = await stripe.charges.create({ amount: 900, currency: 'usd', source: 'tok_amex' }, { idempotencyKey: key });
  const b = await stripe.charges.create({ amount: 900, currency: 'usd', source: 'tok_amex' }, { idempotencyKey: key });
  t.equal(b.id, a.id, 'a keyed repeat answers the same charge');
  t.match(await fails(stripe.charges.create({ amount: 901, currency: 'usd', source: 'tok_amex' }, { idempotencyKey: key })), { statusCode: 400, type: 'StripeIdempotencyError' }, 'other parameters under the key are refused');

  // Charge update: description and metadata of the charge's own, receipt_email; charge.updated.
  const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, metadata: { order: '42' }, description: 'From the intent' });
  const chId = pi.latest_charge as string;
  t.match(await stripe.charges.retrieve(chId), { description: 'From the intent', metadata: { order: '42' } }, 'a charge shows its intent’s description and metadata until it has its own');
  const up = await stripe.charges.update(chId, { description: 'Shipped', metadata: { tracking: 'T-1' }, receipt_email: 'buyer@example.com' }, { idempotencyKey: `upd-${chId}` });
  t.match(up, { id: chId, object: 'charge', description: 'Shipped', metadata: { order: '42', tracking: 'T-1' }, receipt_email: 'buyer@example.com', status: 'succeeded', amount_captured: 1200 }, 'updated: metadata merged onto what it showed');
  t.same((await stripe.charges.update(chId, { description: 'Shipped', metadata: { tracking: 'T-1' }, receipt_email: 'buyer@example.com' }, { idempotencyKey: `upd-${chId}` })).metadata, up.metadata, 'a keyed repeat answers the same');
  const removed = await stripe.charges.update(chId, { metadata: { order: '' } });
  t.same(removed.metadata, { tracking: 'T-1' }, "a key given '' is removed");
  const after = await stripe.paymentIntents.retrieve(pi.id);
  t.same(after.metadata, { order: '42' }, 'the intent keeps its own metadata');
  t.equal(after.description, 'From the intent');
  t.equal(after.receipt_email, 'buyer@example.com', 'the receipt email is the intent’s');
  // Lists read the projection (read-your-writes waits at most a second): wait as a client would.
  const updatedInList = await eventually(async () => (await stripe.charges.list({ payment_intent: pi.id })).data.find((c) => c.id === chId && c.description === 'Shipped'));
  t.match(updatedInList, { id: chId, description: 'Shipped', metadata: { tracking: 'T-1' } }, 'the list shows the update');
  t.match(await fails(stripe.charges.update('ch_nope', { description: 'x' })), { statusCode: 404, code: 'resource_missing' }, 'an unknown charge is 404');
  t.match(await fails(stripe.charges.update(chId, { receipt_email: 'not-an-email' })), { statusCode: 400, param: 'receipt_email' });
  t.match(await fails(stripe.charges.update(chId, { fraud_details: { user_report: 'safe' } } as Stripe.ChargeUpdateParams & Record<string, unknown>)), { statusCode: 400, code: 'parameter_unknown' }, 'what we do not model is refused, not ignored');
  const ev = await eventually(async () => (await stripe.events.list({ type: 'charge.updated', limit: 10 })).data.find((e) => (e.data.object as Stripe.Charge).id === chId));
  t.match(ev.data.object, { object: 'charge', id: chId }, 'charge.updated is emitted');
});
