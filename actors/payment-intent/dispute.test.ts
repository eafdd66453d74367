// Given/when/then for disputes on the intent aggregate: opened from the network's feed, answered with
// evidence or accepted by the merchant, decided by the network; closed never reopens, and a charged
// back charge cannot also be refunded.
import t from 'tap';
import { spec } from '../testing.ts';
import { intentDecider, type IntentCommand, type IntentEvent, type IntentState } from './intent.ts';
import { DISPUTE_FEE, MAX_EVIDENCE_CHARS, representmentText, type Dispute, type DisputeReason } from './dispute.ts';
import { isActionable } from './fraud-warning.ts';

const it = spec(intentDecider);
/** The intent's first dispute has these fields (deep-equal). */
const dispute0 = (want: Partial<Dispute>) => (s: IntentState) => {
  const d = s?.disputes?.[0] as Record<string, unknown> | undefined;
  return !!d && Object.entries(want).every(([k, v]) => JSON.stringify(d[k]) === JSON.stringify(v));
};
const T0 = 1_700_000_000;
const card = { brand: 'visa', last4: '0259', exp_month: 12, exp_year: 2030, fingerprint: 'fp_1', funding: 'credit', country: 'US' };

const created0: IntentEvent = {
  type: 'intent.created',
  at: T0,
  data: {
    id: 'pi_1',
    merchant_id: 'mer_1',
    livemode: false,
    amount: 5000,
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
  },
};
const started: IntentEvent = { type: 'attempt.started', at: T0 + 1, data: { attempt_id: 'ch_1', payment_method: 'pm_1', card, amount: 5000 } };
const succeeded: IntentEvent = { type: 'attempt.succeeded', at: T0 + 2, data: { attempt_id: 'ch_1', network_ref: 'epn_1', amount: 5000, captured: true } };
const paid = [created0, started, succeeded];

const open = (over: Partial<Extract<IntentCommand, { type: 'OpenDispute' }>> = {}): IntentCommand => ({
  type: 'OpenDispute',
  disputeId: 'dp_1',
  attemptId: 'ch_1',
  chargebackRef: 'cb_1',
  amount: 5000,
  reason: 'fraudulent',
  inquiry: false,
  dueBy: T0 + 7 * 86_400,
  now: T0 + 10,
  ...over,
});
const disputeCreated = (inquiry = false, reason: DisputeReason = 'fraudulent'): IntentEvent => ({
  type: 'dispute.created',
  at: T0 + 10,
  data: { dispute_id: 'dp_1', attempt_id: 'ch_1', chargeback_ref: 'cb_1', amount: 5000, reason, inquiry, due_by: T0 + 7 * 86_400 },
});
const withdrawn: IntentEvent = { type: 'dispute.funds_withdrawn', at: T0 + 10, data: { dispute_id: 'dp_1', amount: 5000, fee: DISPUTE_FEE } };
const disputed = [...paid, disputeCreated(), withdrawn];
const inquired = [...paid, disputeCreated(true, 'general')];
const submitted: IntentEvent = { type: 'dispute.evidence_submitted', at: T0 + 20, data: { dispute_id: 'dp_1' } };
const status = (networkStatus: 'open' | 'under_review' | 'won' | 'lost', now = T0 + 30): IntentCommand => ({ type: 'RecordDisputeStatus', disputeId: 'dp_1', networkStatus, now });

t.test('a chargeback opens a dispute needing a response and withdraws the amount and the fee', (t) => {
  it.given(t, paid)
    .when(open())
    .then([disputeCreated(), withdrawn])
    .thenState(dispute0({ id: 'dp_1', status: 'needs_response', amount: 5000, inquiry: false, withdrawn: { amount: 5000, fee: DISPUTE_FEE, at: T0 + 10 }, reinstated: null }));
  t.end();
});

t.test('an inquiry opens a warning and withdraws nothing', (t) => {
  it.given(t, paid).when(open({ inquiry: true, reason: 'general' })).then([disputeCreated(true, 'general')]).thenState(dispute0({ status: 'warning_needs_response', withdrawn: null }));
  t.end();
});

t.test('the same chargeback read twice from the feed opens one dispute', (t) => {
  it.given(t, disputed).when(open()).thenNothing();
  it.given(t, disputed).when(open({ disputeId: 'dp_other' })).thenNothing();
  t.end();
});

t.test('only a captured, successful charge can be disputed, for at most what it captured', (t) => {
  it.given(t, [created0, started]).when(open()).thenThrows('charge_not_disputable', { status: 409 });
  it.given(t, paid).when(open({ attemptId: 'ch_x' })).thenThrows('resource_missing', { status: 404 });
  it.given(t, paid).when(open({ amount: 5001 })).thenThrows('amount_too_large');
  t.end();
});

t.test('evidence is merged, a field given empty is cleared, and nothing changed writes nothing', (t) => {
  const upd = (evidence: Record<string, string>): IntentCommand => ({ type: 'UpdateDispute', disputeId: 'dp_1', evidence, now: T0 + 15 });
  it.given(t, disputed)
    .when(upd({ uncategorized_text: 'shipped', customer_name: 'Jo' }))
    .then([{ type: 'dispute.updated', at: T0 + 15, data: { dispute_id: 'dp_1', evidence: { uncategorized_text: 'shipped', customer_name: 'Jo' } } }])
    .thenState(dispute0({ status: 'needs_response', evidence: { uncategorized_text: 'shipped', customer_name: 'Jo' } }));
  const withEvidence: IntentEvent = { type: 'dispute.updated', at: T0 + 15, data: { dispute_id: 'dp_1', evidence: { uncategorized_text: 'shipped', customer_name: 'Jo' } } };
  it.given(t, [...disputed, withEvidence])
    .when(upd({ customer_name: '' }))
    .then([{ type: 'dispute.updated', at: T0 + 15, data: { dispute_id: 'dp_1', evidence: { uncategorized_text: 'shipped' } } }]);
  it.given(t, [...disputed, withEvidence]).when(upd({ uncategorized_text: 'shipped' })).thenNothing();
  it.given(t, disputed).when(upd({ uncategorized_text: 'x'.repeat(MAX_EVIDENCE_CHARS + 1) })).thenThrows('parameter_invalid', { param: 'evidence' });
  t.end();
});

t.test('metadata is merged on an open or a closed dispute', (t) => {
  const closed: IntentEvent = { type: 'dispute.closed', at: T0 + 40, data: { dispute_id: 'dp_1', status: 'lost', by: 'merchant' } };
  it.given(t, [...disputed, closed])
    .when({ type: 'UpdateDispute', disputeId: 'dp_1', metadata: { case: '42' }, now: T0 + 50 })
    .then([{ type: 'dispute.updated', at: T0 + 50, data: { dispute_id: 'dp_1', metadata: { case: '42' } } }]);
  t.end();
});

t.test('submitting evidence puts the dispute under review; after that evidence is frozen', (t) => {
  it.given(t, disputed).when({ type: 'SubmitDisputeEvidence', disputeId: 'dp_1', now: T0 + 20 }).then([submitted]).thenState(dispute0({ status: 'under_review', submission_count: 1 }));
  it.given(t, [...disputed, submitted]).when({ type: 'SubmitDisputeEvidence', disputeId: 'dp_1', now: T0 + 21 }).thenThrows('dispute_under_review');
  it.given(t, [...disputed, submitted]).when({ type: 'UpdateDispute', disputeId: 'dp_1', evidence: { uncategorized_text: 'late' }, now: T0 + 21 }).thenThrows('dispute_under_review');
  it.given(t, inquired).when({ type: 'SubmitDisputeEvidence', disputeId: 'dp_1', now: T0 + 20 }).then([submitted]).thenState(dispute0({ status: 'warning_under_review' }));
  t.end();
});

t.test('the network under review (a representment we did not record) moves the dispute along once', (t) => {
  it.given(t, disputed).when(status('under_review', T0 + 20)).then([submitted]);
  it.given(t, [...disputed, submitted]).when(status('under_review')).thenNothing();
  it.given(t, disputed).when(status('open')).thenNothing();
  t.end();
});

t.test('won: closed as won and the withdrawn funds and fee are reinstated', (t) => {
  it.given(t, [...disputed, submitted])
    .when(status('won'))
    .then([
      { type: 'dispute.closed', at: T0 + 30, data: { dispute_id: 'dp_1', status: 'won', by: 'network' } },
      { type: 'dispute.funds_reinstated', at: T0 + 30, data: { dispute_id: 'dp_1', amount: 5000, fee: DISPUTE_FEE } },
    ])
    .thenState(dispute0({ status: 'won', closed_at: T0 + 30, reinstated: { amount: 5000, fee: DISPUTE_FEE, at: T0 + 30 } }));
  t.end();
});

t.test('lost: closed, nothing reinstated; a decision straight from needs_response is taken too', (t) => {
  it.given(t, disputed)
    .when(status('lost'))
    .then([{ type: 'dispute.closed', at: T0 + 30, data: { dispute_id: 'dp_1', status: 'lost', by: 'network' } }])
    .thenState(dispute0({ status: 'lost', reinstated: null }));
  t.end();
});

t.test('closed never goes back: a repeat writes nothing, a contrary verdict is refused', (t) => {
  const won: IntentEvent[] = [
    { type: 'dispute.closed', at: T0 + 30, data: { dispute_id: 'dp_1', status: 'won', by: 'network' } },
    { type: 'dispute.funds_reinstated', at: T0 + 30, data: { dispute_id: 'dp_1', amount: 5000, fee: DISPUTE_FEE } },
  ];
  it.given(t, [...disputed, ...won]).when(status('won')).thenNothing();
  it.given(t, [...disputed, ...won]).when(status('under_review')).thenNothing();
  it.given(t, [...disputed, ...won]).when(status('lost')).thenThrows('dispute_already_closed', { status: 409 });
  it.given(t, [...disputed, ...won]).when({ type: 'AcceptDispute', disputeId: 'dp_1', now: T0 + 40 }).thenThrows('dispute_already_closed');
  it.given(t, [...disputed, ...won]).when({ type: 'SubmitDisputeEvidence', disputeId: 'dp_1', now: T0 + 40 }).thenThrows('dispute_already_closed');
  t.end();
});

t.test('accepting closes the dispute as lost (an inquiry as warning_closed); a repeat writes nothing', (t) => {
  it.given(t, disputed)
    .when({ type: 'AcceptDispute', disputeId: 'dp_1', now: T0 + 40 })
    .then([{ type: 'dispute.closed', at: T0 + 40, data: { dispute_id: 'dp_1', status: 'lost', by: 'merchant' } }]);
  const lost: IntentEvent = { type: 'dispute.closed', at: T0 + 40, data: { dispute_id: 'dp_1', status: 'lost', by: 'merchant' } };
  it.given(t, [...disputed, lost]).when({ type: 'AcceptDispute', disputeId: 'dp_1', now: T0 + 41 }).thenNothing();
  it.given(t, inquired)
    .when({ type: 'AcceptDispute', disputeId: 'dp_1', now: T0 + 40 })
    .then([{ type: 'dispute.closed', at: T0 + 40, data: { dispute_id: 'dp_1', status: 'warning_closed', by: 'merchant' } }]);
  t.end();
});

t.test('an inquiry won closes as warning_closed with nothing to reinstate', (t) => {
  it.given(t, inquired).when(status('won')).then([{ type: 'dispute.closed', at: T0 + 30, data: { dispute_id: 'dp_1', status: 'warning_closed', by: 'network' } }]);
  t.end();
});

t.test('a charged-back charge cannot be refunded; an inquiry or a won chargeback can', (t) => {
  const refund = (now = T0 + 50): IntentCommand => ({ type: 'StartRefund', refundId: 're_1', reason: null, metadata: {}, now });
  it.given(t, disputed).when(refund()).thenThrows('charge_disputed', { param: 'charge' });
  it.given(t, [...disputed, submitted]).when(refund()).thenThrows('charge_disputed');
  it.given(t, inquired).when(refund()).then([{ type: 'refund.created', at: T0 + 50, data: { refund_id: 're_1', attempt_id: 'ch_1', amount: 5000, reason: null, metadata: {} } }]);
  const won: IntentEvent = { type: 'dispute.closed', at: T0 + 30, data: { dispute_id: 'dp_1', status: 'won', by: 'network' } };
  it.given(t, [...disputed, won]).when(refund()).then([{ type: 'refund.created', at: T0 + 50, data: { refund_id: 're_1', attempt_id: 'ch_1', amount: 5000, reason: null, metadata: {} } }]);
  t.end();
});

t.test('an unknown dispute is a 404', (t) => {
  it.given(t, disputed).when({ type: 'SubmitDisputeEvidence', disputeId: 'dp_x', now: T0 }).thenThrows('resource_missing', { status: 404 });
  it.given(t, disputed).when({ type: 'RecordDisputeStatus', disputeId: 'dp_x', networkStatus: 'won', now: T0 }).thenThrows('resource_missing');
  t.end();
});

t.test('the representment carries the evidence as field lines, in Stripe field order', (t) => {
  const d = { evidence: { uncategorized_text: 'winning_evidence', customer_name: 'Jo' } } as Parameters<typeof representmentText>[0];
  t.equal(representmentText(d), 'customer_name: Jo\nuncategorized_text: winning_evidence');
  t.end();
});

t.test('the intent status never changes with a dispute', (t) => {
  it.given(t, paid).when(open()).thenState({ status: 'succeeded', amount_received: 5000 });
  t.end();
});

t.test('an erasure clears the personal fields of the evidence and keeps the rest', (t) => {
  const withEvidence: IntentEvent = { type: 'dispute.updated', at: T0 + 15, data: { dispute_id: 'dp_1', evidence: { customer_name: 'Jo', customer_email_address: 'jo@example.com', uncategorized_text: 'shipped' } } };
  it.given(t, [...disputed, withEvidence])
    .when({ type: 'ErasePii', reason: 'request', now: T0 + 99 })
    .then([{ type: 'intent.pii_erased', at: T0 + 99, data: { reason: 'request', fields: ['dispute_evidence'] } }])
    .thenState(dispute0({ evidence: { uncategorized_text: 'shipped' } }));
  it.given(t, [...disputed, { type: 'dispute.updated', at: T0 + 15, data: { dispute_id: 'dp_1', evidence: { uncategorized_text: 'shipped' } } }])
    .when({ type: 'ErasePii', reason: 'request', now: T0 + 99 })
    .thenNothing();
  t.end();
});

// Early fraud warnings: the issuer's fraud report, recorded once; actionable until the charge is refunded or disputed.
t.test('a fraud report is recorded once as an early fraud warning', (t) => {
  const record: IntentCommand = { type: 'RecordFraudWarning', warningId: 'issfr_1', attemptId: 'ch_1', reportRef: 'fr_1', fraudType: 'made_with_stolen_card', now: T0 + 5 };
  const created: IntentEvent = { type: 'fraud_warning.created', at: T0 + 5, data: { warning_id: 'issfr_1', attempt_id: 'ch_1', report_ref: 'fr_1', fraud_type: 'made_with_stolen_card' } };
  it.given(t, paid).when(record).then([created]).thenState((s) => s?.fraud_warnings?.[0]?.id === 'issfr_1' && isActionable(s, s.fraud_warnings[0]));
  it.given(t, [...paid, created]).when(record).thenNothing();
  it.given(t, [...paid, created]).when({ ...record, warningId: 'issfr_2' } as IntentCommand).thenNothing();
  it.given(t, [created0, started]).when(record).thenThrows('charge_not_disputable');
  it.given(t, paid).when({ ...record, attemptId: 'ch_x' } as IntentCommand).thenThrows('resource_missing');
  it.given(t, [...paid, created, disputeCreated(), withdrawn]).when({ type: 'SubmitDisputeEvidence', disputeId: 'dp_1', now: T0 + 20 }).thenState((s) => !isActionable(s!, s!.fraud_warnings![0]!));
  it.given(t, [...paid, created]).when({ type: 'StartRefund', refundId: 're_1', reason: 'fraudulent', metadata: {}, now: T0 + 30 }).thenState((s) => !isActionable(s!, s!.fraud_warnings![0]!));
  it.given(t, [...paid, created]).when({ type: 'StartRefund', refundId: 're_1', amount: 100, reason: null, metadata: {}, now: T0 + 30 }).thenState((s) => isActionable(s!, s!.fraud_warnings![0]!));
  t.end();
});
