// Wire types of the EPN card network: what crosses HTTP between our payment workers and the
// simulator. snake_case JSON, like a real acquirer API; the client maps it to camelCase.
// Amounts are integers in the currency's minor unit; timestamps are unix seconds.

export type CardBrand = 'visa' | 'mastercard' | 'amex' | 'discover' | 'jcb' | 'diners' | 'unionpay' | 'unknown';

export interface WireCard {
  number: string;
  exp_month: number;
  /** Four digits; two-digit years are read as 20xx. */
  exp_year: number;
  /** Optional like at Stripe: saved cards are charged without one. */
  cvc?: string;
}

// ---- authorize -------------------------------------------------------------

export interface WireAuthorizeRequest {
  /** Caller's idempotency key (our attempt id): one reference is never authorized twice. */
  reference: string;
  merchant_id: string;
  amount: number;
  /** ISO 4217, lower case. */
  currency: string;
  /** true: authorize and capture in one step. */
  capture: boolean;
  card: WireCard;
  /** The issuer's 3-D Secure result for this payment, when the cardholder completed a challenge. */
  three_d_secure?: { authenticated: boolean };
  /** The caller's payment id (our intent id), echoed in the settlement file. */
  intent_id?: string;
}

export interface WireAuthorizeResponse {
  network_ref: string;
  reference: string;
  /** authentication_required: the issuer wants 3-D Secure first; nothing was authorized or recorded. */
  status: 'approved' | 'declined' | 'authentication_required';
  captured: boolean;
  decline_code?: string;
  failure_code?: string;
  message?: string;
  brand: CardBrand;
  last4: string;
}

// ---- verify (account verification: a card checked for later use, no money) ----

export interface WireVerifyRequest {
  reference: string;
  merchant_id: string;
  card: WireCard;
  three_d_secure?: { authenticated: boolean };
}

/**
 * The issuer's answer to a card check: nothing is authorized, held or settled, so nothing appears in
 * the ledger or the settlement file; a repeat simply checks the card again.
 */
export interface WireVerifyResponse {
  reference: string;
  status: 'approved' | 'declined' | 'authentication_required';
  decline_code?: string;
  failure_code?: string;
  message?: string;
  brand: CardBrand;
  last4: string;
}

// ---- transaction (inquiry, and the answer to capture / void / refund) -------

export type WireTransactionStatus =
  | 'authorized'
  | 'captured'
  | 'declined'
  | 'voided'
  | 'refunded'
  | 'partially_refunded';

export type WireHistoryAction = 'authorized' | 'declined' | 'captured' | 'voided' | 'refunded';

export interface WireHistoryEntry {
  action: WireHistoryAction;
  at: number;
  amount?: number;
  refund_reference?: string;
}

export interface WireRefund {
  refund_reference: string;
  network_ref: string;
  amount: number;
  created_at: number;
}

export interface WireTransaction {
  network_ref: string;
  reference: string;
  /** The caller's payment id, when it sent one (absent in ledgers written before it existed). */
  intent_id?: string | null;
  merchant_id: string;
  amount: number;
  currency: string;
  status: WireTransactionStatus;
  amount_captured: number;
  amount_refunded: number;
  decline_code: string | null;
  failure_code: string | null;
  brand: CardBrand;
  last4: string;
  created_at: number;
  updated_at: number;
  refunds: WireRefund[];
  history: WireHistoryEntry[];
}

// ---- capture ---------------------------------------------------------------

export interface WireCaptureRequest {
  network_ref: string;
  /** ≤ the authorized amount; the rest of the hold is released. */
  amount: number;
}
export type WireCaptureResponse = WireTransaction;

// ---- void ------------------------------------------------------------------

export interface WireVoidRequest {
  network_ref: string;
}
export type WireVoidResponse = WireTransaction;

// ---- refund ----------------------------------------------------------------

export interface WireRefundRequest {
  network_ref: string;
  amount: number;
  /** Idempotency key of this one refund. */
  refund_reference: string;
}
export interface WireRefundResponse {
  refund: WireRefund;
  transaction: WireTransaction;
}

// ---- inquiry ---------------------------------------------------------------

/** GET /v1/transactions/:network_ref answers a WireTransaction (404 when unknown). */
export type WireInquiryByRefResponse = WireTransaction;

/** GET /v1/transactions?reference=… answers a list: empty means "the network never saw it". */
export interface WireInquiryResponse {
  data: WireTransaction[];
}

// ---- admin / errors --------------------------------------------------------

export interface WireLatencyRequest {
  latency_ms: number;
}
export interface WireLatencyResponse {
  latency_ms: number;
}

export type WireErrorCode =
  | 'invalid_request'
  | 'resource_missing'
  | 'invalid_state'
  | 'amount_too_large'
  | 'reference_conflict'
  | 'route_not_found'
  | 'internal_error'
  /** 409: a refund of a transaction charged back (a chargeback not won; an inquiry does not count). */
  | 'charge_disputed'
  /** 503: the network is down and refused the request before executing it (degrade: retryable, nothing booked). */
  | 'outage';

export interface WireError {
  error: { code: WireErrorCode | string; message: string };
}

// ---- settlement file (one JSON line per transaction booked that day) ------

export interface WireSettlementRow {
  network_ref: string;
  merchant_id: string;
  intent_id: string | null;
  /** The caller's reference: our attempt id. */
  attempt_id: string;
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  currency: string;
  status: WireTransactionStatus;
  /** Network fee on the captured amount, minor units. */
  fee: number;
  created_at: number;
  updated_at: number;
}

// ---- chargebacks (the issuer disputes a captured transaction) ---------------

/** Why the cardholder's issuer disputes a transaction (Stripe's dispute reasons). */
export type WireChargebackReason = 'fraudulent' | 'product_not_received' | 'general';

/**
 * Where a chargeback stands at the network. An inquiry is the issuer asking questions before any
 * money moves (Stripe's warning_*); a chargeback takes the disputed amount back from the merchant.
 * open → under_review (a representment received) → won | lost; open past due_by → lost;
 * an inquiry closes as won (no escalation) or lost.
 */
export type WireChargebackStatus = 'open' | 'under_review' | 'won' | 'lost';

export interface WireChargeback {
  /** The network's id of the case: cb_… */
  chargeback_ref: string;
  /** The disputed transaction, and the caller's reference and payment id it was booked under. */
  network_ref: string;
  reference: string;
  intent_id: string | null;
  merchant_id: string;
  amount: number;
  currency: string;
  reason: WireChargebackReason;
  /** A retrieval request (Stripe's inquiry): no money moves unless it escalates. */
  inquiry: boolean;
  status: WireChargebackStatus;
  /** Unix seconds: a case still open after this is lost. */
  due_by: number;
  /** Representments received so far. */
  representments: number;
  /** The position of the case's last change in the network's chargeback feed (increasing, never reused). */
  seq: number;
  created_at: number;
  updated_at: number;
}

/**
 * GET /v1/chargebacks?after=<seq>&limit=<n>: the cases changed after feed position `after`, each
 * once in its newest state, in feed order; `next` is the position to ask after next time (the last
 * returned case's seq, or `after` when nothing changed). Deadlines and decisions that have come due
 * are applied before the answer, so reading the feed is what moves time forward at the network.
 */
export interface WireChargebackFeed {
  data: WireChargeback[];
  next: number;
}

/**
 * POST /v1/chargebacks/:chargeback_ref/representment: the merchant's evidence, as text. Idempotent
 * on `reference` (a repeat answers the case as it is). Refused (409 invalid_state) once the case is
 * won or lost. The case goes under_review; the network decides later (EPN_CHARGEBACK_DECISION_MS):
 * evidence containing "winning_evidence" wins, "losing_evidence" loses, anything else stays under
 * review (as Stripe's test mode does).
 */
export interface WireRepresentmentRequest {
  reference: string;
  evidence: string;
}

/** POST /v1/chargebacks/:chargeback_ref/accept (no body): the merchant accepts; the case is lost at once. A repeat answers the case. */
export type WireChargebackResponse = WireChargeback;

// ---- fraud reports (the issuer reports a captured transaction as fraud: Stripe's early fraud warning) ----

/** The issuer's fraud type (Visa TC40 / Mastercard SAFE categories, as Stripe names them). */
export type WireFraudType =
  | 'card_never_received'
  | 'fraudulent_card_application'
  | 'made_with_counterfeit_card'
  | 'made_with_lost_card'
  | 'made_with_stolen_card'
  | 'misc'
  | 'unauthorized_use_of_card';

/** A fraud report: no money moves; it warns that a chargeback may follow. Reports never change once filed. */
export interface WireFraudReport {
  /** The network's id of the report: fr_… */
  report_ref: string;
  network_ref: string;
  /** The caller's reference (our attempt id) and payment id the transaction was booked under. */
  reference: string;
  intent_id: string | null;
  merchant_id: string;
  fraud_type: WireFraudType;
  /** Its position in the network's fraud report feed (increasing, never reused). */
  seq: number;
  created_at: number;
}

/** GET /v1/fraud_reports?after=<seq>&limit=<n>: the reports filed after feed position `after`, in feed order; `next` as for chargebacks. */
export interface WireFraudReportFeed {
  data: WireFraudReport[];
  next: number;
}
