// Stripe's error body, and the one place that decides status and type for every error we raise.
// The SDK picks its error class from the status and `type` (stripe-node src/Error.ts).

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'card_error' | 'idempotency_error' | 'rate_limit_error' | 'api_error' | 'permission_error';

export interface ErrorBody {
  type: ErrorType;
  code?: string;
  decline_code?: string;
  param?: string;
  message: string;
  payment_intent?: unknown;
  setup_intent?: unknown;
  /** A card error's PaymentMethod (the card declined), as Stripe's error object has it. */
  payment_method?: unknown;
  charge?: string;
  doc_url?: string;
}

/** The PaymentMethod a rendered object's last error names (last_payment_error, last_setup_error): Stripe's card error repeats it. */
export function declinedPaymentMethod(lastError: unknown): unknown {
  return (lastError as { payment_method?: unknown } | null)?.payment_method ?? undefined;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string | undefined,
    message: string,
    readonly param?: string,
    readonly extra: Partial<Pick<ErrorBody, 'decline_code' | 'payment_intent' | 'setup_intent' | 'payment_method' | 'charge'>> = {},
    /** Stripe-Should-Retry for 5xx/409. */
    readonly shouldRetry?: boolean,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: ErrorBody } {
    const e: ErrorBody = { type: this.type, message: this.message };
    if (this.code) e.code = this.code;
    if (this.param) e.param = this.param;
    if (this.extra.decline_code) e.decline_code = this.extra.decline_code;
    if (this.extra.charge) e.charge = this.extra.charge;
    if (this.extra.payment_intent) e.payment_intent = this.extra.payment_intent;
    if (this.extra.setup_intent) e.setup_intent = this.extra.setup_intent;
    if (this.extra.payment_method) e.payment_method = this.extra.payment_method;
    if (this.code) e.doc_url = `https://stripe.com/docs/error-codes/${this.code.replace(/_/g, '-')}`;
    return { error: e };
  }

  static fromBody(status: number, b: ErrorBody, shouldRetry?: boolean): ApiError {
    return new ApiError(status, b.type, b.code, b.message, b.param, { decline_code: b.decline_code, payment_intent: b.payment_intent, setup_intent: b.setup_intent, payment_method: b.payment_method, charge: b.charge }, shouldRetry);
  }
}

export const noSuch = (resource: string, id: string, param = 'id') =>
  new ApiError(404, 'invalid_request_error', 'resource_missing', `No such ${resource}: '${id}'`, param);

/** Stripe's refusal of parameters that exclude each other; `param` is the one named as wrong. */
export const onlyOneOf = (a: string, b: string, param = b) =>
  new ApiError(400, 'invalid_request_error', 'parameter_invalid', `You may only specify one of these parameters: ${a}, ${b}.`, param);

export const invalidParam = (param: string, message: string, code = 'parameter_invalid') => new ApiError(400, 'invalid_request_error', code, message, param);

/**
 * Stripe's answer to a request whose Idempotency-Key is still in use by a request in flight (409,
 * retry later). The partition owner, which sees a repeat but not the key, leaves it out; the
 * gateway names it.
 */
/**
 * A saved card (attached to a customer) on a PaymentIntent that is not that customer's: Stripe's
 * refusal, on create and on confirm.
 */
export const belongsToCustomer = (paymentMethod: string, customer: string) =>
  new ApiError(
    400,
    'invalid_request_error',
    'parameter_missing',
    `The \`payment_method\` parameter supplied ${paymentMethod} belongs to the Customer ${customer}. Please include the Customer in the \`customer\` parameter on the PaymentIntent.`,
    'payment_method',
  );

export const keyInUse = (idemKey?: string) =>
  new ApiError(
    409,
    'invalid_request_error',
    'idempotency_key_in_use',
    'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through)' +
      (idemKey === undefined ? '.' : `: ${idemKey}.`) +
      ' Please try again later.',
    undefined,
    {},
    true,
  );

export const unavailable = (message: string) => new ApiError(503, 'api_error', 'service_unavailable', message, undefined, {}, true);

/** Stripe's answer to an `expand[]` path the object does not support. */
export const cannotExpand = (path: string) => new ApiError(400, 'invalid_request_error', 'parameter_invalid', `This property cannot be expanded (${path}).`, 'expand');

/** Refuses every `expand` path but `allowed` (none when absent), as Stripe does: 400 on the first other one. */
export function expandOnly(expand: readonly string[] | undefined, allowed?: string): void {
  for (const path of expand ?? []) if (path !== allowed) throw cannotExpand(path);
}
