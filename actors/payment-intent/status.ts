// Stripe's PaymentIntent statuses, with predicates written as exhaustive switches so that a new
// status breaks the build until every predicate has decided about it.

export type IntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'canceled'
  | 'succeeded';

export function isTerminal(s: IntentStatus): boolean {
  switch (s) {
    case 'succeeded':
    case 'canceled':
      return true;
    case 'requires_payment_method':
    case 'requires_confirmation':
    case 'requires_action':
    case 'processing':
    case 'requires_capture':
      return false;
  }
}

/** Stripe lets an intent be confirmed from these. */
export function isConfirmable(s: IntentStatus): boolean {
  switch (s) {
    case 'requires_payment_method':
    case 'requires_confirmation':
    case 'requires_action':
      return true;
    case 'processing':
    case 'requires_capture':
    case 'canceled':
    case 'succeeded':
      return false;
  }
}

/** Stripe lets an intent be canceled from these (processing: only when the attempt is not in flight). */
export function isCancelable(s: IntentStatus): boolean {
  switch (s) {
    case 'requires_payment_method':
    case 'requires_confirmation':
    case 'requires_action':
    case 'requires_capture':
      return true;
    case 'processing':
    case 'canceled':
    case 'succeeded':
      return false;
  }
}

/** Amount, currency and the rest may be updated only before money moves. */
export function isUpdatable(s: IntentStatus): boolean {
  return isConfirmable(s);
}

/** An attempt is one authorization against the network; the wire calls it a charge (ch_…). */
export type AttemptStatus =
  | 'pending' // sent to the network, no answer yet
  | 'requires_action' // the issuer wants 3-D Secure: waiting for the cardholder
  | 'in_doubt' // the network did not answer in time: reconciliation settles it
  | 'succeeded' // authorized (captured or not)
  | 'failed'; // declined or settled as failed

export function isSettled(s: AttemptStatus): boolean {
  switch (s) {
    case 'succeeded':
    case 'failed':
      return true;
    case 'pending':
    case 'requires_action':
    case 'in_doubt':
      return false;
  }
}
