// Stripe's wire objects, rendered from actor state. Rendering is pure and lives in one place, so
// the API, the webhooks and the events list show the same object for the same state.
import { createHash } from 'node:crypto';
import type { Attempt, BillingDetails, CheckoutSession, Dispute, FraudWarning, Intent, LineItem, Merchant, Refund, WebhookEndpoint } from '../actors/mod.ts';
import { DISPUTE_EVIDENCE_FILE_FIELDS, DISPUTE_EVIDENCE_TEXT_FIELDS, checkoutStatus, couponUnusable, isActionable, isDisputeClosed, spreadDiscount } from '../actors/mod.ts';
import type { Customer, SavedPaymentMethod, SetupAttempt, SetupError, SetupIntent } from '../actors/mod.ts';
import type { Coupon, PaymentLink, Price, Product, PromotionCode } from '../actors/mod.ts';
import type { PaymentMethodRecord } from '../vault/mod.ts';
import type { AnyEvent, Commit } from '../streams/envelope.ts';

/** The API version we speak and stamp on events (the one the pinned stripe SDK sends). */
export const API_VERSION = '2026-10-28.endive';

type Obj = Record<string, unknown>;

function cardDetails(a: Pick<Attempt, 'card'>) {
  const c = a.card;
  return {
    brand: c.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
    country: c.country,
    exp_month: c.exp_month,
    exp_year: c.exp_year,
    fingerprint: c.fingerprint,
    funding: c.funding,
    last4: c.last4,
    network: c.brand,
    three_d_secure: null,
    wallet: null,
  };
}

/** An address as Stripe shows it: every field, null when not given. */
const NULL_ADDRESS = { city: null, country: null, line1: null, line2: null, postal_code: null, state: null };

/** Billing details as Stripe shows them: the address always an object (its fields null when none was given). */
export function renderBillingDetails(bd: BillingDetails | null): Obj {
  return { address: { ...NULL_ADDRESS, ...(bd?.address ?? {}) }, email: bd?.email ?? null, name: bd?.name ?? null, phone: bd?.phone ?? null };
}

/** A Card object's brand as Stripe spells it (a PaymentMethod's card uses the lower-case network name). */
const CARD_BRANDS: Record<string, string> = { visa: 'Visa', mastercard: 'MasterCard', amex: 'American Express', discover: 'Discover', jcb: 'JCB', diners: 'Diners Club', unionpay: 'UnionPay' };

/** A card token (POST /v1/tokens) as Stripe shows it, with its Card object (`card_` + the token's suffix). */
export function renderToken(t: PaymentMethodRecord, clientIp: string | null): Obj {
  const a = t.billing_details.address ?? null;
  return {
    id: t.id,
    object: 'token',
    card: {
      id: `card_${t.id.slice('tok_'.length)}`,
      object: 'card',
      address_city: a?.city ?? null,
      address_country: a?.country ?? null,
      address_line1: a?.line1 ?? null,
      address_line1_check: a?.line1 ? 'unchecked' : null,
      address_line2: a?.line2 ?? null,
      address_state: a?.state ?? null,
      address_zip: a?.postal_code ?? null,
      address_zip_check: a?.postal_code ? 'unchecked' : null,
      brand: CARD_BRANDS[t.card.brand] ?? 'Unknown',
      country: t.card.country,
      cvc_check: 'unchecked',
      dynamic_last4: null,
      exp_month: t.card.exp_month,
      exp_year: t.card.exp_year,
      fingerprint: t.card.fingerprint,
      funding: t.card.funding,
      last4: t.card.last4,
      metadata: {},
      name: t.billing_details.name,
      tokenization_method: null,
      wallet: null,
    },
    client_ip: clientIp,
    created: t.created,
    livemode: t.livemode,
    type: 'card',
    used: t.used_by !== undefined,
  };
}

export function renderPaymentMethod(pm: PaymentMethodRecord): Obj {
  return {
    id: pm.id,
    object: 'payment_method',
    allow_redisplay: pm.allow_redisplay ?? 'unspecified',
    billing_details: renderBillingDetails(pm.billing_details),
    card: {
      brand: pm.card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
      country: pm.card.country,
      display_brand: pm.card.brand,
      exp_month: pm.card.exp_month,
      exp_year: pm.card.exp_year,
      fingerprint: pm.card.fingerprint,
      funding: pm.card.funding,
      last4: pm.card.last4,
      networks: { available: [pm.card.brand], preferred: null },
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: pm.created,
    customer: pm.customer ?? null,
    livemode: pm.livemode,
    metadata: pm.metadata,
    type: 'card',
  };
}

function pmFromAttempt(a: Attempt, created: number, livemode: boolean): Obj {
  return renderPaymentMethod({
    id: a.payment_method,
    merchant_id: '',
    created,
    livemode,
    card: a.card,
    billing_details: { email: null, name: null, phone: null },
    metadata: {},
  });
}

export function renderCharge(i: Intent, a: Attempt): Obj {
  const succeeded = a.status === 'succeeded';
  const failed = a.status === 'failed';
  return {
    id: a.id,
    object: 'charge',
    amount: a.amount,
    amount_captured: a.amount_captured,
    amount_refunded: a.amount_refunded ?? 0,
    balance_transaction: chargeBalanceTransactionId(a),
    billing_details: renderBillingDetails(null),
    calculated_statement_descriptor: null,
    captured: a.captured,
    created: a.created,
    currency: i.currency,
    customer: i.customer,
    description: a.description !== undefined ? a.description : i.description,
    disputed: (i.disputes ?? []).some((d) => d.charge === a.id),
    failure_code: a.failure_code,
    failure_message: a.failure_message,
    fraud_details: {},
    livemode: i.livemode,
    metadata: a.metadata ?? i.metadata,
    outcome: succeeded
      ? { network_status: 'approved_by_network', reason: null, risk_level: 'normal', seller_message: 'Payment complete.', type: 'authorized' }
      : failed
        ? {
            network_status: 'declined_by_network',
            reason: a.decline_code ?? a.failure_code,
            risk_level: 'normal',
            seller_message: 'The bank did not return any further details with this decline.',
            type: 'issuer_declined',
          }
        : null,
    paid: succeeded,
    payment_intent: i.id,
    payment_method: a.payment_method,
    payment_method_details: { card: cardDetails(a), type: 'card' },
    receipt_email: i.receipt_email,
    // Stripe's keys are always there: no receipts are sent or hosted here.
    receipt_number: null,
    receipt_url: null,
    // Stripe: refunded once the whole captured amount went back (pending refunds count).
    refunded: a.captured && a.amount_captured > 0 && (a.amount_refunded ?? 0) >= a.amount_captured,
    refunds: chargeRefunds(i, a),
    shipping: i.shipping ?? null,
    statement_descriptor: i.statement_descriptor ?? null,
    statement_descriptor_suffix: i.statement_descriptor_suffix ?? null,
    status: succeeded ? 'succeeded' : failed ? 'failed' : 'pending',
    /** Ours: the card network's reference, for reconciliation. */
    network_reference: a.network_ref,
  };
}

/**
 * Balance transactions are not stored: each is derived from its source, so its id names the source
 * (txn_ + the charge or refund id without its underscore). A charge has one once money was captured;
 * a refund has one unless it failed (its amount then never left the balance).
 */
export function chargeBalanceTransactionId(a: Pick<Attempt, 'id' | 'amount_captured'>): string | null {
  return a.amount_captured > 0 ? `txn_${a.id.replace('_', '')}` : null;
}

export function refundBalanceTransactionId(r: Pick<Refund, 'id' | 'status'>): string | null {
  return r.status === 'failed' ? null : `txn_${r.id.replace('_', '')}`;
}

/** A dispute's balance transactions: the withdrawal (txn_dpw…) and the reinstatement when won (txn_dpr…). */
export function disputeBalanceTransactionId(d: Pick<Dispute, 'id'>, which: 'withdrawal' | 'reinstatement'): string {
  return `txn_dp${which === 'withdrawal' ? 'w' : 'r'}${d.id.slice(3)}`;
}

/** The charge (ch_…), refund (re_…) or dispute (dp_…) a balance transaction id names, or null. */
export function sourceOfBalanceTransaction(id: string): string | null {
  const d = /^txn_dp[wr]([A-Za-z0-9]+)$/.exec(id);
  if (d) return `dp_${d[1]}`;
  const m = /^txn_(ch|re)([A-Za-z0-9]+)$/.exec(id);
  return m ? `${m[1]}_${m[2]}` : null;
}

/**
 * A dispute's balance transactions (Stripe's type adjustment): the disputed amount and the dispute fee
 * out of the available balance when the chargeback is filed, both back when it is won. An inquiry has none.
 */
export function renderDisputeBalanceTransactions(i: Pick<Intent, 'currency'>, d: Dispute, now: number): Obj[] {
  const txn = (which: 'withdrawal' | 'reinstatement', f: NonNullable<Dispute['withdrawn']>): Obj => {
    const sign = which === 'withdrawal' ? -1 : 1;
    return {
      id: disputeBalanceTransactionId(d, which),
      object: 'balance_transaction',
      amount: sign * f.amount,
      available_on: f.at,
      created: f.at,
      currency: i.currency,
      description: which === 'withdrawal' ? `Chargeback withdrawal for ${d.charge}` : `Chargeback reversal for ${d.charge}`,
      exchange_rate: null,
      fee: sign * -f.fee,
      fee_details: f.fee ? [{ amount: sign * -f.fee, application: null, currency: i.currency, description: which === 'withdrawal' ? 'Dispute fee' : 'Dispute fee refund', type: 'stripe_fee' }] : [],
      net: sign * (f.amount + f.fee),
      reporting_category: which === 'withdrawal' ? 'dispute' : 'dispute_reversal',
      source: d.id,
      status: now >= f.at ? 'available' : 'pending',
      type: 'adjustment',
    };
  };
  return [...(d.withdrawn ? [txn('withdrawal', d.withdrawn)] : []), ...(d.reinstated ? [txn('reinstatement', d.reinstated)] : [])];
}

/** Stripe's Dispute, from the intent that holds it. */
export function renderDispute(i: Intent, d: Dispute, now: number): Obj {
  const a = i.attempts.find((x) => x.id === d.charge);
  const evidence: Obj = {};
  for (const f of DISPUTE_EVIDENCE_TEXT_FIELDS) evidence[f] = d.evidence[f] ?? null;
  for (const f of DISPUTE_EVIDENCE_FILE_FIELDS) evidence[f] = null;
  evidence.enhanced_evidence = {};
  const sorted = Object.fromEntries(Object.entries(evidence).sort(([x], [y]) => x.localeCompare(y)));
  const refunded = a ? (a.amount_refunded ?? 0) >= a.amount_captured : true;
  return {
    id: d.id,
    object: 'dispute',
    amount: d.amount,
    balance_transactions: renderDisputeBalanceTransactions(i, d, now),
    charge: d.charge,
    created: d.created,
    currency: i.currency,
    enhanced_eligibility_types: [],
    evidence: sorted,
    evidence_details: {
      due_by: d.due_by,
      enhanced_eligibility: {},
      has_evidence: Object.keys(d.evidence).length > 0,
      past_due: !isDisputeClosed(d.status) && d.submission_count === 0 && now > d.due_by,
      submission_count: d.submission_count,
      submission_method: d.submission_count > 0 ? 'manual' : 'not_submitted',
    },
    intended_submission_method: null,
    // An inquiry's charge can still be refunded (then no chargeback follows); a chargeback's cannot.
    is_charge_refundable: d.inquiry && !isDisputeClosed(d.status) && !refunded,
    livemode: i.livemode,
    metadata: d.metadata,
    network_reason_code: NETWORK_REASON_CODES[d.reason],
    payment_intent: i.id,
    payment_method_details: {
      card: { brand: a?.card.brand ?? 'unknown', case_type: d.inquiry ? 'inquiry' : 'chargeback', network: a?.card.brand ?? 'unknown', network_reason_code: NETWORK_REASON_CODES[d.reason] },
      type: 'card',
    },
    reason: d.reason,
    status: d.status,
  };
}

/** Stripe Radar's early fraud warning, from the intent that holds it. */
export function renderEarlyFraudWarning(i: Intent, w: FraudWarning): Obj {
  return {
    id: w.id,
    object: 'radar.early_fraud_warning',
    actionable: isActionable(i, w),
    charge: w.charge,
    created: w.created,
    fraud_type: w.fraud_type,
    livemode: i.livemode,
    payment_intent: i.id,
  };
}

/** The card network's reason code for each reason (Visa's codes). */
const NETWORK_REASON_CODES: Record<Dispute['reason'], string> = { fraudulent: '10.4', product_not_received: '13.1', general: '13.7' };

/**
 * Stripe's BalanceTransaction for a captured charge (its amount in; pending for `pendingDays`, then
 * available) or a refund (its amount out of the available balance at once, as GET /v1/balance counts
 * it). No fees are modelled: fee 0, net = amount.
 */
export function renderBalanceTransaction(i: Pick<Intent, 'currency'>, source: { charge: Attempt } | { refund: Refund }, pendingDays: number, now: number): Obj {
  const charge = 'charge' in source;
  const id = charge ? chargeBalanceTransactionId(source.charge) : refundBalanceTransactionId(source.refund);
  const amount = charge ? source.charge.amount_captured : -source.refund.amount;
  const created = charge ? source.charge.created : source.refund.created;
  const availableOn = charge ? created + Math.round(pendingDays * 86_400) : created;
  return {
    id,
    object: 'balance_transaction',
    amount,
    available_on: availableOn,
    created,
    currency: i.currency,
    description: null,
    exchange_rate: null,
    fee: 0,
    fee_details: [],
    net: amount,
    reporting_category: charge ? 'charge' : 'refund',
    source: charge ? source.charge.id : source.refund.id,
    status: now >= availableOn ? 'available' : 'pending',
    type: charge ? 'charge' : 'refund',
  };
}

/** Stripe's refund object. */
export function renderRefund(i: Pick<Intent, 'id' | 'currency'>, r: Refund): Obj {
  return {
    id: r.id,
    object: 'refund',
    amount: r.amount,
    balance_transaction: refundBalanceTransactionId(r),
    charge: r.charge,
    created: r.created,
    currency: i.currency,
    destination_details: { card: { reference: null, reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' }, type: 'card' },
    failure_reason: r.failure_reason,
    metadata: r.metadata,
    payment_intent: i.id,
    reason: r.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: r.status,
    transfer_reversal: null,
  };
}

/** A charge's refunds, newest first, as the list object Stripe embeds in a charge. */
function chargeRefunds(i: Intent, a: Attempt): Obj {
  const data = (i.refunds ?? []).filter((r) => r.charge === a.id).reverse().map((r) => renderRefund(i, r));
  return { object: 'list', data, has_more: false, total_count: data.length, url: `/v1/charges/${a.id}/refunds` };
}

export function renderPaymentIntent(i: Intent): Obj {
  const latest = i.attempts[i.attempts.length - 1];
  const lpe = i.last_payment_error;
  const failedAttempt = lpe ? i.attempts.find((a) => a.id === lpe.charge) : undefined;
  return {
    id: i.id,
    object: 'payment_intent',
    amount: i.amount,
    amount_capturable: i.amount_capturable,
    amount_details: { tip: {} },
    amount_received: i.amount_received,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: i.automatic_payment_methods ?? null,
    canceled_at: i.canceled_at,
    cancellation_reason: i.cancellation_reason,
    capture_method: i.capture_method,
    client_secret: i.client_secret,
    confirmation_method: 'automatic',
    created: i.created,
    currency: i.currency,
    customer: i.customer,
    description: i.description,
    last_payment_error: lpe
      ? {
          charge: lpe.charge,
          code: lpe.code,
          decline_code: lpe.decline_code ?? undefined,
          doc_url: `https://stripe.com/docs/error-codes/${lpe.code.replace(/_/g, '-')}`,
          message: lpe.message,
          payment_method: failedAttempt ? pmFromAttempt(failedAttempt, i.created, i.livemode) : null,
          type: lpe.type,
        }
      : null,
    latest_charge: latest?.id ?? null,
    livemode: i.livemode,
    metadata: i.metadata,
    next_action: i.next_action ?? null,
    on_behalf_of: null,
    payment_method: i.payment_method,
    payment_method_options: {
      card: {
        ...(i.card_options?.capture_method ? { capture_method: i.card_options.capture_method } : {}),
        installments: null,
        mandate_options: null,
        network: null,
        request_three_d_secure: i.card_options?.request_three_d_secure ?? 'automatic',
      },
    },
    payment_method_types: ['card'],
    processing: null,
    receipt_email: i.receipt_email,
    review: null,
    setup_future_usage: i.setup_future_usage ?? null,
    shipping: i.shipping ?? null,
    source: null,
    statement_descriptor: i.statement_descriptor ?? null,
    statement_descriptor_suffix: i.statement_descriptor_suffix ?? null,
    status: i.status,
    transfer_data: null,
    transfer_group: null,
  };
}

/**
 * Stripe's Checkout Session object (mode=payment), from the intent that holds it. `url`: where the
 * customer pays while the session is open (null once complete or expired, as at Stripe).
 */
export function renderCheckoutSession(i: Intent, url: string | null, expandLineItems = false): Obj {
  const c = i.checkout!;
  const status = checkoutStatus(i);
  const subtotal = c.line_items.reduce((n, li) => n + li.unit_amount * li.quantity, 0);
  const discount = c.discount?.amount ?? 0;
  const paid = i.attempts.find((a) => a.status === 'succeeded');
  return {
    id: c.id,
    object: 'checkout.session',
    after_expiration: null,
    allow_promotion_codes: c.allow_promotion_codes ?? null,
    amount_subtotal: subtotal,
    amount_total: subtotal - discount,
    automatic_tax: { enabled: false, liability: null, status: null },
    billing_address_collection: null,
    cancel_url: c.cancel_url,
    client_reference_id: c.client_reference_id,
    client_secret: null,
    consent: null,
    consent_collection: null,
    created: i.created,
    currency: i.currency,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: i.customer,
    customer_creation: i.customer ? null : 'if_required',
    customer_details: paid ? { address: null, email: c.customer_email ?? i.receipt_email, name: null, phone: null, tax_exempt: 'none', tax_ids: [] } : null,
    customer_email: c.customer_email,
    discounts: c.discount ? [{ coupon: c.discount.coupon, promotion_code: c.discount.promotion_code ?? null }] : [],
    expires_at: c.expires_at,
    invoice: null,
    invoice_creation: null,
    ...(expandLineItems ? { line_items: renderLineItems(i, '/v1/checkout/sessions/' + c.id + '/line_items', c.line_items, false, lineDiscounts(c)) } : {}),
    livemode: i.livemode,
    locale: null,
    metadata: c.metadata,
    mode: 'payment',
    payment_intent: i.id,
    payment_link: c.payment_link ?? null,
    payment_method_collection: 'if_required',
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: ['card'],
    // Stripe: paid once the funds are captured; an authorization held for capture is still unpaid.
    payment_status: paid && paid.captured ? 'paid' : 'unpaid',
    phone_number_collection: { enabled: false },
    recovered_from: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_details: i.shipping ? { address: i.shipping.address, name: i.shipping.name } : null,
    shipping_options: [],
    status,
    submit_type: null,
    subscription: null,
    success_url: c.success_url,
    total_details: { amount_discount: discount, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted',
    url: status === 'open' ? url : null,
  };
}

/** A session's discount spread over its line items (what each line's amount_discount shows), in their order. */
export function lineDiscounts(c: Pick<CheckoutSession, 'line_items' | 'discount'>): number[] {
  return spreadDiscount(c.line_items.map((li) => li.unit_amount * li.quantity), c.discount?.amount ?? 0);
}

/**
 * Line items (a Checkout Session's or a payment link's) as Stripe's list of `item` objects, each with
 * its price: one of the catalogue (`catalog`, active), or the ad-hoc one price_data made (inactive at once).
 */
export function renderLineItems(o: { currency: string; livemode: boolean; created: number }, url: string, items: readonly LineItem[], hasMore = false, discounts: readonly number[] = []): Obj {
  return {
    object: 'list',
    data: items.map((li, n) => ({
      id: li.id,
      object: 'item',
      amount_discount: discounts[n] ?? 0,
      amount_subtotal: li.unit_amount * li.quantity,
      amount_tax: 0,
      amount_total: li.unit_amount * li.quantity - (discounts[n] ?? 0),
      currency: o.currency,
      description: li.name,
      price: renderPrice(
        { id: li.price, active: li.catalog === true, currency: o.currency, unit_amount: li.unit_amount, nickname: null, lookup_key: null, metadata: {}, recurring: null, tax_behavior: 'unspecified', created: o.created },
        { id: li.product, livemode: o.livemode },
      ),
      quantity: li.quantity,
    })),
    has_more: hasMore,
    url,
  };
}

/** The seed's names for webhook subscriptions, mapped onto Stripe's. */
export const SEED_EVENT_ALIASES: Record<string, string> = {
  payment_successful: 'payment_intent.succeeded',
  payment_failure: 'payment_intent.payment_failed',
  payment_timeout: 'payment_intent.payment_timeout',
};

/** Every Stripe event type we emit (docs list them; subscriptions are checked against them). */
export const STRIPE_EVENT_TYPES = [
  'payment_intent.created',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.amount_capturable_updated',
  'payment_intent.canceled',
  'payment_intent.requires_action',
  'payment_intent.payment_timeout',
  'charge.succeeded',
  'charge.failed',
  'charge.captured',
  'charge.refunded',
  'charge.updated',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.funds_reinstated',
  'radar.early_fraud_warning.created',
  'radar.early_fraud_warning.updated',
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'payment_method.attached',
  'payment_method.detached',
  'payment_method.updated',
  'setup_intent.created',
  'setup_intent.requires_action',
  'setup_intent.setup_failed',
  'setup_intent.succeeded',
  'setup_intent.canceled',
  'webhook_endpoint.disabled',
  'checkout.session.completed',
  'checkout.session.expired',
  'product.created',
  'product.updated',
  'product.deleted',
  'price.created',
  'price.updated',
  'payment_link.created',
  'payment_link.updated',
  'coupon.created',
  'coupon.updated',
  'coupon.deleted',
  'promotion_code.created',
  'promotion_code.updated',
] as const;

export function normalizeEventType(t: string): string {
  return SEED_EVENT_ALIASES[t] ?? t;
}

export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: Obj };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
  account?: string;
}

/** Stripe event ids are derived from the domain event's id: every consumer computes the same id. */
export function stripeEventId(domainEventId: string, n: number): string {
  return `evt_${createHash('sha256').update(`${domainEventId}:${n}`).digest('hex').slice(0, 24)}`;
}

/**
 * What a Stripe event's object is rendered from (the commit's state, and the attempt, refund or
 * endpoint in it): plain data, so the type of every Stripe event of a commit is known before any
 * object is rendered (no closure per event either).
 */
type ObjectOf =
  | { type: string; livemode?: boolean; of: 'payment_intent' | 'customer' | 'setup_intent' | 'checkout_session' | 'product' | 'payment_link' | 'coupon' }
  | { type: string; livemode?: boolean; of: 'promotion_code'; id: string }
  | { type: string; livemode?: boolean; of: 'price'; id: string }
  | { type: string; livemode?: boolean; of: 'charge'; a: Attempt }
  | { type: string; livemode?: boolean; of: 'refund'; r: Refund }
  | { type: string; livemode?: boolean; of: 'dispute'; d: Dispute; at: number }
  | { type: string; livemode?: boolean; of: 'early_fraud_warning'; w: FraudWarning }
  | { type: string; livemode?: boolean; of: 'webhook_endpoint'; ep: WebhookEndpoint }
  | { type: string; livemode?: boolean; of: 'payment_method'; pm: SavedPaymentMethod; customer: string | null };

function renderObjectOf(m: ObjectOf, c: Commit): Obj {
  switch (m.of) {
    case 'payment_intent':
      return renderPaymentIntent(c.state as Intent);
    case 'customer':
      return renderCustomer(c.state as Customer, true);
    case 'setup_intent':
      return renderSetupIntent(c.state as SetupIntent);
    case 'checkout_session':
      return renderCheckoutSession(c.state as Intent, null);
    case 'product':
      return renderProduct(c.state as Product, true);
    case 'payment_link':
      return renderPaymentLink(c.state as PaymentLink);
    case 'coupon':
      return renderCoupon(c.state as Coupon, null, true);
    case 'promotion_code': {
      const coupon = c.state as Coupon;
      return renderPromotionCode((coupon.promotion_codes ?? []).find((p) => p.id === m.id)!, coupon, null);
    }
    case 'price': {
      const p = c.state as Product;
      return renderPrice(p.prices.find((x) => x.id === m.id)!, p);
    }
    case 'charge':
      return renderCharge(c.state as Intent, m.a);
    case 'refund':
      return renderRefund(c.state as Intent, m.r);
    case 'dispute':
      return renderDispute(c.state as Intent, m.d, m.at);
    case 'early_fraud_warning':
      return renderEarlyFraudWarning(c.state as Intent, m.w);
    case 'webhook_endpoint':
      return renderWebhookEndpoint(m.ep);
    case 'payment_method':
      return renderPaymentMethod({ ...m.pm, merchant_id: c.merchant_id, livemode: (c.state as Customer).livemode, customer: m.customer });
  }
}

const attemptOf = (i: Intent, id: string) => i.attempts.find((a) => a.id === id);

/** The Stripe events one domain event stands for, built from the state after the commit (rendered by renderObjectOf). */
function mapEvent(e: AnyEvent, c: Commit): ObjectOf[] {
  // An endpoint we disabled for failing: the merchant hears of it (GET /v1/events, and its other endpoints).
  if (c.aggregate === 'merchant' && e.type === 'webhook_endpoint.disabled') {
    const ep = (c.state.webhook_endpoints ?? []).find((x) => x.id === e.data.id);
    return ep ? [{ type: 'webhook_endpoint.disabled', of: 'webhook_endpoint' as const, ep, livemode: ep.livemode }] : [];
  }
  if (c.aggregate === 'customer') {
    // Stripe's payment_method.attached / .detached: the payment method as the operation left it.
    if (e.type === 'customer.payment_method_attached') return [{ type: 'payment_method.attached', of: 'payment_method' as const, pm: e.data.payment_method, customer: c.aggregate_id }];
    if (e.type === 'customer.payment_method_detached') return [{ type: 'payment_method.detached', of: 'payment_method' as const, pm: e.data.payment_method, customer: null }];
    if (e.type === 'customer.payment_method_updated') return [{ type: 'payment_method.updated', of: 'payment_method' as const, pm: e.data.payment_method, customer: c.aggregate_id }];
    // Stripe's customer.deleted carries the customer as it was (not the deleted stub).
    if (e.type === 'customer.deleted') return [{ type: 'customer.deleted', of: 'customer' as const }];
    return e.type === 'customer.created' || e.type === 'customer.updated' ? [{ type: e.type, of: 'customer' as const }] : [];
  }
  if (c.aggregate === 'payment_link') return [{ type: e.type, of: 'payment_link' as const }];
  if (c.aggregate === 'coupon') {
    if (e.type === 'promotion_code.created' || e.type === 'promotion_code.updated') return [{ type: e.type, of: 'promotion_code' as const, id: e.data.id }];
    return [{ type: e.type, of: 'coupon' as const }];
  }
  if (c.aggregate === 'product') {
    switch (e.type) {
      case 'product.created':
      case 'product.updated':
      case 'product.deleted':
        return [{ type: e.type, of: 'product' as const }];
      case 'price.created':
      case 'price.updated':
        return c.state.prices.some((p) => p.id === e.data.id) ? [{ type: e.type, of: 'price' as const, id: e.data.id }] : [];
      default:
        return [];
    }
  }
  if (c.aggregate === 'setup_intent') {
    switch (e.type) {
      case 'setup_intent.created':
        return [{ type: 'setup_intent.created', of: 'setup_intent' as const }];
      case 'setup_attempt.succeeded':
        return [{ type: 'setup_intent.succeeded', of: 'setup_intent' as const }];
      case 'setup_attempt.failed':
        return [{ type: 'setup_intent.setup_failed', of: 'setup_intent' as const }];
      case 'setup_attempt.requires_action':
        return [{ type: 'setup_intent.requires_action', of: 'setup_intent' as const }];
      case 'setup_intent.canceled':
        return [{ type: 'setup_intent.canceled', of: 'setup_intent' as const }];
      default:
        return []; // updates, a started or authenticated attempt: Stripe has no event for them
    }
  }
  if (c.aggregate !== 'intent') return [];
  const i = c.state;
  switch (e.type) {
    case 'intent.created':
      return [{ type: 'payment_intent.created', of: 'payment_intent' as const }];
    case 'attempt.succeeded': {
      const a = attemptOf(i, e.data.attempt_id);
      const charge = a ? [{ type: 'charge.succeeded', of: 'charge' as const, a }] : [];
      // The Checkout Session this intent pays is complete with its first (and only) successful charge.
      const session = i.checkout ? [{ type: 'checkout.session.completed', of: 'checkout_session' as const }] : [];
      return e.data.captured
        ? [...charge, { type: 'payment_intent.succeeded', of: 'payment_intent' as const }, ...session]
        : [...charge, { type: 'payment_intent.amount_capturable_updated', of: 'payment_intent' as const }, ...session];
    }
    case 'attempt.declined': {
      const a = attemptOf(i, e.data.attempt_id);
      return [...(a ? [{ type: 'charge.failed', of: 'charge' as const, a }] : []), { type: 'payment_intent.payment_failed', of: 'payment_intent' as const }];
    }
    case 'intent.captured': {
      const a = attemptOf(i, e.data.attempt_id);
      return [...(a ? [{ type: 'charge.captured', of: 'charge' as const, a }] : []), { type: 'payment_intent.succeeded', of: 'payment_intent' as const }];
    }
    case 'intent.canceled':
      return [{ type: 'payment_intent.canceled', of: 'payment_intent' as const }];
    case 'checkout.discount_applied':
    case 'checkout.expired':
      return i.checkout ? [{ type: 'checkout.session.expired', of: 'checkout_session' as const }] : [];
    case 'refund.created':
    case 'refund.succeeded':
    case 'refund.failed': {
      const r = (i.refunds ?? []).find((x) => x.id === e.data.refund_id);
      if (!r) return [];
      if (e.type === 'refund.created') return [{ type: 'refund.created', of: 'refund' as const, r }, ...warningsFlipped(i, r.charge, r.amount)];
      if (e.type === 'refund.failed') return [{ type: 'refund.updated', of: 'refund' as const, r }, { type: 'refund.failed', of: 'refund' as const, r }, ...warningsFlipped(i, r.charge, -r.amount)];
      const a = attemptOf(i, r.charge);
      return [...(a ? [{ type: 'charge.refunded', of: 'charge' as const, a }] : []), { type: 'refund.updated', of: 'refund' as const, r }];
    }
    case 'attempt.requires_action':
      return [{ type: 'payment_intent.requires_action', of: 'payment_intent' as const }];
    case 'charge.details_updated': {
      const a = attemptOf(i, e.data.attempt_id);
      return a ? [{ type: 'charge.updated', of: 'charge' as const, a }] : [];
    }
    case 'refund.metadata_updated': {
      const r = (i.refunds ?? []).find((x) => x.id === e.data.refund_id);
      return r ? [{ type: 'refund.updated', of: 'refund' as const, r }] : [];
    }
    // The seed's payment_timeout: Stripe's payment_failed (code payment_timeout), and the seed's own
    // event for endpoints subscribed to it (alias payment_timeout).
    case 'attempt.timed_out': {
      const a = attemptOf(i, e.data.attempt_id);
      return [
        ...(a ? [{ type: 'charge.failed', of: 'charge' as const, a }] : []),
        { type: 'payment_intent.payment_failed', of: 'payment_intent' as const },
        { type: 'payment_intent.payment_timeout', of: 'payment_intent' as const },
      ];
    }
    case 'dispute.created':
    case 'dispute.funds_withdrawn':
    case 'dispute.updated':
    case 'dispute.evidence_submitted':
    case 'dispute.closed':
    case 'dispute.funds_reinstated': {
      const d = (i.disputes ?? []).find((x) => x.id === e.data.dispute_id);
      if (!d) return [];
      const type = DISPUTE_EVENT_TYPES[e.type];
      // The charge's first dispute: its early fraud warnings are no longer actionable.
      const first = e.type === 'dispute.created' && (i.disputes ?? []).filter((x) => x.charge === d.charge).length === 1;
      return [{ type, of: 'dispute' as const, d, at: e.at }, ...(first ? warningsFlipped(i, d.charge, 0, true) : [])];
    }
    case 'fraud_warning.created': {
      const w = (i.fraud_warnings ?? []).find((x) => x.id === e.data.warning_id);
      return w ? [{ type: 'radar.early_fraud_warning.created', of: 'early_fraud_warning' as const, w }] : [];
    }
    // Reconciliation's own bookkeeping: money the merchant was never told about, and the audit trail.
    case 'attempt.superseded':
    case 'attempt.reversed':
    case 'reconciliation.flagged':
    case 'reconciliation.resolved':
      return [];
    case 'intent.updated':
    case 'attempt.started':
    case 'attempt.in_doubt':
    case 'attempt.authenticated':
    case 'merchant.onboarded':
    case 'merchant.updated':
    case 'webhook_endpoint.created':
    case 'webhook_endpoint.updated':
    case 'webhook_endpoint.deleted':
    case 'webhook_endpoint.secret_rolled':
    case 'webhook_endpoint.disabled':
    // Customer events are mapped above, from the customer's own commit.
    case 'customer.created':
    case 'customer.updated':
    // An erasure has no Stripe event (Stripe has none); the customer object simply shows null PII.
    case 'customer.erased':
    case 'customer.payment_method_attached':
    case 'customer.payment_method_detached':
    case 'customer.payment_method_updated':
    case 'customer.deleted':
    case 'intent.pii_erased':
    // SetupIntent events are mapped above, from the SetupIntent's own commit.
    case 'setup_intent.created':
    case 'setup_intent.updated':
    case 'setup_intent.canceled':
    case 'setup_attempt.started':
    case 'setup_attempt.succeeded':
    case 'setup_attempt.failed':
    case 'setup_attempt.requires_action':
    case 'setup_attempt.authenticated':
    // Product and price events are mapped above, from the product's own commit.
    case 'product.created':
    case 'product.updated':
    case 'product.deleted':
    case 'price.created':
    case 'price.updated':
    case 'payment_link.created':
    case 'payment_link.updated':
    case 'coupon.created':
    case 'coupon.updated':
    case 'coupon.deleted':
    case 'promotion_code.created':
    case 'promotion_code.updated':
      return [];
    default: {
      const never: never = e;
      return never;
    }
  }
}

/**
 * radar.early_fraud_warning.updated for the charge's warnings whose `actionable` this commit flipped:
 * `refunded` minor units more (a refund; negative: a failed one gave them back) or its first dispute.
 */
function warningsFlipped(i: Intent, chargeId: string, refunded: number, disputed = false): ObjectOf[] {
  const ws = (i.fraud_warnings ?? []).filter((w) => w.charge === chargeId);
  if (ws.length === 0) return [];
  const a = i.attempts.find((x) => x.id === chargeId);
  if (!a) return [];
  const fully = (n: number) => a.amount_captured > 0 && n >= a.amount_captured;
  const otherDisputes = (i.disputes ?? []).filter((d) => d.charge === chargeId).length - (disputed ? 1 : 0);
  if (otherDisputes > 0) return []; // already not actionable, and still not
  const now = a.amount_refunded ?? 0;
  const flipped = disputed ? !fully(now) : fully(now) !== fully(now - refunded);
  return flipped ? ws.map((w) => ({ type: 'radar.early_fraud_warning.updated', of: 'early_fraud_warning' as const, w })) : [];
}

const DISPUTE_EVENT_TYPES = {
  'dispute.created': 'charge.dispute.created',
  'dispute.funds_withdrawn': 'charge.dispute.funds_withdrawn',
  'dispute.updated': 'charge.dispute.updated',
  'dispute.evidence_submitted': 'charge.dispute.updated',
  'dispute.closed': 'charge.dispute.closed',
  'dispute.funds_reinstated': 'charge.dispute.funds_reinstated',
} as const;

/**
 * A Stripe event of a commit before it is rendered: its type and mode are known at once; `render()`
 * builds the very event stripeEventsOf gives (id, object). For a consumer that keeps only some of
 * them (the webhook fan-out): those it drops are never rendered.
 */
export interface PendingStripeEvent {
  readonly type: string;
  readonly livemode: boolean;
  render(): StripeEvent;
}

class Pending implements PendingStripeEvent {
  constructor(
    readonly type: string,
    readonly livemode: boolean,
    private readonly commit: Commit,
    private readonly event: AnyEvent,
    private readonly n: number,
    private readonly of: ObjectOf,
  ) {}

  render(): StripeEvent {
    return {
      id: stripeEventId(this.event.id, this.n),
      object: 'event',
      api_version: API_VERSION,
      created: this.event.at,
      data: { object: renderObjectOf(this.of, this.commit) },
      livemode: this.livemode,
      pending_webhooks: 1,
      request: { id: this.commit.request_id, idempotency_key: null },
      type: this.type,
    };
  }
}

export function pendingStripeEventsOf(c: Commit): PendingStripeEvent[] {
  const out: PendingStripeEvent[] = [];
  for (const e of c.events) {
    const mapped = mapEvent(e, c);
    for (let n = 0; n < mapped.length; n++) {
      const m = mapped[n]!;
      out.push(new Pending(m.type, m.livemode ?? (c.state as { livemode?: boolean }).livemode === true, c, e, n, m));
    }
  }
  return out;
}

export function stripeEventsOf(c: Commit): StripeEvent[] {
  return pendingStripeEventsOf(c).map((p) => p.render());
}

/** Stripe's customer object. Fields we do not model yet are rendered as Stripe shows them when unset. */
/**
 * Stripe's Account (GET /v1/account): the merchant as the platform knows it. Card payments are what
 * it can take; payouts and transfers are not ours to make. A GSTIN names an Indian business.
 */
/** A GSTIN names an Indian business: its account is IN, its currency INR. */
const isIndian = (m: Merchant) => /^[0-9]{2}[A-Z0-9]{10}[0-9A-Z]{3}$/.test(m.gst_id);

/** The account's default currency (renderAccount's default_currency). */
export const defaultCurrencyOf = (m: Merchant): string => (isIndian(m) ? 'inr' : 'usd');

export function renderAccount(m: Merchant): Obj {
  const india = isIndian(m);
  return {
    id: m.merchant_id,
    object: 'account',
    business_profile: { mcc: null, name: m.name, product_description: null, support_address: null, support_email: null, support_phone: null, support_url: null, url: null },
    business_type: 'company',
    capabilities: { card_payments: 'active' },
    charges_enabled: true,
    company: { address: { city: null, country: india ? 'IN' : null, line1: m.address, line2: null, postal_code: null, state: null }, name: m.name, tax_id_provided: m.gst_id.length > 0 },
    country: india ? 'IN' : 'US',
    created: m.created,
    default_currency: defaultCurrencyOf(m),
    details_submitted: true,
    email: null,
    external_accounts: { object: 'list', data: [], has_more: false, url: `/v1/accounts/${m.merchant_id}/external_accounts` },
    metadata: {},
    payouts_enabled: false,
    settings: { dashboard: { display_name: m.name, timezone: 'Etc/UTC' }, payments: { statement_descriptor: null } },
    type: 'standard',
  };
}

/**
 * Stripe's Balance (GET /v1/balance): available and pending funds per currency, all from cards. The
 * account's default currency is always listed, at 0 when nothing was captured in it, as Stripe lists it.
 */
export function renderBalance(funds: readonly { currency: string; available: number; pending: number }[], livemode: boolean, defaultCurrency: string): Obj {
  const all = funds.some((f) => f.currency === defaultCurrency) ? funds : [{ currency: defaultCurrency, available: 0, pending: 0 }, ...funds];
  const part = (amount: number, currency: string) => ({ amount, currency, source_types: { card: amount } });
  return {
    object: 'balance',
    available: all.map((f) => part(f.available, f.currency)),
    livemode,
    pending: all.map((f) => part(f.pending, f.currency)),
  };
}

/**
 * Stripe's PaymentLink (`line_items` only where expanded, as at Stripe). `origin`: where the API was
 * reached (the link's URL is there); without one (an event), the origin the link was made at.
 */
export function renderPaymentLink(l: PaymentLink, expandLineItems = false, origin?: string): Obj {
  const pid = l.payment_intent_data;
  const hasPid = Object.keys(pid).length > 0;
  return {
    id: l.id,
    object: 'payment_link',
    active: l.active,
    after_completion:
      l.after_completion.type === 'redirect'
        ? { hosted_confirmation: null, redirect: { url: l.after_completion.url }, type: 'redirect' }
        : { hosted_confirmation: { custom_message: l.after_completion.custom_message }, redirect: null, type: 'hosted_confirmation' },
    allow_promotion_codes: false,
    application: null,
    application_fee_amount: null,
    application_fee_percent: null,
    automatic_tax: { enabled: false, liability: null },
    billing_address_collection: 'auto',
    consent_collection: null,
    currency: l.currency,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer_creation: 'if_required',
    inactive_message: l.inactive_message,
    invoice_creation: null,
    ...(expandLineItems ? { line_items: renderLineItems(l, `/v1/payment_links/${l.id}/line_items`, l.line_items.map((li) => ({ ...li, catalog: true as const }))) } : {}),
    livemode: l.livemode,
    metadata: l.metadata,
    on_behalf_of: null,
    optional_items: [],
    payment_intent_data: hasPid
      ? {
          capture_method: pid.capture_method ?? null,
          description: pid.description ?? null,
          metadata: pid.metadata ?? {},
          setup_future_usage: null,
          statement_descriptor: pid.statement_descriptor ?? null,
          statement_descriptor_suffix: pid.statement_descriptor_suffix ?? null,
          transfer_group: null,
        }
      : null,
    payment_method_collection: 'always',
    payment_method_types: null,
    phone_number_collection: { enabled: false },
    restrictions: null,
    shipping_address_collection: null,
    shipping_options: [],
    submit_type: 'auto',
    subscription_data: null,
    tax_id_collection: { enabled: false, required: 'never' },
    transfer_data: null,
    url: origin ? `${origin}/b/${l.id}` : l.url,
  };
}

/**
 * Stripe's Coupon. `redeemed`: the Checkout Sessions that completed with it (times_redeemed, and whether
 * it is still `valid`); null where it is not counted (an event: 0). A deleted one is Stripe's stub, but in its event (`whole`).
 */
export function renderCoupon(c: Coupon, redeemed: number | null, whole = false): Obj {
  if (c.deleted && !whole) return { id: c.id, object: 'coupon', deleted: true };
  const n = redeemed ?? 0;
  return {
    id: c.id,
    object: 'coupon',
    amount_off: c.amount_off,
    applies_to: null,
    created: c.created,
    currency: c.currency,
    duration: c.duration,
    duration_in_months: c.duration_in_months,
    livemode: c.livemode,
    max_redemptions: c.max_redemptions,
    metadata: c.metadata,
    name: c.name,
    percent_off: c.percent_off,
    redeem_by: c.redeem_by,
    times_redeemed: n,
    valid: couponUnusable(c, Math.floor(Date.now() / 1000), n) === null,
  };
}

/** Stripe's PromotionCode (API 2026: `promotion.coupon`); `redeemed` as for renderCoupon. */
export function renderPromotionCode(p: PromotionCode, coupon: Coupon, redeemed: number | null): Obj {
  return {
    id: p.id,
    object: 'promotion_code',
    active: p.active,
    code: p.code,
    created: p.created,
    customer: null,
    customer_account: null,
    expires_at: p.expires_at,
    livemode: coupon.livemode,
    max_redemptions: p.max_redemptions,
    metadata: p.metadata,
    promotion: { coupon: coupon.id, type: 'coupon' },
    restrictions: { currency_options: {}, first_time_transaction: false, minimum_amount: p.minimum_amount, minimum_amount_currency: p.minimum_amount_currency },
    times_redeemed: redeemed ?? 0,
  };
}

/** Stripe's Product (`whole`: a deleted one as it was, for its product.deleted event). */
export function renderProduct(p: Omit<Product, 'prices'>, whole = false): Obj {
  if (p.deleted && !whole) return { id: p.id, object: 'product', deleted: true };
  return {
    id: p.id,
    object: 'product',
    active: p.active,
    created: p.created,
    default_price: p.default_price,
    description: p.description,
    images: p.images,
    livemode: p.livemode,
    marketing_features: [],
    metadata: p.metadata,
    name: p.name,
    package_dimensions: null,
    shippable: p.shippable,
    statement_descriptor: p.statement_descriptor,
    tax_code: p.tax_code,
    tax_details: null,
    type: 'service',
    unit_label: p.unit_label,
    updated: p.updated,
    url: p.url,
  };
}

/** Stripe's Price (per_unit billing), naming its product (or the product itself where it is expanded). */
export function renderPrice(p: Price, product: Pick<Product, 'id' | 'livemode'> | { id: string; livemode: boolean; expanded: Obj }): Obj {
  return {
    id: p.id,
    object: 'price',
    active: p.active,
    billing_scheme: 'per_unit',
    created: p.created,
    currency: p.currency,
    custom_unit_amount: null,
    livemode: product.livemode,
    lookup_key: p.lookup_key,
    metadata: p.metadata,
    nickname: p.nickname,
    product: 'expanded' in product ? product.expanded : product.id,
    recurring: p.recurring ? { interval: p.recurring.interval, interval_count: p.recurring.interval_count, meter: null, trial_period_days: null, usage_type: 'licensed' } : null,
    tax_behavior: p.tax_behavior,
    tiers_mode: null,
    transform_quantity: null,
    type: p.recurring ? 'recurring' : 'one_time',
    unit_amount: p.unit_amount,
    unit_amount_decimal: String(p.unit_amount),
  };
}

/**
 * Stripe's Customer. A deleted one is answered as Stripe's stub `{ id, object, deleted: true }`,
 * except in an event (`whole`: customer.deleted carries the customer as it was).
 */
export function renderCustomer(c: Customer, whole = false): Obj {
  if (c.deleted && !whole) return { id: c.id, object: 'customer', deleted: true };
  return {
    id: c.id,
    object: 'customer',
    address: c.address ?? null,
    balance: 0,
    created: c.created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: c.description,
    discount: null,
    email: c.email,
    invoice_prefix: invoicePrefix(c.id),
    invoice_settings: { custom_fields: null, default_payment_method: c.default_payment_method ?? null, footer: null, rendering_options: null },
    livemode: c.livemode,
    metadata: c.metadata,
    name: c.name,
    next_invoice_sequence: 1,
    phone: c.phone,
    preferred_locales: c.preferred_locales ?? [],
    shipping: c.shipping ?? null,
    tax_exempt: c.tax_exempt ?? 'none',
    test_clock: null,
  };
}

/** Stripe gives every customer an invoice prefix (uppercase letters and digits); ours is derived from the id, so it is stable. */
function invoicePrefix(customerId: string): string {
  return createHash('sha256').update(`invoice_prefix:${customerId}`).digest('hex').slice(0, 8).toUpperCase();
}

export function renderMerchant(m: Merchant): Obj {
  return {
    merchant_id: m.merchant_id,
    object: 'merchant',
    name: m.name,
    address: m.address,
    gst_id: m.gst_id,
    call_back_url: m.call_back_url,
    events: m.events,
    allowed_origins: m.allowed_origins,
    keys: m.keys.map((k) => ({ id: k.id, kind: k.kind, redacted: k.redacted, created: k.created })),
    webhook_endpoint_id: m.webhook_endpoint_id,
    created: m.created,
  };
}

/** Stripe's webhook_endpoint object. The signing secret is shown once: pass it only for the create response. */
export function renderWebhookEndpoint(e: WebhookEndpoint, secret?: string): Obj {
  return {
    id: e.id,
    object: 'webhook_endpoint',
    api_version: null,
    application: null,
    created: e.created,
    description: e.description,
    enabled_events: e.enabled_events,
    livemode: e.livemode,
    metadata: e.metadata,
    ...(secret !== undefined ? { secret } : {}),
    status: e.status,
    ...(e.status === 'disabled' && e.disabled_reason ? { disabled_reason: e.disabled_reason } : {}),
    url: e.url,
  };
}

/** Stripe's last_setup_error / setup_error. */
function renderSetupError(err: SetupError): Obj {
  return {
    type: err.type,
    code: err.code,
    ...(err.decline_code ? { decline_code: err.decline_code } : {}),
    doc_url: `https://stripe.com/docs/error-codes/${err.code.replace(/_/g, '-')}`,
    message: err.message,
    payment_method: { id: err.payment_method, object: 'payment_method', type: 'card' },
  };
}

/** Stripe's SetupAttempt status: an attempt left waiting for the cardholder when its intent was canceled is abandoned. */
function setupAttemptStatus(s: SetupIntent, a: SetupAttempt): string {
  if (a.status === 'pending') return 'processing';
  if (a.status === 'requires_action') return s.status === 'canceled' ? 'abandoned' : 'requires_action';
  return a.status;
}

/** Stripe's SetupAttempt (GET /v1/setup_attempts): one confirmation of a SetupIntent. */
export function renderSetupAttempt(s: SetupIntent, a: SetupAttempt): Obj {
  return {
    id: a.id,
    object: 'setup_attempt',
    application: null,
    attach_to_self: false,
    created: a.created,
    customer: s.customer,
    flow_directions: null,
    livemode: s.livemode,
    on_behalf_of: null,
    payment_method: a.payment_method,
    payment_method_details: {
      card: { brand: a.card.brand, checks: null, country: a.card.country, exp_month: a.card.exp_month, exp_year: a.card.exp_year, fingerprint: a.card.fingerprint, funding: a.card.funding, last4: a.card.last4, network: a.card.brand, three_d_secure: null, wallet: null },
      type: 'card',
    },
    // The intent's own last_setup_error for an attempt from before the field was kept per attempt.
    setup_error: a.error ? renderSetupError(a.error) : a.status === 'failed' && s.attempts.at(-1)?.id === a.id && s.last_setup_error ? renderSetupError(s.last_setup_error) : null,
    setup_intent: s.id,
    status: setupAttemptStatus(s, a),
    usage: s.usage,
  };
}

/** Stripe's SetupIntent object. */
export function renderSetupIntent(s: SetupIntent): Obj {
  const err = s.last_setup_error;
  const latest = s.attempts.at(-1);
  return {
    id: s.id,
    object: 'setup_intent',
    application: null,
    automatic_payment_methods: null,
    cancellation_reason: s.cancellation_reason,
    client_secret: s.client_secret,
    created: s.created,
    customer: s.customer,
    description: s.description,
    flow_directions: null,
    last_setup_error: err ? renderSetupError(err) : null,
    latest_attempt: latest?.id ?? null,
    livemode: s.livemode,
    mandate: null,
    metadata: s.metadata,
    next_action: s.next_action,
    on_behalf_of: null,
    payment_method: s.payment_method,
    payment_method_configuration_details: null,
    payment_method_options: { card: { mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: ['card'],
    single_use_mandate: null,
    status: s.status,
    usage: s.usage,
  };
}
