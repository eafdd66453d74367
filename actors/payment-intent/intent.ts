// The payment-intent aggregate: one intent, many attempts (a decline is retried as a new attempt
// under the same intent). Pure: ids and `now` (unix seconds) ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { isCancelable, isConfirmable, isSettled, isUpdatable, type AttemptStatus, type IntentStatus } from './status.ts';

export type CaptureMethod = 'automatic' | 'automatic_async' | 'manual';
export type CancellationReason = 'duplicate' | 'fraudulent' | 'requested_by_customer' | 'abandoned' | 'failed_invoice' | 'void_invoice' | 'automatic';

/** What the vault lets the rest of the system know about a card. Never the number or CVC. */
export interface CardSummary {
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  fingerprint: string;
  funding: string;
  country: string | null;
}

export interface Attempt {
  id: string; // ch_…: Stripe calls an attempt a charge
  payment_method: string;
  card: CardSummary;
  amount: number;
  status: AttemptStatus;
  captured: boolean;
  amount_captured: number;
  network_ref: string | null;
  failure_code: string | null;
  decline_code: string | null;
  failure_message: string | null;
  created: number;
  settled_at: number | null;
}

export interface PaymentError {
  type: 'card_error' | 'api_error';
  code: string;
  decline_code: string | null;
  message: string;
  charge: string;
  payment_method: string;
}

export interface Intent {
  id: string;
  merchant_id: string;
  /** Live or test mode: objects of one mode are invisible to keys of the other. */
  livemode: boolean;
  amount: number;
  currency: string;
  status: IntentStatus;
  capture_method: CaptureMethod;
  client_secret: string;
  created: number;
  description: string | null;
  metadata: Record<string, string>;
  receipt_email: string | null;
  customer: string | null;
  /** The seed's fields. */
  user_email: string | null;
  product_id: string | null;
  payment_method: string | null;
  attempts: Attempt[];
  last_payment_error: PaymentError | null;
  amount_capturable: number;
  amount_received: number;
  canceled_at: number | null;
  cancellation_reason: CancellationReason | null;
}

export type IntentState = Intent | null;

export interface Updatable {
  amount?: number;
  currency?: string;
  description?: string | null;
  metadata?: Record<string, string>;
  receipt_email?: string | null;
  customer?: string | null;
  payment_method?: string | null;
  capture_method?: CaptureMethod;
}

export type IntentCommand =
  | {
      type: 'Create';
      intentId: string;
      merchantId: string;
      livemode: boolean;
      amount: number;
      currency: string;
      clientSecret: string;
      captureMethod: CaptureMethod;
      description: string | null;
      metadata: Record<string, string>;
      receiptEmail: string | null;
      customer: string | null;
      userEmail: string | null;
      productId: string | null;
      paymentMethod: string | null;
      now: number;
    }
  | { type: 'Update'; changes: Updatable; now: number }
  /** Confirm: start a new attempt with this card. */
  | { type: 'StartAttempt'; attemptId: string; paymentMethod: string; card: CardSummary; now: number }
  /** The network's answer for an attempt (from the authorization call or from reconciliation). */
  | {
      type: 'RecordAuthorization';
      attemptId: string;
      outcome: 'approved' | 'declined' | 'unknown';
      networkRef: string | null;
      failureCode?: string;
      declineCode?: string;
      message?: string;
      now: number;
    }
  | { type: 'Capture'; amountToCapture?: number; now: number }
  | { type: 'Cancel'; reason: CancellationReason | null; now: number };

export type IntentEvent =
  | { type: 'intent.created'; at: number; data: Omit<Intent, 'attempts' | 'last_payment_error' | 'amount_capturable' | 'amount_received' | 'canceled_at' | 'cancellation_reason' | 'status'> & { status: IntentStatus } }
  | { type: 'intent.updated'; at: number; data: Updatable & { status?: IntentStatus } }
  | { type: 'attempt.started'; at: number; data: { attempt_id: string; payment_method: string; card: CardSummary; amount: number } }
  | { type: 'attempt.succeeded'; at: number; data: { attempt_id: string; network_ref: string | null; amount: number; captured: boolean } }
  | { type: 'attempt.declined'; at: number; data: { attempt_id: string; network_ref: string | null; failure_code: string; decline_code: string | null; message: string } }
  | { type: 'attempt.in_doubt'; at: number; data: { attempt_id: string } }
  | { type: 'intent.captured'; at: number; data: { attempt_id: string; amount: number } }
  | { type: 'intent.canceled'; at: number; data: { reason: CancellationReason | null } };

export type IntentEventType = IntentEvent['type'];

const unexpectedState = (s: Intent, action: string) =>
  new DomainError(
    'payment_intent_unexpected_state',
    `You cannot ${action} this PaymentIntent because it has a status of ${s.status}.`,
    undefined,
    400,
  );

const missing = () => new DomainError('resource_missing', 'No such payment_intent.', 'id', 404);

export function currentAttempt(s: Intent): Attempt | undefined {
  return s.attempts[s.attempts.length - 1];
}

function decide(cmd: IntentCommand, s: IntentState): IntentEvent[] {
  if (cmd.type === 'Create') {
    if (s !== null) return []; // the same create delivered twice writes nothing
    if (!Number.isSafeInteger(cmd.amount) || cmd.amount < 1) {
      throw new DomainError('parameter_invalid_integer', 'Invalid integer: amount must be a positive integer in the minor unit.', 'amount');
    }
    return [
      {
        type: 'intent.created',
        at: cmd.now,
        data: {
          id: cmd.intentId,
          merchant_id: cmd.merchantId,
          livemode: cmd.livemode,
          amount: cmd.amount,
          currency: cmd.currency,
          status: cmd.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
          capture_method: cmd.captureMethod,
          client_secret: cmd.clientSecret,
          created: cmd.now,
          description: cmd.description,
          metadata: cmd.metadata,
          receipt_email: cmd.receiptEmail,
          customer: cmd.customer,
          user_email: cmd.userEmail,
          product_id: cmd.productId,
          payment_method: cmd.paymentMethod,
        },
      },
    ];
  }
  if (s === null) throw missing();
  switch (cmd.type) {
    case 'Update': {
      if (!isUpdatable(s.status)) throw unexpectedState(s, 'update');
      const changes: Updatable & { status?: IntentStatus } = {};
      for (const [k, v] of Object.entries(cmd.changes) as [keyof Updatable, unknown][]) {
        if (v !== undefined && JSON.stringify(v) !== JSON.stringify(s[k])) (changes as Record<string, unknown>)[k] = v;
      }
      if (Object.keys(changes).length === 0) return []; // nothing changes: nothing is written
      if (changes.amount !== undefined && (!Number.isSafeInteger(changes.amount) || changes.amount < 1)) {
        throw new DomainError('parameter_invalid_integer', 'Invalid integer: amount must be a positive integer.', 'amount');
      }
      // Stripe: attaching a payment method moves a fresh intent on to requires_confirmation.
      if (changes.payment_method && (s.status === 'requires_payment_method' || s.status === 'requires_action')) changes.status = 'requires_confirmation';
      if (changes.payment_method === null && s.status !== 'requires_payment_method') changes.status = 'requires_payment_method';
      return [{ type: 'intent.updated', at: cmd.now, data: changes }];
    }
    case 'StartAttempt': {
      if (s.attempts.some((a) => a.id === cmd.attemptId)) return []; // a repeat
      if (!isConfirmable(s.status)) throw unexpectedState(s, 'confirm');
      return [
        {
          type: 'attempt.started',
          at: cmd.now,
          data: { attempt_id: cmd.attemptId, payment_method: cmd.paymentMethod, card: cmd.card, amount: s.amount },
        },
      ];
    }
    case 'RecordAuthorization': {
      const a = s.attempts.find((x) => x.id === cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such attempt: ${cmd.attemptId}`, 'attempt');
      // Terminal means terminal: a late or duplicate network answer never moves a settled attempt.
      if (isSettled(a.status)) return [];
      switch (cmd.outcome) {
        case 'approved':
          return [
            {
              type: 'attempt.succeeded',
              at: cmd.now,
              data: { attempt_id: a.id, network_ref: cmd.networkRef, amount: a.amount, captured: s.capture_method !== 'manual' },
            },
          ];
        case 'declined':
          return [
            {
              type: 'attempt.declined',
              at: cmd.now,
              data: {
                attempt_id: a.id,
                network_ref: cmd.networkRef,
                failure_code: cmd.failureCode ?? 'card_declined',
                decline_code: cmd.declineCode ?? null,
                message: cmd.message ?? 'Your card was declined.',
              },
            },
          ];
        case 'unknown':
          return a.status === 'in_doubt' ? [] : [{ type: 'attempt.in_doubt', at: cmd.now, data: { attempt_id: a.id } }];
        default:
          return assertNever(cmd.outcome);
      }
    }
    case 'Capture': {
      if (s.status !== 'requires_capture') throw unexpectedState(s, 'capture');
      const a = currentAttempt(s);
      if (!a) throw unexpectedState(s, 'capture');
      const amount = cmd.amountToCapture ?? s.amount_capturable;
      if (!Number.isSafeInteger(amount) || amount < 1) {
        throw new DomainError('parameter_invalid_integer', 'Invalid integer: amount_to_capture must be a positive integer.', 'amount_to_capture');
      }
      if (amount > s.amount_capturable) {
        throw new DomainError(
          'amount_too_large',
          `The amount to capture (${amount}) must be a positive integer no greater than the amount capturable (${s.amount_capturable}).`,
          'amount_to_capture',
        );
      }
      return [{ type: 'intent.captured', at: cmd.now, data: { attempt_id: a.id, amount } }];
    }
    case 'Cancel': {
      if (s.status === 'canceled') return []; // a repeat
      if (!isCancelable(s.status)) throw unexpectedState(s, 'cancel');
      return [{ type: 'intent.canceled', at: cmd.now, data: { reason: cmd.reason } }];
    }
    default:
      return assertNever(cmd);
  }
}

function updateAttempt(s: Intent, id: string, f: (a: Attempt) => Attempt): Attempt[] {
  return s.attempts.map((a) => (a.id === id ? f(a) : a));
}

function evolve(s: IntentState, e: IntentEvent): IntentState {
  if (e.type === 'intent.created') {
    return {
      ...e.data,
      attempts: [],
      last_payment_error: null,
      amount_capturable: 0,
      amount_received: 0,
      canceled_at: null,
      cancellation_reason: null,
    };
  }
  if (s === null) return s;
  switch (e.type) {
    case 'intent.updated': {
      const { status, ...changes } = e.data;
      return { ...s, ...changes, status: status ?? s.status };
    }
    case 'attempt.started':
      return {
        ...s,
        status: 'processing',
        payment_method: e.data.payment_method,
        attempts: [
          ...s.attempts,
          {
            id: e.data.attempt_id,
            payment_method: e.data.payment_method,
            card: e.data.card,
            amount: e.data.amount,
            status: 'pending',
            captured: false,
            amount_captured: 0,
            network_ref: null,
            failure_code: null,
            decline_code: null,
            failure_message: null,
            created: e.at,
            settled_at: null,
          },
        ],
      };
    case 'attempt.succeeded': {
      const { captured, amount, network_ref } = e.data;
      return {
        ...s,
        status: captured ? 'succeeded' : 'requires_capture',
        amount_received: captured ? amount : 0,
        amount_capturable: captured ? 0 : amount,
        last_payment_error: null,
        attempts: updateAttempt(s, e.data.attempt_id, (a) => ({
          ...a,
          status: 'succeeded',
          network_ref,
          captured,
          amount_captured: captured ? amount : 0,
          settled_at: e.at,
        })),
      };
    }
    case 'attempt.declined': {
      const a = s.attempts.find((x) => x.id === e.data.attempt_id);
      return {
        ...s,
        status: 'requires_payment_method',
        // Stripe detaches the declined card; it stays visible in last_payment_error.
        payment_method: null,
        last_payment_error: {
          type: 'card_error',
          code: e.data.failure_code,
          decline_code: e.data.decline_code,
          message: e.data.message,
          charge: e.data.attempt_id,
          payment_method: a?.payment_method ?? '',
        },
        attempts: updateAttempt(s, e.data.attempt_id, (x) => ({
          ...x,
          status: 'failed',
          network_ref: e.data.network_ref,
          failure_code: e.data.failure_code,
          decline_code: e.data.decline_code,
          failure_message: e.data.message,
          settled_at: e.at,
        })),
      };
    }
    case 'attempt.in_doubt':
      return { ...s, attempts: updateAttempt(s, e.data.attempt_id, (a) => ({ ...a, status: 'in_doubt' })) };
    case 'intent.captured':
      return {
        ...s,
        status: 'succeeded',
        amount_received: e.data.amount,
        amount_capturable: 0,
        attempts: updateAttempt(s, e.data.attempt_id, (a) => ({ ...a, captured: true, amount_captured: e.data.amount })),
      };
    case 'intent.canceled':
      return { ...s, status: 'canceled', canceled_at: e.at, cancellation_reason: e.data.reason, amount_capturable: 0 };
    default:
      return assertNever(e);
  }
}

export const intentDecider: Decider<IntentCommand, IntentEvent, IntentState> = {
  initialState: null,
  decide,
  evolve,
};
