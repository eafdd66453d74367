// Fraud reports (Stripe's early fraud warnings): the issuer reported a captured transaction as fraud
// at the network. No money moves; a chargeback may follow. The caller follows the network's feed of
// reports; a report never changes once filed, so each appears in the feed once.
import type { WireFraudReport, WireFraudReportFeed, WireFraudType } from '../wire.ts';

export type EpnFraudType = WireFraudType;

export interface EpnFraudReport {
  /** The network's id of the report: fr_… */
  reportRef: string;
  /** The reported transaction, and our reference (attempt id) and intent id it was booked under. */
  networkRef: string;
  reference: string;
  intentId: string | null;
  merchantId: string;
  fraudType: EpnFraudType;
  /** The report's position in the network's fraud report feed. */
  seq: number;
  createdAt: number;
}

export interface EpnFraudReportFeed {
  data: EpnFraudReport[];
  /** The position to read after next time. */
  next: number;
}

export function fraudReportFromWire(w: WireFraudReport): EpnFraudReport {
  return {
    reportRef: w.report_ref,
    networkRef: w.network_ref,
    reference: w.reference,
    intentId: w.intent_id ?? null,
    merchantId: w.merchant_id,
    fraudType: w.fraud_type,
    seq: w.seq,
    createdAt: w.created_at,
  };
}

export function feedPath(after: number, limit?: number): string {
  const q = new URLSearchParams({ after: String(after) });
  if (limit !== undefined) q.set('limit', String(limit));
  return `/v1/fraud_reports?${q.toString()}`;
}

export function feedFromWire(w: WireFraudReportFeed): EpnFraudReportFeed {
  return { data: w.data.map(fraudReportFromWire), next: w.next };
}
