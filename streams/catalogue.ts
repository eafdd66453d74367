// The catalogue of event types: every event the system writes, with a versioned JSON Schema.
// Encoding checks every event against its schema before it reaches the stream, and decoding checks
// what comes back, so a malformed event can neither be written nor silently consumed.
// The Record types make the catalogue exhaustive: a new event type in actors/ breaks the build here.
import { Type, type TSchema } from '@sinclair/typebox';
import type { IntentEvent, MerchantEvent } from '../actors/mod.ts';
import type { CustomerEvent, SetupIntentEvent, ProductEvent, PaymentLinkEvent, CouponEvent } from '../actors/mod.ts';
import { PII_FIELDS } from '../actors/customer/customer.ts';

const Str = Type.String();
const NullableStr = Type.Union([Type.String(), Type.Null()]);
const Int = Type.Integer();
const Metadata = Type.Record(Type.String(), Type.String());
const Currency = Type.String({ pattern: '^[a-z]{3}$' });
const Status = Type.Union(
  ['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'requires_capture', 'canceled', 'succeeded'].map((s) =>
    Type.Literal(s),
  ),
);
const SetupFutureUsage = Type.Union([Type.Literal('off_session'), Type.Literal('on_session'), Type.Null()]);
const CaptureMethod = Type.Union([Type.Literal('automatic'), Type.Literal('automatic_async'), Type.Literal('manual')]);
/** payment_method_options[card] and automatic_payment_methods: optional in v1 (absent in events written before they were kept). */
const CardOptions = Type.Object(
  {
    capture_method: Type.Optional(Type.Literal('manual')),
    request_three_d_secure: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('automatic'), Type.Literal('challenge')])),
  },
  { additionalProperties: false },
);
const AutomaticPaymentMethods = Type.Object(
  { enabled: Type.Boolean(), allow_redirects: Type.Optional(Type.Union([Type.Literal('always'), Type.Literal('never')])) },
  { additionalProperties: false },
);
const Card = Type.Object(
  {
    brand: Str,
    // Only the last four digits, ever: a schema that refuses a longer string keeps PANs out of the stream.
    last4: Type.String({ pattern: '^[0-9]{4}$' }),
    exp_month: Int,
    exp_year: Int,
    fingerprint: Str,
    funding: Str,
    country: NullableStr,
  },
  { additionalProperties: false },
);

/** Stripe's address hash: its six fields, each a string or null. */
const Address = Type.Object({ city: NullableStr, country: NullableStr, line1: NullableStr, line2: NullableStr, postal_code: NullableStr, state: NullableStr }, { additionalProperties: false });

const SavedPaymentMethod = Type.Object(
  {
    id: Str,
    created: Int,
    card: Card,
    billing_details: Type.Object(
      {
        email: NullableStr,
        name: NullableStr,
        phone: NullableStr,
        // Absent in events written before addresses were kept.
        address: Type.Optional(Type.Union([Address, Type.Null()])),
      },
      { additionalProperties: false },
    ),
    metadata: Metadata,
  },
  { additionalProperties: false },
);

const EndpointStatus = Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]);

const DiscrepancyKind = Type.Union(
  ['missing_ours', 'missing_theirs', 'amount_mismatch', 'status_mismatch', 'duplicate_success', 'stuck_attempt'].map((x) => Type.Literal(x)),
);

const obj = (props: Record<string, TSchema>) => Type.Object(props, { additionalProperties: false });
/** A PaymentIntent's shipping, and a customer's (no carrier or tracking number). */
const Shipping = obj({ name: Str, phone: NullableStr, carrier: NullableStr, tracking_number: NullableStr, address: Address });
const CustomerShipping = obj({ name: Str, phone: NullableStr, address: Address });
const CheckoutDiscount = obj({ coupon: Str, promotion_code: Type.Optional(Str), amount: Type.Integer({ minimum: 0 }) });
const LineItem = obj({ id: Str, price: Str, product: Str, name: Str, description: NullableStr, unit_amount: Int, quantity: Int, catalog: Type.Optional(Type.Literal(true)) });
const CheckoutSession = obj({
  id: Str,
  success_url: NullableStr,
  cancel_url: NullableStr,
  client_reference_id: NullableStr,
  customer_email: NullableStr,
  line_items: Type.Array(LineItem),
  metadata: Metadata,
  expires_at: Int,
  expired_at: Type.Optional(Type.Union([Int, Type.Null()])),
  payment_link: Type.Optional(Str),
  confirmation_message: Type.Optional(NullableStr),
  discount: Type.Optional(CheckoutDiscount),
  allow_promotion_codes: Type.Optional(Type.Literal(true)),
});
const DisputeReason = Type.Union([Type.Literal('fraudulent'), Type.Literal('product_not_received'), Type.Literal('general')]);
const DisputeId = Type.String({ pattern: '^dp_' });
const DisputeFunds = obj({ dispute_id: DisputeId, amount: Type.Integer({ minimum: 1 }), fee: Type.Integer({ minimum: 0 }) });
const TaxExempt = Type.Union([Type.Literal('none'), Type.Literal('exempt'), Type.Literal('reverse')]);

export const intentEventSchemas: Record<IntentEvent['type'], { v: number; data: TSchema }> = {
  'intent.created': {
    v: 1,
    data: obj({
      id: Str,
      merchant_id: Str,
      livemode: Type.Boolean(),
      amount: Int,
      currency: Currency,
      status: Status,
      capture_method: CaptureMethod,
      client_secret: Str,
      created: Int,
      description: NullableStr,
      metadata: Metadata,
      receipt_email: NullableStr,
      customer: NullableStr,
      user_email: NullableStr,
      product_id: NullableStr,
      payment_method: NullableStr,
      setup_future_usage: Type.Optional(SetupFutureUsage),
      shipping: Type.Optional(Type.Union([Shipping, Type.Null()])),
      statement_descriptor: Type.Optional(NullableStr),
      statement_descriptor_suffix: Type.Optional(NullableStr),
      card_options: Type.Optional(Type.Union([CardOptions, Type.Null()])),
      automatic_payment_methods: Type.Optional(AutomaticPaymentMethods),
      checkout: Type.Optional(CheckoutSession),
    }),
  },
  'checkout.expired': { v: 1, data: obj({ checkout_session: Str }) },
  'checkout.discount_applied': { v: 1, data: obj({ discount: CheckoutDiscount, amount: Type.Integer({ minimum: 1 }) }) },
  'intent.updated': {
    v: 1,
    data: Type.Partial(
      obj({
        amount: Int,
        currency: Currency,
        description: NullableStr,
        metadata: Metadata,
        receipt_email: NullableStr,
        customer: NullableStr,
        payment_method: NullableStr,
        capture_method: CaptureMethod,
        setup_future_usage: SetupFutureUsage,
        shipping: Type.Union([Shipping, Type.Null()]),
        statement_descriptor: NullableStr,
        statement_descriptor_suffix: NullableStr,
        card_options: Type.Union([CardOptions, Type.Null()]),
        status: Status,
      }),
    ),
  },
  'attempt.started': { v: 1, data: obj({ attempt_id: Str, payment_method: Str, card: Card, amount: Int }) },
  'attempt.succeeded': { v: 1, data: obj({ attempt_id: Str, network_ref: NullableStr, amount: Int, captured: Type.Boolean() }) },
  'attempt.declined': {
    v: 1,
    data: obj({ attempt_id: Str, network_ref: NullableStr, failure_code: Str, decline_code: NullableStr, message: Str }),
  },
  'attempt.in_doubt': { v: 1, data: obj({ attempt_id: Str }) },
  'attempt.requires_action': {
    v: 1,
    data: obj({
      attempt_id: Str,
      next_action: obj({ type: Type.Literal('redirect_to_url'), redirect_to_url: obj({ url: Str, return_url: NullableStr }) }),
    }),
  },
  'attempt.authenticated': { v: 1, data: obj({ attempt_id: Str }) },
  'intent.captured': { v: 1, data: obj({ attempt_id: Str, amount: Int }) },
  'intent.canceled': { v: 1, data: obj({ reason: NullableStr }) },
  'refund.created': {
    v: 1,
    data: obj({
      refund_id: Type.String({ pattern: '^re_' }),
      attempt_id: Str,
      amount: Type.Integer({ minimum: 1 }),
      reason: Type.Union([Type.Literal('duplicate'), Type.Literal('fraudulent'), Type.Literal('requested_by_customer'), Type.Null()]),
      metadata: Metadata,
    }),
  },
  'refund.succeeded': { v: 1, data: obj({ refund_id: Str, network_ref: NullableStr }) },
  'refund.metadata_updated': { v: 1, data: obj({ refund_id: Str, metadata: Metadata }) },
  'refund.failed': { v: 1, data: obj({ refund_id: Str, network_ref: NullableStr, failure_reason: Str }) },
  // Disputes (actors/payment-intent/dispute.ts): the evidence is the merchant's text, never card data.
  'dispute.created': {
    v: 1,
    data: obj({ dispute_id: DisputeId, attempt_id: Str, chargeback_ref: Str, amount: Type.Integer({ minimum: 1 }), reason: DisputeReason, inquiry: Type.Boolean(), due_by: Int }),
  },
  'dispute.funds_withdrawn': { v: 1, data: DisputeFunds },
  'dispute.updated': { v: 1, data: obj({ dispute_id: DisputeId, evidence: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z_]+$' }), Str)), metadata: Type.Optional(Metadata) }) },
  'dispute.evidence_submitted': { v: 1, data: obj({ dispute_id: DisputeId }) },
  'dispute.closed': { v: 1, data: obj({ dispute_id: DisputeId, status: Type.Union([Type.Literal('won'), Type.Literal('lost'), Type.Literal('warning_closed')]), by: Type.Union([Type.Literal('network'), Type.Literal('merchant')]) }) },
  'dispute.funds_reinstated': { v: 1, data: DisputeFunds },
  'fraud_warning.created': {
    v: 1,
    data: obj({
      warning_id: Type.String({ pattern: '^issfr_' }),
      attempt_id: Str,
      report_ref: Str,
      fraud_type: Type.Union(
        ['card_never_received', 'fraudulent_card_application', 'made_with_counterfeit_card', 'made_with_lost_card', 'made_with_stolen_card', 'misc', 'unauthorized_use_of_card'].map((x) => Type.Literal(x)),
      ),
    }),
  },
  'charge.details_updated': { v: 1, data: obj({ attempt_id: Str, description: Type.Optional(NullableStr), metadata: Type.Optional(Metadata), receipt_email: Type.Optional(NullableStr) }) },
  // Reconciliation (issue 7).
  'attempt.timed_out': { v: 1, data: obj({ attempt_id: Str, failure_code: Type.Literal('payment_timeout'), message: Str }) },
  'attempt.superseded': { v: 1, data: obj({ attempt_id: Str, network_ref: NullableStr, succeeded_attempt_id: Str }) },
  'attempt.reversed': {
    v: 1,
    data: obj({
      attempt_id: Str,
      network_ref: Str,
      amount: Int,
      method: Type.Union([Type.Literal('void'), Type.Literal('refund'), Type.Literal('none')]),
      reason: Type.Union(['late_success_after_failure', 'duplicate_authorization', 'second_success', 'manual'].map((x) => Type.Literal(x))),
    }),
  },
  'reconciliation.flagged': {
    v: 1,
    data: obj({ discrepancy_id: Str, kind: DiscrepancyKind, attempt_id: NullableStr, network_ref: NullableStr, detail: Str }),
  },
  'reconciliation.resolved': { v: 1, data: obj({ discrepancy_id: Str, kind: DiscrepancyKind, operator: Str, reason: Str, action: Str }) },
  'intent.pii_erased': {
    v: 1,
    data: obj({
      reason: Type.Union([Type.Literal('request'), Type.Literal('retention')]),
      fields: Type.Array(Type.Union([Type.Literal('receipt_email'), Type.Literal('user_email'), Type.Literal('shipping'), Type.Literal('customer_email'), Type.Literal('dispute_evidence')])),
    }),
  },
};

const ApiKey = obj({
  id: Str,
  kind: Type.Union([Type.Literal('secret'), Type.Literal('publishable')]),
  hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  redacted: Str,
  created: Int,
});

export const merchantEventSchemas: Record<MerchantEvent['type'], { v: number; data: TSchema }> = {
  'merchant.onboarded': {
    v: 1,
    data: obj({
      merchant_id: Str,
      name: Str,
      address: Str,
      gst_id: Str,
      call_back_url: NullableStr,
      events: Type.Array(Str),
      keys: Type.Array(ApiKey),
      webhook_secret_enc: Str,
      webhook_endpoint_id: Str,
      allowed_origins: Type.Array(Str),
      created: Int,
      updated: Int,
    }),
  },
  'merchant.updated': {
    v: 1,
    data: Type.Partial(obj({ name: Str, address: Str, gst_id: Str, call_back_url: NullableStr, events: Type.Array(Str), allowed_origins: Type.Array(Str) })),
  },
  'webhook_endpoint.created': {
    v: 1,
    data: obj({
      id: Type.String({ pattern: '^we_' }),
      url: Str,
      enabled_events: Type.Array(Str, { minItems: 1 }),
      description: NullableStr,
      metadata: Metadata,
      status: EndpointStatus,
      secret_enc: Str,
      livemode: Type.Boolean(),
      created: Int,
    }),
  },
  'webhook_endpoint.updated': {
    v: 1,
    data: obj({
      id: Str,
      url: Type.Optional(Str),
      enabled_events: Type.Optional(Type.Array(Str, { minItems: 1 })),
      description: Type.Optional(NullableStr),
      metadata: Type.Optional(Metadata),
      status: Type.Optional(EndpointStatus),
      disabled_reason: Type.Optional(NullableStr),
      enabled_at: Type.Optional(Int),
    }),
  },
  'webhook_endpoint.deleted': { v: 1, data: obj({ id: Str }) },
  'webhook_endpoint.secret_rolled': {
    v: 1,
    data: obj({ id: Str, secret_enc: Str, previous_secrets: Type.Array(obj({ secret_enc: Str, expires_at: Int })) }),
  },
  'webhook_endpoint.disabled': {
    v: 1,
    data: obj({ id: Str, livemode: Type.Boolean(), reason: Str, failing_since: Int }),
  },
};

export const customerEventSchemas: Record<CustomerEvent['type'], { v: number; data: TSchema }> = {
  'customer.created': {
    v: 1,
    data: obj({
      id: Str,
      merchant_id: Str,
      livemode: Type.Boolean(),
      email: NullableStr,
      name: NullableStr,
      description: NullableStr,
      phone: NullableStr,
      address: Type.Optional(Type.Union([Address, Type.Null()])),
      shipping: Type.Optional(Type.Union([CustomerShipping, Type.Null()])),
      preferred_locales: Type.Optional(Type.Array(Str)),
      tax_exempt: Type.Optional(TaxExempt),
      metadata: Metadata,
      created: Int,
    }),
  },
  'customer.updated': {
    v: 1,
    data: Type.Partial(
      obj({
        email: NullableStr,
        name: NullableStr,
        description: NullableStr,
        phone: NullableStr,
        address: Type.Union([Address, Type.Null()]),
        shipping: Type.Union([CustomerShipping, Type.Null()]),
        preferred_locales: Type.Array(Str),
        tax_exempt: TaxExempt,
        metadata: Metadata,
        default_payment_method: NullableStr,
      }),
    ),
  },
  // Carries no personal data: only why, and which fields were cleared.
  'customer.erased': {
    v: 1,
    data: obj({
      reason: Type.Union([Type.Literal('request'), Type.Literal('retention')]),
      fields: Type.Array(Type.Union(PII_FIELDS.map((f) => Type.Literal(f)))),
    }),
  },
  // A saved card's public part: brand, last four, expiry, fingerprint (Card refuses anything longer).
  'customer.payment_method_attached': { v: 1, data: obj({ payment_method: SavedPaymentMethod }) },
  'customer.payment_method_detached': { v: 1, data: obj({ payment_method: SavedPaymentMethod }) },
  'customer.payment_method_updated': { v: 1, data: obj({ payment_method: SavedPaymentMethod }) },
  // The saved cards it let go (absent in events written before they were named).
  'customer.deleted': { v: 1, data: obj({ payment_methods: Type.Optional(Type.Array(Str)) }) },
};

const NextAction = obj({ type: Type.Literal('redirect_to_url'), redirect_to_url: obj({ url: Str, return_url: NullableStr }) });
const SetupStatus = Type.Union(['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'succeeded', 'canceled'].map((s) => Type.Literal(s)));

export const setupIntentEventSchemas: Record<SetupIntentEvent['type'], { v: number; data: TSchema }> = {
  'setup_intent.created': {
    v: 1,
    data: obj({
      id: Type.String({ pattern: '^seti_' }),
      merchant_id: Str,
      livemode: Type.Boolean(),
      client_secret: Str,
      created: Int,
      status: SetupStatus,
      customer: NullableStr,
      description: NullableStr,
      metadata: Metadata,
      payment_method: NullableStr,
      usage: Type.Union([Type.Literal('off_session'), Type.Literal('on_session')]),
    }),
  },
  'setup_intent.updated': {
    v: 1,
    data: Type.Partial(obj({ customer: NullableStr, description: NullableStr, metadata: Metadata, payment_method: NullableStr, status: SetupStatus })),
  },
  // The card's public part only (Card refuses more than four digits).
  'setup_attempt.started': { v: 1, data: obj({ attempt_id: Str, payment_method: Str, card: Card }) },
  'setup_attempt.succeeded': { v: 1, data: obj({ attempt_id: Str }) },
  'setup_attempt.failed': { v: 1, data: obj({ attempt_id: Str, failure_code: Str, decline_code: NullableStr, message: Str }) },
  'setup_attempt.requires_action': { v: 1, data: obj({ attempt_id: Str, next_action: NextAction }) },
  'setup_attempt.authenticated': { v: 1, data: obj({ attempt_id: Str }) },
  'setup_intent.canceled': {
    v: 1,
    data: obj({ reason: Type.Union([Type.Literal('abandoned'), Type.Literal('requested_by_customer'), Type.Literal('duplicate'), Type.Null()]) }),
  },
};

const Recurring = Type.Union([
  obj({ interval: Type.Union(['day', 'week', 'month', 'year'].map((s) => Type.Literal(s))), interval_count: Type.Integer({ minimum: 1 }) }),
  Type.Null(),
]);
const TaxBehavior = Type.Union(['inclusive', 'exclusive', 'unspecified'].map((s) => Type.Literal(s)));
const Price = obj({
  id: Type.String({ pattern: '^price_' }),
  active: Type.Boolean(),
  currency: Currency,
  unit_amount: Type.Integer({ minimum: 0 }),
  nickname: NullableStr,
  lookup_key: NullableStr,
  metadata: Metadata,
  recurring: Recurring,
  tax_behavior: TaxBehavior,
  created: Int,
});
const ProductFields = {
  name: Str,
  active: Type.Boolean(),
  description: NullableStr,
  images: Type.Array(Str),
  url: NullableStr,
  statement_descriptor: NullableStr,
  unit_label: NullableStr,
  shippable: Type.Union([Type.Boolean(), Type.Null()]),
  tax_code: NullableStr,
};

export const productEventSchemas: Record<ProductEvent['type'], { v: number; data: TSchema }> = {
  'product.created': {
    v: 1,
    data: obj({
      id: Str,
      merchant_id: Str,
      livemode: Type.Boolean(),
      ...ProductFields,
      metadata: Metadata,
      default_price: NullableStr,
      created: Int,
      updated: Int,
      created_by: Str,
    }),
  },
  'product.updated': { v: 1, data: Type.Partial(obj({ ...ProductFields, metadata: Metadata, default_price: NullableStr })) },
  'product.deleted': { v: 1, data: obj({}) },
  'price.created': { v: 1, data: Price },
  'price.updated': {
    v: 1,
    data: obj({
      id: Str,
      active: Type.Optional(Type.Boolean()),
      nickname: Type.Optional(NullableStr),
      lookup_key: Type.Optional(NullableStr),
      tax_behavior: Type.Optional(TaxBehavior),
      metadata: Type.Optional(Metadata),
    }),
  },
};

const AfterCompletion = Type.Union([
  obj({ type: Type.Literal('hosted_confirmation'), custom_message: NullableStr }),
  obj({ type: Type.Literal('redirect'), url: Str }),
]);
const LinkLineItem = obj({ id: Str, price: Str, product: Str, name: Str, description: NullableStr, unit_amount: Int, quantity: Int });
const LinkIntentData = Type.Partial(
  obj({
    capture_method: CaptureMethod,
    description: NullableStr,
    metadata: Metadata,
    statement_descriptor: NullableStr,
    statement_descriptor_suffix: NullableStr,
    shipping: Type.Union([Shipping, Type.Null()]),
  }),
);

export const paymentLinkEventSchemas: Record<PaymentLinkEvent['type'], { v: number; data: TSchema }> = {
  'payment_link.created': {
    v: 1,
    data: obj({
      id: Type.String({ pattern: '^plink_' }),
      merchant_id: Str,
      livemode: Type.Boolean(),
      active: Type.Boolean(),
      currency: Currency,
      line_items: Type.Array(LinkLineItem),
      metadata: Metadata,
      after_completion: AfterCompletion,
      payment_intent_data: LinkIntentData,
      url: Str,
      inactive_message: NullableStr,
      created: Int,
    }),
  },
  'payment_link.updated': {
    v: 1,
    data: Type.Partial(obj({ active: Type.Boolean(), metadata: Metadata, after_completion: AfterCompletion, inactive_message: NullableStr })),
  },
};

export const couponEventSchemas: Record<CouponEvent['type'], { v: number; data: TSchema }> = {
  'coupon.created': {
    v: 1,
    data: obj({
      id: Str,
      merchant_id: Str,
      livemode: Type.Boolean(),
      name: NullableStr,
      percent_off: Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 100 }), Type.Null()]),
      amount_off: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
      currency: Type.Union([Currency, Type.Null()]),
      duration: Type.Union([Type.Literal('once'), Type.Literal('repeating'), Type.Literal('forever')]),
      duration_in_months: Type.Union([Int, Type.Null()]),
      max_redemptions: Type.Union([Int, Type.Null()]),
      redeem_by: Type.Union([Int, Type.Null()]),
      metadata: Metadata,
      created: Int,
      created_by: Str,
    }),
  },
  'coupon.updated': { v: 1, data: Type.Partial(obj({ name: NullableStr, metadata: Metadata })) },
  'coupon.deleted': { v: 1, data: obj({}) },
  'promotion_code.created': {
    v: 1,
    data: obj({
      id: Type.String({ pattern: '^promo_' }),
      code: Str,
      active: Type.Boolean(),
      max_redemptions: Type.Union([Int, Type.Null()]),
      expires_at: Type.Union([Int, Type.Null()]),
      minimum_amount: Type.Union([Int, Type.Null()]),
      minimum_amount_currency: Type.Union([Currency, Type.Null()]),
      metadata: Metadata,
      created: Int,
    }),
  },
  'promotion_code.updated': { v: 1, data: obj({ id: Str, active: Type.Optional(Type.Boolean()), metadata: Type.Optional(Metadata) }) },
};

export const eventSchemas: Record<string, { v: number; data: TSchema }> = {
  ...couponEventSchemas,
  ...paymentLinkEventSchemas,
  ...intentEventSchemas,
  ...merchantEventSchemas,
  ...customerEventSchemas,
  ...setupIntentEventSchemas,
  ...productEventSchemas,
};

export const EVENT_TYPES = Object.keys(eventSchemas);
