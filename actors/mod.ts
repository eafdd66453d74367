export { DomainError, assertNever, fold, type Decider } from './decider.ts';
export { merchantDecider, type Merchant, type MerchantState, type MerchantCommand, type MerchantEvent, type ApiKeyRecord, type WebhookEndpoint, MAX_WEBHOOK_ENDPOINTS } from './merchant/merchant.ts';
export {
  intentDecider,
  currentAttempt,
  type Intent,
  type IntentState,
  type IntentCommand,
  type IntentEvent,
  type IntentEventType,
  type Attempt,
  type CardSummary,
  type CaptureMethod,
  type SetupFutureUsage,
  type Shipping,
  type CheckoutSession,
  type LineItem,
  checkoutStatus,
  type CancellationReason,
  type PaymentError,
  type Updatable,
  type NextAction,
} from './payment-intent/intent.ts';
export type { Refund, RefundReason, RefundStatus } from './payment-intent/intent.ts';
export { isTerminal, isConfirmable, isCancelable, isSettled, type IntentStatus, type AttemptStatus } from './payment-intent/status.ts';
export {
  customerDecider,
  mergeMetadata,
  type Customer,
  type CustomerState,
  type CustomerCommand,
  type CustomerEvent,
  type CustomerEventType,
  type CustomerFields,
  type TaxExempt,
  type MetadataPatch,
  type SavedPaymentMethod,
  type BillingAddress,
  type BillingDetails,
} from './customer/customer.ts';
export {
  TIMEOUT_FAILURE_CODE,
  TIMEOUT_MESSAGE,
  type Reversal,
  type ReversalReason,
  type DiscrepancyKind,
  type ReconciliationFlag,
} from './payment-intent/intent.ts';
export {
  setupIntentDecider,
  latestAttempt,
  isSetupOpen,
  type SetupIntent,
  type SetupIntentState,
  type SetupIntentCommand,
  type SetupIntentEvent,
  type SetupIntentEventType,
  type SetupIntentStatus,
  type SetupAttempt,
  type SetupError,
  type SetupChanges,
  type SetupUsage,
  type SetupCancellationReason,
} from './setup-intent/setup-intent.ts';
