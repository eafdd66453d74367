// The intent's payment_method_options[card] (capture_method, request_three_d_secure) and
// automatic_payment_methods: carried on intent.created / intent.updated, acted on by the decider.
import t from 'tap';
import { fold } from '../decider.ts';
import { spec } from '../testing.ts';
import { intentDecider, type CardSummary, type IntentCommand, type IntentEvent, type NextAction } from './intent.ts';
import { intentEventSchemas } from '../../streams/catalogue.ts';
import { validateCommit } from '../../streams/codec.ts';
import { createIntentCommand } from '../../test/helpers/commands.ts';

const it = spec(intentDecider);
const T0 = 1_700_000_000;
const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: 'fp_1', funding: 'credit', country: 'US' };
const challenge: NextAction = { type: 'redirect_to_url', redirect_to_url: { url: 'https://pay.example/3ds/challenge/x', return_url: 'https://shop.example/back' } };

type Create = Extract<IntentCommand, { type: 'Create' }>;
const create = (over: Partial<Create> = {}): Create => ({ ...createIntentCommand('mer_1', 'pi_1', 1000, T0), clientSecret: 'pi_1_secret_x', ...over });
const createdData = (over: Record<string, unknown> = {}): Extract<IntentEvent, { type: 'intent.created' }>['data'] => ({
  id: 'pi_1',
  merchant_id: 'mer_1',
  livemode: false,
  amount: 1000,
  currency: 'usd',
  status: 'requires_payment_method',
  capture_method: 'automatic',
  client_secret: 'pi_1_secret_x',
  created: T0,
  description: null,
  metadata: {},
  receipt_email: null,
  customer: null,
  user_email: null,
  product_id: null,
  payment_method: null,
  ...over,
});
const created = (over: Record<string, unknown> = {}): IntentEvent => ({ type: 'intent.created', at: T0, data: createdData(over) });
const start = (over: Partial<Extract<IntentCommand, { type: 'StartAttempt' }>> = {}): IntentCommand => ({
  type: 'StartAttempt',
  attemptId: 'ch_1',
  paymentMethod: 'pm_1',
  card,
  nextAction: challenge,
  now: T0 + 10,
  ...over,
});
const started: IntentEvent = { type: 'attempt.started', at: T0 + 10, data: { attempt_id: 'ch_1', payment_method: 'pm_1', card, amount: 1000 } };
const approve: IntentCommand = { type: 'RecordAuthorization', attemptId: 'ch_1', outcome: 'approved', networkRef: 'net_1', now: T0 + 20 };
const update = (changes: Extract<IntentCommand, { type: 'Update' }>['changes']): IntentCommand => ({ type: 'Update', changes, now: T0 + 5 });

t.test('Create carries the card options and automatic_payment_methods', async (t) => {
  t.test('both given', async (t) => {
    it.given(t, [])
      .when(create({ cardOptions: { capture_method: 'manual', request_three_d_secure: 'any' }, automaticPaymentMethods: { enabled: true, allow_redirects: 'never' } }))
      .then([created({ card_options: { capture_method: 'manual', request_three_d_secure: 'any' }, automatic_payment_methods: { enabled: true, allow_redirects: 'never' } })])
      .thenState({ capture_method: 'automatic', card_options: { capture_method: 'manual', request_three_d_secure: 'any' }, automatic_payment_methods: { enabled: true, allow_redirects: 'never' } });
  });
  t.test('none given: intent.created as before (no new fields)', async (t) => {
    it.given(t, []).when(create()).then([created()]);
  });
  t.test('an unset option (null) is not written', async (t) => {
    it.given(t, []).when(create({ cardOptions: { capture_method: null, request_three_d_secure: 'challenge' } })).then([created({ card_options: { request_three_d_secure: 'challenge' } })]);
    it.given(t, []).when(create({ cardOptions: { capture_method: null } })).then([created()]);
  });
});

t.test('payment_method_options[card][capture_method]=manual authorizes only', async (t) => {
  t.test('approved → requires_capture although the intent captures automatically', async (t) => {
    it.given(t, [created({ card_options: { capture_method: 'manual' } }), started])
      .when(approve)
      .then([{ type: 'attempt.succeeded', at: T0 + 20, data: { attempt_id: 'ch_1', network_ref: 'net_1', amount: 1000, captured: false } }])
      .thenState({ status: 'requires_capture', capture_method: 'automatic', amount_capturable: 1000, amount_received: 0 });
  });
  t.test('without it the intent captures as its capture_method says', async (t) => {
    it.given(t, [created({ card_options: { request_three_d_secure: 'automatic' } }), started]).when(approve).thenState({ status: 'succeeded', amount_received: 1000 });
  });
});

t.test('Update merges card options; what is written is the whole result', async (t) => {
  const given = [created({ card_options: { request_three_d_secure: 'any' } })];
  t.test('adding one keeps the other', async (t) => {
    it.given(t, given)
      .when(update({ card_options: { capture_method: 'manual' } }))
      .then([{ type: 'intent.updated', at: T0 + 5, data: { card_options: { capture_method: 'manual', request_three_d_secure: 'any' } } }])
      .thenState({ card_options: { capture_method: 'manual', request_three_d_secure: 'any' } });
  });
  t.test("'' unsets one; unsetting the last leaves none", async (t) => {
    it.given(t, given).when(update({ card_options: { request_three_d_secure: null } })).then([{ type: 'intent.updated', at: T0 + 5, data: { card_options: null } }]).thenState({ card_options: null });
  });
  t.test('card= unsets all', async (t) => {
    it.given(t, [created({ card_options: { capture_method: 'manual', request_three_d_secure: 'any' } })]).when(update({ card_options: null })).thenState({ card_options: null });
  });
  t.test('the same values again write nothing', async (t) => {
    it.given(t, given).when(update({ card_options: { request_three_d_secure: 'any' } })).thenNothing();
  });
  t.test('unsetting options an intent never had writes nothing', async (t) => {
    it.given(t, [created()]).when(update({ card_options: { capture_method: null } })).thenNothing();
    it.given(t, [created()]).when(update({ card_options: null })).thenNothing();
  });
  t.test('an older intent (no card_options in its history) takes them', async (t) => {
    it.given(t, [created()]).when(update({ card_options: { capture_method: 'manual' } })).then([{ type: 'intent.updated', at: T0 + 5, data: { card_options: { capture_method: 'manual' } } }]);
  });
});

t.test('request_three_d_secure', async (t) => {
  for (const r of ['any', 'challenge'] as const) {
    t.test(`${r}: the attempt waits on the cardholder, before the network is asked`, async (t) => {
      it.given(t, [created({ payment_method: 'pm_1', status: 'requires_confirmation', card_options: { request_three_d_secure: r } })])
        .when(start())
        .then([started, { type: 'attempt.requires_action', at: T0 + 10, data: { attempt_id: 'ch_1', next_action: challenge } }])
        .thenState({ status: 'requires_action', next_action: challenge })
        .thenState((s) => s?.attempts.map((a) => `${a.id}:${a.status}`).join() === 'ch_1:requires_action');
    });
  }
  t.test('automatic (or none): the network decides', async (t) => {
    it.given(t, [created({ card_options: { request_three_d_secure: 'automatic' } })]).when(start()).then([started]).thenState({ status: 'processing' });
    it.given(t, [created()]).when(start()).then([started]);
  });
  t.test('requested with nobody to authenticate (off_session, error_on_requires_action): declined authentication_required', async (t) => {
    it.given(t, [created({ card_options: { request_three_d_secure: 'any' } })])
      .when(start({ noAuthentication: true }))
      .then([
        started,
        {
          type: 'attempt.declined',
          at: T0 + 10,
          data: { attempt_id: 'ch_1', network_ref: null, failure_code: 'authentication_required', decline_code: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.' },
        },
      ])
      .thenState({ status: 'requires_payment_method', last_payment_error: { code: 'authentication_required', charge: 'ch_1' } })
      .thenState((s) => s?.attempts.map((a) => `${a.id}:${a.status}`).join() === 'ch_1:failed');
  });
  t.test('authenticated → the attempt goes to the network (pending), then is approved', async (t) => {
    const waiting = [created({ card_options: { request_three_d_secure: 'challenge' } }), started, { type: 'attempt.requires_action', at: T0 + 10, data: { attempt_id: 'ch_1', next_action: challenge } } as IntentEvent];
    it.given(t, waiting).when({ type: 'Authenticate', attemptId: 'ch_1', success: true, now: T0 + 15 }).then([{ type: 'attempt.authenticated', at: T0 + 15, data: { attempt_id: 'ch_1' } }]).thenState((s) => s?.status === 'processing' && s.attempts[0]?.status === 'pending');
    it.given(t, [...waiting, { type: 'attempt.authenticated', at: T0 + 15, data: { attempt_id: 'ch_1' } }]).when(approve).thenState({ status: 'succeeded' });
  });
  t.test('a repeated StartAttempt writes nothing', async (t) => {
    it.given(t, [created({ card_options: { request_three_d_secure: 'any' } }), started]).when(start()).thenNothing();
  });
  t.test('set at confirm time (an Update before the attempt) applies to that attempt', async (t) => {
    const s = fold(intentDecider, [created(), ...intentDecider.decide(update({ card_options: { request_three_d_secure: 'any' } }), fold(intentDecider, [created()]))]);
    t.same(intentDecider.decide(start(), s).map((e) => e.type), ['attempt.started', 'attempt.requires_action']);
  });
});

t.test('events stay v1 and validate with and without the new fields (old commits still decode)', async (t) => {
  t.equal(intentEventSchemas['intent.created'].v, 1);
  t.equal(intentEventSchemas['intent.updated'].v, 1);
  const commit = (events: IntentEvent[]) => ({
    v: 1,
    id: 'c1',
    aggregate: 'intent',
    aggregate_id: 'pi_1',
    merchant_id: 'mer_1',
    command: 'Create',
    request_id: null,
    correlation_id: null,
    at: T0,
    events: events.map((e, n) => ({ ...e, id: `evt_${n}`, v: 1 })),
    state: {},
  });
  t.doesNotThrow(() => validateCommit(commit([created()])), 'an intent.created written before');
  t.doesNotThrow(() => validateCommit(commit([created({ card_options: { capture_method: 'manual', request_three_d_secure: 'challenge' }, automatic_payment_methods: { enabled: true, allow_redirects: 'always' } })])));
  t.doesNotThrow(() => validateCommit(commit([{ type: 'intent.updated', at: T0, data: { card_options: null } }])));
  t.throws(() => validateCommit(commit([created({ card_options: { capture_method: 'automatic' } })])), 'only manual overrides');
  t.throws(() => validateCommit(commit([created({ automatic_payment_methods: { enabled: true, allow_redirects: 'sometimes' } })])));
});
