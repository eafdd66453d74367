import t from 'tap';
import { fold } from '../decider.ts';
import { spec } from '../testing.ts';
import { intentDecider, type CaptureMethod, type CardSummary, type IntentCommand, type IntentEvent } from './intent.ts';
import type { AttemptStatus, IntentStatus } from './status.ts';

const it = spec(intentDecider);

// Every status, as a record so that a new status breaks the build here too.
const INTENT_STATUSES: Record<IntentStatus, true> = {
  requires_payment_method: true,
  requires_confirmation: true,
  requires_action: true,
  processing: true,
  requires_capture: true,
  canceled: true,
  succeeded: true,
};
const ATTEMPT_STATUSES: Record<AttemptStatus, true> = { pending: true, requires_action: true, in_doubt: true, succeeded: true, failed: true };

const T0 = 1_700_000_000;
const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: 'fp_1', funding: 'credit', country: 'US' };
const declinedCard: CardSummary = { ...card, last4: '0002', fingerprint: 'fp_2' };

// ── commands ──────────────────────────────────────────────────────────────
type Create = Extract<IntentCommand, { type: 'Create' }>;
const create = (over: Partial<Create> = {}): Create => ({
  type: 'Create',
  intentId: 'pi_1',
  merchantId: 'mer_1',
  livemode: false,
  amount: 1000,
  currency: 'usd',
  clientSecret: 'pi_1_secret_x',
  captureMethod: 'automatic',
  description: null,
  metadata: {},
  receiptEmail: null,
  customer: null,
  userEmail: 'buyer@example.com',
  productId: 'prod_1',
  paymentMethod: null,
  now: T0,
  ...over,
});
const startAttempt = (attemptId = 'ch_1', paymentMethod = 'pm_1', c: CardSummary = card, now = T0 + 10): IntentCommand => ({
  type: 'StartAttempt',
  attemptId,
  paymentMethod,
  card: c,
  now,
});
const approve = (attemptId = 'ch_1', now = T0 + 20): IntentCommand => ({ type: 'RecordAuthorization', attemptId, outcome: 'approved', networkRef: `net_${attemptId}`, now });
const decline = (attemptId = 'ch_1', now = T0 + 20, extra: { failureCode?: string; declineCode?: string; message?: string } = {}): IntentCommand => ({
  type: 'RecordAuthorization',
  attemptId,
  outcome: 'declined',
  networkRef: `net_${attemptId}`,
  ...extra,
  now,
});
const unknown = (attemptId = 'ch_1', now = T0 + 20): IntentCommand => ({ type: 'RecordAuthorization', attemptId, outcome: 'unknown', networkRef: null, now });
const capture = (amountToCapture?: number, now = T0 + 30): IntentCommand =>
  amountToCapture === undefined ? { type: 'Capture', now } : { type: 'Capture', amountToCapture, now };
const cancel = (reason: Extract<IntentCommand, { type: 'Cancel' }>['reason'] = 'requested_by_customer', now = T0 + 40): IntentCommand => ({ type: 'Cancel', reason, now });
const update = (changes: Extract<IntentCommand, { type: 'Update' }>['changes'], now = T0 + 5): IntentCommand => ({ type: 'Update', changes, now });

// ── events ────────────────────────────────────────────────────────────────
const created = (over: { paymentMethod?: string | null; captureMethod?: CaptureMethod; amount?: number } = {}): IntentEvent => {
  const pm = over.paymentMethod ?? null;
  return {
    type: 'intent.created',
    at: T0,
    data: {
      id: 'pi_1',
      merchant_id: 'mer_1',
      livemode: false,
      amount: over.amount ?? 1000,
      currency: 'usd',
      status: pm ? 'requires_confirmation' : 'requires_payment_method',
      capture_method: over.captureMethod ?? 'automatic',
      client_secret: 'pi_1_secret_x',
      created: T0,
      description: null,
      metadata: {},
      receipt_email: null,
      customer: null,
      user_email: 'buyer@example.com',
      product_id: 'prod_1',
      payment_method: pm,
    },
  };
};
const started = (attemptId = 'ch_1', paymentMethod = 'pm_1', c: CardSummary = card, amount = 1000, at = T0 + 10): IntentEvent => ({
  type: 'attempt.started',
  at,
  data: { attempt_id: attemptId, payment_method: paymentMethod, card: c, amount },
});
const succeeded = (attemptId = 'ch_1', captured = true, amount = 1000, at = T0 + 20): IntentEvent => ({
  type: 'attempt.succeeded',
  at,
  data: { attempt_id: attemptId, network_ref: `net_${attemptId}`, amount, captured },
});
const declined = (attemptId = 'ch_1', at = T0 + 20): IntentEvent => ({
  type: 'attempt.declined',
  at,
  data: { attempt_id: attemptId, network_ref: `net_${attemptId}`, failure_code: 'card_declined', decline_code: null, message: 'Your card was declined.' },
});
const inDoubt = (attemptId = 'ch_1', at = T0 + 20): IntentEvent => ({ type: 'attempt.in_doubt', at, data: { attempt_id: attemptId } });
const captured = (amount: number, attemptId = 'ch_1', at = T0 + 30): IntentEvent => ({ type: 'intent.captured', at, data: { attempt_id: attemptId, amount } });
const canceled = (reason: Extract<IntentEvent, { type: 'intent.canceled' }>['data']['reason'] = 'requested_by_customer', at = T0 + 40): IntentEvent => ({
  type: 'intent.canceled',
  at,
  data: { reason },
});

// ── histories, one per status ─────────────────────────────────────────────
const H = {
  requires_payment_method: [created()],
  requires_confirmation: [created({ paymentMethod: 'pm_1' })],
  // No command reaches requires_action yet (3DS is not modelled); the event can carry it.
  requires_action: [created({ paymentMethod: 'pm_1' }), { type: 'intent.updated', at: T0 + 1, data: { status: 'requires_action' } }],
  processing: [created(), started()],
  processing_in_doubt: [created(), started(), inDoubt()],
  requires_capture: [created({ captureMethod: 'manual' }), started(), succeeded('ch_1', false)],
  succeeded: [created(), started(), succeeded()],
  succeeded_after_capture: [created({ captureMethod: 'manual' }), started(), succeeded('ch_1', false), captured(1000)],
  canceled: [created(), canceled()],
  declined: [created(), started('ch_1', 'pm_declined', declinedCard), declined()],
} satisfies Record<string, IntentEvent[]>;

t.test('histories reach the status they are named after', async (t) => {
  for (const [name, events] of Object.entries(H)) {
    const s = fold(intentDecider, events);
    const expected = name === 'declined' ? 'requires_payment_method' : name.replace(/_in_doubt$|_after_capture$/, '');
    t.equal(s?.status, expected, name);
  }
});

// ── Create ────────────────────────────────────────────────────────────────
t.test('Create', async (t) => {
  t.test('without a payment method → requires_payment_method', async (t) => {
    it.given(t, []).when(create()).then([created()]).thenState({
      id: 'pi_1',
      status: 'requires_payment_method',
      amount: 1000,
      attempts: [],
      amount_capturable: 0,
      amount_received: 0,
      last_payment_error: null,
      canceled_at: null,
      cancellation_reason: null,
      payment_method: null,
    });
  });
  t.test('with a payment method → requires_confirmation', async (t) => {
    it.given(t, []).when(create({ paymentMethod: 'pm_1' })).then([created({ paymentMethod: 'pm_1' })]).thenState({ status: 'requires_confirmation', payment_method: 'pm_1' });
  });
  t.test('carries capture method and the seed fields', async (t) => {
    it.given(t, [])
      .when(create({ captureMethod: 'manual', description: 'd', metadata: { order: '7' }, receiptEmail: 'r@example.com', customer: 'cus_1' }))
      .thenState({ capture_method: 'manual', description: 'd', metadata: { order: '7' }, receipt_email: 'r@example.com', customer: 'cus_1', user_email: 'buyer@example.com', product_id: 'prod_1', created: T0, client_secret: 'pi_1_secret_x', merchant_id: 'mer_1', currency: 'usd' });
  });
  t.test('a repeat is a no-op, in any status', async (t) => {
    for (const [name, events] of Object.entries(H)) {
      t.test(name, async (t) => {
        it.given(t, events).when(create()).thenNothing();
      });
    }
  });
  t.test('an invalid amount is refused', async (t) => {
    for (const amount of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      t.test(String(amount), async (t) => {
        it.given(t, []).when(create({ amount })).thenThrows('parameter_invalid_integer', { param: 'amount', status: 400 });
      });
    }
  });
  t.test('the smallest amount is accepted', async (t) => {
    it.given(t, []).when(create({ amount: 1 })).thenState({ amount: 1 });
  });
});

// ── Update ────────────────────────────────────────────────────────────────
t.test('Update', async (t) => {
  for (const status of ['requires_payment_method', 'requires_confirmation', 'requires_action'] as const) {
    t.test(`allowed in ${status}`, async (t) => {
      const changes = { amount: 2500, currency: 'eur', description: 'new', metadata: { k: 'v' }, receipt_email: 'x@example.com', customer: 'cus_2', capture_method: 'manual' as const };
      it.given(t, H[status])
        .when(update(changes))
        .then([{ type: 'intent.updated', at: T0 + 5, data: changes }])
        .thenState({ ...changes, status });
    });
  }
  for (const status of ['processing', 'processing_in_doubt', 'requires_capture', 'succeeded', 'succeeded_after_capture', 'canceled'] as const) {
    t.test(`refused in ${status}`, async (t) => {
      it.given(t, H[status]).when(update({ amount: 2500 })).thenThrows('payment_intent_unexpected_state', { status: 400, param: 'amount' });
      it.given(t, H[status]).when(update({ metadata: { order: '7' }, amount: 2500 })).thenThrows('payment_intent_unexpected_state', { param: 'amount' });
    });
    t.test(`description, metadata and receipt email still change in ${status} (Stripe)`, async (t) => {
      const changes = { description: 'paid order 7', metadata: { order: '7' }, receipt_email: 'x@example.com' };
      it.given(t, H[status]).when(update(changes)).then([{ type: 'intent.updated', at: T0 + 5, data: changes }]).thenState(changes);
    });
  }
  t.test('an invalid amount is refused', async (t) => {
    for (const amount of [0, -5, 10.5]) it.given(t, H.requires_payment_method).when(update({ amount })).thenThrows('parameter_invalid_integer', { param: 'amount' });
  });
  t.test("metadata (the gateway's merge) over Stripe's 50 keys is refused; 50 are accepted", async (t) => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    it.given(t, H.requires_payment_method).when(update({ metadata: keys(51) })).thenThrows('parameter_invalid', { param: 'metadata' });
    it.given(t, H.requires_payment_method).when(update({ metadata: keys(50) })).thenState((s) => Object.keys(s?.metadata ?? {}).length === 50);
  });
  t.test('attaching a payment method: requires_payment_method → requires_confirmation', async (t) => {
    it.given(t, H.requires_payment_method)
      .when(update({ payment_method: 'pm_2' }))
      .then([{ type: 'intent.updated', at: T0 + 5, data: { payment_method: 'pm_2', status: 'requires_confirmation' } }])
      .thenState({ status: 'requires_confirmation', payment_method: 'pm_2' });
  });
  t.test('attaching a payment method after a decline → requires_confirmation, error kept', async (t) => {
    it.given(t, H.declined)
      .when(update({ payment_method: 'pm_2' }))
      .then([{ type: 'intent.updated', at: T0 + 5, data: { payment_method: 'pm_2', status: 'requires_confirmation' } }])
      .thenState((s) => s?.status === 'requires_confirmation' && s.payment_method === 'pm_2' && s.last_payment_error?.charge === 'ch_1');
  });
  t.test('replacing the payment method in requires_confirmation keeps the status', async (t) => {
    it.given(t, H.requires_confirmation)
      .when(update({ payment_method: 'pm_2' }))
      .then([{ type: 'intent.updated', at: T0 + 5, data: { payment_method: 'pm_2' } }])
      .thenState({ status: 'requires_confirmation', payment_method: 'pm_2' });
  });
  t.test('removing the payment method: requires_confirmation → requires_payment_method', async (t) => {
    it.given(t, H.requires_confirmation)
      .when(update({ payment_method: null }))
      .then([{ type: 'intent.updated', at: T0 + 5, data: { payment_method: null, status: 'requires_payment_method' } }])
      .thenState({ status: 'requires_payment_method', payment_method: null });
  });
  t.test('removing the payment method: requires_action → requires_payment_method', async (t) => {
    it.given(t, H.requires_action)
      .when(update({ payment_method: null }))
      .then([{ type: 'intent.updated', at: T0 + 5, data: { payment_method: null, status: 'requires_payment_method' } }])
      .thenState({ status: 'requires_payment_method', payment_method: null });
  });
  t.test('removing an absent payment method writes nothing', async (t) => {
    it.given(t, H.requires_payment_method).when(update({ payment_method: null })).thenNothing();
  });
  t.test('an update that changes nothing writes nothing', async (t) => {
    it.given(t, H.requires_payment_method).when(update({})).thenNothing();
  });
  t.test('attaching a payment method in requires_action → requires_confirmation', async (t) => {
    it.given(t, H.requires_action)
      .when(update({ payment_method: 'pm_new' }))
      .thenState({ status: 'requires_confirmation', payment_method: 'pm_new' });
  });
});

// ── StartAttempt (confirm) ────────────────────────────────────────────────
t.test('StartAttempt', async (t) => {
  for (const status of ['requires_payment_method', 'requires_confirmation', 'requires_action'] as const) {
    t.test(`from ${status} → processing`, async (t) => {
      it.given(t, H[status])
        .when(startAttempt())
        .then([started()])
        .thenState((s) => {
          const a = s?.attempts[0];
          return (
            s?.status === 'processing' &&
            s.payment_method === 'pm_1' &&
            s.attempts.length === 1 &&
            a?.id === 'ch_1' &&
            a.status === 'pending' &&
            a.amount === 1000 &&
            a.captured === false &&
            a.amount_captured === 0 &&
            a.created === T0 + 10 &&
            a.settled_at === null &&
            a.card.last4 === '4242'
          );
        });
    });
  }
  t.test('the attempt is for the current amount', async (t) => {
    it.given(t, [...H.requires_payment_method, { type: 'intent.updated', at: T0 + 1, data: { amount: 4200 } }])
      .when(startAttempt())
      .then([started('ch_1', 'pm_1', card, 4200)]);
  });
  t.test('a repeat attempt id is a no-op', async (t) => {
    it.given(t, H.processing).when(startAttempt()).thenNothing().thenState({ status: 'processing' });
    it.given(t, H.processing_in_doubt).when(startAttempt()).thenNothing();
    it.given(t, H.succeeded).when(startAttempt()).thenNothing().thenState({ status: 'succeeded' });
    it.given(t, H.declined).when(startAttempt('ch_1', 'pm_declined', declinedCard)).thenNothing().thenState({ status: 'requires_payment_method' });
    it.given(t, H.requires_capture).when(startAttempt()).thenNothing();
  });
  for (const status of ['processing', 'processing_in_doubt', 'succeeded', 'succeeded_after_capture', 'canceled', 'requires_capture'] as const) {
    t.test(`refused from ${status}`, async (t) => {
      it.given(t, H[status]).when(startAttempt('ch_new')).thenThrows('payment_intent_unexpected_state', { status: 400 });
    });
  }
});

// ── RecordAuthorization ───────────────────────────────────────────────────
t.test('RecordAuthorization', async (t) => {
  t.test('approved, automatic capture → succeeded with amount_received', async (t) => {
    it.given(t, H.processing)
      .when(approve())
      .then([succeeded('ch_1', true)])
      .thenState((s) => {
        const a = s?.attempts[0];
        return (
          s?.status === 'succeeded' &&
          s.amount_received === 1000 &&
          s.amount_capturable === 0 &&
          s.last_payment_error === null &&
          a?.status === 'succeeded' &&
          a.captured &&
          a.amount_captured === 1000 &&
          a.network_ref === 'net_ch_1' &&
          a.settled_at === T0 + 20
        );
      });
  });
  t.test('approved, automatic_async capture → succeeded', async (t) => {
    it.given(t, [created({ captureMethod: 'automatic_async' }), started()]).when(approve()).then([succeeded('ch_1', true)]).thenState({ status: 'succeeded', amount_received: 1000 });
  });
  t.test('approved, manual capture → requires_capture with amount_capturable', async (t) => {
    it.given(t, [created({ captureMethod: 'manual' }), started()])
      .when(approve())
      .then([succeeded('ch_1', false)])
      .thenState((s) => {
        const a = s?.attempts[0];
        return s?.status === 'requires_capture' && s.amount_capturable === 1000 && s.amount_received === 0 && a?.status === 'succeeded' && !a.captured && a.amount_captured === 0;
      });
  });
  t.test('declined → requires_payment_method with last_payment_error, attempt failed', async (t) => {
    it.given(t, [created(), started('ch_1', 'pm_declined', declinedCard)])
      .when(decline('ch_1', T0 + 20, { failureCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }))
      .then([
        {
          type: 'attempt.declined',
          at: T0 + 20,
          data: { attempt_id: 'ch_1', network_ref: 'net_ch_1', failure_code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
        },
      ])
      .thenState({
        status: 'requires_payment_method',
        // Stripe detaches the declined card; it stays in last_payment_error.
        payment_method: null,
        amount_received: 0,
        amount_capturable: 0,
        last_payment_error: {
          type: 'card_error',
          code: 'card_declined',
          decline_code: 'insufficient_funds',
          message: 'Your card has insufficient funds.',
          charge: 'ch_1',
          payment_method: 'pm_declined',
        },
      })
      .thenState((s) => {
        const a = s?.attempts[0];
        return (
          a?.status === 'failed' &&
          a.failure_code === 'card_declined' &&
          a.decline_code === 'insufficient_funds' &&
          a.failure_message === 'Your card has insufficient funds.' &&
          a.network_ref === 'net_ch_1' &&
          a.settled_at === T0 + 20 &&
          !a.captured
        );
      });
  });
  t.test('declined without details → the defaults', async (t) => {
    it.given(t, [created(), started('ch_1', 'pm_declined', declinedCard)])
      .when(decline())
      .then([declined()])
      .thenState({ last_payment_error: { code: 'card_declined', decline_code: null, message: 'Your card was declined.', charge: 'ch_1' } });
  });
  t.test('unknown → attempt in_doubt, intent stays processing', async (t) => {
    it.given(t, H.processing)
      .when(unknown())
      .then([inDoubt()])
      .thenState((s) => s?.status === 'processing' && s.attempts[0]?.status === 'in_doubt' && s.attempts[0].settled_at === null);
  });
  t.test('a repeat unknown is a no-op', async (t) => {
    it.given(t, H.processing_in_doubt).when(unknown('ch_1', T0 + 99)).thenNothing().thenState({ status: 'processing' });
  });
  t.test('in_doubt settled by reconciliation: approved', async (t) => {
    it.given(t, H.processing_in_doubt).when(approve('ch_1', T0 + 300)).then([succeeded('ch_1', true, 1000, T0 + 300)]).thenState({ status: 'succeeded', amount_received: 1000 });
  });
  t.test('in_doubt settled by reconciliation: declined', async (t) => {
    it.given(t, H.processing_in_doubt)
      .when(decline('ch_1', T0 + 300))
      .then([declined('ch_1', T0 + 300)])
      .thenState((s) => s?.status === 'requires_payment_method' && s.attempts[0]?.status === 'failed');
  });
  t.test('in_doubt settled by reconciliation: timeout (the network never saw it) → attempt.timed_out (payment_timeout)', async (t) => {
    const timeout: IntentCommand = { type: 'RecordAuthorization', attemptId: 'ch_1', outcome: 'timeout', networkRef: null, now: T0 + 600 };
    const timedOut: IntentEvent = {
      type: 'attempt.timed_out',
      at: T0 + 600,
      data: { attempt_id: 'ch_1', failure_code: 'payment_timeout', message: 'The card network did not answer in time; no money moved.' },
    };
    it.given(t, H.processing_in_doubt)
      .when(timeout)
      .then([timedOut])
      .thenState({ status: 'requires_payment_method', payment_method: null, last_payment_error: { code: 'payment_timeout', charge: 'ch_1', payment_method: 'pm_1' } })
      .thenState((s) => s?.attempts[0]?.status === 'failed' && s.attempts[0].failure_code === 'payment_timeout' && s.attempts[0].settled_at === T0 + 600);
    // A pending attempt (the sweep) times out the same way.
    it.given(t, H.processing).when(timeout).then([timedOut]);
    const after = [...H.processing_in_doubt, timedOut];
    // A repeated verdict writes nothing; a contrary one (the network approved after all) is refused:
    // terminal never goes backwards, the shell reverses the money instead.
    it.given(t, after).when(timeout).thenNothing();
    it.given(t, after).when(decline('ch_1', T0 + 700)).thenNothing().thenState({ last_payment_error: { code: 'payment_timeout' } });
    it.given(t, after).when(unknown('ch_1', T0 + 700)).thenNothing();
    it.given(t, after).when(approve('ch_1', T0 + 700)).thenThrows('attempt_already_settled', { status: 409, param: 'attempt' });
    // …and the intent can be confirmed again with a new attempt.
    it.given(t, after).when(startAttempt('ch_2', 'pm_2', card, T0 + 800)).then([started('ch_2', 'pm_2', card, 1000, T0 + 800)]).thenState({ status: 'processing' });
  });
  t.test('a late answer on a settled attempt: a repeat writes nothing, a contrary one is refused (terminal never goes backwards)', async (t) => {
    it.given(t, H.declined).when(approve('ch_1', T0 + 500)).thenThrows('attempt_already_settled', { status: 409 });
    it.given(t, H.declined).when(unknown('ch_1', T0 + 500)).thenNothing();
    it.given(t, H.declined).when(decline('ch_1', T0 + 500)).thenNothing();
    it.given(t, H.succeeded).when(decline('ch_1', T0 + 500)).thenThrows('attempt_already_settled', { status: 409 });
    it.given(t, H.succeeded).when({ type: 'RecordAuthorization', attemptId: 'ch_1', outcome: 'timeout', networkRef: null, now: T0 + 500 }).thenThrows('attempt_already_settled');
    it.given(t, H.succeeded).when(unknown('ch_1', T0 + 500)).thenNothing().thenState((s) => s?.attempts[0]?.status === 'succeeded');
    it.given(t, H.succeeded).when(approve('ch_1', T0 + 500)).thenNothing();
    it.given(t, H.requires_capture).when(decline('ch_1', T0 + 500)).thenThrows('attempt_already_settled');
    it.given(t, H.requires_capture).when(approve('ch_1', T0 + 500)).thenNothing();
    it.given(t, H.succeeded_after_capture).when(decline('ch_1', T0 + 500)).thenThrows('attempt_already_settled');
  });
  t.test('an unknown attempt id is refused', async (t) => {
    it.given(t, H.processing).when(approve('ch_nope')).thenThrows('resource_missing', { param: 'attempt' });
    it.given(t, H.requires_payment_method).when(decline('ch_nope')).thenThrows('resource_missing', { param: 'attempt' });
    it.given(t, H.succeeded).when(unknown('ch_nope')).thenThrows('resource_missing', { param: 'attempt' });
  });
});

// ── the seed's decline-then-retry ─────────────────────────────────────────
t.test('decline then retry: two attempts on one intent, the second succeeds', async (t) => {
  const history: IntentEvent[] = [created()];
  const step = (cmd: IntentCommand) => {
    const events = intentDecider.decide(cmd, fold(intentDecider, history));
    history.push(...events);
    return events;
  };
  t.strictSame(step(startAttempt('ch_1', 'pm_declined', declinedCard, T0 + 10)), [started('ch_1', 'pm_declined', declinedCard, 1000, T0 + 10)]);
  t.strictSame(step(decline('ch_1', T0 + 11)), [declined('ch_1', T0 + 11)]);
  t.equal(fold(intentDecider, history)?.status, 'requires_payment_method');

  it.given(t, history)
    .when(startAttempt('ch_2', 'pm_ok', card, T0 + 20))
    .then([started('ch_2', 'pm_ok', card, 1000, T0 + 20)])
    .thenState((s) => s?.status === 'processing' && s.attempts.length === 2 && s.attempts[1]?.status === 'pending');
  step(startAttempt('ch_2', 'pm_ok', card, T0 + 20));

  it.given(t, history)
    .when(approve('ch_2', T0 + 21))
    .then([succeeded('ch_2', true, 1000, T0 + 21)])
    .thenState((s) => {
      const [first, second] = s?.attempts ?? [];
      return (
        s?.status === 'succeeded' &&
        s.attempts.length === 2 &&
        first?.id === 'ch_1' &&
        first.status === 'failed' &&
        second?.id === 'ch_2' &&
        second.status === 'succeeded' &&
        second.captured &&
        s.amount_received === 1000 &&
        s.payment_method === 'pm_ok' &&
        s.last_payment_error === null
      );
    });
  step(approve('ch_2', T0 + 21));

  // The first attempt's late duplicate decline writes nothing; a late approval is refused.
  it.given(t, history).when(decline('ch_1', T0 + 60)).thenNothing();
  it.given(t, history).when(approve('ch_1', T0 + 60)).thenThrows('attempt_already_settled', { status: 409 });
});

// ── Capture ───────────────────────────────────────────────────────────────
t.test('Capture', async (t) => {
  t.test('full, without amount_to_capture', async (t) => {
    it.given(t, H.requires_capture)
      .when(capture())
      .then([captured(1000)])
      .thenState((s) => {
        const a = s?.attempts[0];
        return s?.status === 'succeeded' && s.amount_received === 1000 && s.amount_capturable === 0 && a?.captured === true && a.amount_captured === 1000;
      });
  });
  t.test('full, with amount_to_capture equal to amount_capturable', async (t) => {
    it.given(t, H.requires_capture).when(capture(1000)).then([captured(1000)]).thenState({ status: 'succeeded', amount_received: 1000 });
  });
  t.test('partial', async (t) => {
    it.given(t, H.requires_capture)
      .when(capture(400))
      .then([captured(400)])
      .thenState((s) => s?.status === 'succeeded' && s.amount_received === 400 && s.amount_capturable === 0 && s.attempts[0]?.amount_captured === 400);
  });
  t.test('over-capture is refused', async (t) => {
    it.given(t, H.requires_capture).when(capture(1001)).thenThrows('amount_too_large', { param: 'amount_to_capture' });
  });
  t.test('a non-positive or fractional amount is refused', async (t) => {
    for (const amount of [0, -1, 1.5]) it.given(t, H.requires_capture).when(capture(amount)).thenThrows('parameter_invalid_integer', { param: 'amount_to_capture' });
  });
  for (const status of ['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'processing_in_doubt', 'succeeded', 'succeeded_after_capture', 'canceled'] as const) {
    t.test(`refused from ${status}`, async (t) => {
      it.given(t, H[status]).when(capture()).thenThrows('payment_intent_unexpected_state');
    });
  }
});

// ── Cancel ────────────────────────────────────────────────────────────────
t.test('Cancel', async (t) => {
  for (const status of ['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture'] as const) {
    t.test(`from ${status} → canceled`, async (t) => {
      it.given(t, H[status])
        .when(cancel('requested_by_customer'))
        .then([canceled('requested_by_customer')])
        .thenState({ status: 'canceled', canceled_at: T0 + 40, cancellation_reason: 'requested_by_customer', amount_capturable: 0, amount_received: 0 });
    });
  }
  t.test('after a decline → canceled', async (t) => {
    it.given(t, H.declined).when(cancel('abandoned')).then([canceled('abandoned')]).thenState({ status: 'canceled', cancellation_reason: 'abandoned' });
  });
  t.test('without a reason', async (t) => {
    it.given(t, H.requires_payment_method).when(cancel(null)).then([canceled(null)]).thenState({ status: 'canceled', cancellation_reason: null });
  });
  t.test('a canceled intent is not canceled again (Stripe: 400)', async (t) => {
    it.given(t, H.canceled).when(cancel('duplicate', T0 + 99)).thenThrows('payment_intent_unexpected_state');
  });
  for (const status of ['processing', 'processing_in_doubt', 'succeeded', 'succeeded_after_capture'] as const) {
    t.test(`refused from ${status}`, async (t) => {
      it.given(t, H[status]).when(cancel()).thenThrows('payment_intent_unexpected_state');
    });
  }
});

// ── Refunds ───────────────────────────────────────────────────────────────
type StartRefundCmd = Extract<IntentCommand, { type: 'StartRefund' }>;
const startRefund = (refundId = 're_1', over: Partial<Omit<StartRefundCmd, 'type' | 'refundId'>> = {}): IntentCommand => ({
  type: 'StartRefund',
  refundId,
  reason: null,
  metadata: {},
  now: T0 + 50,
  ...over,
});
const recordRefund = (refundId = 're_1', outcome: 'succeeded' | 'failed' = 'succeeded', now = T0 + 60): IntentCommand =>
  outcome === 'succeeded'
    ? { type: 'RecordRefund', refundId, outcome, networkRef: 'net_ch_1', now }
    : { type: 'RecordRefund', refundId, outcome, networkRef: 'net_ch_1', failureReason: 'declined', now };
const refundCreated = (refundId = 're_1', amount = 1000, attemptId = 'ch_1', at = T0 + 50): IntentEvent => ({
  type: 'refund.created',
  at,
  data: { refund_id: refundId, attempt_id: attemptId, amount, reason: null, metadata: {} },
});
const refundSucceeded = (refundId = 're_1', at = T0 + 60): IntentEvent => ({ type: 'refund.succeeded', at, data: { refund_id: refundId, network_ref: 'net_ch_1' } });
const refundFailed = (refundId = 're_1', at = T0 + 60): IntentEvent => ({ type: 'refund.failed', at, data: { refund_id: refundId, network_ref: 'net_ch_1', failure_reason: 'declined' } });
const declinedThenPaid: IntentEvent[] = [created(), started('ch_1', 'pm_declined', declinedCard), declined(), started('ch_2', 'pm_1', card, 1000, T0 + 30), succeeded('ch_2', true, 1000, T0 + 31)];

t.test('StartRefund', async (t) => {
  t.test('without an amount: the whole captured amount, pending; the intent stays succeeded', async (t) => {
    it.given(t, H.succeeded)
      .when(startRefund())
      .then([refundCreated()])
      .thenState((s) => {
        const r = s?.refunds[0];
        return (
          s?.status === 'succeeded' &&
          s.amount_received === 1000 &&
          s.refunds.length === 1 &&
          r?.id === 're_1' &&
          r.charge === 'ch_1' &&
          r.amount === 1000 &&
          r.status === 'pending' &&
          r.failure_reason === null &&
          r.created === T0 + 50 &&
          s.attempts[0]?.amount_refunded === 1000
        );
      });
  });
  t.test('partial, then the rest by default, then nothing is left', async (t) => {
    const afterPartial = [...H.succeeded, refundCreated('re_1', 300), refundSucceeded('re_1')];
    it.given(t, H.succeeded).when(startRefund('re_1', { amount: 300 })).then([refundCreated('re_1', 300)]).thenState((s) => s?.attempts[0]?.amount_refunded === 300);
    it.given(t, afterPartial)
      .when(startRefund('re_2', { now: T0 + 70 }))
      .then([refundCreated('re_2', 700, 'ch_1', T0 + 70)])
      .thenState((s) => s?.attempts[0]?.amount_refunded === 1000 && s.refunds.length === 2);
    it.given(t, [...afterPartial, refundCreated('re_2', 700, 'ch_1', T0 + 70)])
      .when(startRefund('re_3'))
      .thenThrows('charge_already_refunded', { status: 400 });
  });
  t.test('by charge id', async (t) => {
    it.given(t, H.succeeded).when(startRefund('re_1', { attemptId: 'ch_1', amount: 250 })).then([refundCreated('re_1', 250)]);
  });
  t.test('carries reason and metadata', async (t) => {
    it.given(t, H.succeeded)
      .when(startRefund('re_1', { reason: 'duplicate', metadata: { order: '7' } }))
      .then([{ type: 'refund.created', at: T0 + 50, data: { refund_id: 're_1', attempt_id: 'ch_1', amount: 1000, reason: 'duplicate', metadata: { order: '7' } } }])
      .thenState((s) => s?.refunds[0]?.reason === 'duplicate' && s.refunds[0].metadata.order === '7');
  });
  t.test('over-refund is refused with Stripe\'s message, param amount', async (t) => {
    it.given(t, H.succeeded).when(startRefund('re_1', { amount: 1001 })).thenThrows('amount_too_large', { param: 'amount', status: 400 });
    it.given(t, [...H.succeeded, refundCreated('re_1', 600)]).when(startRefund('re_2', { amount: 500 })).thenThrows('amount_too_large', { param: 'amount' });
    try {
      intentDecider.decide(startRefund('re_2', { amount: 500 }), fold(intentDecider, [...H.succeeded, refundCreated('re_1', 600)]));
    } catch (e) {
      t.equal((e as Error).message, 'Refund amount ($5.00) is greater than unrefunded amount on charge ($4.00)');
    }
  });
  t.test('a pending refund holds its amount', async (t) => {
    it.given(t, [...H.succeeded, refundCreated()]).when(startRefund('re_2', { amount: 1 })).thenThrows('charge_already_refunded');
  });
  t.test('a failed refund gives its amount back', async (t) => {
    it.given(t, [...H.succeeded, refundCreated(), refundFailed()]).when(startRefund('re_2')).then([refundCreated('re_2')]);
  });
  t.test('after a partial capture only the captured amount is refundable', async (t) => {
    const partial = [created({ captureMethod: 'manual' }), started(), succeeded('ch_1', false), captured(400)];
    it.given(t, partial).when(startRefund()).then([refundCreated('re_1', 400)]);
    it.given(t, partial).when(startRefund('re_1', { amount: 401 })).thenThrows('amount_too_large', { param: 'amount' });
  });
  t.test('a repeat refund id is a no-op', async (t) => {
    it.given(t, [...H.succeeded, refundCreated()]).when(startRefund()).thenNothing();
    it.given(t, [...H.succeeded, refundCreated(), refundSucceeded()]).when(startRefund('re_1', { amount: 5 })).thenNothing();
  });
  t.test('a non-positive or fractional amount is refused', async (t) => {
    for (const amount of [0, -1, 1.5]) it.given(t, H.succeeded).when(startRefund('re_1', { amount })).thenThrows('parameter_invalid_integer', { param: 'amount' });
    // Parameters first: an invalid amount is named even when nothing is left to refund.
    it.given(t, [...H.succeeded, refundCreated()]).when(startRefund('re_2', { amount: 0 })).thenThrows('parameter_invalid_integer', { param: 'amount' });
  });
  t.test('an unknown charge is refused', async (t) => {
    it.given(t, H.succeeded).when(startRefund('re_1', { attemptId: 'ch_nope' })).thenThrows('resource_missing', { param: 'charge', status: 404 });
  });
  t.test('the declined charge of a decline-then-success intent is refused; the successful one is the default', async (t) => {
    it.given(t, declinedThenPaid).when(startRefund('re_1', { attemptId: 'ch_1' })).thenThrows('charge_not_refundable');
    it.given(t, declinedThenPaid).when(startRefund()).then([refundCreated('re_1', 1000, 'ch_2')]).thenState((s) => s?.attempts[1]?.amount_refunded === 1000 && s.attempts[0]?.amount_refunded === 0);
  });
  for (const status of ['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'processing_in_doubt', 'requires_capture', 'canceled', 'declined'] as const) {
    t.test(`refused from ${status}: no captured successful charge`, async (t) => {
      it.given(t, H[status]).when(startRefund()).thenThrows('charge_not_refundable', { param: 'payment_intent', status: 400 });
    });
  }
  t.test('an uncaptured charge named by id is refused', async (t) => {
    it.given(t, H.requires_capture).when(startRefund('re_1', { attemptId: 'ch_1' })).thenThrows('charge_not_refundable');
  });
});

t.test('RecordRefund', async (t) => {
  const pending = [...H.succeeded, refundCreated()];
  t.test('succeeded → refund succeeded; the charge stays refunded', async (t) => {
    it.given(t, pending)
      .when(recordRefund())
      .then([refundSucceeded()])
      .thenState((s) => s?.refunds[0]?.status === 'succeeded' && s.refunds[0].network_ref === 'net_ch_1' && s.refunds[0].settled_at === T0 + 60 && s.attempts[0]?.amount_refunded === 1000 && s.status === 'succeeded');
  });
  t.test('failed → refund failed with its reason; the amount goes back to the charge', async (t) => {
    it.given(t, pending)
      .when(recordRefund('re_1', 'failed'))
      .then([refundFailed()])
      .thenState((s) => s?.refunds[0]?.status === 'failed' && s.refunds[0].failure_reason === 'declined' && s.attempts[0]?.amount_refunded === 0);
  });
  t.test('terminal means terminal: a repeat or a late contrary answer writes nothing', async (t) => {
    it.given(t, [...pending, refundSucceeded()]).when(recordRefund()).thenNothing();
    it.given(t, [...pending, refundSucceeded()]).when(recordRefund('re_1', 'failed')).thenNothing().thenState((s) => s?.refunds[0]?.status === 'succeeded' && s.attempts[0]?.amount_refunded === 1000);
    it.given(t, [...pending, refundFailed()]).when(recordRefund('re_1', 'failed')).thenNothing();
    it.given(t, [...pending, refundFailed()]).when(recordRefund()).thenNothing().thenState((s) => s?.refunds[0]?.status === 'failed' && s.attempts[0]?.amount_refunded === 0);
  });
  t.test('an unknown refund is refused', async (t) => {
    it.given(t, H.succeeded).when(recordRefund('re_nope')).thenThrows('resource_missing', { param: 'refund', status: 404 });
  });
  t.test('on a missing intent → resource_missing', async (t) => {
    it.given(t, []).when(startRefund()).thenThrows('resource_missing', { param: 'id', status: 404 });
    it.given(t, []).when(recordRefund()).thenThrows('resource_missing', { param: 'id', status: 404 });
  });
  t.test('refund events on no intent leave no intent', async (t) => {
    for (const e of [refundCreated(), refundSucceeded(), refundFailed()]) t.equal(fold(intentDecider, [e]), null, e.type);
  });
});

t.test('never refunded beyond what was captured, over every sequence decided so far', async (t) => {
  for (const seq of it.sequences) {
    const s = fold(intentDecider, seq);
    if (!s) continue;
    for (const a of s.attempts) {
      const held = s.refunds.filter((r) => r.charge === a.id && r.status !== 'failed').reduce((n, r) => n + r.amount, 0);
      t.ok(held === a.amount_refunded && held <= a.amount_captured, `${a.id}: ${held} held, ${a.amount_refunded} refunded of ${a.amount_captured}: ${seq.map((e) => e.type).join(' → ')}`);
    }
  }
});

// ── a missing intent ──────────────────────────────────────────────────────
t.test('every command but Create on a missing intent → resource_missing', async (t) => {
  const commands: IntentCommand[] = [update({ amount: 1 }), startAttempt(), approve(), decline(), unknown(), capture(), capture(10), cancel()];
  for (const cmd of commands) {
    t.test(cmd.type, async (t) => {
      it.given(t, []).when(cmd).thenThrows('resource_missing', { param: 'id', status: 404 });
    });
  }
});

t.test('events on no intent leave no intent', async (t) => {
  const orphan: IntentEvent[] = [started(), succeeded(), declined(), inDoubt(), captured(1), canceled(), { type: 'intent.updated', at: T0, data: { amount: 5 } }];
  for (const e of orphan) t.equal(fold(intentDecider, [e]), null, e.type);
});

// ── a property over everything above ──────────────────────────────────────
t.test('every event sequence built above folds to a known status', async (t) => {
  const sequences = [...Object.values(H), ...it.sequences];
  t.ok(it.sequences.length > 50, `${it.sequences.length} decided sequences`);
  for (const seq of sequences) {
    const s = fold(intentDecider, seq);
    const label = seq.map((e) => e.type).join(' → ');
    t.ok(s !== null && Object.hasOwn(INTENT_STATUSES, s.status), `status ${s?.status}: ${label}`);
    t.ok(s !== null && s.attempts.every((a) => Object.hasOwn(ATTEMPT_STATUSES, a.status)), `attempt statuses: ${label}`);
  }
});

// ── Reconciliation (issue 7) ──────────────────────────────────────────────
t.test('Reconciliation', async (t) => {
  const reversal = (over: Partial<Extract<IntentCommand, { type: 'RecordReversal' }>> = {}): IntentCommand => ({
    type: 'RecordReversal',
    attemptId: 'ch_1',
    networkRef: 'net_dup',
    amount: 1000,
    method: 'refund',
    reason: 'duplicate_authorization',
    now: T0 + 900,
    ...over,
  });
  const timedOut: IntentEvent = { type: 'attempt.timed_out', at: T0 + 600, data: { attempt_id: 'ch_1', failure_code: 'payment_timeout', message: 'The card network did not answer in time; no money moved.' } };

  t.test('a second success on one intent is superseded, never a second charge', async (t) => {
    // ch_1 timed out, ch_2 succeeded, then the network approves an in-doubt ch_3 (defensive: the
    // decider holds the invariant whatever the shell does).
    const history = [...H.processing_in_doubt, timedOut, started('ch_2', 'pm_2', card, 1000, T0 + 700), started('ch_3', 'pm_3', card, 1000, T0 + 720), inDoubt('ch_3', T0 + 730), succeeded('ch_2', true, 1000, T0 + 735)];
    it.given(t, history)
      .when(approve('ch_3', T0 + 740))
      .then([{ type: 'attempt.superseded', at: T0 + 740, data: { attempt_id: 'ch_3', network_ref: 'net_ch_3', succeeded_attempt_id: 'ch_2' } }])
      .thenState(
        (s) =>
          s?.status === 'succeeded' &&
          s.amount_received === 1000 &&
          s.attempts.filter((a) => a.status === 'succeeded').length === 1 &&
          s.attempts[2]?.status === 'failed' &&
          s.attempts[2].failure_code === 'duplicate_success',
      );
  });
  t.test('a terminal intent never goes backwards: an old attempt failing leaves it succeeded', async (t) => {
    const history = [...H.processing_in_doubt, timedOut, started('ch_2', 'pm_2', card, 1000, T0 + 700), succeeded('ch_2', true, 1000, T0 + 710)];
    const s = fold(intentDecider, [...history, { type: 'attempt.declined', at: T0 + 800, data: { attempt_id: 'ch_1', network_ref: null, failure_code: 'card_declined', decline_code: null, message: 'x' } }]);
    t.equal(s?.status, 'succeeded');
  });
  t.test('RecordReversal: money we do not keep goes back, once', async (t) => {
    const reversed: IntentEvent = { type: 'attempt.reversed', at: T0 + 900, data: { attempt_id: 'ch_1', network_ref: 'net_dup', amount: 1000, method: 'refund', reason: 'duplicate_authorization' } };
    it.given(t, H.succeeded)
      .when(reversal())
      .then([reversed])
      .thenState((s) => s?.status === 'succeeded' && s.amount_received === 1000 && s.attempts[0]?.reversals?.[0]?.network_ref === 'net_dup');
    it.given(t, [...H.succeeded, reversed]).when(reversal()).thenNothing();
    // Late money on a timed-out attempt.
    it.given(t, [...H.processing_in_doubt, timedOut])
      .when(reversal({ networkRef: 'net_late', method: 'void', reason: 'late_success_after_failure' }))
      .then([{ type: 'attempt.reversed', at: T0 + 900, data: { attempt_id: 'ch_1', network_ref: 'net_late', amount: 1000, method: 'void', reason: 'late_success_after_failure' } }])
      .thenState({ status: 'requires_payment_method' });
  });
  t.test('RecordReversal refuses the charge we keep, an unsettled attempt, an unknown attempt', async (t) => {
    it.given(t, H.succeeded).when(reversal({ networkRef: 'net_ch_1' })).thenThrows('reversal_refused', { status: 409 });
    it.given(t, H.processing_in_doubt).when(reversal()).thenThrows('attempt_not_settled', { status: 409 });
    it.given(t, H.succeeded).when(reversal({ attemptId: 'ch_nope' })).thenThrows('resource_missing', { status: 404 });
    // An operator may reverse even the kept charge (manual resolution).
    it.given(t, H.succeeded).when(reversal({ networkRef: 'net_ch_1', reason: 'manual' })).then([
      { type: 'attempt.reversed', at: T0 + 900, data: { attempt_id: 'ch_1', network_ref: 'net_ch_1', amount: 1000, method: 'refund', reason: 'manual' } },
    ]);
  });
  t.test('FlagDiscrepancy then ResolveDiscrepancy: the audit trail on the intent', async (t) => {
    const flag: IntentCommand = { type: 'FlagDiscrepancy', discrepancyId: 'dsc_1', kind: 'status_mismatch', attemptId: 'ch_1', networkRef: 'net_x', detail: 'we failed it, the network captured it', now: T0 + 1000 };
    const flagged: IntentEvent = { type: 'reconciliation.flagged', at: T0 + 1000, data: { discrepancy_id: 'dsc_1', kind: 'status_mismatch', attempt_id: 'ch_1', network_ref: 'net_x', detail: 'we failed it, the network captured it' } };
    it.given(t, H.declined).when(flag).then([flagged]).thenState((s) => s?.reconciliation?.[0]?.id === 'dsc_1' && s.reconciliation[0].resolution === null && s.status === 'requires_payment_method');
    it.given(t, [...H.declined, flagged]).when(flag).thenNothing();
    const resolve: IntentCommand = { type: 'ResolveDiscrepancy', discrepancyId: 'dsc_1', kind: 'status_mismatch', operator: 'alice', reason: 'acquirer confirmed', action: 'none', now: T0 + 1100 };
    const resolved: IntentEvent = { type: 'reconciliation.resolved', at: T0 + 1100, data: { discrepancy_id: 'dsc_1', kind: 'status_mismatch', operator: 'alice', reason: 'acquirer confirmed', action: 'none' } };
    it.given(t, [...H.declined, flagged])
      .when(resolve)
      .then([resolved])
      .thenState((s) => s?.reconciliation?.[0]?.resolution?.operator === 'alice' && s.reconciliation[0].resolution.reason === 'acquirer confirmed');
    it.given(t, [...H.declined, flagged, resolved]).when({ ...resolve, operator: 'bob' }).thenNothing().thenState((s) => s?.reconciliation?.[0]?.resolution?.operator === 'alice');
    it.given(t, [...H.declined, flagged]).when({ ...resolve, operator: ' ' }).thenThrows('parameter_missing', { param: 'operator' });
    it.given(t, [...H.declined, flagged]).when({ ...resolve, reason: '' }).thenThrows('parameter_missing', { param: 'reason' });
  });
  t.test('at most one successful charge per intent, over every sequence decided so far', async (t) => {
    for (const seq of it.sequences) {
      const s = fold(intentDecider, seq);
      if (!s) continue;
      t.ok(s.attempts.filter((a) => a.status === 'succeeded').length <= 1, seq.map((e) => e.type).join(' → '));
    }
  });
});

t.test('UpdateRefund merges the refund’s metadata; nothing changed writes nothing; an unknown refund is 404', async (t) => {
  const withRefund = [...H.succeeded, { ...refundCreated(), data: { ...(refundCreated().data as object), metadata: { order: '7', note: 'x' } } } as IntentEvent, refundSucceeded()];
  it.given(t, withRefund)
    .when({ type: 'UpdateRefund', refundId: 're_1', metadata: { note: '', ticket: 'T-9' }, now: T0 + 90 })
    .then([{ type: 'refund.metadata_updated', at: T0 + 90, data: { refund_id: 're_1', metadata: { order: '7', ticket: 'T-9' } } }])
    .thenState((s) => JSON.stringify(s?.refunds[0]?.metadata) === '{"order":"7","ticket":"T-9"}' && s?.refunds[0]?.status === 'succeeded' && s.status === 'succeeded');
  it.given(t, withRefund).when({ type: 'UpdateRefund', refundId: 're_1', metadata: { order: '7' }, now: T0 + 90 }).thenNothing();
  it.given(t, withRefund)
    .when({ type: 'UpdateRefund', refundId: 're_1', metadata: '', now: T0 + 90 })
    .then([{ type: 'refund.metadata_updated', at: T0 + 90, data: { refund_id: 're_1', metadata: {} } }]);
  it.given(t, withRefund).when({ type: 'UpdateRefund', refundId: 're_9', metadata: { a: '1' }, now: T0 + 90 }).thenThrows('resource_missing', { status: 404 });
});

t.test('UpdateCharge: the charge’s own description and metadata, the intent’s receipt email; nothing changed writes nothing; an unknown charge is 404', async (t) => {
  const paid = H.succeeded;
  it.given(t, paid)
    .when({ type: 'UpdateCharge', attemptId: 'ch_1', description: 'Order 7', metadata: { order: '7' }, receiptEmail: 'r@example.com', now: T0 + 90 })
    .then([{ type: 'charge.details_updated', at: T0 + 90, data: { attempt_id: 'ch_1', description: 'Order 7', metadata: { order: '7' }, receipt_email: 'r@example.com' } }])
    .thenState((s) => s?.attempts[0]?.description === 'Order 7' && s.attempts[0].metadata?.order === '7' && s.receipt_email === 'r@example.com' && s.description === null && JSON.stringify(s.metadata) === '{}' && s.status === 'succeeded');
  const updated = [...paid, { type: 'charge.details_updated', at: T0 + 90, data: { attempt_id: 'ch_1', metadata: { order: '7', note: 'x' } } } as IntentEvent];
  // Merged onto the charge's own metadata; a key given '' is removed.
  it.given(t, updated)
    .when({ type: 'UpdateCharge', attemptId: 'ch_1', metadata: { note: '', ticket: 'T-9' }, now: T0 + 95 })
    .then([{ type: 'charge.details_updated', at: T0 + 95, data: { attempt_id: 'ch_1', metadata: { order: '7', ticket: 'T-9' } } }]);
  it.given(t, updated).when({ type: 'UpdateCharge', attemptId: 'ch_1', metadata: { order: '7' }, description: null, now: T0 + 95 }).thenNothing();
  it.given(t, paid).when({ type: 'UpdateCharge', attemptId: 'ch_9', description: 'x', now: T0 + 90 }).thenThrows('resource_missing', { status: 404 });
  // An erasure clears the receipt email the charge update set (it is the intent's).
  it.given(t, [...paid, { type: 'charge.details_updated', at: T0 + 90, data: { attempt_id: 'ch_1', receipt_email: 'r@example.com' } } as IntentEvent])
    .when({ type: 'ErasePii', reason: 'request', now: T0 + 99 })
    .thenState((s) => s?.receipt_email === null);
});
