// What Stripe's own test-mode examples send, through the official SDK against the real stack:
// test tokens (`card[token]=tok_visa`), `payment_method_data` on create and confirm (the card made
// into a PaymentMethod for the intent, nothing written when the request is refused), the 3-D Secure
// test payment methods, and GET /v1/account.
import t from 'tap';
import Stripe from 'stripe';
import { startStack } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) => p.then(
  () => null,
  (e: unknown) => e as Stripe.errors.StripeError,
);

t.test('Stripe test-mode inputs through the official SDK', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard({ name: 'Token Store' });
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const countIntents = async () => (await fetch(`${stack.url}/v1/payment_intents?limit=100`, { headers: { authorization: `Bearer ${m.secret_key}` } }).then((r) => r.json() as Promise<{ data: unknown[] }>)).data.length;

  t.test('card[token]: a test token makes a stored card', async (t) => {
    const pm = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    t.match(pm.id, /^pm_/);
    t.not(pm.id, 'pm_card_visa', 'a card of its own, not the magic id');
    t.match(pm.card, { brand: 'visa', last4: '4242' });
    t.ok(pm.card!.exp_year > new Date().getUTCFullYear(), 'not expired');
    const mc = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_mastercard' } });
    t.match(mc.card, { brand: 'mastercard', last4: '4444' });
    const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: pm.id, confirm: true });
    t.equal(pi.status, 'succeeded', 'it pays');
    const declined = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_chargeDeclined' } });
    t.match(await fails(stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: declined.id, confirm: true })), { statusCode: 402, code: 'card_declined' }, 'tok_chargeDeclined declines');

    t.match(await fails(stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_nonsense' } })), { statusCode: 400, code: 'resource_missing', param: 'card[token]' }, 'an unknown token');
    t.match(
      await fails(stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa', number: '4242424242424242' } as never })),
      { statusCode: 400, code: 'parameter_invalid', param: 'card[token]' },
      'a token and a number together',
    );
    t.match(await fails(stripe.paymentMethods.create({ type: 'card', card: { exp_month: 12, exp_year: 2034 } as never })), { statusCode: 400, code: 'parameter_missing', param: 'card[number]' }, 'no number, no token');
    const live = await stack.onboard({ name: 'Live Store' });
    const liveKey = (live as unknown as { live_secret_key?: string }).live_secret_key;
    t.ok(liveKey, 'onboarding gives live keys too');
    {
      const liveSdk = new Stripe(liveKey!, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
      t.match(await fails(liveSdk.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } })), { statusCode: 400, code: 'resource_missing' }, 'test tokens are test mode only');
    }
  });

  t.test('payment_method_data on create and on confirm', async (t) => {
    const pi = await stripe.paymentIntents.create({
      amount: 2500,
      currency: 'eur',
      payment_method_data: { type: 'card', card: { token: 'tok_visa' }, billing_details: { name: 'Jenny Rosen' }, allow_redisplay: 'always' } as never,
      confirm: true,
    });
    t.equal(pi.status, 'succeeded');
    const pm = await stripe.paymentMethods.retrieve(pi.payment_method as string);
    t.match(pm, { card: { last4: '4242' }, billing_details: { name: 'Jenny Rosen' }, allow_redisplay: 'always' }, 'the card became the intent’s PaymentMethod');

    const later = await stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
    const confirmed = await stripe.paymentIntents.confirm(later.id, {
      payment_method_data: { type: 'card', card: { number: '5555555555554444', exp_month: 12, exp_year: 2034, cvc: '123' } } as never,
    });
    t.equal(confirmed.status, 'succeeded');
    t.equal((await stripe.paymentMethods.retrieve(confirmed.payment_method as string)).card!.last4, '4444', 'confirm with a raw card');

    const updated = await stripe.paymentIntents.update((await stripe.paymentIntents.create({ amount: 800, currency: 'usd' })).id, {
      payment_method_data: { type: 'card', card: { token: 'tok_amex' } } as never,
    });
    t.equal(updated.status, 'requires_confirmation', 'update with payment_method_data gives the intent its card');
    t.equal((await stripe.paymentMethods.retrieve(updated.payment_method as string)).card!.brand, 'amex');
    t.equal((await stripe.paymentIntents.confirm(updated.id)).status, 'succeeded');

    t.match(
      await fails(stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', payment_method_data: { type: 'card', card: { token: 'tok_visa' } } as never })),
      { statusCode: 400, code: 'parameter_invalid', param: 'payment_method_data' },
      'payment_method and payment_method_data exclude each other',
    );
    const before = await countIntents();
    t.match(
      await fails(stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method_data: { type: 'card', card: { number: '4242424242424241', exp_month: 12, exp_year: 2034 } } as never })),
      { statusCode: 402, code: 'incorrect_number', param: 'payment_method_data[card][number]' },
      'a bad card is refused where it sits',
    );
    t.match(
      await fails(stripe.paymentIntents.create({ amount: 10, currency: 'usd', payment_method_data: { type: 'card', card: { token: 'tok_visa' } } as never })),
      { statusCode: 400, code: 'amount_too_small' },
      'a refused intent',
    );
    t.equal(await countIntents(), before, 'no intent written by refused requests');

    // A keyed repeat: the same intent and the same card.
    const key = `pmd_${Date.now()}`;
    const body = { amount: 700, currency: 'usd', payment_method_data: { type: 'card', card: { token: 'tok_amex' } }, confirm: true } as never;
    const a = await stripe.paymentIntents.create(body, { idempotencyKey: key });
    const b = await stripe.paymentIntents.create(body, { idempotencyKey: key });
    t.equal(b.id, a.id, 'same intent');
    t.equal(b.payment_method, a.payment_method, 'same card');
    t.equal(b.status, 'succeeded');
    const done = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    t.match(
      await fails(stripe.paymentIntents.confirm(done.id, { payment_method_data: { type: 'card', card: { token: 'tok_visa' } } as never })),
      { statusCode: 400, code: 'payment_intent_unexpected_state' },
      'confirming a succeeded intent with a new card is refused as any confirm of it',
    );
  });

  t.test('3-D Secure test payment methods ask for authentication', async (t) => {
    for (const pm of ['pm_card_threeDSecure2Required', 'pm_card_authenticationRequired']) {
      const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: pm, confirm: true, return_url: 'https://example.com/back' });
      t.equal(pi.status, 'requires_action', pm);
      t.equal(pi.next_action?.type, 'redirect_to_url');
    }
  });

  t.test('off_session and error_on_requires_action: a card that asks for authentication is declined', async (t) => {
    const declined = await fails(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_card_authenticationRequired', confirm: true, off_session: true }));
    t.match(declined, { statusCode: 402, type: 'StripeCardError', code: 'authentication_required', decline_code: 'authentication_required' }, 'off_session on create');
    const pi = (declined?.raw as { payment_intent?: Stripe.PaymentIntent }).payment_intent;
    t.match(pi, { status: 'requires_payment_method', last_payment_error: { code: 'authentication_required', decline_code: 'authentication_required' } }, 'the intent waits for another card, as at Stripe');
    t.equal(pi?.next_action, null, 'with no challenge to follow');

    // The customer comes back on session: the same intent is confirmed and asks for the challenge.
    const back = await stripe.paymentIntents.confirm(pi!.id, { payment_method: 'pm_card_authenticationRequired', return_url: 'https://example.com/back' });
    t.equal(back.status, 'requires_action', 'on session the challenge is offered');

    const onConfirm = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: 'pm_card_threeDSecure2Required' });
    t.match(await fails(stripe.paymentIntents.confirm(onConfirm.id, { off_session: 'recurring' } as never)), { statusCode: 402, code: 'authentication_required' }, 'off_session on confirm');
    const strict = await stripe.paymentIntents.create({ amount: 1300, currency: 'usd', payment_method: 'pm_card_threeDSecure2Required' });
    t.match(await fails(stripe.paymentIntents.confirm(strict.id, { error_on_requires_action: true })), { statusCode: 402, code: 'authentication_required' }, 'error_on_requires_action');
    t.equal((await stripe.paymentIntents.confirm(strict.id, { payment_method: 'pm_card_visa', off_session: true })).status, 'succeeded', 'a card that needs no authentication pays off session');

    const saving = await stripe.paymentIntents.create({ amount: 1400, currency: 'usd', payment_method: 'pm_card_visa', setup_future_usage: 'off_session' });
    t.match(await fails(stripe.paymentIntents.confirm(saving.id, { off_session: true })), { statusCode: 400, type: 'StripeInvalidRequestError', param: 'off_session' }, 'off_session with setup_future_usage is refused');
    t.match(
      await fails(stripe.paymentIntents.create({ amount: 1400, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, off_session: true, setup_future_usage: 'on_session' })),
      { statusCode: 400, param: 'off_session' },
      'on create too',
    );
    t.equal((await stripe.paymentIntents.retrieve(saving.id)).status, 'requires_confirmation', 'nothing was attempted');
  });

  t.test('GET /v1/account', async (t) => {
    const acct = await stripe.accounts.retrieveCurrent();
    t.match(acct, { id: m.merchant_id, object: 'account', charges_enabled: true, business_profile: { name: 'Token Store' }, country: 'IN', default_currency: 'inr' });
    t.equal((await stripe.accounts.retrieve(m.merchant_id)).id, m.merchant_id, 'by its own id');
    t.match(await fails(stripe.accounts.retrieve('acct_someoneelse0000000000')), { statusCode: 404, code: 'resource_missing' }, 'another account: none');
    const pk = new Stripe(m.publishable_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
    t.match(await fails(pk.accounts.retrieveCurrent()), { statusCode: 401 }, 'not with a publishable key');
  });
});
