// Card tokens with the official SDK against the real stack: made with the publishable key (as
// Stripe.js's createToken does), read back with the secret key, used once as a PaymentMethod's
// card[token] or as a charge's source; a second use, another merchant's token, a bad card are refused.
import t from 'tap';
import Stripe from 'stripe';
import { connect } from '@nats-io/transport-node';
import { readAll } from '../ops/read.ts';
import { startStack } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as Stripe.errors.StripeError);
const CARD = { number: '4242424242424242', exp_month: '12', exp_year: '2034', cvc: '123' };

t.test('card tokens', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const other = await stack.onboard({ name: 'Other Store' });
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const stripe = sdk(m.secret_key);
  const browser = sdk(m.publishable_key);

  // given a card typed into the browser, when Stripe.js-style code makes a token with the publishable key
  const tok = await browser.tokens.create({ card: { ...CARD, name: 'Jenny Rosen', address_line1: '510 Townsend St', address_zip: '94103', address_country: 'US' } });
  t.match(tok, { object: 'token', type: 'card', livemode: false, used: false, card: { object: 'card', brand: 'Visa', last4: '4242', exp_month: 12, exp_year: 2034, funding: 'credit', name: 'Jenny Rosen', address_line1: '510 Townsend St', address_zip: '94103', address_country: 'US', address_city: null, cvc_check: 'unchecked' } });
  t.match(tok.id, /^tok_[0-9a-f]{24}$/);
  t.equal(tok.card!.id, `card_${tok.id.slice(4)}`);
  t.match(tok.card!.fingerprint, /\S/);
  t.notOk(JSON.stringify(tok).includes('4242424242424242'), 'the number is not in the answer');

  // then the secret key reads it back; the publishable key cannot
  t.match(await stripe.tokens.retrieve(tok.id), { id: tok.id, used: false, card: { last4: '4242' } });
  t.match(await fails(browser.tokens.retrieve(tok.id)), { statusCode: 401, code: 'secret_key_required' });
  t.match(await fails(sdk(other.secret_key).tokens.retrieve(tok.id)), { statusCode: 404, code: 'resource_missing' }, 'another merchant does not find it');
  t.match(await fails(stripe.paymentMethods.retrieve(tok.id)), { statusCode: 404 }, 'a token is not a PaymentMethod');
  t.match(await fails(sdk(other.secret_key).paymentMethods.create({ type: 'card', card: { token: tok.id } })), { statusCode: 400, code: 'resource_missing', param: 'card[token]' }, 'nor can another merchant use it');

  // when it becomes a PaymentMethod, then the card and the token's name and address are the PaymentMethod's, and the token is used
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { token: tok.id }, billing_details: { email: 'jenny@example.com' } });
  t.match(pm, { type: 'card', card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, fingerprint: tok.card!.fingerprint }, billing_details: { name: 'Jenny Rosen', email: 'jenny@example.com', address: { line1: '510 Townsend St', postal_code: '94103', country: 'US', city: null } } });
  t.equal((await stripe.tokens.retrieve(tok.id)).used, true, 'used');
  const paid = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: pm.id, confirm: true });
  t.equal(paid.status, 'succeeded', 'the PaymentMethod pays');

  // a second use is refused, as at Stripe
  t.match(await fails(stripe.paymentMethods.create({ type: 'card', card: { token: tok.id } })), { statusCode: 400, code: 'token_already_used', param: 'card[token]' });

  // under an Idempotency-Key, a repeat of the request that used a token gets the same PaymentMethod
  const tok2 = await browser.tokens.create({ card: CARD });
  const keyed = await stripe.paymentMethods.create({ type: 'card', card: { token: tok2.id } }, { idempotencyKey: 'pm-from-token-1' });
  const again = await stripe.paymentMethods.create({ type: 'card', card: { token: tok2.id } }, { idempotencyKey: 'pm-from-token-1' });
  t.equal(again.id, keyed.id, 'the same PaymentMethod');
  t.match(await fails(stripe.paymentMethods.create({ type: 'card', card: { token: tok2.id } }, { idempotencyKey: 'pm-from-token-2' })), { code: 'token_already_used' }, 'another key is another use');

  // as payment_method_data on a PaymentIntent
  const tok3 = await browser.tokens.create({ card: CARD });
  const pi = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', confirm: true, payment_method_data: { type: 'card', card: { token: tok3.id } } as never });
  t.equal(pi.status, 'succeeded');

  // as the source of a charge (the Charges API); a declining card's token is declined
  const tok4 = await browser.tokens.create({ card: CARD });
  const charge = await stripe.charges.create({ amount: 900, currency: 'usd', source: tok4.id });
  t.match(charge, { status: 'succeeded', paid: true, amount: 900, payment_method_details: { card: { last4: '4242' } } });
  const declining = await browser.tokens.create({ card: { ...CARD, number: '4000000000000002' } });
  t.match(await fails(stripe.charges.create({ amount: 900, currency: 'usd', source: declining.id })), { statusCode: 402, code: 'card_declined' });

  // bad cards are refused before anything is made
  t.match(await fails(browser.tokens.create({ card: { ...CARD, number: '4242424242424241' } })), { statusCode: 402, type: 'StripeCardError', code: 'incorrect_number', param: 'card[number]' });
  t.match(await fails(browser.tokens.create({ card: { ...CARD, exp_month: '13' } })), { statusCode: 402, code: 'invalid_expiry_month' });
  t.match(await fails(browser.tokens.create({ card: { ...CARD, colour: 'red' } as never })), { statusCode: 400, code: 'parameter_unknown', param: 'card[colour]' });
  t.match(await fails(stripe.tokens.retrieve('tok_nope')), { statusCode: 404, code: 'resource_missing' });

  // the card number is in the vault only: not in the streams
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const everything = await readAll(nc, 'PAY_EVENTS', ['>']);
  t.notOk(everything.some((x) => Buffer.from(x.data).includes('4242424242424242')), 'no card number in PAY_EVENTS');
});
