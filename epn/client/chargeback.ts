// Chargebacks: the issuer disputes a captured transaction at the network. The caller follows the
// network's feed of cases, answers a case with evidence (a representment) or accepts it.
import type { WireChargeback, WireChargebackFeed, WireChargebackReason, WireChargebackStatus, WireRepresentmentRequest } from '../wire.ts';

export interface EpnChargeback {
  /** The network's id of the case: cb_… */
  chargebackRef: string;
  /** The disputed transaction, and our reference (attempt id) and intent id it was booked under. */
  networkRef: string;
  reference: string;
  intentId: string | null;
  merchantId: string;
  amount: number;
  currency: string;
  reason: WireChargebackReason;
  /** A retrieval request (Stripe's inquiry): no money moves unless it escalates. */
  inquiry: boolean;
  status: WireChargebackStatus;
  /** Unix seconds: a case still open after this is lost. */
  dueBy: number;
  representments: number;
  /** The position of the case's last change in the network's feed. */
  seq: number;
  createdAt: number;
  updatedAt: number;
}

export interface EpnChargebackFeed {
  data: EpnChargeback[];
  /** The position to read after next time. */
  next: number;
}

export interface RepresentParams {
  /** Idempotency key of this representment: a repeat answers the case as it is. */
  reference: string;
  /** The merchant's evidence, as text. */
  evidence: string;
}

export function chargebackFromWire(w: WireChargeback): EpnChargeback {
  return {
    chargebackRef: w.chargeback_ref,
    networkRef: w.network_ref,
    reference: w.reference,
    intentId: w.intent_id ?? null,
    merchantId: w.merchant_id,
    amount: w.amount,
    currency: w.currency,
    reason: w.reason,
    inquiry: w.inquiry,
    status: w.status,
    dueBy: w.due_by,
    representments: w.representments,
    seq: w.seq,
    createdAt: w.created_at,
    updatedAt: w.updated_at,
  };
}

export function feedPath(after: number, limit?: number): string {
  const q = new URLSearchParams({ after: String(after) });
  if (limit !== undefined) q.set('limit', String(limit));
  return `/v1/chargebacks?${q.toString()}`;
}

export function feedFromWire(w: WireChargebackFeed): EpnChargebackFeed {
  return { data: w.data.map(chargebackFromWire), next: w.next };
}

export function byRefPath(chargebackRef: string): string {
  return `/v1/chargebacks/${encodeURIComponent(chargebackRef)}`;
}

export function representPath(chargebackRef: string): string {
  return `${byRefPath(chargebackRef)}/representment`;
}

export function acceptPath(chargebackRef: string): string {
  return `${byRefPath(chargebackRef)}/accept`;
}

export function representToWire(p: RepresentParams): WireRepresentmentRequest {
  return { reference: p.reference, evidence: p.evidence };
}
