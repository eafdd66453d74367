// ErasePii on the intent decider: personal data goes, the ledger of amounts stays, in any status.
import t from 'tap';
import { spec } from '../testing.ts';
import { intentDecider, type CardSummary, type IntentEvent } from './intent.ts';

const it = spec(intentDecider);
const T0 = 1_700_000_000;
const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: 'fp_1', funding: 'credit', country: 'US' };

const created: IntentEvent = {
  type: 'intent.created',
  at: T0,
  data: {
    id: 'pi_1', merchant_id: 'mer_1', livemode: false, amount: 1000, currency: 'usd', status: 'requires_confirmation', capture_method: 'automatic',
    client_secret: 'pi_1_secret_x', created: T0, description: null, metadata: {}, receipt_email: 'jenny@example.com', customer: 'cus_1',
    user_email: 'buyer@example.com', product_id: null, payment_method: 'pm_1',
  },
};
const started: IntentEvent = { type: 'attempt.started', at: T0 + 1, data: { attempt_id: 'ch_1', payment_method: 'pm_1', card, amount: 1000 } };
const succeeded: IntentEvent = { type: 'attempt.succeeded', at: T0 + 2, data: { attempt_id: 'ch_1', network_ref: 'net_1', amount: 1000, captured: true } };

t.test('ErasePii clears the emails of a succeeded intent and keeps the amounts', async (t) => {
  it.given(t, [created, started, succeeded])
    .when({ type: 'ErasePii', reason: 'request', now: T0 + 10 })
    .then([{ type: 'intent.pii_erased', at: T0 + 10, data: { reason: 'request', fields: ['receipt_email', 'user_email'] } }])
    .thenState((s) => s !== null && s.receipt_email === null && s.user_email === null && s.status === 'succeeded' && s.amount_received === 1000 && s.currency === 'usd' && s.customer === 'cus_1');
});

t.test('ErasePii with nothing left writes nothing', async (t) => {
  const erased: IntentEvent = { type: 'intent.pii_erased', at: T0 + 10, data: { reason: 'retention', fields: ['receipt_email', 'user_email'] } };
  it.given(t, [created, erased]).when({ type: 'ErasePii', reason: 'request', now: T0 + 20 }).thenNothing();
});

t.test('ErasePii of an unknown intent is refused', async (t) => {
  it.given(t, []).when({ type: 'ErasePii', reason: 'request', now: T0 }).thenThrows('resource_missing');
});

const shipping = { name: 'Jenny Rosen', phone: '+15555550100', carrier: null, tracking_number: null, address: { city: 'Berlin', country: 'DE', line1: 'Unter den Linden 1', line2: null, postal_code: '10117', state: null } };

t.test('ErasePii clears the shipping details too, and keeps the statement descriptor', async (t) => {
  const withShipping: IntentEvent = { ...created, data: { ...(created.data as object), shipping, statement_descriptor_suffix: 'ORDER 42' } } as IntentEvent;
  it.given(t, [withShipping, started, succeeded])
    .when({ type: 'ErasePii', reason: 'retention', now: T0 + 10 })
    .then([{ type: 'intent.pii_erased', at: T0 + 10, data: { reason: 'retention', fields: ['receipt_email', 'user_email', 'shipping'] } }])
    .thenState((s) => s !== null && s.shipping === null && s.statement_descriptor_suffix === 'ORDER 42' && s.amount_received === 1000);
});

t.test('an intent with only shipping details still has something to erase', async (t) => {
  const guest: IntentEvent = { ...created, data: { ...(created.data as object), receipt_email: null, user_email: null, shipping } } as IntentEvent;
  it.given(t, [guest])
    .when({ type: 'ErasePii', reason: 'retention', now: T0 + 10 })
    .then([{ type: 'intent.pii_erased', at: T0 + 10, data: { reason: 'retention', fields: ['shipping'] } }])
    .thenState((s) => s !== null && s.shipping === null);
});

t.test('Update sets and unsets shipping and the descriptor suffix; null on a field never set writes nothing', async (t) => {
  it.given(t, [created])
    .when({ type: 'Update', changes: { shipping, statement_descriptor_suffix: 'ORDER 7' }, now: T0 + 5 })
    .then([{ type: 'intent.updated', at: T0 + 5, data: { shipping, statement_descriptor_suffix: 'ORDER 7' } }])
    .thenState((s) => s?.shipping?.name === 'Jenny Rosen' && s.statement_descriptor_suffix === 'ORDER 7');
  it.given(t, [created]).when({ type: 'Update', changes: { shipping: null, statement_descriptor: null }, now: T0 + 5 }).thenNothing();
  it.given(t, [created, { type: 'intent.updated', at: T0 + 5, data: { shipping } }])
    .when({ type: 'Update', changes: { shipping: null }, now: T0 + 6 })
    .then([{ type: 'intent.updated', at: T0 + 6, data: { shipping: null } }])
    .thenState((s) => s?.shipping === null);
});
