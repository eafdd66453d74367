// Stripe's documented test cards through the official SDK against the real stack: every decline
// alias (pm_card_visa_chargeDeclined…, pm_card_chargeDeclined…, their tok_ twins) gives the decline
// Stripe's testing page lists; the debit and prepaid cards say so in `funding`; the other brands are
// named; and 4000 0000 0000 0341 saves (a SetupIntent verifies it) but every charge of it is declined.
import t from 'tap';
import Stripe from 'stripe';
import { startStack } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

t.test('Stripe test cards', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const pay = (payment_method: string) => stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method, confirm: true });

  t.test('every documented decline alias declines as documented', async (t) => {
    const declines: [string, string, string][] = [
      ['pm_card_visa_chargeDeclined', 'card_declined', 'generic_decline'],
      ['pm_card_visa_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
      ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
      ['pm_card_visa_chargeDeclinedLostCard', 'card_declined', 'lost_card'],
      ['pm_card_visa_chargeDeclinedStolenCard', 'card_declined', 'stolen_card'],
      ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
      ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', 'incorrect_cvc'],
      ['pm_card_chargeDeclinedProcessingError', 'processing_error', 'processing_error'],
      ['pm_card_visa_chargeDeclinedVelocityLimitExceeded', 'card_declined', 'card_velocity_exceeded'],
      ['pm_card_chargeCustomerFail', 'card_declined', 'generic_decline'],
      ['pm_card_chargeDeclinedFraudulent', 'card_declined', 'fraudulent'],
      ['pm_card_radarBlock', 'card_declined', 'fraudulent'],
      ['pm_card_riskLevelHighest', 'card_declined', 'fraudulent'],
    ];
    for (const [pm, code, decline_code] of declines) {
      const e = await fails(pay(pm));
      t.match(e, { type: 'StripeCardError', statusCode: 402, code, decline_code }, pm);
      t.equal(e?.payment_intent?.status, 'requires_payment_method', `${pm}: the intent asks for another card`);
      t.match(e?.payment_method, { id: pm, object: 'payment_method', type: 'card' }, `${pm}: the error names the card declined`);
    }
    t.equal((await pay('pm_card_riskLevelElevated')).status, 'succeeded', 'an elevated risk is paid');
    const tok = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa_chargeDeclinedInsufficientFunds' } });
    t.equal(tok.card?.last4, '9995', 'the tok_ twin is the same card');
    t.match(await fails(pay(tok.id)), { code: 'card_declined', decline_code: 'insufficient_funds' });
  });

  t.test('brands and funding', async (t) => {
    const cards: [string, string, string][] = [
      ['pm_card_visa', 'visa', 'credit'],
      ['pm_card_visa_debit', 'visa', 'debit'],
      ['pm_card_mastercard_debit', 'mastercard', 'debit'],
      ['pm_card_mastercard_prepaid', 'mastercard', 'prepaid'],
      ['pm_card_diners', 'diners', 'credit'],
      ['pm_card_jcb', 'jcb', 'credit'],
      ['pm_card_unionpay', 'unionpay', 'credit'],
    ];
    for (const [pm, brand, funding] of cards) {
      t.match((await stripe.paymentMethods.retrieve(pm)).card, { brand, funding }, pm);
      const pi = await pay(pm);
      t.equal(pi.status, 'succeeded', `${pm} pays`);
      const charge = await stripe.charges.retrieve(pi.latest_charge as string);
      t.match(charge.payment_method_details?.card, { brand, funding }, `${pm}: the charge shows its card`);
    }
    const typed = await stripe.paymentMethods.create({ type: 'card', card: { number: '5105105105105100', exp_month: 12, exp_year: 2034, cvc: '123' } });
    t.equal(typed.card?.funding, 'prepaid', 'a typed card number is read the same way');
  });

  t.test('4000 0000 0000 0341 saves, but is declined when charged', async (t) => {
    const customer = await stripe.customers.create({ email: 'fail@example.com' });
    const si = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_chargeCustomerFail', confirm: true, usage: 'off_session' });
    t.equal(si.status, 'succeeded', 'the card is verified and saved');
    const saved = si.payment_method as string;
    t.equal((await stripe.paymentMethods.retrieve(saved)).customer, customer.id, 'the customer has it');
    const e = await fails(stripe.paymentIntents.create({ amount: 1500, currency: 'usd', customer: customer.id, payment_method: saved, off_session: true, confirm: true }));
    t.match(e, { type: 'StripeCardError', code: 'card_declined', decline_code: 'generic_decline' }, 'the off-session charge is declined');
  });
});
