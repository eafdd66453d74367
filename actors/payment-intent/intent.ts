// The payment-intent aggregate: one intent, many attempts (a decline is retried as a new attempt
// under the same intent). Pure: ids and `now` (unix seconds) ride on the commands.
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { displayAmount } from '../../stripe/currencies.ts';
import { isCancelable, isConfirmable, isSettled, isTerminal, isUpdatable, type AttemptStatus, type IntentStatus } from './status.ts';
import { decideFraudWarning, evolveFraudWarning, type FraudWarning, type FraudWarningCommand, type FraudWarningEvent } from './fraud-warning.ts';
import { blocksRefund, decideDispute, evolveDispute, hasPersonalEvidence, withoutPersonalEvidence, type Dispute, type DisputeCommand, type DisputeEvent } from './dispute.ts';

export type CaptureMethod = 'automatic' | 'automatic_async' | 'manual';
export type SetupFutureUsage = 'off_session' | 'on_session';
export type RequestThreeDSecure = 'any' | 'automatic' | 'challenge';
/**
 * Stripe's payment_method_options[card] as the intent keeps it (absent fields: Stripe's defaults).
 * capture_method 'manual' authorizes a card payment only, whatever the intent's capture_method;
 * request_three_d_secure 'any' or 'challenge' asks the cardholder to authenticate every card.
 */
export interface CardOptions {
  capture_method?: 'manual';
  request_three_d_secure?: RequestThreeDSecure;
}
/** payment_method_options[card] as a request changes it: a field given null (Stripe's '') is unset; the whole null unsets all. */
export type CardOptionsPatch = { [K in keyof CardOptions]?: CardOptions[K] | null };
/** Stripe's automatic_payment_methods on a PaymentIntent (as created; only cards exist here). */
export interface AutomaticPaymentMethods {
  enabled: boolean;
  allow_redirects?: 'always' | 'never';
}
/** Stripe's shipping hash on a PaymentIntent, every field present (null when not given). Personal data: erased with the emails. */
export interface Shipping {
  name: string;
  phone: string | null;
  carrier: string | null;
  tracking_number: string | null;
  address: { city: string | null; country: string | null; line1: string | null; line2: string | null; postal_code: string | null; state: string | null };
}
/** One line of a Checkout Session: what is sold, at what unit price, how many (Stripe's price_data). */
export interface LineItem {
  id: string; // li_…
  price: string; // price_…: the ad-hoc price price_data makes
  product: string; // prod_…
  name: string;
  description: string | null;
  unit_amount: number;
  quantity: number;
  /** The price is the merchant's (POST /v1/prices), not made ad hoc by price_data. */
  catalog?: true;
}

/**
 * Stripe's Checkout Session (mode=payment), held by the PaymentIntent it pays: one session, one intent,
 * one single writer. Its status is the intent's: complete once a charge succeeded, expired once
 * expired (ExpireCheckout), open otherwise.
 */
export interface CheckoutSession {
  id: string; // cs_test_… / cs_live_…
  /** Where the customer goes once paid ({CHECKOUT_SESSION_ID} is filled in); null: our own receipt page. */
  success_url: string | null;
  cancel_url: string | null;
  client_reference_id: string | null;
  customer_email: string | null;
  line_items: LineItem[];
  metadata: Record<string, string>;
  expires_at: number;
  expired_at?: number | null;
  /** The payment link whose visit opened it, and the message our receipt page shows once paid (its after_completion). */
  payment_link?: string;
  confirmation_message?: string | null;
  /** A coupon it applies (discounts[][coupon]) and what it takes off the line items' subtotal; the intent's amount is what is left. */
  discount?: { coupon: string; promotion_code?: string; amount: number };
  /** Stripe's allow_promotion_codes: the hosted page takes a code, which ApplyCheckoutDiscount applies. */
  allow_promotion_codes?: true;
}

/** A discount on a session's line items: the coupon, the promotion code that named it (if one did), and the minor units off. */
export type CheckoutDiscount = NonNullable<CheckoutSession['discount']>;

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
  /** Refunded so far, pending refunds included: a pending refund holds its amount until it fails. */
  amount_refunded: number;
  /** Money the network moved for this attempt that reconciliation gave back (absent: none). */
  reversals?: Reversal[];
  /** Stripe's charge update: the charge's own description and metadata (absent: the intent's). */
  description?: string | null;
  metadata?: Record<string, string>;
}

/** Why reconciliation gave money back at the network. */
export type ReversalReason =
  /** We settled the attempt as failed (timeout, decline), yet the network authorized it. */
  | 'late_success_after_failure'
  /** The network booked the same authorization twice: a second network reference. */
  | 'duplicate_authorization'
  /** Another attempt of the intent had already succeeded: one intent never has two successful charges. */
  | 'second_success'
  /** An operator reversed it by hand (manual resolution). */
  | 'manual';

export interface Reversal {
  network_ref: string;
  amount: number;
  method: 'void' | 'refund' | 'none';
  reason: ReversalReason;
  at: number;
}

/** Reconciliation's kinds of mismatch between our records and the network's. */
export type DiscrepancyKind = 'missing_ours' | 'missing_theirs' | 'amount_mismatch' | 'status_mismatch' | 'duplicate_success' | 'stuck_attempt';

/** A mismatch reconciliation raised on this intent, and its manual resolution when there is one. */
export interface ReconciliationFlag {
  id: string;
  kind: DiscrepancyKind;
  attempt_id: string | null;
  network_ref: string | null;
  detail: string;
  at: number;
  resolution: { operator: string; reason: string; action: string; at: number } | null;
}

export interface PaymentError {
  type: 'card_error' | 'api_error';
  code: string;
  decline_code: string | null;
  message: string;
  charge: string;
  payment_method: string;
}

/** Stripe's next_action for 3-D Secure: the cardholder is sent to the issuer's challenge page. */
export interface NextAction {
  type: 'redirect_to_url';
  redirect_to_url: { url: string; return_url: string | null };
}

export type RefundReason = 'duplicate' | 'fraudulent' | 'requested_by_customer';
export type RefundStatus = 'pending' | 'succeeded' | 'failed';

/** A refund of (part of) a captured charge. It lives in the intent, so the intent's single writer
 *  is what makes over-refunding impossible. */
export interface Refund {
  id: string; // re_…
  charge: string;
  amount: number;
  reason: RefundReason | null;
  metadata: Record<string, string>;
  status: RefundStatus;
  failure_reason: string | null;
  /** The network transaction it was refunded against. */
  network_ref: string | null;
  created: number;
  settled_at: number | null;
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
  /**
   * Stripe's setup_future_usage: save the card to the customer once a payment with it succeeds
   * (the gateway attaches it, gateway/routes/payment-methods.ts saveCardAfterPayment). Absent: null.
   */
  setup_future_usage?: SetupFutureUsage | null;
  /** Where the goods go, and what the cardholder's statement shows (absent: null). */
  shipping?: Shipping | null;
  statement_descriptor?: string | null;
  statement_descriptor_suffix?: string | null;
  /** Stripe's payment_method_options[card] (absent or null: the defaults). */
  card_options?: CardOptions | null;
  /** Stripe's automatic_payment_methods, as created (absent: null). */
  automatic_payment_methods?: AutomaticPaymentMethods;
  /** The Checkout Session this intent pays (absent: none). */
  checkout?: CheckoutSession;
  attempts: Attempt[];
  /** Every refund of every charge of this intent, oldest first. */
  refunds: Refund[];
  last_payment_error: PaymentError | null;
  amount_capturable: number;
  amount_received: number;
  next_action: NextAction | null;
  canceled_at: number | null;
  cancellation_reason: CancellationReason | null;
  /** Reconciliation's flags and their resolutions, the audit trail (absent: none). */
  reconciliation?: ReconciliationFlag[];
  /** Every dispute of every charge of this intent, oldest first (absent: none). */
  disputes?: Dispute[];
  /** The issuer's early fraud warnings on its charges, oldest first (absent: none). */
  fraud_warnings?: FraudWarning[];
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
  setup_future_usage?: SetupFutureUsage | null;
  shipping?: Shipping | null;
  statement_descriptor?: string | null;
  statement_descriptor_suffix?: string | null;
  /** In a command, a patch merged onto the intent's (CardOptionsPatch); in the event, the whole result. */
  card_options?: CardOptionsPatch | null;
}

/** What an update changed (intent.updated): its card options are the whole result, not a patch. */
export type IntentChanges = Omit<Updatable, 'card_options'> & { card_options?: CardOptions | null; status?: IntentStatus };

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
      setupFutureUsage?: SetupFutureUsage | null;
      shipping?: Shipping | null;
      statementDescriptor?: string | null;
      statementDescriptorSuffix?: string | null;
      cardOptions?: CardOptionsPatch | null;
      automaticPaymentMethods?: AutomaticPaymentMethods;
      checkout?: CheckoutSession;
      now: number;
    }
  | { type: 'Update'; changes: Updatable; now: number }
  /**
   * Confirm: start a new attempt with this card. When the intent requests 3-D Secure
   * (request_three_d_secure any/challenge) the attempt waits on the cardholder at nextAction before
   * the network is asked, or, with noAuthentication (off_session, error_on_requires_action), is declined.
   */
  | { type: 'StartAttempt'; attemptId: string; paymentMethod: string; card: CardSummary; nextAction?: NextAction; noAuthentication?: boolean; now: number }
  /** The network's answer for an attempt (from the authorization call or from reconciliation). */
  | {
      type: 'RecordAuthorization';
      attemptId: string;
      /** timeout: reconciliation's deadline passed with no answer from the network (payment_timeout). */
      outcome: 'approved' | 'declined' | 'unknown' | 'action_required' | 'timeout';
      networkRef: string | null;
      /** action_required: where the cardholder authenticates, and where they return to. */
      nextAction?: NextAction;
      failureCode?: string;
      declineCode?: string;
      message?: string;
      now: number;
    }
  /** The cardholder's 3-D Secure result for an attempt waiting on it. */
  | { type: 'Authenticate'; attemptId: string; success: boolean; now: number }
  | { type: 'Capture'; amountToCapture?: number; now: number }
  | { type: 'Cancel'; reason: CancellationReason | null; now: number }
  /** Refund a captured charge (the intent's successful one when no attemptId); amount defaults to what is left. */
  | { type: 'StartRefund'; refundId: string; attemptId?: string; amount?: number; reason: RefundReason | null; metadata: Record<string, string>; now: number }
  /** Stripe's refund update: its metadata (merged; a key given '' is removed, '' removes all). */
  | { type: 'UpdateRefund'; refundId: string; metadata: MetadataPatch; now: number }
  /**
   * Stripe's charge update: the charge's description and metadata (merged onto what the charge shows:
   * the intent's until the charge has its own), and the receipt email (the intent's, which its charges show).
   */
  | { type: 'UpdateCharge'; attemptId: string; description?: string | null; metadata?: MetadataPatch; receiptEmail?: string | null; now: number }
  /** The network's answer for a pending refund. */
  | { type: 'RecordRefund'; refundId: string; outcome: 'succeeded' | 'failed'; networkRef: string | null; failureReason?: string; now: number }
  /** Reconciliation gave back money the network moved that we do not keep (void or refund done at the network). */
  | { type: 'RecordReversal'; attemptId: string; networkRef: string; amount: number; method: Reversal['method']; reason: ReversalReason; now: number }
  /** Reconciliation found our records and the network's disagree about this intent. */
  | { type: 'FlagDiscrepancy'; discrepancyId: string; kind: DiscrepancyKind; attemptId: string | null; networkRef: string | null; detail: string; now: number }
  /** An operator closed a discrepancy by hand: who, why, and what they did. */
  | { type: 'ResolveDiscrepancy'; discrepancyId: string; kind: DiscrepancyKind; operator: string; reason: string; action: string; now: number }
  /** PII erasure (the customer's erasure request or retention): receipt and user emails and the shipping details become null, in any status. */
  | { type: 'ErasePii'; reason: 'request' | 'retention'; now: number }
  /** Expire the intent's Checkout Session (asked, or its expires_at passed): the session closes and the intent is canceled. */
  /** byRequest: the merchant asked (POST …/expire), and Stripe refuses to expire an expired session; the page and the sweeper may repeat it. */
  | { type: 'ExpireCheckout'; byRequest?: boolean; now: number }
  /** A promotion code typed on the hosted page of a session that allows them: the intent's amount becomes the line items' subtotal less the discount. */
  | { type: 'ApplyCheckoutDiscount'; discount: CheckoutDiscount; now: number }
  | DisputeCommand
  | FraudWarningCommand;

export type IntentEvent =
  | { type: 'intent.created'; at: number; data: Omit<Intent, 'attempts' | 'refunds' | 'last_payment_error' | 'amount_capturable' | 'amount_received' | 'next_action' | 'canceled_at' | 'cancellation_reason' | 'status'> & { status: IntentStatus } }
  | { type: 'intent.updated'; at: number; data: IntentChanges }
  | { type: 'attempt.started'; at: number; data: { attempt_id: string; payment_method: string; card: CardSummary; amount: number } }
  | { type: 'attempt.succeeded'; at: number; data: { attempt_id: string; network_ref: string | null; amount: number; captured: boolean } }
  | { type: 'attempt.declined'; at: number; data: { attempt_id: string; network_ref: string | null; failure_code: string; decline_code: string | null; message: string } }
  | { type: 'attempt.in_doubt'; at: number; data: { attempt_id: string } }
  | { type: 'attempt.requires_action'; at: number; data: { attempt_id: string; next_action: NextAction } }
  | { type: 'attempt.authenticated'; at: number; data: { attempt_id: string } }
  | { type: 'intent.captured'; at: number; data: { attempt_id: string; amount: number } }
  | { type: 'intent.canceled'; at: number; data: { reason: CancellationReason | null } }
  | { type: 'refund.created'; at: number; data: { refund_id: string; attempt_id: string; amount: number; reason: RefundReason | null; metadata: Record<string, string> } }
  | { type: 'refund.succeeded'; at: number; data: { refund_id: string; network_ref: string | null } }
  /** The refund's whole metadata after an update. */
  | { type: 'refund.metadata_updated'; at: number; data: { refund_id: string; metadata: Record<string, string> } }
  | { type: 'refund.failed'; at: number; data: { refund_id: string; network_ref: string | null; failure_reason: string } }
  /** A charge's details after an update: only what changed. */
  | { type: 'charge.details_updated'; at: number; data: { attempt_id: string; description?: string | null; metadata?: Record<string, string>; receipt_email?: string | null } }
  /** The seed's payment_timeout: reconciliation's deadline passed and the network never answered. */
  | { type: 'attempt.timed_out'; at: number; data: { attempt_id: string; failure_code: 'payment_timeout'; message: string } }
  /** The network approved an attempt after another attempt of the intent succeeded: it is not kept. */
  | { type: 'attempt.superseded'; at: number; data: { attempt_id: string; network_ref: string | null; succeeded_attempt_id: string } }
  | { type: 'attempt.reversed'; at: number; data: { attempt_id: string; network_ref: string; amount: number; method: Reversal['method']; reason: ReversalReason } }
  | { type: 'reconciliation.flagged'; at: number; data: { discrepancy_id: string; kind: DiscrepancyKind; attempt_id: string | null; network_ref: string | null; detail: string } }
  | { type: 'reconciliation.resolved'; at: number; data: { discrepancy_id: string; kind: DiscrepancyKind; operator: string; reason: string; action: string } }
  /** Personal data cleared (no amount, currency or status changes); carries no personal data itself. */
  | { type: 'intent.pii_erased'; at: number; data: { reason: 'request' | 'retention'; fields: ErasedField[] } }
  | { type: 'checkout.expired'; at: number; data: { checkout_session: string } }
  | { type: 'checkout.discount_applied'; at: number; data: { discount: CheckoutDiscount; amount: number } }
  | DisputeEvent
  | FraudWarningEvent;

export const TIMEOUT_FAILURE_CODE = 'payment_timeout';
export const TIMEOUT_MESSAGE = 'The card network did not answer in time; no money moved.';

export type IntentEventType = IntentEvent['type'];
/** What an erasure cleared: the emails, the shipping details, its session's email, and the personal fields of its disputes' evidence. */
export type ErasedField = 'receipt_email' | 'user_email' | 'shipping' | 'customer_email' | 'dispute_evidence';

/** A Checkout Session's status, from its intent: complete once a charge succeeded (captured or held), expired once expired. */
export function checkoutStatus(i: Intent): 'open' | 'complete' | 'expired' {
  if (i.attempts.some((a) => a.status === 'succeeded')) return 'complete';
  return i.checkout?.expired_at ? 'expired' : 'open';
}

const unexpectedState = (s: Intent, action: string) =>
  new DomainError(
    'payment_intent_unexpected_state',
    `You cannot ${action} this PaymentIntent because it has a status of ${s.status}.`,
    undefined,
    400,
  );

const missing = () => new DomainError('resource_missing', 'No such payment_intent.', 'id', 404);

/** What an update may change whatever the intent's status (Stripe's rule). */
const UPDATABLE_IN_ANY_STATUS: ReadonlySet<string> = new Set(['description', 'metadata', 'receipt_email']);

/** Throws Stripe's refusal when the intent cannot take a new confirmation now. */
export function checkConfirmable(s: Intent): void {
  if (!isConfirmable(s.status)) throw unexpectedState(s, 'confirm');
}

/** How a card payment of this intent is captured: payment_method_options[card][capture_method] overrides the intent's. */
export function cardCaptureMethod(s: Pick<Intent, 'capture_method' | 'card_options'>): CaptureMethod {
  return s.card_options?.capture_method ?? s.capture_method;
}

/** Whether the intent asks every card for 3-D Secure (Stripe's request_three_d_secure any or challenge). */
export function requestsThreeDSecure(s: Pick<Intent, 'card_options'>): boolean {
  const r = s.card_options?.request_three_d_secure;
  return r === 'any' || r === 'challenge';
}

/** Card options after a patch, in a fixed key order; null when none is left. */
export function mergeCardOptions(before: CardOptions | null | undefined, patch: CardOptionsPatch | null): CardOptions | null {
  if (patch === null) return null;
  const out: CardOptions = {};
  const capture = patch.capture_method === undefined ? before?.capture_method : patch.capture_method;
  const threeDS = patch.request_three_d_secure === undefined ? before?.request_three_d_secure : patch.request_three_d_secure;
  if (capture) out.capture_method = capture;
  if (threeDS) out.request_three_d_secure = threeDS;
  return Object.keys(out).length > 0 ? out : null;
}

export function currentAttempt(s: Intent): Attempt | undefined {
  return s.attempts[s.attempts.length - 1];
}

function decide(cmd: IntentCommand, s: IntentState): IntentEvent[] {
  if (cmd.type === 'Create') {
    if (s !== null) return []; // the same create delivered twice writes nothing
    if (!Number.isSafeInteger(cmd.amount) || cmd.amount < 1) {
      throw new DomainError('parameter_invalid_integer', 'Invalid integer: amount must be a positive integer in the minor unit.', 'amount');
    }
    const cardOptions = cmd.cardOptions ? mergeCardOptions(null, cmd.cardOptions) : null;
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
          ...(cmd.setupFutureUsage ? { setup_future_usage: cmd.setupFutureUsage } : {}),
          ...(cmd.shipping ? { shipping: cmd.shipping } : {}),
          ...(cmd.statementDescriptor ? { statement_descriptor: cmd.statementDescriptor } : {}),
          ...(cmd.statementDescriptorSuffix ? { statement_descriptor_suffix: cmd.statementDescriptorSuffix } : {}),
          ...(cardOptions ? { card_options: cardOptions } : {}),
          ...(cmd.automaticPaymentMethods ? { automatic_payment_methods: cmd.automaticPaymentMethods } : {}),
          ...(cmd.checkout ? { checkout: cmd.checkout } : {}),
        },
      },
    ];
  }
  if (s === null) throw missing();
  switch (cmd.type) {
    case 'Update': {
      const changes: IntentChanges = {};
      for (const [k, given] of Object.entries(cmd.changes) as [keyof Updatable, unknown][]) {
        // Card options are a patch: what is written is the whole result.
        const v = k === 'card_options' && given !== undefined ? mergeCardOptions(s.card_options, given as CardOptionsPatch | null) : given;
        // An optional field never set reads as null: setting it to null changes nothing.
        if (v !== undefined && JSON.stringify(v) !== JSON.stringify(s[k] ?? null)) (changes as Record<string, unknown>)[k] = v;
      }
      if (Object.keys(changes).length === 0) return []; // nothing changes: nothing is written
      // Stripe: the description, metadata and receipt email change in any status (a paid intent's
      // metadata is often added afterwards); anything else only before the payment is under way.
      if (!isUpdatable(s.status)) {
        const field = Object.keys(changes).find((k) => !UPDATABLE_IN_ANY_STATUS.has(k));
        if (field) {
          throw new DomainError(
            'payment_intent_unexpected_state',
            `This PaymentIntent's ${field} could not be updated because it has a status of ${s.status}. You may only update the ${field} of a PaymentIntent with one of the following statuses: requires_payment_method, requires_confirmation, requires_action.`,
            field,
            400,
          );
        }
      }
      // The gateway merges the update's metadata onto the intent's (payment-intents.ts): the result stays within Stripe's limit.
      if (changes.metadata !== undefined) checkMetadata(changes.metadata);
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
      checkConfirmable(s);
      const started: IntentEvent = {
        type: 'attempt.started',
        at: cmd.now,
        data: { attempt_id: cmd.attemptId, payment_method: cmd.paymentMethod, card: cmd.card, amount: s.amount },
      };
      // 3-D Secure requested by the merchant: the cardholder authenticates before the network is asked.
      if (requestsThreeDSecure(s) && cmd.noAuthentication) {
        return [
          started,
          {
            type: 'attempt.declined',
            at: cmd.now,
            data: { attempt_id: cmd.attemptId, network_ref: null, failure_code: 'authentication_required', decline_code: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.' },
          },
        ];
      }
      if (requestsThreeDSecure(s) && cmd.nextAction) {
        return [started, { type: 'attempt.requires_action', at: cmd.now, data: { attempt_id: cmd.attemptId, next_action: cmd.nextAction } }];
      }
      return [started];
    }
    case 'RecordAuthorization': {
      const a = s.attempts.find((x) => x.id === cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such attempt: ${cmd.attemptId}`, 'attempt');
      // Terminal means terminal: a repeated answer writes nothing, a contrary one is refused (the
      // shell reverses money the network moved for an attempt we settled as failed).
      if (isSettled(a.status)) {
        const contrary = a.status === 'succeeded' ? cmd.outcome === 'declined' || cmd.outcome === 'timeout' : cmd.outcome === 'approved';
        if (contrary) {
          throw new DomainError('attempt_already_settled', `Attempt ${a.id} is already settled as ${a.status}; a ${cmd.outcome} answer cannot change it.`, 'attempt', 409);
        }
        return [];
      }
      switch (cmd.outcome) {
        case 'approved': {
          // One intent never has two successful charges.
          const other = s.attempts.find((x) => x.id !== a.id && x.status === 'succeeded');
          if (other) return [{ type: 'attempt.superseded', at: cmd.now, data: { attempt_id: a.id, network_ref: cmd.networkRef, succeeded_attempt_id: other.id } }];
          return [
            {
              type: 'attempt.succeeded',
              at: cmd.now,
              data: { attempt_id: a.id, network_ref: cmd.networkRef, amount: a.amount, captured: cardCaptureMethod(s) !== 'manual' },
            },
          ];
        }
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
        case 'timeout':
          return [{ type: 'attempt.timed_out', at: cmd.now, data: { attempt_id: a.id, failure_code: TIMEOUT_FAILURE_CODE, message: TIMEOUT_MESSAGE } }];
        case 'unknown':
          return a.status === 'in_doubt' ? [] : [{ type: 'attempt.in_doubt', at: cmd.now, data: { attempt_id: a.id } }];
        case 'action_required':
          if (a.status === 'requires_action') return [];
          if (!cmd.nextAction) throw new DomainError('parameter_missing', 'action_required needs a next action.', 'next_action');
          return [{ type: 'attempt.requires_action', at: cmd.now, data: { attempt_id: a.id, next_action: cmd.nextAction } }];
        default:
          return assertNever(cmd); // `outcome` discriminates the command union (RecordRefund has one too)
      }
    }
    case 'Authenticate': {
      const a = s.attempts.find((x) => x.id === cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such attempt: ${cmd.attemptId}`, 'attempt');
      if (a.status !== 'requires_action' || s.status !== 'requires_action') return []; // already answered
      return cmd.success
        ? [{ type: 'attempt.authenticated', at: cmd.now, data: { attempt_id: a.id } }]
        : [
            {
              type: 'attempt.declined',
              at: cmd.now,
              data: {
                attempt_id: a.id,
                network_ref: null,
                failure_code: 'payment_intent_authentication_failure',
                decline_code: null,
                message:
                  'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
              },
            },
          ];
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
      // Stripe refuses to cancel a canceled intent (a retry of the same request is answered from its
      // Idempotency-Key before it gets here).
      if (!isCancelable(s.status)) throw unexpectedState(s, 'cancel');
      // Stripe: a Checkout Session's intent is canceled by expiring the session (once authorized, it may be canceled).
      if (s.checkout && s.status !== 'requires_capture') {
        throw new DomainError('payment_intent_unexpected_state', `You cannot cancel this PaymentIntent because it belongs to the Checkout Session ${s.checkout.id}. Expire the Checkout Session instead.`, 'intent');
      }
      return [{ type: 'intent.canceled', at: cmd.now, data: { reason: cmd.reason } }];
    }
    case 'StartRefund':
      return decideRefund(cmd, s);
    case 'RecordRefund': {
      const r = s.refunds.find((x) => x.id === cmd.refundId);
      if (!r) throw new DomainError('resource_missing', `No such refund: '${cmd.refundId}'`, 'refund', 404);
      if (r.status !== 'pending') return []; // terminal means terminal; a repeat writes nothing
      return cmd.outcome === 'succeeded'
        ? [{ type: 'refund.succeeded', at: cmd.now, data: { refund_id: r.id, network_ref: cmd.networkRef } }]
        : [{ type: 'refund.failed', at: cmd.now, data: { refund_id: r.id, network_ref: cmd.networkRef, failure_reason: cmd.failureReason ?? 'unknown' } }];
    }
    case 'RecordReversal': {
      const a = s.attempts.find((x) => x.id === cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such attempt: ${cmd.attemptId}`, 'attempt', 404);
      if ((a.reversals ?? []).some((r) => r.network_ref === cmd.networkRef)) return []; // a repeat
      // The money we keep is never reversed by reconciliation: only an operator may.
      if (a.status === 'succeeded' && a.network_ref === cmd.networkRef && cmd.reason !== 'manual') {
        throw new DomainError('reversal_refused', `Network reference ${cmd.networkRef} is the successful charge ${a.id}; it is not reversed automatically.`, 'network_ref', 409);
      }
      if (!isSettled(a.status)) throw new DomainError('attempt_not_settled', `Attempt ${a.id} is ${a.status}; settle it before reversing.`, 'attempt', 409);
      return [{ type: 'attempt.reversed', at: cmd.now, data: { attempt_id: a.id, network_ref: cmd.networkRef, amount: cmd.amount, method: cmd.method, reason: cmd.reason } }];
    }
    case 'FlagDiscrepancy': {
      if ((s.reconciliation ?? []).some((f) => f.id === cmd.discrepancyId)) return []; // flagged once
      return [
        {
          type: 'reconciliation.flagged',
          at: cmd.now,
          data: { discrepancy_id: cmd.discrepancyId, kind: cmd.kind, attempt_id: cmd.attemptId, network_ref: cmd.networkRef, detail: cmd.detail },
        },
      ];
    }
    case 'ResolveDiscrepancy': {
      if (cmd.operator.trim() === '') throw new DomainError('parameter_missing', 'A resolution needs the operator who made it.', 'operator');
      if (cmd.reason.trim() === '') throw new DomainError('parameter_missing', 'A resolution needs a reason.', 'reason');
      const f = (s.reconciliation ?? []).find((x) => x.id === cmd.discrepancyId);
      if (f?.resolution) return []; // resolved once; the first resolution stands
      return [
        {
          type: 'reconciliation.resolved',
          at: cmd.now,
          data: { discrepancy_id: cmd.discrepancyId, kind: cmd.kind, operator: cmd.operator, reason: cmd.reason, action: cmd.action },
        },
      ];
    }
    case 'UpdateRefund': {
      const r = (s.refunds ?? []).find((x) => x.id === cmd.refundId);
      if (!r) throw new DomainError('resource_missing', `No such refund: '${cmd.refundId}'`, 'id', 404);
      const metadata = mergeMetadata(r.metadata, cmd.metadata);
      checkMetadata(metadata);
      if (JSON.stringify(metadata) === JSON.stringify(r.metadata)) return [];
      return [{ type: 'refund.metadata_updated', at: cmd.now, data: { refund_id: r.id, metadata } }];
    }
    case 'UpdateCharge': {
      const a = s.attempts.find((x) => x.id === cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such charge: '${cmd.attemptId}'`, 'id', 404);
      const data: Extract<IntentEvent, { type: 'charge.details_updated' }>['data'] = { attempt_id: a.id };
      const description = a.description !== undefined ? a.description : s.description;
      if (cmd.description !== undefined && cmd.description !== description) data.description = cmd.description;
      if (cmd.metadata !== undefined) {
        const before = a.metadata ?? s.metadata;
        const metadata = mergeMetadata(before, cmd.metadata);
        checkMetadata(metadata);
        if (JSON.stringify(metadata) !== JSON.stringify(before)) data.metadata = metadata;
      }
      if (cmd.receiptEmail !== undefined && cmd.receiptEmail !== s.receipt_email) data.receipt_email = cmd.receiptEmail;
      return Object.keys(data).length === 1 ? [] : [{ type: 'charge.details_updated', at: cmd.now, data }];
    }
    case 'ExpireCheckout': {
      if (!s.checkout) throw new DomainError('resource_missing', `No such checkout session for PaymentIntent ${s.id}.`, 'session', 404);
      const status = checkoutStatus(s);
      if (status === 'expired' && cmd.byRequest) throw new DomainError('checkout_session_not_open', 'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "expired".', 'session');
      if (status === 'expired') return []; // a repeat (the page, the sweeper)
      if (status === 'complete' || s.status === 'processing') {
        throw new DomainError('checkout_session_not_open', `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${status === 'complete' ? 'complete' : 'open'}" and its payment is ${s.status === 'processing' ? 'in progress' : 'complete'}.`, 'session');
      }
      const expired: IntentEvent = { type: 'checkout.expired', at: cmd.now, data: { checkout_session: s.checkout.id } };
      return isCancelable(s.status) ? [expired, { type: 'intent.canceled', at: cmd.now, data: { reason: 'abandoned' } }] : [expired];
    }
    case 'ApplyCheckoutDiscount': {
      const c = s.checkout;
      if (!c) throw new DomainError('resource_missing', `No such checkout session for PaymentIntent ${s.id}.`, 'session', 404);
      if (!c.allow_promotion_codes) throw new DomainError('parameter_invalid', 'This Checkout Session does not allow promotion codes.', 'promotion_code');
      if (JSON.stringify(c.discount ?? null) === JSON.stringify(cmd.discount)) return []; // the same code again
      if (checkoutStatus(s) !== 'open' || s.status !== 'requires_payment_method') {
        throw new DomainError('checkout_session_not_open', 'A promotion code can only be applied to an open Checkout Session with no payment under way.', 'promotion_code');
      }
      const subtotal = c.line_items.reduce((n, li) => n + li.unit_amount * li.quantity, 0);
      const amount = subtotal - cmd.discount.amount;
      if (cmd.discount.amount < 0 || amount < 1) throw new DomainError('amount_too_small', 'This promotion code leaves nothing to pay.', 'promotion_code');
      return [{ type: 'checkout.discount_applied', at: cmd.now, data: { discount: cmd.discount, amount } }];
    }
    case 'OpenDispute':
    case 'RecordDisputeStatus':
    case 'UpdateDispute':
    case 'SubmitDisputeEvidence':
    case 'AcceptDispute':
      return decideDispute(cmd, s);
    case 'RecordFraudWarning':
      return decideFraudWarning(cmd, s);
    case 'ErasePii': {
      const fields: ErasedField[] = (['receipt_email', 'user_email', 'shipping'] as const).filter((f) => (s[f] ?? null) !== null);
      if (s.checkout?.customer_email) fields.push('customer_email'); // its Checkout Session's
      if ((s.disputes ?? []).some(hasPersonalEvidence)) fields.push('dispute_evidence');
      return fields.length === 0 ? [] : [{ type: 'intent.pii_erased', at: cmd.now, data: { reason: cmd.reason, fields } }];
    }
    default:
      return assertNever(cmd);
  }
}

/** Stripe's way of showing an amount in a refund message: $12.34, €12.34. */
const money = displayAmount;

const noSuccessfulCharge = (s: Intent) =>
  new DomainError('charge_not_refundable', `This PaymentIntent (${s.id}) does not have a successful charge to refund.`, 'payment_intent');

function decideRefund(cmd: Extract<IntentCommand, { type: 'StartRefund' }>, s: Intent): IntentEvent[] {
  if ((s.refunds ?? []).some((r) => r.id === cmd.refundId)) return []; // a repeat
  if (cmd.amount !== undefined && (!Number.isSafeInteger(cmd.amount) || cmd.amount < 1)) {
    throw new DomainError('parameter_invalid_integer', 'Invalid positive integer', 'amount');
  }
  let a: Attempt | undefined;
  if (cmd.attemptId !== undefined) {
    a = s.attempts.find((x) => x.id === cmd.attemptId);
    if (!a) throw new DomainError('resource_missing', `No such charge: '${cmd.attemptId}'`, 'charge', 404);
  } else {
    a = s.attempts.find((x) => x.status === 'succeeded') ?? currentAttempt(s);
  }
  // Only money that moved can move back: a captured, successful charge. An authorization is released by canceling.
  if (!a || a.status !== 'succeeded' || !a.captured) throw noSuccessfulCharge(s);
  if ((s.disputes ?? []).some((d) => d.charge === a.id && blocksRefund(d))) {
    throw new DomainError('charge_disputed', `Charge ${a.id} has been charged back; cannot issue a refund.`, 'charge');
  }
  const remaining = a.amount_captured - (a.amount_refunded ?? 0);
  if (remaining <= 0) throw new DomainError('charge_already_refunded', `Charge ${a.id} has already been refunded.`, undefined);
  const amount = cmd.amount ?? remaining;
  if (amount > remaining) {
    throw new DomainError(
      'amount_too_large',
      `Refund amount (${money(amount, s.currency)}) is greater than unrefunded amount on charge (${money(remaining, s.currency)})`,
      'amount',
    );
  }
  return [{ type: 'refund.created', at: cmd.now, data: { refund_id: cmd.refundId, attempt_id: a.id, amount, reason: cmd.reason, metadata: cmd.metadata } }];
}

function updateRefund(s: Intent, id: string, f: (r: Refund) => Refund): Refund[] {
  return (s.refunds ?? []).map((r) => (r.id === id ? f(r) : r));
}

function updateAttempt(s: Intent, id: string, f: (a: Attempt) => Attempt): Attempt[] {
  return s.attempts.map((a) => (a.id === id ? f(a) : a));
}

function evolve(s: IntentState, e: IntentEvent): IntentState {
  if (e.type === 'intent.created') {
    return {
      ...e.data,
      attempts: [],
      refunds: [],
      last_payment_error: null,
      amount_capturable: 0,
      amount_received: 0,
      next_action: null,
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
        next_action: null,
        attempts: [
          // A new confirmation abandons an attempt still waiting on 3-D Secure.
          ...s.attempts.map((x) => (x.status === 'requires_action' ? { ...x, status: 'failed' as const, failure_code: 'payment_intent_authentication_failure', settled_at: e.at } : x)),
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
            amount_refunded: 0,
          },
        ],
      };
    case 'attempt.succeeded': {
      const { captured, amount, network_ref } = e.data;
      return {
        ...s,
        status: captured ? 'succeeded' : 'requires_capture',
        next_action: null,
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
    case 'attempt.timed_out':
      return evolve(s, {
        type: 'attempt.declined',
        at: e.at,
        data: { attempt_id: e.data.attempt_id, network_ref: null, failure_code: e.data.failure_code, decline_code: null, message: e.data.message },
      });
    case 'attempt.superseded':
      // Not the intent's charge: failed, with the intent's status untouched.
      return {
        ...s,
        attempts: updateAttempt(s, e.data.attempt_id, (a) => ({
          ...a,
          status: 'failed',
          network_ref: e.data.network_ref,
          failure_code: 'duplicate_success',
          failure_message: `Attempt ${e.data.succeeded_attempt_id} of this PaymentIntent had already succeeded.`,
          settled_at: e.at,
        })),
      };
    case 'attempt.reversed': {
      const { attempt_id, ...r } = e.data;
      return { ...s, attempts: updateAttempt(s, attempt_id, (a) => ({ ...a, reversals: [...(a.reversals ?? []), { ...r, at: e.at }] })) };
    }
    case 'reconciliation.flagged': {
      const d = e.data;
      const flag: ReconciliationFlag = { id: d.discrepancy_id, kind: d.kind, attempt_id: d.attempt_id, network_ref: d.network_ref, detail: d.detail, at: e.at, resolution: null };
      return { ...s, reconciliation: [...(s.reconciliation ?? []), flag] };
    }
    case 'reconciliation.resolved': {
      const d = e.data;
      const resolution = { operator: d.operator, reason: d.reason, action: d.action, at: e.at };
      const flags = s.reconciliation ?? [];
      const known = flags.some((f) => f.id === d.discrepancy_id);
      return {
        ...s,
        reconciliation: known
          ? flags.map((f) => (f.id === d.discrepancy_id ? { ...f, resolution } : f))
          : [...flags, { id: d.discrepancy_id, kind: d.kind, attempt_id: null, network_ref: null, detail: '', at: e.at, resolution }],
      };
    }
    case 'attempt.declined': {
      const a = s.attempts.find((x) => x.id === e.data.attempt_id);
      return {
        ...s,
        // A terminal intent never goes backwards, whatever happens to an old attempt.
        status: isTerminal(s.status) ? s.status : 'requires_payment_method',
        // Stripe detaches the declined card; it stays visible in last_payment_error.
        payment_method: null,
        next_action: null,
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
    case 'attempt.requires_action':
      return {
        ...s,
        status: 'requires_action',
        next_action: e.data.next_action,
        attempts: updateAttempt(s, e.data.attempt_id, (a) => ({ ...a, status: 'requires_action' })),
      };
    case 'attempt.authenticated':
      return { ...s, status: 'processing', next_action: null, attempts: updateAttempt(s, e.data.attempt_id, (a) => ({ ...a, status: 'pending' })) };
    case 'intent.captured':
      return {
        ...s,
        status: 'succeeded',
        amount_received: e.data.amount,
        amount_capturable: 0,
        attempts: updateAttempt(s, e.data.attempt_id, (a) => ({ ...a, captured: true, amount_captured: e.data.amount })),
      };
    case 'intent.canceled':
      return { ...s, status: 'canceled', next_action: null, canceled_at: e.at, cancellation_reason: e.data.reason, amount_capturable: 0 };
    case 'refund.created': {
      const d = e.data;
      const refund: Refund = {
        id: d.refund_id,
        charge: d.attempt_id,
        amount: d.amount,
        reason: d.reason,
        metadata: d.metadata,
        status: 'pending',
        failure_reason: null,
        network_ref: null,
        created: e.at,
        settled_at: null,
      };
      return {
        ...s,
        refunds: [...(s.refunds ?? []), refund],
        attempts: updateAttempt(s, d.attempt_id, (a) => ({ ...a, amount_refunded: (a.amount_refunded ?? 0) + d.amount })),
      };
    }
    case 'refund.succeeded':
      return { ...s, refunds: updateRefund(s, e.data.refund_id, (r) => ({ ...r, status: 'succeeded', network_ref: e.data.network_ref, settled_at: e.at })) };
    case 'refund.metadata_updated':
      return { ...s, refunds: updateRefund(s, e.data.refund_id, (r) => ({ ...r, metadata: { ...e.data.metadata } })) };
    case 'refund.failed': {
      // A failed refund gives its amount back to the charge.
      const r = (s.refunds ?? []).find((x) => x.id === e.data.refund_id);
      return {
        ...s,
        refunds: updateRefund(s, e.data.refund_id, (x) => ({ ...x, status: 'failed', network_ref: e.data.network_ref, failure_reason: e.data.failure_reason, settled_at: e.at })),
        attempts: r ? updateAttempt(s, r.charge, (a) => ({ ...a, amount_refunded: Math.max(0, (a.amount_refunded ?? 0) - r.amount) })) : s.attempts,
      };
    }
    case 'charge.details_updated': {
      const d = e.data;
      return {
        ...s,
        ...(d.receipt_email !== undefined ? { receipt_email: d.receipt_email } : {}),
        attempts: updateAttempt(s, d.attempt_id, (a) => ({
          ...a,
          ...(d.description !== undefined ? { description: d.description } : {}),
          ...(d.metadata !== undefined ? { metadata: { ...d.metadata } } : {}),
        })),
      };
    }
    case 'checkout.expired':
      return s.checkout ? { ...s, checkout: { ...s.checkout, expired_at: e.at } } : s;
    case 'checkout.discount_applied':
      return s.checkout ? { ...s, amount: e.data.amount, checkout: { ...s.checkout, discount: e.data.discount } } : s;
    case 'dispute.created':
    case 'dispute.funds_withdrawn':
    case 'dispute.updated':
    case 'dispute.evidence_submitted':
    case 'dispute.closed':
    case 'dispute.funds_reinstated':
      return evolveDispute(s, e);
    case 'fraud_warning.created':
      return evolveFraudWarning(s, e);
    case 'intent.pii_erased':
      return {
        ...s,
        receipt_email: null,
        user_email: null,
        ...(e.data.fields.includes('shipping') ? { shipping: null } : {}),
        ...(s.checkout && e.data.fields.includes('customer_email') ? { checkout: { ...s.checkout, customer_email: null } } : {}),
        ...(s.disputes && e.data.fields.includes('dispute_evidence') ? { disputes: s.disputes.map(withoutPersonalEvidence) } : {}),
      };
    default:
      return assertNever(e);
  }
}

export const intentDecider: Decider<IntentCommand, IntentEvent, IntentState> = {
  initialState: null,
  decide,
  evolve,
};
