// A Checkout Session held by its PaymentIntent: open until a charge succeeds (complete), expired by
// ExpireCheckout (which cancels the intent); a complete session cannot expire; the intent of an open
// session is not canceled directly (Stripe: expire the session instead), an authorized one may be.
import t from 'tap';
import { fold } from '../decider.ts';
import { spec } from '../testing.ts';
import { checkoutStatus, intentDecider, type CardSummary, type CheckoutSession, type IntentEvent } from './intent.ts';

const it = spec(intentDecider);
const T0 = 1_700_000_000;
const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: 'fp_1', funding: 'credit', country: 'US' };
const session: CheckoutSession = {
  id: 'cs_test_1',
  success_url: 'https://shop.example/ok?session={CHECKOUT_SESSION_ID}',
  cancel_url: null,
  client_reference_id: 'order-7',
  customer_email: null,
  line_items: [{ id: 'li_1', price: 'price_1', product: 'prod_1', name: 'T-shirt', description: null, unit_amount: 1500, quantity: 2 }],
  metadata: {},
  expires_at: T0 + 3600,
};
const created: IntentEvent = {
  type: 'intent.created',
  at: T0,
  data: {
    id: 'pi_1', merchant_id: 'mer_1', livemode: false, amount: 3000, currency: 'usd', status: 'requires_payment_method', capture_method: 'automatic',
    client_secret: 'pi_1_secret_x', created: T0, description: null, metadata: {}, receipt_email: null, customer: null, user_email: null, product_id: null, payment_method: null, checkout: session,
  },
};
const started: IntentEvent = { type: 'attempt.started', at: T0 + 1, data: { attempt_id: 'ch_1', payment_method: 'pm_1', card, amount: 3000 } };
const declined: IntentEvent = { type: 'attempt.declined', at: T0 + 2, data: { attempt_id: 'ch_1', network_ref: 'n1', failure_code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' } };
const succeeded: IntentEvent = { type: 'attempt.succeeded', at: T0 + 2, data: { attempt_id: 'ch_1', network_ref: 'n1', amount: 3000, captured: true } };

t.test('a session is open, then complete with its successful charge', async (t) => {
  const status = (events: IntentEvent[]) => checkoutStatus(fold(intentDecider, events)!);
  t.equal(status([created]), 'open');
  t.equal(fold(intentDecider, [created])?.checkout?.line_items.length, 1, 'the session rides on the intent');
  t.equal(status([created, started, declined]), 'open', 'a decline leaves it open: the customer tries again');
  t.equal(status([created, started, succeeded]), 'complete');
});

t.test('ExpireCheckout expires an open session and cancels its intent; a repeat writes nothing', async (t) => {
  it.given(t, [created, started, declined])
    .when({ type: 'ExpireCheckout', now: T0 + 10 })
    .then([
      { type: 'checkout.expired', at: T0 + 10, data: { checkout_session: 'cs_test_1' } },
      { type: 'intent.canceled', at: T0 + 10, data: { reason: 'abandoned' } },
    ])
    .thenState((s) => s !== null && checkoutStatus(s) === 'expired' && s.status === 'canceled' && s.cancellation_reason === 'abandoned');
  const expired: IntentEvent = { type: 'checkout.expired', at: T0 + 10, data: { checkout_session: 'cs_test_1' } };
  it.given(t, [created, expired, { type: 'intent.canceled', at: T0 + 10, data: { reason: 'abandoned' } }]).when({ type: 'ExpireCheckout', now: T0 + 20 }).thenNothing();
  // The merchant's own request (POST …/expire) on an expired session is refused, as at Stripe.
  it.given(t, [created, expired, { type: 'intent.canceled', at: T0 + 10, data: { reason: 'abandoned' } }]).when({ type: 'ExpireCheckout', byRequest: true, now: T0 + 20 }).thenThrows('checkout_session_not_open');
});

t.test('a complete session, or one whose payment is in flight, does not expire', async (t) => {
  it.given(t, [created, started, succeeded]).when({ type: 'ExpireCheckout', now: T0 + 10 }).thenThrows('checkout_session_not_open');
  it.given(t, [created, started]).when({ type: 'ExpireCheckout', now: T0 + 10 }).thenThrows('checkout_session_not_open');
});

t.test('an intent without a session has nothing to expire', async (t) => {
  const plain = { ...created, data: { ...(created.data as object), checkout: undefined } } as IntentEvent;
  it.given(t, [plain]).when({ type: 'ExpireCheckout', now: T0 + 10 }).thenThrows('resource_missing');
});

t.test('the intent of an open session is not canceled directly; an authorized one may be', async (t) => {
  it.given(t, [created]).when({ type: 'Cancel', reason: null, now: T0 + 5 }).thenThrows('payment_intent_unexpected_state');
  const held: IntentEvent = { type: 'attempt.succeeded', at: T0 + 2, data: { attempt_id: 'ch_1', network_ref: 'n1', amount: 3000, captured: false } };
  const manual = { ...created, data: { ...(created.data as object), capture_method: 'manual' } } as IntentEvent;
  it.given(t, [manual, started, held])
    .when({ type: 'Cancel', reason: 'requested_by_customer', now: T0 + 5 })
    .then([{ type: 'intent.canceled', at: T0 + 5, data: { reason: 'requested_by_customer' } }])
    .thenState((s) => s !== null && checkoutStatus(s) === 'complete');
});

t.test('ErasePii clears the session’s customer_email too', async (t) => {
  const guest = { ...created, data: { ...(created.data as object), checkout: { ...session, customer_email: 'jenny@example.com' } } } as IntentEvent;
  it.given(t, [guest])
    .when({ type: 'ErasePii', reason: 'retention', now: T0 + 10 })
    .then([{ type: 'intent.pii_erased', at: T0 + 10, data: { reason: 'retention', fields: ['customer_email'] } }])
    .thenState((s) => s !== null && s.checkout?.customer_email === null && s.checkout.line_items.length === 1);
});

t.test('ApplyCheckoutDiscount: a code typed on the page of a session that allows them lowers what the intent charges', async (t) => {
  const allowing = { ...created, data: { ...(created.data as object), checkout: { ...session, allow_promotion_codes: true } } } as IntentEvent;
  const discount = { coupon: 'SPRING', promotion_code: 'promo_1', amount: 750 };
  const applied: IntentEvent = { type: 'checkout.discount_applied', at: T0 + 5, data: { discount, amount: 2250 } };
  it.given(t, [allowing])
    .when({ type: 'ApplyCheckoutDiscount', discount, now: T0 + 5 })
    .then([applied])
    .thenState((s) => s?.amount === 2250 && s.checkout?.discount?.promotion_code === 'promo_1');
  it.given(t, [allowing, applied]).when({ type: 'ApplyCheckoutDiscount', discount, now: T0 + 6 }).thenNothing();
  it.given(t, [allowing, started, declined]).when({ type: 'ApplyCheckoutDiscount', discount, now: T0 + 6 }).then([{ ...applied, at: T0 + 6 }]);
  it.given(t, [created]).when({ type: 'ApplyCheckoutDiscount', discount, now: T0 + 5 }).thenThrows('parameter_invalid', { param: 'promotion_code' });
  it.given(t, [allowing, started]).when({ type: 'ApplyCheckoutDiscount', discount, now: T0 + 5 }).thenThrows('checkout_session_not_open');
  it.given(t, [allowing, started, succeeded]).when({ type: 'ApplyCheckoutDiscount', discount, now: T0 + 5 }).thenThrows('checkout_session_not_open');
  it.given(t, [allowing]).when({ type: 'ApplyCheckoutDiscount', discount: { ...discount, amount: 3000 }, now: T0 + 5 }).thenThrows('amount_too_small');
});
