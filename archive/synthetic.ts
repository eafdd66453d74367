// Synthetic but valid intent commits (create → attempt started → attempt succeeded), for the replay
// benchmark and the database-archive tests: each passes the catalogue's schemas like a real one.
import type { IntentCommit } from '../streams/envelope.ts';

/** The three commits of payment `n` of `merchant`; `upTo` = 2 stops with the attempt pending. */
export function syntheticPayment(n: number, merchant: string, upTo: 1 | 2 | 3 = 3): IntentCommit[] {
  const id = `pi_bench${String(n).padStart(10, '0')}`;
  const at = 1_790_000_000 + n;
  const card = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, fingerprint: 'fp_bench', funding: 'credit', country: 'US' };
  const attempt = { id: `ch_bench${n}`, payment_method: 'pm_card_visa', card, amount: 1000 + (n % 500), status: 'pending' as const, captured: false, amount_captured: 0, network_ref: null, failure_code: null, decline_code: null, failure_message: null, created: at, settled_at: null, amount_refunded: 0 };
  const base = {
    id,
    merchant_id: merchant,
    livemode: false,
    amount: attempt.amount,
    currency: 'usd',
    capture_method: 'automatic' as const,
    client_secret: `${id}_secret_x`,
    created: at,
    description: null,
    metadata: { order: String(n) },
    receipt_email: `buyer${n}@example.com`,
    customer: null,
    user_email: null,
    product_id: 'sku_1',
    payment_method: 'pm_card_visa',
    refunds: [],
    last_payment_error: null,
    next_action: null,
    canceled_at: null,
    cancellation_reason: null,
  };
  const created = { ...base, status: 'requires_confirmation' as const, attempts: [], amount_capturable: 0, amount_received: 0 };
  const processing = { ...base, status: 'processing' as const, attempts: [attempt], amount_capturable: 0, amount_received: 0 };
  const succeeded = { ...base, status: 'succeeded' as const, attempts: [{ ...attempt, status: 'succeeded' as const, captured: true, amount_captured: attempt.amount, network_ref: `nr_${n}`, settled_at: at }], amount_capturable: 0, amount_received: attempt.amount };
  const c = (k: number, command: string, ev: IntentCommit['events'], state: IntentCommit['state']): IntentCommit => ({
    v: 1, id: `cmd_${n}_${k}`, aggregate: 'intent', aggregate_id: id, merchant_id: merchant, command, request_id: null, correlation_id: null, at, events: ev, state,
  });
  const { status: _s, attempts: _a, refunds: _r, last_payment_error: _l, amount_capturable: _c, amount_received: _ar, next_action: _n, canceled_at: _ca, cancellation_reason: _cr, ...createdData } = created;
  const all = [
    c(0, 'Create', [{ id: `evt_${n}a`, v: 1, type: 'intent.created', at, data: { ...createdData, status: 'requires_confirmation' } } as never], created),
    c(1, 'Confirm', [{ id: `evt_${n}b`, v: 1, type: 'attempt.started', at, data: { attempt_id: attempt.id, payment_method: 'pm_card_visa', card, amount: attempt.amount } } as never], processing),
    c(2, 'RecordAuthorization', [{ id: `evt_${n}c`, v: 1, type: 'attempt.succeeded', at, data: { attempt_id: attempt.id, network_ref: `nr_${n}`, amount: attempt.amount, captured: true } } as never], succeeded),
  ];
  return all.slice(0, upTo);
}
