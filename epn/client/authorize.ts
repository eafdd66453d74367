// Authorize (and optionally capture) a card payment. Idempotent on `reference`.
import type { CardBrand, WireAuthorizeRequest, WireAuthorizeResponse } from '../wire.ts';

export interface EpnCard {
  number: string;
  expMonth: number;
  expYear: number;
  cvc?: string;
}

export interface AuthorizeParams {
  /** Our attempt id: retrying with the same one can never authorize twice. */
  reference: string;
  merchantId: string;
  amount: number;
  currency: string;
  capture: boolean;
  card: EpnCard;
  /** Set after the cardholder passed a 3-D Secure challenge. */
  authenticated?: boolean;
  /** Our intent id, carried into the network's settlement file. */
  intentId?: string;
}

export interface AuthorizeResult {
  networkRef: string;
  reference: string;
  status: 'approved' | 'declined' | 'authentication_required';
  captured: boolean;
  declineCode?: string;
  failureCode?: string;
  message?: string;
  brand: CardBrand;
  last4: string;
}

export function toWire(p: AuthorizeParams): WireAuthorizeRequest {
  const card: WireAuthorizeRequest['card'] = { number: p.card.number, exp_month: p.card.expMonth, exp_year: p.card.expYear };
  if (p.card.cvc !== undefined) card.cvc = p.card.cvc;
  return {
    reference: p.reference,
    merchant_id: p.merchantId,
    amount: p.amount,
    currency: p.currency,
    capture: p.capture,
    card,
    ...(p.authenticated !== undefined ? { three_d_secure: { authenticated: p.authenticated } } : {}),
    ...(p.intentId !== undefined ? { intent_id: p.intentId } : {}),
  };
}

export function fromWire(w: WireAuthorizeResponse): AuthorizeResult {
  const r: AuthorizeResult = {
    networkRef: w.network_ref,
    reference: w.reference,
    status: w.status,
    captured: w.captured,
    brand: w.brand,
    last4: w.last4,
  };
  if (w.decline_code !== undefined) r.declineCode = w.decline_code;
  if (w.failure_code !== undefined) r.failureCode = w.failure_code;
  if (w.message !== undefined) r.message = w.message;
  return r;
}
