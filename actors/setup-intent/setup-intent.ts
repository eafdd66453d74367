// The SetupIntent aggregate: Stripe's way to check a card and save it for later payments, with no
// money moving. Each confirmation is a setup attempt that the network verifies (epn verify): approved
// → succeeded (the card is then attached to the intent's customer, vault/saved-cards.ts), declined →
// back to requires_payment_method with last_setup_error, the issuer wants 3-D Secure → requires_action.
// Pure: the ids, the mode and `now` (unix seconds) ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';
import type { CardSummary, NextAction } from '../payment-intent/intent.ts';

export type SetupIntentStatus = 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'succeeded' | 'canceled';
export type SetupUsage = 'off_session' | 'on_session';
export type SetupCancellationReason = 'abandoned' | 'requested_by_customer' | 'duplicate';

/** One confirmation of the SetupIntent: Stripe's SetupAttempt (setatt_…). */
export interface SetupAttempt {
  id: string;
  payment_method: string;
  card: CardSummary;
  status: 'pending' | 'requires_action' | 'succeeded' | 'failed';
  created: number;
  /** Why it failed (Stripe's setup_error); absent while it has not, and in snapshots older than the field. */
  error?: SetupError;
}

/** Stripe's last_setup_error: why the last attempt failed. */
export interface SetupError {
  type: 'card_error' | 'invalid_request_error';
  code: string;
  decline_code: string | null;
  message: string;
  payment_method: string;
}

export interface SetupIntent {
  id: string; // seti_…
  merchant_id: string;
  livemode: boolean;
  client_secret: string;
  created: number;
  status: SetupIntentStatus;
  customer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  payment_method: string | null;
  usage: SetupUsage;
  cancellation_reason: SetupCancellationReason | null;
  last_setup_error: SetupError | null;
  next_action: NextAction | null;
  attempts: SetupAttempt[];
}

export type SetupIntentState = SetupIntent | null;

/** What an update (or a confirm's parameters) may change. */
export interface SetupChanges {
  customer?: string | null;
  description?: string | null;
  payment_method?: string | null;
}

export type SetupIntentCommand =
  | {
      type: 'Create';
      setupIntentId: string;
      merchantId: string;
      livemode: boolean;
      clientSecret: string;
      customer: string | null;
      description: string | null;
      metadata: Record<string, string>;
      paymentMethod: string | null;
      usage: SetupUsage;
      now: number;
    }
  | { type: 'Update'; changes: SetupChanges; metadata?: MetadataPatch; now: number }
  /** A confirmation: a new attempt with this card, to be verified by the network. */
  | { type: 'StartAttempt'; attemptId: string; paymentMethod: string; card: CardSummary; now: number }
  /** The network's answer for the pending attempt. */
  | {
      type: 'RecordVerification';
      attemptId: string;
      outcome: 'approved' | 'declined' | 'action_required';
      failureCode?: string;
      declineCode?: string | null;
      message?: string;
      nextAction?: NextAction;
      now: number;
    }
  /** The cardholder came back from the 3-D Secure challenge. */
  | { type: 'Authenticate'; attemptId: string; success: boolean; now: number }
  | { type: 'Cancel'; reason: SetupCancellationReason | null; now: number };

export type SetupIntentEvent =
  | { type: 'setup_intent.created'; at: number; data: Omit<SetupIntent, 'attempts' | 'last_setup_error' | 'next_action' | 'cancellation_reason'> }
  | { type: 'setup_intent.updated'; at: number; data: Partial<Pick<SetupIntent, 'customer' | 'description' | 'metadata' | 'payment_method' | 'status'>> }
  | { type: 'setup_attempt.started'; at: number; data: { attempt_id: string; payment_method: string; card: CardSummary } }
  | { type: 'setup_attempt.succeeded'; at: number; data: { attempt_id: string } }
  | { type: 'setup_attempt.failed'; at: number; data: { attempt_id: string; failure_code: string; decline_code: string | null; message: string } }
  | { type: 'setup_attempt.requires_action'; at: number; data: { attempt_id: string; next_action: NextAction } }
  | { type: 'setup_attempt.authenticated'; at: number; data: { attempt_id: string } }
  | { type: 'setup_intent.canceled'; at: number; data: { reason: SetupCancellationReason | null } };

export type SetupIntentEventType = SetupIntentEvent['type'];

/** Statuses a confirmation, an update or a cancel may start from. */
const OPEN: ReadonlySet<SetupIntentStatus> = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);

export const isSetupOpen = (s: SetupIntentStatus): boolean => OPEN.has(s);

function unexpected(s: SetupIntent, action: string): DomainError {
  return new DomainError('setup_intent_unexpected_state', `You cannot ${action} this SetupIntent because it has a status of ${s.status}.`, undefined, 400);
}

const missing = () => new DomainError('resource_missing', 'No such setupintent.', 'intent', 404);

const pendingAttempt = (s: SetupIntent, id: string): SetupAttempt | undefined => s.attempts.find((a) => a.id === id);

function decide(cmd: SetupIntentCommand, s: SetupIntentState): SetupIntentEvent[] {
  if (cmd.type === 'Create') {
    if (s !== null) return []; // a repeat of the create
    return [
      {
        type: 'setup_intent.created',
        at: cmd.now,
        data: {
          id: cmd.setupIntentId,
          merchant_id: cmd.merchantId,
          livemode: cmd.livemode,
          client_secret: cmd.clientSecret,
          created: cmd.now,
          status: cmd.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
          customer: cmd.customer,
          description: cmd.description,
          metadata: { ...cmd.metadata },
          payment_method: cmd.paymentMethod,
          usage: cmd.usage,
        },
      },
    ];
  }
  if (s === null) throw missing();
  switch (cmd.type) {
    case 'Update': {
      if (!OPEN.has(s.status)) throw unexpected(s, 'update');
      const data: Extract<SetupIntentEvent, { type: 'setup_intent.updated' }>['data'] = {};
      for (const k of ['customer', 'description', 'payment_method'] as const) {
        const v = cmd.changes[k];
        if (v !== undefined && v !== s[k]) data[k] = v;
      }
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(s.metadata, cmd.metadata);
        if (JSON.stringify(metadata) !== JSON.stringify(s.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      if (data.payment_method !== undefined && s.status !== 'requires_action') {
        data.status = data.payment_method ? 'requires_confirmation' : 'requires_payment_method';
      }
      return Object.keys(data).length === 0 ? [] : [{ type: 'setup_intent.updated', at: cmd.now, data }];
    }
    case 'StartAttempt': {
      if (pendingAttempt(s, cmd.attemptId)) return []; // a repeat: the attempt is under way or done
      if (!OPEN.has(s.status)) throw unexpected(s, 'confirm');
      return [{ type: 'setup_attempt.started', at: cmd.now, data: { attempt_id: cmd.attemptId, payment_method: cmd.paymentMethod, card: cmd.card } }];
    }
    case 'RecordVerification': {
      const a = pendingAttempt(s, cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such setup attempt: ${cmd.attemptId}`, 'attempt');
      if (a.status !== 'pending') return []; // answered already
      switch (cmd.outcome) {
        case 'approved':
          return [{ type: 'setup_attempt.succeeded', at: cmd.now, data: { attempt_id: a.id } }];
        case 'declined':
          return [
            {
              type: 'setup_attempt.failed',
              at: cmd.now,
              data: { attempt_id: a.id, failure_code: cmd.failureCode ?? 'card_declined', decline_code: cmd.declineCode ?? null, message: cmd.message ?? 'Your card was declined.' },
            },
          ];
        case 'action_required':
          if (!cmd.nextAction) throw new DomainError('parameter_missing', 'action_required needs a next action.', 'next_action');
          return [{ type: 'setup_attempt.requires_action', at: cmd.now, data: { attempt_id: a.id, next_action: cmd.nextAction } }];
        default:
          return assertNever(cmd.outcome);
      }
    }
    case 'Authenticate': {
      const a = pendingAttempt(s, cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such setup attempt: ${cmd.attemptId}`, 'attempt');
      if (a.status !== 'requires_action' || s.status !== 'requires_action') return []; // answered already
      return cmd.success
        ? [{ type: 'setup_attempt.authenticated', at: cmd.now, data: { attempt_id: a.id } }]
        : [
            {
              type: 'setup_attempt.failed',
              at: cmd.now,
              data: {
                attempt_id: a.id,
                failure_code: 'setup_intent_authentication_failure',
                decline_code: null,
                message: 'The latest attempt to set up the payment method has failed because authentication failed.',
              },
            },
          ];
    }
    case 'Cancel': {
      if (s.status === 'canceled') return [];
      if (!OPEN.has(s.status)) throw unexpected(s, 'cancel');
      return [{ type: 'setup_intent.canceled', at: cmd.now, data: { reason: cmd.reason } }];
    }
    default:
      return assertNever(cmd);
  }
}

function withAttempt(s: SetupIntent, id: string, status: SetupAttempt['status']): SetupAttempt[] {
  return s.attempts.map((a) => (a.id === id ? { ...a, status } : a));
}

function evolve(s: SetupIntentState, e: SetupIntentEvent): SetupIntentState {
  if (e.type === 'setup_intent.created') {
    return { ...e.data, metadata: { ...e.data.metadata }, cancellation_reason: null, last_setup_error: null, next_action: null, attempts: [] };
  }
  if (s === null) return s;
  switch (e.type) {
    case 'setup_intent.updated':
      return { ...s, ...e.data };
    case 'setup_attempt.started':
      return {
        ...s,
        status: 'processing',
        payment_method: e.data.payment_method,
        next_action: null,
        attempts: [...s.attempts, { id: e.data.attempt_id, payment_method: e.data.payment_method, card: e.data.card, status: 'pending', created: e.at }],
      };
    case 'setup_attempt.succeeded':
      return { ...s, status: 'succeeded', last_setup_error: null, next_action: null, attempts: withAttempt(s, e.data.attempt_id, 'succeeded') };
    case 'setup_attempt.failed': {
      const a = s.attempts.find((x) => x.id === e.data.attempt_id);
      const error: SetupError = {
        type: e.data.failure_code === 'setup_intent_authentication_failure' ? 'invalid_request_error' : 'card_error',
        code: e.data.failure_code,
        decline_code: e.data.decline_code,
        message: e.data.message,
        payment_method: a?.payment_method ?? '',
      };
      return {
        ...s,
        // As at Stripe: the card that failed is named by last_setup_error, no longer by the intent.
        status: 'requires_payment_method',
        payment_method: null,
        next_action: null,
        last_setup_error: error,
        attempts: s.attempts.map((x) => (x.id === e.data.attempt_id ? { ...x, status: 'failed' as const, error } : x)),
      };
    }
    case 'setup_attempt.requires_action':
      return { ...s, status: 'requires_action', next_action: e.data.next_action, attempts: withAttempt(s, e.data.attempt_id, 'requires_action') };
    case 'setup_attempt.authenticated':
      return { ...s, status: 'processing', next_action: null, attempts: withAttempt(s, e.data.attempt_id, 'pending') };
    case 'setup_intent.canceled':
      return { ...s, status: 'canceled', cancellation_reason: e.data.reason, next_action: null };
    default:
      return assertNever(e);
  }
}

export const setupIntentDecider: Decider<SetupIntentCommand, SetupIntentEvent, SetupIntentState> = {
  initialState: null,
  decide,
  evolve,
};

/** The attempt the intent's status is about: the newest one. */
export const latestAttempt = (s: SetupIntent): SetupAttempt | null => s.attempts.at(-1) ?? null;
