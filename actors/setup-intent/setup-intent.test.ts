import t from 'tap';
import { spec } from '../testing.ts';
import type { CardSummary, NextAction } from '../payment-intent/intent.ts';
import { setupIntentDecider, type SetupIntentCommand, type SetupIntentEvent } from './setup-intent.ts';

const it = spec(setupIntentDecider);
const T0 = 1_700_000_000;
const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, fingerprint: 'fp', funding: 'credit', country: 'US' };
const nextAction: NextAction = { type: 'redirect_to_url', redirect_to_url: { url: 'https://pay.example/3ds', return_url: null } };

const create: Extract<SetupIntentCommand, { type: 'Create' }> = {
  type: 'Create',
  setupIntentId: 'seti_1',
  merchantId: 'acct_1',
  livemode: false,
  clientSecret: 'seti_1_secret_x',
  customer: 'cus_1',
  description: null,
  metadata: {},
  paymentMethod: null,
  usage: 'off_session',
  now: T0,
};

const created: SetupIntentEvent = {
  type: 'setup_intent.created',
  at: T0,
  data: {
    id: 'seti_1',
    merchant_id: 'acct_1',
    livemode: false,
    client_secret: 'seti_1_secret_x',
    created: T0,
    status: 'requires_payment_method',
    customer: 'cus_1',
    description: null,
    metadata: {},
    payment_method: null,
    usage: 'off_session',
  },
};
const started: SetupIntentEvent = { type: 'setup_attempt.started', at: T0 + 1, data: { attempt_id: 'setatt_1', payment_method: 'pm_1', card } };
const start: SetupIntentCommand = { type: 'StartAttempt', attemptId: 'setatt_1', paymentMethod: 'pm_1', card, now: T0 + 1 };
const succeeded: SetupIntentEvent = { type: 'setup_attempt.succeeded', at: T0 + 2, data: { attempt_id: 'setatt_1' } };
const declined: SetupIntentEvent = {
  type: 'setup_attempt.failed',
  at: T0 + 2,
  data: { attempt_id: 'setatt_1', failure_code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
};
const actionRequired: SetupIntentEvent = { type: 'setup_attempt.requires_action', at: T0 + 2, data: { attempt_id: 'setatt_1', next_action: nextAction } };

t.test('create', (t) => {
  it.given(t, []).when(create).then([created]).thenState({ status: 'requires_payment_method', customer: 'cus_1', attempts: [], last_setup_error: null });
  it.given(t, []).when({ ...create, paymentMethod: 'pm_1' }).thenState({ status: 'requires_confirmation', payment_method: 'pm_1' });
  it.given(t, [created]).when(create).thenNothing();
  t.end();
});

t.test('a confirmation is an attempt the network checks', (t) => {
  it.given(t, [created]).when(start).then([started]).thenState({ status: 'processing', payment_method: 'pm_1' });
  it.given(t, [created, started]).when(start).thenNothing(); // a repeat resumes the same attempt
  it.given(t, [created, started])
    .when({ type: 'RecordVerification', attemptId: 'setatt_1', outcome: 'approved', now: T0 + 2 })
    .then([succeeded])
    .thenState({ status: 'succeeded', payment_method: 'pm_1', last_setup_error: null });
  it.given(t, [created, started, succeeded]).when({ type: 'RecordVerification', attemptId: 'setatt_1', outcome: 'declined', now: T0 + 3 }).thenNothing();
  it.given(t, [created, started, succeeded]).when({ ...start, attemptId: 'setatt_2' }).thenThrows('setup_intent_unexpected_state', { status: 400 });
  t.end();
});

t.test('a decline leaves the SetupIntent waiting for another card', (t) => {
  it.given(t, [created, started])
    .when({ type: 'RecordVerification', attemptId: 'setatt_1', outcome: 'declined', failureCode: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.', now: T0 + 2 })
    .then([declined])
    .thenState({
      status: 'requires_payment_method',
      payment_method: null,
      last_setup_error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', payment_method: 'pm_1' },
    })
    // The attempt keeps its own error (GET /v1/setup_attempts' setup_error), beyond the next attempt.
    .thenState((s) => s?.attempts[0]?.status === 'failed' && s.attempts[0].error?.code === 'card_declined' && s.attempts[0].error.decline_code === 'generic_decline');
  it.given(t, [created, started, declined]).when({ ...start, attemptId: 'setatt_2' }).thenState({ status: 'processing' });
  it.given(t, [created, started]).when({ type: 'RecordVerification', attemptId: 'setatt_9', outcome: 'approved', now: T0 }).thenThrows('resource_missing');
  t.end();
});

t.test('3-D Secure', (t) => {
  it.given(t, [created, started])
    .when({ type: 'RecordVerification', attemptId: 'setatt_1', outcome: 'action_required', nextAction, now: T0 + 2 })
    .then([actionRequired])
    .thenState({ status: 'requires_action', next_action: nextAction });
  it.given(t, [created, started]).when({ type: 'RecordVerification', attemptId: 'setatt_1', outcome: 'action_required', now: T0 + 2 }).thenThrows('parameter_missing');
  it.given(t, [created, started, actionRequired])
    .when({ type: 'Authenticate', attemptId: 'setatt_1', success: true, now: T0 + 3 })
    .then([{ type: 'setup_attempt.authenticated', at: T0 + 3, data: { attempt_id: 'setatt_1' } }])
    .thenState((s) => s?.status === 'processing' && s.next_action === null && s.attempts[0]?.status === 'pending');
  it.given(t, [created, started, actionRequired])
    .when({ type: 'Authenticate', attemptId: 'setatt_1', success: false, now: T0 + 3 })
    .thenState({ status: 'requires_payment_method', last_setup_error: { type: 'invalid_request_error', code: 'setup_intent_authentication_failure' } });
  it.given(t, [created, started, succeeded]).when({ type: 'Authenticate', attemptId: 'setatt_1', success: true, now: T0 + 3 }).thenNothing();
  t.end();
});

t.test('update and cancel', (t) => {
  it.given(t, [created])
    .when({ type: 'Update', changes: { payment_method: 'pm_2', description: 'plan' }, metadata: { k: 'v' }, now: T0 + 1 })
    .then([{ type: 'setup_intent.updated', at: T0 + 1, data: { description: 'plan', payment_method: 'pm_2', metadata: { k: 'v' }, status: 'requires_confirmation' } }]);
  it.given(t, [created]).when({ type: 'Update', changes: { customer: 'cus_1' }, now: T0 + 1 }).thenNothing();
  // Stripe's 50 metadata keys hold for the metadata after the merge ('' removes a key, and makes room).
  const fifty: SetupIntentEvent = { type: 'setup_intent.updated', at: T0 + 1, data: { metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'])) } };
  it.given(t, [created, fifty]).when({ type: 'Update', changes: {}, metadata: { extra: 'v' }, now: T0 + 2 }).thenThrows('parameter_invalid', { param: 'metadata' });
  it.given(t, [created, fifty]).when({ type: 'Update', changes: {}, metadata: { k0: '', extra: 'v' }, now: T0 + 2 }).thenState((s) => Object.keys(s?.metadata ?? {}).length === 50);
  it.given(t, [created]).when({ type: 'Cancel', reason: 'abandoned', now: T0 + 1 }).then([{ type: 'setup_intent.canceled', at: T0 + 1, data: { reason: 'abandoned' } }]).thenState({ status: 'canceled', cancellation_reason: 'abandoned' });
  const canceled: SetupIntentEvent = { type: 'setup_intent.canceled', at: T0 + 1, data: { reason: null } };
  it.given(t, [created, canceled]).when({ type: 'Cancel', reason: null, now: T0 + 2 }).thenNothing();
  it.given(t, [created, canceled]).when(start).thenThrows('setup_intent_unexpected_state');
  it.given(t, [created, canceled]).when({ type: 'Update', changes: { description: 'x' }, now: T0 + 2 }).thenThrows('setup_intent_unexpected_state');
  it.given(t, [created, started, succeeded]).when({ type: 'Cancel', reason: null, now: T0 + 3 }).thenThrows('setup_intent_unexpected_state');
  it.given(t, [created, started]).when({ type: 'Cancel', reason: null, now: T0 + 3 }).thenThrows('setup_intent_unexpected_state'); // processing
  it.given(t, []).when({ type: 'Cancel', reason: null, now: T0 }).thenThrows('resource_missing', { status: 404 });
  t.end();
});

t.test('no sequence ever shows more than the card’s last four digits', (t) => {
  for (const seq of it.sequences) for (const e of seq) t.notMatch(JSON.stringify(e), /\d{12,}/, e.type === 'setup_intent.created' ? 'created' : e.type);
  t.end();
});
