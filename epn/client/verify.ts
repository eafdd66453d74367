// Account verification: the issuer checks a card for later use (a SetupIntent) without any money
// moving. Nothing is booked, so a repeat is simply another check and no reconciliation is owed.
import type { CardBrand, WireVerifyRequest, WireVerifyResponse } from '../wire.ts';
import type { EpnCard } from './authorize.ts';

export interface VerifyParams {
  /** Our setup attempt id (logged by the network). */
  reference: string;
  merchantId: string;
  card: EpnCard;
  /** Set after the cardholder passed a 3-D Secure challenge. */
  authenticated?: boolean;
}

export interface VerifyResult {
  status: 'approved' | 'declined' | 'authentication_required';
  declineCode?: string;
  failureCode?: string;
  message?: string;
  brand: CardBrand;
  last4: string;
}

export function toWire(p: VerifyParams): WireVerifyRequest {
  const card: WireVerifyRequest['card'] = { number: p.card.number, exp_month: p.card.expMonth, exp_year: p.card.expYear };
  if (p.card.cvc !== undefined) card.cvc = p.card.cvc;
  return {
    reference: p.reference,
    merchant_id: p.merchantId,
    card,
    ...(p.authenticated !== undefined ? { three_d_secure: { authenticated: p.authenticated } } : {}),
  };
}

export function fromWire(w: WireVerifyResponse): VerifyResult {
  const r: VerifyResult = { status: w.status, brand: w.brand, last4: w.last4 };
  if (w.decline_code !== undefined) r.declineCode = w.decline_code;
  if (w.failure_code !== undefined) r.failureCode = w.failure_code;
  if (w.message !== undefined) r.message = w.message;
  return r;
}
