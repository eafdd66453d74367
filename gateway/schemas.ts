// One schema per request: it validates (ajv, with form strings coerced), types the handler, and
// documents the API. additionalProperties: false, so an unknown parameter is Stripe's
// parameter_unknown rather than silently dropped.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_METADATA_KEYS, MAX_METADATA_KEY_LENGTH, MAX_METADATA_VALUE_LENGTH } from '../actors/mod.ts';

const opts = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
/**
 * Stripe's metadata hash and its limits, on every route that takes one: at most 50 keys, a key at
 * most 40 characters, a value at most 500 (errors.ts words the refusal as Stripe does). The key's
 * limit is `propertyNames`: a Record's key schema becomes a pattern, and ajv ignores its maxLength.
 * An update's merge is checked by whoever holds the object (actors/customer/customer.ts checkMetadata).
 */
export const MetadataHash = Type.Record(Type.String(), Type.String({ maxLength: MAX_METADATA_VALUE_LENGTH }), {
  maxProperties: MAX_METADATA_KEYS,
  propertyNames: { type: 'string', maxLength: MAX_METADATA_KEY_LENGTH },
});
/** A metadata parameter: the hash, or '' (an update's "remove every key"). */
export const Metadata = Type.Union([MetadataHash, Type.Literal('')]);
const Expand = Type.Array(Type.String());
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Literal('')]);

export const IdParams = Type.Object({ id: Id }, opts);
export type IdParams = Static<typeof IdParams>;

/** Stripe's cursor paging, shared by every list. */
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  starting_after: Type.Optional(Type.String({ maxLength: 255 })),
  ending_before: Type.Optional(Type.String({ maxLength: 255 })),
};

export const CaptureMethod = Type.Union([Type.Literal('automatic'), Type.Literal('automatic_async'), Type.Literal('manual')]);

const OptStr = Type.Optional(Type.String({ maxLength: 5000 }));
/** Stripe's address hash (shipping, billing details): its six fields, nothing else. */
const Address = Type.Object({ line1: OptStr, line2: OptStr, city: OptStr, state: OptStr, postal_code: OptStr, country: OptStr }, opts);
/** Stripe's shipping hash: the fields it has, nothing else (an unknown key is parameter_unknown, as at Stripe); name and address required. */
const Shipping = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 5000 }),
    phone: OptStr,
    carrier: OptStr,
    tracking_number: OptStr,
    address: Address,
  },
  opts,
);
/** Stored on the intent and shown on it and its charges ('' unsets them on an update). */
const ShippingParam = Type.Optional(Type.Union([Shipping, Type.Literal('')]));
const StatementDescriptor = Type.Optional(Type.String({ maxLength: 22 }));
/**
 * payment_method_options by Stripe's payment method types: each type's options accepted as sent; an
 * unknown type is refused. The card's capture_method ('manual'; '' unsets) and request_three_d_secure
 * are kept on a PaymentIntent and acted on; its other options are accepted as sent.
 */
const CardPaymentMethodOptions = Type.Object(
  {
    capture_method: Type.Optional(Type.Union([Type.Literal('manual'), Type.Literal('')])),
    request_three_d_secure: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('automatic'), Type.Literal('challenge')])),
  },
  { additionalProperties: true },
);
const PM_OPTION_TYPES = ['card', 'card_present', 'link', 'us_bank_account', 'sepa_debit', 'acss_debit', 'au_becs_debit', 'bacs_debit', 'bancontact', 'ideal', 'eps', 'giropay', 'p24', 'sofort', 'klarna', 'affirm', 'afterpay_clearpay', 'paypal', 'cashapp', 'amazon_pay', 'revolut_pay', 'wechat_pay', 'alipay', 'customer_balance', 'konbini', 'blik', 'boleto', 'oxxo', 'pix', 'promptpay', 'paynow', 'grabpay', 'fpx', 'mobilepay', 'swish', 'twint', 'zip'];
const PaymentMethodOptions = Type.Object(
  {
    ...Object.fromEntries(PM_OPTION_TYPES.map((k) => [k, Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Literal('')]))])),
    card: Type.Optional(Type.Union([CardPaymentMethodOptions, Type.Literal('')])),
  },
  opts,
);

/**
 * Parameters integrations commonly send that do not change how a card payment is authorized here:
 * accepted (validated for shape) and not acted on, so an unchanged Stripe integration keeps working;
 * The exceptions: setup_future_usage, acted on after the payment (it saves the card to the customer),
 * off_session / error_on_requires_action on a confirmation (a card asking for 3-D Secure is declined), and
 * payment_method_options[card]'s capture_method and request_three_d_secure (kept on the intent).
 * Parameters that would move money elsewhere (application fees, transfers, on_behalf_of) stay unknown.
 */
const AcceptedAndIgnored = {
  setup_future_usage: Type.Optional(Type.Union([Type.Literal('off_session'), Type.Literal('on_session'), Type.Literal('')])),
  off_session: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('one_off'), Type.Literal('recurring')])),
  payment_method_options: Type.Optional(PaymentMethodOptions),
  error_on_requires_action: Type.Optional(Type.Boolean()),
  use_stripe_sdk: Type.Optional(Type.Boolean()),
  mandate_data: Type.Optional(Type.Object({ customer_acceptance: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, opts)),
  radar_options: Type.Optional(Type.Object({ session: Type.Optional(Type.String({ maxLength: 5000 })) }, opts)),
};

/**
 * A card as a request gives it: its number, expiry and CVC, or a Stripe test token (`card[token]=tok_visa`,
 * test mode). Which fields are required depends on which: routes/payment-methods.ts cardOf checks.
 */
const CardInput = Type.Object(
  {
    number: Type.Optional(Type.String({ maxLength: 23 })),
    exp_month: Type.Optional(Type.Integer()),
    exp_year: Type.Optional(Type.Integer()),
    cvc: Type.Optional(Type.String({ maxLength: 4 })),
    token: Type.Optional(Type.String({ maxLength: 64 })),
  },
  opts,
);
const BillingDetails = Type.Object(
  {
    email: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    phone: Type.Optional(Type.String()),
    address: Type.Optional(Address),
  },
  opts,
);

/** Stripe's allow_redisplay on a PaymentMethod. */
const AllowRedisplay = Type.Union([Type.Literal('always'), Type.Literal('limited'), Type.Literal('unspecified')]);

/** Stripe's payment_method_data on a PaymentIntent: a card made into a PaymentMethod for it. */
export const PaymentMethodData = Type.Object(
  {
    type: Type.Literal('card'),
    card: CardInput,
    billing_details: Type.Optional(BillingDetails),
    metadata: Type.Optional(Metadata),
    allow_redisplay: Type.Optional(AllowRedisplay),
  },
  opts,
);
export type PaymentMethodData = Static<typeof PaymentMethodData>;

export const CreateIntentBody = Type.Object(
  {
    ...AcceptedAndIgnored,
    payment_method_data: Type.Optional(PaymentMethodData),
    amount: Type.Integer(),
    currency: Type.String({ minLength: 3, maxLength: 3 }),
    capture_method: Type.Optional(CaptureMethod),
    confirm: Type.Optional(Type.Boolean()),
    payment_method: Type.Optional(Type.String()),
    payment_method_types: Type.Optional(Type.Array(Type.Literal('card'))),
    automatic_payment_methods: Type.Optional(
      Type.Object({ enabled: Type.Boolean(), allow_redirects: Type.Optional(Type.Union([Type.Literal('always'), Type.Literal('never')])) }, opts),
    ),
    metadata: Type.Optional(Metadata),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    receipt_email: Type.Optional(Nullable(Type.String({ format: 'email' }))),
    customer: Type.Optional(Type.String()),
    confirmation_method: Type.Optional(Type.Union([Type.Literal('automatic'), Type.Literal('manual')])),
    return_url: Type.Optional(Type.String()),
    statement_descriptor: StatementDescriptor,
    statement_descriptor_suffix: StatementDescriptor,
    shipping: ShippingParam,
    expand: Type.Optional(Expand),
    // The seed's fields, accepted on the Stripe route too.
    user_email: Type.Optional(Type.String()),
    product_id: Type.Optional(Type.String()),
  },
  opts,
);
export type CreateIntentBody = Static<typeof CreateIntentBody>;

export const UpdateIntentBody = Type.Object(
  {
    setup_future_usage: AcceptedAndIgnored.setup_future_usage,
    shipping: ShippingParam,
    statement_descriptor: StatementDescriptor,
    statement_descriptor_suffix: StatementDescriptor,
    payment_method_options: AcceptedAndIgnored.payment_method_options,
    amount: Type.Optional(Type.Integer()),
    currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
    capture_method: Type.Optional(CaptureMethod),
    payment_method: Type.Optional(Type.String()),
    payment_method_data: Type.Optional(PaymentMethodData),
    metadata: Type.Optional(Metadata),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    receipt_email: Type.Optional(Nullable(Type.String({ format: 'email' }))),
    customer: Type.Optional(Type.String()),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdateIntentBody = Static<typeof UpdateIntentBody>;

export const ConfirmIntentBody = Type.Object(
  {
    ...AcceptedAndIgnored,
    shipping: ShippingParam,
    payment_method_data: Type.Optional(PaymentMethodData),
    payment_method: Type.Optional(Type.String()),
    receipt_email: Type.Optional(Nullable(Type.String({ format: 'email' }))),
    return_url: Type.Optional(Type.String()),
    capture_method: Type.Optional(CaptureMethod),
    client_secret: Type.Optional(Type.String()),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ConfirmIntentBody = Static<typeof ConfirmIntentBody>;

export const CaptureIntentBody = Type.Object({ amount_to_capture: Type.Optional(Type.Integer()), expand: Type.Optional(Expand) }, opts);
export type CaptureIntentBody = Static<typeof CaptureIntentBody>;

export const CancelIntentBody = Type.Object(
  {
    cancellation_reason: Type.Optional(
      Type.Union(['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'].map((r) => Type.Literal(r))),
    ),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CancelIntentBody = Static<typeof CancelIntentBody>;

export const RetrieveQuery = Type.Object({ client_secret: Type.Optional(Type.String()), expand: Type.Optional(Expand) }, opts);
export type RetrieveQuery = Static<typeof RetrieveQuery>;

const RangeFilter = Type.Union([
  Type.Integer(),
  Type.Object({ gt: Type.Optional(Type.Integer()), gte: Type.Optional(Type.Integer()), lt: Type.Optional(Type.Integer()), lte: Type.Optional(Type.Integer()) }, opts),
]);

export const ListIntentsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    starting_after: Type.Optional(Type.String()),
    ending_before: Type.Optional(Type.String()),
    customer: Type.Optional(Type.String()),
    created: Type.Optional(RangeFilter),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ListIntentsQuery = Static<typeof ListIntentsQuery>;

/** GET /v1/events: `type` may hold `*` wildcards (`payment_intent.*`); `types[]` exact types, up to 20. */
export const ListEventsQuery = Type.Object(
  {
    ...Paging,
    type: Type.Optional(Type.String({ maxLength: 255 })),
    types: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 20 })),
    created: Type.Optional(RangeFilter),
    delivery_success: Type.Optional(Type.Boolean()),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ListEventsQuery = Static<typeof ListEventsQuery>;

export const CreatePaymentMethodBody = Type.Object(
  {
    type: Type.Literal('card'),
    card: CardInput,
    billing_details: Type.Optional(BillingDetails),
    metadata: Type.Optional(Metadata),
    allow_redisplay: Type.Optional(AllowRedisplay),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreatePaymentMethodBody = Static<typeof CreatePaymentMethodBody>;

/** Stripe's card token (POST /v1/tokens): a card with its holder's name and address (Stripe.js createToken, the Charges API's `source`). */
export const CreateTokenBody = Type.Object(
  {
    card: Type.Object(
      {
        number: Type.String({ maxLength: 23 }),
        exp_month: Type.Integer(),
        exp_year: Type.Integer(),
        cvc: Type.Optional(Type.String({ maxLength: 4 })),
        name: OptStr,
        address_line1: OptStr,
        address_line2: OptStr,
        address_city: OptStr,
        address_state: OptStr,
        address_zip: OptStr,
        address_country: OptStr,
        currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
      },
      opts,
    ),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

/** The seed's intent API (JSON). */
export const IntendBody = Type.Object(
  {
    merchant_id: Id,
    user_email: Type.String({ format: 'email' }),
    product_id: Type.String({ minLength: 1, maxLength: 200 }),
    amount: Type.Integer(),
    currency: Type.String({ minLength: 3, maxLength: 3 }),
    metadata: Type.Optional(MetadataHash),
    description: Type.Optional(Type.String()),
    capture_method: Type.Optional(CaptureMethod),
  },
  opts,
);
export type IntendBody = Static<typeof IntendBody>;

export const OnboardBody = Type.Object(
  {
    merchant_id: Type.Optional(Id),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    address: Type.String({ minLength: 1, maxLength: 500 }),
    gst_id: Type.String({ minLength: 1, maxLength: 32 }),
    call_back_url: Type.Optional(Type.Union([Type.String({ format: 'uri', pattern: '^https?://' }), Type.Null()])),
    events: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
    allowed_origins: Type.Optional(Type.Array(Type.String({ pattern: '^https?://' }), { maxItems: 32 })),
  },
  opts,
);
export type OnboardBody = Static<typeof OnboardBody>;

/** /v1/customers: the fields we keep. An empty string unsets a field (on create: leaves it null). */
const CustomerFields = {
  email: Type.Optional(Type.String({ maxLength: 512 })),
  name: Type.Optional(Type.String({ maxLength: 256 })),
  description: Type.Optional(Type.String({ maxLength: 5000 })),
  phone: Type.Optional(Type.String({ maxLength: 20 })),
  address: Type.Optional(Type.Union([Address, Type.Literal('')])),
  shipping: Type.Optional(Type.Union([Type.Object({ name: Shipping.properties.name, phone: OptStr, address: Address }, opts), Type.Literal('')])),
  // '' clears the list (as at Stripe); tax_exempt '' is 'none'.
  preferred_locales: Type.Optional(Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 35 }), { maxItems: 30 }), Type.Literal('')])),
  tax_exempt: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('exempt'), Type.Literal('reverse'), Type.Literal('')])),
  metadata: Type.Optional(Metadata),
  expand: Type.Optional(Expand),
  /** Stripe's invoice_settings: only the default card is kept ('' unsets it). */
  invoice_settings: Type.Optional(Type.Object({ default_payment_method: Type.Optional(Type.String({ maxLength: 255 })) }, opts)),
};

/** `payment_method`: a card attached to the new customer. */
export const CreateCustomerBody = Type.Object({ ...CustomerFields, payment_method: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }, opts);
export type CreateCustomerBody = Static<typeof CreateCustomerBody>;

export const UpdateCustomerBody = Type.Object(CustomerFields, opts);
export type UpdateCustomerBody = Static<typeof UpdateCustomerBody>;

// ── saved cards ─────────────────────────────────────────────────────────
export const AttachPaymentMethodBody = Type.Object({ customer: Type.String({ minLength: 1, maxLength: 5000 }), expand: Type.Optional(Expand) }, opts);
export type AttachPaymentMethodBody = Static<typeof AttachPaymentMethodBody>;
export const DetachPaymentMethodBody = Type.Object({ expand: Type.Optional(Expand) }, opts);
/** Stripe's PaymentMethod update: billing details, metadata and the card's expiry. */
export const UpdatePaymentMethodBody = Type.Object(
  {
    billing_details: Type.Optional(
      Type.Object(
        {
          email: Type.Optional(Nullable(Type.String({ maxLength: 800 }))),
          name: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
          phone: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
          // Fields sent replace the stored ones ('' clears one); '' clears the address.
          address: Type.Optional(Type.Union([Address, Type.Literal('')])),
        },
        opts,
      ),
    ),
    card: Type.Optional(Type.Object({ exp_month: Type.Optional(Type.Integer()), exp_year: Type.Optional(Type.Integer()) }, opts)),
    metadata: Type.Optional(Metadata),
    allow_redisplay: Type.Optional(AllowRedisplay),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdatePaymentMethodBody = Static<typeof UpdatePaymentMethodBody>;
export type DetachPaymentMethodBody = Static<typeof DetachPaymentMethodBody>;
/** GET /v1/payment_methods: a customer's cards (Stripe lists Treasury methods without one; we have none). */
export const ListPaymentMethodsQuery = Type.Object(
  { ...Paging, customer: Type.Optional(Type.String({ maxLength: 5000 })), type: Type.Optional(Type.String({ maxLength: 64 })), expand: Type.Optional(Expand) },
  opts,
);
export type ListPaymentMethodsQuery = Static<typeof ListPaymentMethodsQuery>;
export const ListCustomerPaymentMethodsQuery = Type.Object(
  { ...Paging, type: Type.Optional(Type.String({ maxLength: 64 })), allow_redisplay: Type.Optional(AllowRedisplay), expand: Type.Optional(Expand) },
  opts,
);
export type ListCustomerPaymentMethodsQuery = Static<typeof ListCustomerPaymentMethodsQuery>;
export const CustomerPaymentMethodParams = Type.Object({ id: Id, payment_method: Id }, opts);
export type CustomerPaymentMethodParams = Static<typeof CustomerPaymentMethodParams>;

/** Stripe's search: `query` in its query language (stripe/search.ts), `page` from the last answer's next_page. */
export const SearchQuery = Type.Object(
  { query: Type.String({ maxLength: 10_000 }), limit: Paging.limit, page: Type.Optional(Type.String({ maxLength: 255 })), expand: Type.Optional(Expand) },
  opts,
);
export type SearchQuery = Static<typeof SearchQuery>;

export const RetrieveCustomerQuery = Type.Object({ expand: Type.Optional(Expand) }, opts);
export type RetrieveCustomerQuery = Static<typeof RetrieveCustomerQuery>;

export const ListCustomersQuery = Type.Object(
  {
    ...Paging,
    email: Type.Optional(Type.String({ maxLength: 512 })),
    created: Type.Optional(RangeFilter),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ListCustomersQuery = Static<typeof ListCustomersQuery>;

// ── charges and refunds ──────────────────────────────────────────────────
/** Stripe's refund reasons a caller may give (an enum, so a wrong one is parameter_invalid_string). */
export const RefundReason = Type.Unsafe<'duplicate' | 'fraudulent' | 'requested_by_customer'>({
  type: 'string',
  enum: ['duplicate', 'fraudulent', 'requested_by_customer'],
});

export const CreateRefundBody = Type.Object(
  {
    payment_intent: Type.Optional(Type.String({ maxLength: 255 })),
    charge: Type.Optional(Type.String({ maxLength: 255 })),
    amount: Type.Optional(Type.Integer()),
    reason: Type.Optional(RefundReason),
    metadata: Type.Optional(Metadata),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateRefundBody = Static<typeof CreateRefundBody>;

export const UpdateRefundBody = Type.Object({ metadata: Type.Optional(Metadata), expand: Type.Optional(Expand) }, opts);
export type UpdateRefundBody = Static<typeof UpdateRefundBody>;

export const RetrieveExpandQuery = Type.Object({ expand: Type.Optional(Expand) }, opts);
/** POST /v1/refunds/:id/cancel. */
export const CancelRefundBody = Type.Object({ expand: Type.Optional(Expand) }, opts);
export type CancelRefundBody = Static<typeof CancelRefundBody>;
export type RetrieveExpandQuery = Static<typeof RetrieveExpandQuery>;

const ListPaging = {
  ...Paging,
  created: Type.Optional(RangeFilter),
  expand: Type.Optional(Expand),
};

export const ListBalanceTransactionsQuery = Type.Object(
  {
    ...ListPaging,
    type: Type.Optional(Type.Union([Type.Literal('charge'), Type.Literal('refund'), Type.Literal('payment'), Type.Literal('payment_refund'), Type.Literal('adjustment'), Type.Literal('payout')])),
    source: Type.Optional(Type.String({ maxLength: 255 })),
    currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
    payout: Type.Optional(Type.String({ maxLength: 255 })),
  },
  opts,
);
export type ListBalanceTransactionsQuery = Static<typeof ListBalanceTransactionsQuery>;

/** A list of what belongs to charges (refunds, disputes, early fraud warnings): by `charge` or `payment_intent`. */
const ListByChargeQuery = Type.Object(
  { ...ListPaging, charge: Type.Optional(Type.String({ maxLength: 255 })), payment_intent: Type.Optional(Type.String({ maxLength: 255 })) },
  opts,
);
export const ListRefundsQuery = ListByChargeQuery;
export type ListRefundsQuery = Static<typeof ListByChargeQuery>;

/** The legacy Charges API's create: a card by test token (`source=tok_visa`) or PaymentMethod id, or a customer's default card. */
export const CreateChargeBody = Type.Object(
  {
    amount: Type.Integer(),
    currency: Type.String({ minLength: 3, maxLength: 3 }),
    source: Type.Optional(Type.String({ maxLength: 255 })),
    customer: Type.Optional(Type.String({ maxLength: 255 })),
    capture: Type.Optional(Type.Boolean()),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    metadata: Type.Optional(Metadata),
    receipt_email: Type.Optional(Type.String({ format: 'email' })),
    statement_descriptor: StatementDescriptor,
    statement_descriptor_suffix: StatementDescriptor,
    shipping: ShippingParam,
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateChargeBody = Static<typeof CreateChargeBody>;
/** POST /v1/charges/:id: Stripe's charge update ('' unsets description and receipt_email). */
export const UpdateChargeBody = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    metadata: Type.Optional(Metadata),
    receipt_email: Type.Optional(Nullable(Type.String({ format: 'email' }))),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdateChargeBody = Static<typeof UpdateChargeBody>;

export const CaptureChargeBody = Type.Object({ amount: Type.Optional(Type.Integer()), receipt_email: Type.Optional(Type.String({ format: 'email' })), expand: Type.Optional(Expand) }, opts);
export type CaptureChargeBody = Static<typeof CaptureChargeBody>;

export const ListChargesQuery = Type.Object(
  {
    ...ListPaging,
    payment_intent: Type.Optional(Type.String({ maxLength: 255 })),
    customer: Type.Optional(Type.String({ maxLength: 255 })),
  },
  opts,
);
export type ListChargesQuery = Static<typeof ListChargesQuery>;

// ── webhook endpoints ────────────────────────────────────────────────────
const EnabledEvents = Type.Array(Type.String({ maxLength: 128 }), { minItems: 1, maxItems: 64 });
const EndpointUrl = Type.String({ minLength: 1, maxLength: 2048 });

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: EndpointUrl,
    enabled_events: EnabledEvents,
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    metadata: Type.Optional(Metadata),
    /** Accepted as Stripe does; every endpoint is rendered with api_version null (our one version). */
    api_version: Type.Optional(Type.String({ maxLength: 64 })),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateWebhookEndpointBody = Static<typeof CreateWebhookEndpointBody>;

export const UpdateWebhookEndpointBody = Type.Object(
  {
    url: Type.Optional(EndpointUrl),
    enabled_events: Type.Optional(EnabledEvents),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    metadata: Type.Optional(Metadata),
    disabled: Type.Optional(Type.Boolean()),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdateWebhookEndpointBody = Static<typeof UpdateWebhookEndpointBody>;

export const ListWebhookEndpointsQuery = Type.Object(
  {
    ...Paging,
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ListWebhookEndpointsQuery = Static<typeof ListWebhookEndpointsQuery>;

/** POST /admin/merchants/:id: the profile fields an operator may change (each optional). */
export const UpdateMerchantBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    address: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    gst_id: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    call_back_url: Type.Optional(Type.Union([Type.String({ format: 'uri', pattern: '^https?://' }), Type.Null()])),
    events: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
    allowed_origins: Type.Optional(Type.Array(Type.String({ pattern: '^https?://', maxLength: 300 }), { maxItems: 32 })),
  },
  opts,
);
export type UpdateMerchantBody = Static<typeof UpdateMerchantBody>;

// ── setup intents ────────────────────────────────────────────────────────
const SetupUsage = Type.Union([Type.Literal('off_session'), Type.Literal('on_session')]);
/** Accepted (validated for shape) and not acted on, as for PaymentIntents. */
const SetupAccepted = {
  payment_method_options: Type.Optional(PaymentMethodOptions),
  payment_method_types: Type.Optional(Type.Array(Type.Literal('card'))),
  mandate_data: Type.Optional(Type.Object({ customer_acceptance: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, opts)),
  use_stripe_sdk: Type.Optional(Type.Boolean()),
};

export const CreateSetupIntentBody = Type.Object(
  {
    ...SetupAccepted,
    automatic_payment_methods: Type.Optional(Type.Object({ enabled: Type.Boolean(), allow_redirects: Type.Optional(Type.String()) }, opts)),
    confirm: Type.Optional(Type.Boolean()),
    customer: Type.Optional(Type.String({ maxLength: 255 })),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    metadata: Type.Optional(Metadata),
    payment_method: Type.Optional(Type.String({ maxLength: 255 })),
    payment_method_data: Type.Optional(PaymentMethodData),
    usage: Type.Optional(SetupUsage),
    return_url: Type.Optional(Type.String({ maxLength: 5000 })),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateSetupIntentBody = Static<typeof CreateSetupIntentBody>;

export const UpdateSetupIntentBody = Type.Object(
  {
    ...SetupAccepted,
    customer: Type.Optional(Type.String({ maxLength: 255 })),
    description: Type.Optional(Nullable(Type.String({ maxLength: 1000 }))),
    metadata: Type.Optional(Metadata),
    payment_method: Type.Optional(Type.String({ maxLength: 255 })),
    payment_method_data: Type.Optional(PaymentMethodData),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdateSetupIntentBody = Static<typeof UpdateSetupIntentBody>;

export const ConfirmSetupIntentBody = Type.Object(
  {
    ...SetupAccepted,
    payment_method: Type.Optional(Type.String({ maxLength: 255 })),
    payment_method_data: Type.Optional(PaymentMethodData),
    return_url: Type.Optional(Type.String({ maxLength: 5000 })),
    client_secret: Type.Optional(Type.String()),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ConfirmSetupIntentBody = Static<typeof ConfirmSetupIntentBody>;

export const CancelSetupIntentBody = Type.Object(
  {
    cancellation_reason: Type.Optional(Type.Union(['abandoned', 'requested_by_customer', 'duplicate'].map((r) => Type.Literal(r)))),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CancelSetupIntentBody = Static<typeof CancelSetupIntentBody>;

export const ListSetupIntentsQuery = Type.Object(
  {
    ...ListPaging,
    customer: Type.Optional(Type.String({ maxLength: 255 })),
    payment_method: Type.Optional(Type.String({ maxLength: 255 })),
    attach_to_self: Type.Optional(Type.Boolean()),
  },
  opts,
);
export type ListSetupIntentsQuery = Static<typeof ListSetupIntentsQuery>;

export const ListSetupAttemptsQuery = Type.Object({ ...ListPaging, setup_intent: Type.String({ maxLength: 255 }) }, opts);
export type ListSetupAttemptsQuery = Static<typeof ListSetupAttemptsQuery>;

// ── Checkout Sessions (mode=payment) ───────────────────────────────────
/** One line: a price of the catalogue (`price`) or an ad-hoc one (price_data, with product_data or a `product`), and a quantity. */
const CheckoutLineItem = Type.Object(
  {
    price: Type.Optional(Type.String({ maxLength: 255 })),
    price_data: Type.Optional(
      Type.Object(
        {
          currency: Type.String({ minLength: 3, maxLength: 3 }),
          unit_amount: Type.Integer({ minimum: 0 }),
          /** A product of the catalogue, instead of product_data. */
          product: Type.Optional(Type.String({ maxLength: 255 })),
          product_data: Type.Optional(Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 5000 }),
              description: OptStr,
              images: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 8 })),
              metadata: Type.Optional(Metadata),
            },
            opts,
          )),
          tax_behavior: Type.Optional(Type.Union([Type.Literal('inclusive'), Type.Literal('exclusive'), Type.Literal('unspecified')])),
        },
        opts,
      ),
    ),
    quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 999999 })),
  },
  opts,
);

export const CreateCheckoutSessionBody = Type.Object(
  {
    mode: Type.Optional(Type.Union([Type.Literal('payment'), Type.Literal('setup'), Type.Literal('subscription')])),
    line_items: Type.Optional(Type.Array(CheckoutLineItem, { maxItems: 100 })),
    /** One discount: a coupon (promotion codes are not offered here). */
    discounts: Type.Optional(Type.Array(Type.Object({ coupon: Type.Optional(Type.String({ maxLength: 255 })), promotion_code: Type.Optional(Type.String({ maxLength: 255 })) }, opts), { maxItems: 1 })),
    allow_promotion_codes: Type.Optional(Type.Boolean()),
    success_url: Type.Optional(Type.String({ maxLength: 5000 })),
    cancel_url: Type.Optional(Type.String({ maxLength: 5000 })),
    client_reference_id: Type.Optional(Type.String({ maxLength: 200 })),
    customer: Type.Optional(Type.String({ maxLength: 255 })),
    customer_email: Type.Optional(Type.String({ maxLength: 800 })),
    metadata: Type.Optional(Metadata),
    expires_at: Type.Optional(Type.Integer()),
    payment_method_types: Type.Optional(Type.Array(Type.Literal('card'))),
    ui_mode: Type.Optional(Type.Literal('hosted')),
    locale: Type.Optional(Type.String({ maxLength: 10 })),
    submit_type: Type.Optional(Type.Union(['auto', 'pay', 'book', 'donate', 'subscribe'].map((x) => Type.Literal(x)))),
    billing_address_collection: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('required')])),
    payment_intent_data: Type.Optional(
      Type.Object(
        {
          capture_method: Type.Optional(CaptureMethod),
          description: Type.Optional(Type.String({ maxLength: 1000 })),
          metadata: Type.Optional(Metadata),
          receipt_email: Type.Optional(Type.String({ format: 'email' })),
          setup_future_usage: Type.Optional(Type.Union([Type.Literal('off_session'), Type.Literal('on_session')])),
          shipping: ShippingParam,
          statement_descriptor: StatementDescriptor,
          statement_descriptor_suffix: StatementDescriptor,
        },
        opts,
      ),
    ),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateCheckoutSessionBody = Static<typeof CreateCheckoutSessionBody>;

export const ListCheckoutSessionsQuery = Type.Object(
  {
    ...ListPaging,
    payment_intent: Type.Optional(Type.String({ maxLength: 255 })),
    customer: Type.Optional(Type.String({ maxLength: 255 })),
    status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('complete'), Type.Literal('expired')])),
    payment_link: Type.Optional(Type.String({ maxLength: 255 })),
  },
  opts,
);
export type ListCheckoutSessionsQuery = Static<typeof ListCheckoutSessionsQuery>;

export const ExpireCheckoutSessionBody = Type.Object({ expand: Type.Optional(Expand) }, opts);
export type ExpireCheckoutSessionBody = Static<typeof ExpireCheckoutSessionBody>;


// ── Products and Prices ────────────────────────────────────────────────
const TaxBehavior = Type.Union([Type.Literal('inclusive'), Type.Literal('exclusive'), Type.Literal('unspecified')]);
const Interval = Type.Union(['day', 'week', 'month', 'year'].map((x) => Type.Literal(x)));
/** What a subscription would bill at: kept and shown (nothing bills it here); metered usage is not offered. */
const Recurring = Type.Object(
  { interval: Interval, interval_count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1095 })), usage_type: Type.Optional(Type.Literal('licensed')), trial_period_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 730 })) },
  opts,
);
/** A unit amount: an integer of minor units, or the same as a decimal string (a fraction of a minor unit is refused by the route). */
const UnitAmount = {
  unit_amount: Type.Optional(Type.Integer({ minimum: 0 })),
  unit_amount_decimal: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}(\\.[0-9]{1,12})?$' })),
};
const ProductFieldsSchema = {
  active: Type.Optional(Type.Boolean()),
  description: Type.Optional(Nullable(Type.String({ maxLength: 40000 }))),
  images: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 8 }), Type.Literal('')])),
  url: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
  statement_descriptor: Type.Optional(Nullable(Type.String({ maxLength: 22 }))),
  unit_label: Type.Optional(Nullable(Type.String({ maxLength: 12 }))),
  shippable: Type.Optional(Type.Boolean()),
  tax_code: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
  metadata: Type.Optional(Metadata),
  expand: Type.Optional(Expand),
};

export const CreateProductBody = Type.Object(
  {
    id: Type.Optional(Id),
    name: Type.String({ minLength: 1, maxLength: 5000 }),
    ...ProductFieldsSchema,
    /** Stripe still accepts the old product type; every product here is a service. */
    type: Type.Optional(Type.Union([Type.Literal('service'), Type.Literal('good')])),
    default_price_data: Type.Optional(
      Type.Object({ currency: Type.String({ minLength: 3, maxLength: 3 }), ...UnitAmount, recurring: Type.Optional(Recurring), tax_behavior: Type.Optional(TaxBehavior), metadata: Type.Optional(Metadata) }, opts),
    ),
  },
  opts,
);
export type CreateProductBody = Static<typeof CreateProductBody>;

export const UpdateProductBody = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 5000 })), ...ProductFieldsSchema, default_price: Type.Optional(Type.String({ maxLength: 255 })) }, opts);
export type UpdateProductBody = Static<typeof UpdateProductBody>;

export const ListProductsQuery = Type.Object(
  {
    ...Paging,
    active: Type.Optional(Type.Boolean()),
    ids: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 100 })),
    shippable: Type.Optional(Type.Boolean()),
    url: Type.Optional(Type.String({ maxLength: 5000 })),
    created: Type.Optional(RangeFilter),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ListProductsQuery = Static<typeof ListProductsQuery>;

export const CreatePriceBody = Type.Object(
  {
    currency: Type.String({ minLength: 3, maxLength: 3 }),
    product: Type.Optional(Type.String({ maxLength: 255 })),
    product_data: Type.Optional(
      Type.Object(
        {
          id: Type.Optional(Id),
          name: Type.String({ minLength: 1, maxLength: 5000 }),
          active: Type.Optional(Type.Boolean()),
          metadata: Type.Optional(Metadata),
          statement_descriptor: Type.Optional(Type.String({ maxLength: 22 })),
          tax_code: Type.Optional(Type.String({ maxLength: 5000 })),
          unit_label: Type.Optional(Type.String({ maxLength: 12 })),
        },
        opts,
      ),
    ),
    ...UnitAmount,
    active: Type.Optional(Type.Boolean()),
    nickname: Type.Optional(Type.String({ maxLength: 5000 })),
    lookup_key: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    transfer_lookup_key: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
    recurring: Type.Optional(Recurring),
    tax_behavior: Type.Optional(TaxBehavior),
    billing_scheme: Type.Optional(Type.Literal('per_unit')),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreatePriceBody = Static<typeof CreatePriceBody>;

export const UpdatePriceBody = Type.Object(
  {
    active: Type.Optional(Type.Boolean()),
    nickname: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
    lookup_key: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    transfer_lookup_key: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
    tax_behavior: Type.Optional(TaxBehavior),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdatePriceBody = Static<typeof UpdatePriceBody>;

export const ListPricesQuery = Type.Object(
  {
    ...Paging,
    active: Type.Optional(Type.Boolean()),
    currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
    product: Type.Optional(Type.String({ maxLength: 255 })),
    type: Type.Optional(Type.Union([Type.Literal('one_time'), Type.Literal('recurring')])),
    lookup_keys: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 10 })),
    recurring: Type.Optional(Type.Object({ interval: Type.Optional(Interval), usage_type: Type.Optional(Type.Literal('licensed')), meter: Type.Optional(Type.String()) }, opts)),
    created: Type.Optional(RangeFilter),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type ListPricesQuery = Static<typeof ListPricesQuery>;

// ── Payment Links ──────────────────────────────────────────────────────
const AfterCompletionParam = Type.Object(
  {
    type: Type.Union([Type.Literal('hosted_confirmation'), Type.Literal('redirect')]),
    hosted_confirmation: Type.Optional(Type.Object({ custom_message: Type.Optional(Type.String({ maxLength: 500 })) }, opts)),
    redirect: Type.Optional(Type.Object({ url: Type.String({ maxLength: 2048 }) }, opts)),
  },
  opts,
);

export const CreatePaymentLinkBody = Type.Object(
  {
    line_items: Type.Optional(
      Type.Array(
        Type.Object(
          {
            price: Type.String({ minLength: 1, maxLength: 255 }),
            quantity: Type.Integer({ minimum: 1, maximum: 999999 }),
            adjustable_quantity: Type.Optional(Type.Object({ enabled: Type.Literal(false) }, opts)),
          },
          opts,
        ),
        { maxItems: 20 },
      ),
    ),
    metadata: Type.Optional(Metadata),
    after_completion: Type.Optional(AfterCompletionParam),
    inactive_message: Type.Optional(Type.String({ maxLength: 500 })),
    payment_intent_data: Type.Optional(
      Type.Object(
        {
          capture_method: Type.Optional(CaptureMethod),
          description: Type.Optional(Type.String({ maxLength: 1000 })),
          metadata: Type.Optional(Metadata),
          statement_descriptor: StatementDescriptor,
          statement_descriptor_suffix: StatementDescriptor,
        },
        opts,
      ),
    ),
    // Accepted as Stripe's defaults, so integrations that send them keep working; nothing else is offered here.
    payment_method_types: Type.Optional(Type.Array(Type.Literal('card'))),
    allow_promotion_codes: Type.Optional(Type.Literal(false)),
    billing_address_collection: Type.Optional(Type.Literal('auto')),
    submit_type: Type.Optional(Type.Union(['auto', 'pay', 'book', 'donate'].map((x) => Type.Literal(x)))),
    customer_creation: Type.Optional(Type.Union([Type.Literal('if_required'), Type.Literal('always')])),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreatePaymentLinkBody = Static<typeof CreatePaymentLinkBody>;

export const UpdatePaymentLinkBody = Type.Object(
  {
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
    after_completion: Type.Optional(AfterCompletionParam),
    inactive_message: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdatePaymentLinkBody = Static<typeof UpdatePaymentLinkBody>;

export const ListPaymentLinksQuery = Type.Object({ ...Paging, active: Type.Optional(Type.Boolean()), expand: Type.Optional(Expand) }, opts);
export type ListPaymentLinksQuery = Static<typeof ListPaymentLinksQuery>;

// ── Coupons ────────────────────────────────────────────────────────────
export const CreateCouponBody = Type.Object(
  {
    id: Type.Optional(Id),
    percent_off: Type.Optional(Type.Number()),
    amount_off: Type.Optional(Type.Integer()),
    currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
    duration: Type.Optional(Type.Union([Type.Literal('once'), Type.Literal('repeating'), Type.Literal('forever')])),
    duration_in_months: Type.Optional(Type.Integer({ minimum: 1, maximum: 1200 })),
    max_redemptions: Type.Optional(Type.Integer()),
    redeem_by: Type.Optional(Type.Integer()),
    name: Type.Optional(Type.String({ maxLength: 40 })),
    metadata: Type.Optional(Metadata),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreateCouponBody = Static<typeof CreateCouponBody>;

export const UpdateCouponBody = Type.Object({ name: Type.Optional(Nullable(Type.String({ maxLength: 40 }))), metadata: Type.Optional(Metadata), expand: Type.Optional(Expand) }, opts);
export type UpdateCouponBody = Static<typeof UpdateCouponBody>;

export const ListCouponsQuery = Type.Object({ ...Paging, created: Type.Optional(RangeFilter), expand: Type.Optional(Expand) }, opts);
export type ListCouponsQuery = Static<typeof ListCouponsQuery>;

export const CreatePromotionCodeBody = Type.Object(
  {
    promotion: Type.Object({ type: Type.Literal('coupon'), coupon: Type.String({ minLength: 1, maxLength: 255 }) }, opts),
    code: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,500}$' })),
    active: Type.Optional(Type.Boolean()),
    max_redemptions: Type.Optional(Type.Integer()),
    expires_at: Type.Optional(Type.Integer()),
    restrictions: Type.Optional(
      Type.Object(
        {
          minimum_amount: Type.Optional(Type.Integer({ minimum: 1 })),
          minimum_amount_currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
          first_time_transaction: Type.Optional(Type.Literal(false)),
        },
        opts,
      ),
    ),
    metadata: Type.Optional(Metadata),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type CreatePromotionCodeBody = Static<typeof CreatePromotionCodeBody>;

export const UpdatePromotionCodeBody = Type.Object({ active: Type.Optional(Type.Boolean()), metadata: Type.Optional(Metadata), expand: Type.Optional(Expand) }, opts);
export type UpdatePromotionCodeBody = Static<typeof UpdatePromotionCodeBody>;

export const ListPromotionCodesQuery = Type.Object(
  { ...Paging, active: Type.Optional(Type.Boolean()), code: Type.Optional(Type.String({ maxLength: 500 })), coupon: Type.Optional(Type.String({ maxLength: 255 })), created: Type.Optional(RangeFilter), expand: Type.Optional(Expand) },
  opts,
);
export type ListPromotionCodesQuery = Static<typeof ListPromotionCodesQuery>;

/** POST /v1/disputes/:id: evidence (text fields; the file fields take File ids, which we have no API for), metadata, submit. */
const EvidenceText = Type.Optional(Type.String({ maxLength: 20_000 }));
export const DisputeEvidence = Type.Object(
  {
    access_activity_log: EvidenceText,
    billing_address: EvidenceText,
    cancellation_policy_disclosure: EvidenceText,
    cancellation_rebuttal: EvidenceText,
    customer_email_address: EvidenceText,
    customer_name: EvidenceText,
    customer_purchase_ip: EvidenceText,
    duplicate_charge_explanation: EvidenceText,
    duplicate_charge_id: EvidenceText,
    product_description: EvidenceText,
    refund_policy_disclosure: EvidenceText,
    refund_refusal_explanation: EvidenceText,
    service_date: EvidenceText,
    shipping_address: EvidenceText,
    shipping_carrier: EvidenceText,
    shipping_date: EvidenceText,
    shipping_tracking_number: EvidenceText,
    uncategorized_text: EvidenceText,
    cancellation_policy: Type.Optional(Type.String({ maxLength: 255 })),
    customer_communication: Type.Optional(Type.String({ maxLength: 255 })),
    customer_signature: Type.Optional(Type.String({ maxLength: 255 })),
    duplicate_charge_documentation: Type.Optional(Type.String({ maxLength: 255 })),
    receipt: Type.Optional(Type.String({ maxLength: 255 })),
    refund_policy: Type.Optional(Type.String({ maxLength: 255 })),
    service_documentation: Type.Optional(Type.String({ maxLength: 255 })),
    shipping_documentation: Type.Optional(Type.String({ maxLength: 255 })),
    uncategorized_file: Type.Optional(Type.String({ maxLength: 255 })),
  },
  opts,
);
export type DisputeEvidence = Static<typeof DisputeEvidence>;
export const UpdateDisputeBody = Type.Object(
  {
    evidence: Type.Optional(DisputeEvidence),
    metadata: Type.Optional(Metadata),
    submit: Type.Optional(Type.Boolean()),
    intended_submission_method: Type.Optional(Type.Union(['manual', 'prefer_manual', 'prefer_smart_disputes', 'smart_disputes'].map((x) => Type.Literal(x)))),
    expand: Type.Optional(Expand),
  },
  opts,
);
export type UpdateDisputeBody = Static<typeof UpdateDisputeBody>;
export const CloseDisputeBody = Type.Object({ expand: Type.Optional(Expand) }, opts);
export type CloseDisputeBody = Static<typeof CloseDisputeBody>;
export const ListDisputesQuery = ListByChargeQuery;
export type ListDisputesQuery = Static<typeof ListByChargeQuery>;

export const ListEarlyFraudWarningsQuery = ListByChargeQuery;
export type ListEarlyFraudWarningsQuery = Static<typeof ListByChargeQuery>;
