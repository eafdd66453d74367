// The command protocol between gateways and partition owners: JSON over core NATS request/reply on
// pay.cmd.<partition>. Ids and `now` are chosen by the sender, so a retried request is the same
// command (same commit msgIDs, same attempt id) and cannot charge twice.
import type { CancellationReason, Intent, IntentCommand, Merchant, MerchantCommand, Updatable } from '../actors/mod.ts';
import type { Customer, CustomerCommand, MetadataPatch, SetupCancellationReason, SetupChanges, SetupIntent, SetupIntentCommand } from '../actors/mod.ts';
import type { DisputeEvidencePatch, RefundReason, Product, ProductCommand, PaymentLink, PaymentLinkCommand, Coupon, CouponCommand } from '../actors/mod.ts';
import type { ErrorBody } from '../stripe/errors.ts';
import type { ReconcileAction } from '../reconcile/ops.ts';

export interface Ctx {
  commandId: string;
  /** The mode of the key that sent it: an aggregate of the other mode does not exist for it. */
  livemode: boolean;
  requestId: string | null;
  correlationId: string | null;
  now: number;
  /**
   * The command id was drawn at random for this request (no Idempotency-Key), so no aggregate ever
   * had the ids derived from it: a create need not look for an aged-out one (runtime/aggregates.ts).
   */
  freshIds?: true;
  /**
   * The keyed fingerprint of the request's parameters, when it carries an Idempotency-Key: the
   * aggregate records the command, and answers a repeat from the commit it made (runtime/aggregates.ts).
   */
  fingerprint?: string;
}

export type CommandRequest =
  | { op: 'merchant.onboard'; merchantId: string; command: Extract<MerchantCommand, { type: 'Onboard' }>; ctx: Ctx }
  | { op: 'merchant.update'; merchantId: string; command: Exclude<MerchantCommand, { type: 'Onboard' }>; ctx: Ctx }
  | { op: 'intent.create'; merchantId: string; intentId: string; command: Extract<IntentCommand, { type: 'Create' }>; ctx: Ctx }
  | { op: 'intent.update'; merchantId: string; intentId: string; changes: Updatable; ctx: Ctx }
  | {
      op: 'intent.confirm';
      merchantId: string;
      intentId: string;
      attemptId: string;
      changes: Updatable;
      /** Where a 3-D Secure challenge for this attempt is served, and where the cardholder returns. */
      challengeUrl: string;
      returnUrl: string | null;
      /**
       * No cardholder to authenticate (Stripe's off_session, error_on_requires_action): a card the
       * issuer wants authenticated is declined authentication_required instead of requires_action.
       */
      noAuthentication?: boolean;
      ctx: Ctx;
    }
  | { op: 'intent.authenticate'; merchantId: string; intentId: string; attemptId: string; success: boolean; ctx: Ctx }
  | { op: 'intent.capture'; merchantId: string; intentId: string; amountToCapture?: number; ctx: Ctx }
  | { op: 'intent.cancel'; merchantId: string; intentId: string; reason: CancellationReason | null; ctx: Ctx }
  /** Stripe's refund update (metadata): UpdateRefund on the intent holding it. */
  | { op: 'intent.refund_update'; merchantId: string; intentId: string; refundId: string; metadata: Record<string, string> | ''; ctx: Ctx }
  /** Stripe's charge update (description, metadata, receipt_email): UpdateCharge on the intent holding it. */
  | { op: 'intent.charge_update'; merchantId: string; intentId: string; chargeId: string; description?: string | null; metadata?: Record<string, string> | ''; receiptEmail?: string | null; ctx: Ctx }
  /** Refund a captured charge of the intent (its successful one when no attemptId): StartRefund → network → RecordRefund. */
  | { op: 'intent.refund'; merchantId: string; intentId: string; refundId: string; attemptId?: string; amount?: number; reason: RefundReason | null; metadata: Record<string, string>; ctx: Ctx }
  /**
   * Reconciliation's verdict on an attempt whose outcome was unknown: approved / declined as the
   * network's inquiry answered, or timeout (the deadline passed and the network never saw it).
   * Recorded with RecordAuthorization: a repeat for a settled attempt writes nothing, a contrary
   * verdict is refused (409 attempt_already_settled; reconcile/ reverses the money instead).
   */
  | {
      op: 'intent.settle';
      merchantId: string;
      intentId: string;
      attemptId: string;
      outcome: 'approved' | 'declined' | 'timeout';
      networkRef: string | null;
      failureCode?: string;
      declineCode?: string;
      message?: string;
      ctx: Ctx;
    }
  /** Reconciliation's work on an intent (reverse stray money, flag, resolve, sweep): reconcile/ops.ts. */
  | { op: 'intent.reconcile'; merchantId: string; intentId: string; action: ReconcileAction; ctx: Ctx }
  | { op: 'customer.create'; merchantId: string; customerId: string; command: Extract<CustomerCommand, { type: 'Create' }>; ctx: Ctx }
  | { op: 'customer.update'; merchantId: string; customerId: string; command: Extract<CustomerCommand, { type: 'Update' }>; ctx: Ctx }
  /** A saved card attached to or detached from the customer (gateway/routes/payment-methods.ts). */
  | { op: 'customer.payment_method'; merchantId: string; customerId: string; command: Extract<CustomerCommand, { type: 'AttachPaymentMethod' | 'DetachPaymentMethod' | 'UpdatePaymentMethod' }>; ctx: Ctx }
  | { op: 'customer.delete'; merchantId: string; customerId: string; command: Extract<CustomerCommand, { type: 'Delete' }>; ctx: Ctx }
  | { op: 'intent.erase'; merchantId: string; intentId: string; command: Extract<IntentCommand, { type: 'ErasePii' }>; ctx: Ctx }
  /** Expire the Checkout Session the intent pays (POST /v1/checkout/sessions/:id/expire, or its expires_at passed). */
  | { op: 'intent.expire_checkout'; merchantId: string; intentId: string; command: Extract<IntentCommand, { type: 'ExpireCheckout' }>; ctx: Ctx }
  /** A promotion code typed on the hosted page of the session the intent pays. */
  | { op: 'intent.checkout_discount'; merchantId: string; intentId: string; command: Extract<IntentCommand, { type: 'ApplyCheckoutDiscount' }>; ctx: Ctx }
  | { op: 'customer.erase'; merchantId: string; customerId: string; command: Extract<CustomerCommand, { type: 'Erase' }>; ctx: Ctx }
  // SetupIntents (runtime/setup-intents.ts): a card checked by the network and saved for later, no money moved.
  | { op: 'setup_intent.create'; merchantId: string; setupIntentId: string; command: Extract<SetupIntentCommand, { type: 'Create' }>; ctx: Ctx }
  | { op: 'setup_intent.update'; merchantId: string; setupIntentId: string; changes: SetupChanges; metadata?: MetadataPatch; ctx: Ctx }
  | {
      op: 'setup_intent.confirm';
      merchantId: string;
      setupIntentId: string;
      attemptId: string;
      changes: SetupChanges;
      /** Where a 3-D Secure challenge for this attempt is served, and where the cardholder returns. */
      challengeUrl: string;
      returnUrl: string | null;
      ctx: Ctx;
    }
  | { op: 'setup_intent.authenticate'; merchantId: string; setupIntentId: string; attemptId: string; success: boolean; ctx: Ctx }
  | { op: 'setup_intent.cancel'; merchantId: string; setupIntentId: string; reason: SetupCancellationReason | null; ctx: Ctx }
  // Products and the prices they hold (runtime/handlers.ts productCommand): one single writer per product.
  | { op: 'product.create'; merchantId: string; productId: string; command: Extract<ProductCommand, { type: 'Create' }>; ctx: Ctx }
  | { op: 'product.change'; merchantId: string; productId: string; command: Exclude<ProductCommand, { type: 'Create' }>; ctx: Ctx }
  | { op: 'payment_link.create' | 'payment_link.update'; merchantId: string; linkId: string; command: PaymentLinkCommand; ctx: Ctx }
  | { op: 'coupon.create' | 'coupon.change'; merchantId: string; couponId: string; command: CouponCommand; ctx: Ctx }
  // Disputes (runtime/disputes.ts), held by the intent whose charge is disputed.
  /** What the network's feeds said: a chargeback opened, its newest status, or a fraud report (reconcile/disputes.ts). */
  | { op: 'intent.dispute_record'; merchantId: string; intentId: string; command: Extract<IntentCommand, { type: 'OpenDispute' | 'RecordDisputeStatus' | 'RecordFraudWarning' }>; ctx: Ctx }
  /** Stripe's dispute update: evidence and metadata recorded, then (submit) the evidence sent to the network and the dispute under review. */
  | { op: 'intent.dispute_update'; merchantId: string; intentId: string; disputeId: string; evidence?: DisputeEvidencePatch; metadata?: MetadataPatch; submit: boolean; ctx: Ctx }
  /** Stripe's dispute close: accepted at the network, then lost. */
  | { op: 'intent.dispute_close'; merchantId: string; intentId: string; disputeId: string; ctx: Ctx };

/**
 * `seq`: the stream sequence of the last commit the command appended (of the aggregate's last one
 * when it appended none); on a refusal, present when it appended something first (a 402 decline).
 * `replayed`: the command was a repeat of a keyed one and appended nothing; its answer came from
 * the commit(s) it made the first time (request_id: the request that made them).
 */
export type CommandReply =
  | { ok: true; state: Intent | Merchant | Customer | SetupIntent | Product | PaymentLink | Coupon; seq: number; replayed?: Replayed }
  | { ok: false; status: number; error: ErrorBody; shouldRetry?: boolean; replayed?: Replayed; seq?: number };

export interface Replayed {
  request_id: string | null;
}

/**
 * Progress: a caller that sends this header is sent PROGRESS_BODY (one byte, not JSON) every
 * PROGRESS_MS while its command runs, then the reply. A caller that hears nothing for
 * STALL_MS knows the worker died with its command (and answers 503, retry with the same key)
 * instead of waiting out the whole command timeout.
 */
export const PROGRESS_HEADER = 'Paynats-Progress';
export const PROGRESS_MS = 1_000;
export const STALL_MS = 3_500;
export const PROGRESS_BODY = new Uint8Array([0x2e]); // "."
