// Payments as Prometheus sees them: every call to the card network timed (authorization latency is
// `operation="authorize"`), and every authorization's outcome counted by merchant and decline code,
// so the success rate per merchant is
//   sum by (merchant) (rate(paynats_payment_authorizations_total{outcome="approved"}[5m]))
//     / sum by (merchant) (rate(paynats_payment_authorizations_total[5m]))
import type { EpnClient } from '../epn/client/mod.ts';
import { EpnRejectedError, EpnUnavailableError } from '../epn/client/mod.ts';
import { counter, histogram } from './registry.ts';

export const epnSeconds = histogram(
  'paynats_epn_request_duration_seconds',
  'Calls to the card network (EPN) by operation and result: authorize is the authorization latency',
  ['operation', 'result'],
);

export const authorizations = counter(
  'paynats_payment_authorizations_total',
  'Authorization outcomes by merchant: approved, declined (with decline_code), authentication_required, unknown (in doubt), rejected',
  ['merchant', 'outcome', 'decline_code'],
);

function resultOf(err: unknown): string {
  if (err instanceof EpnUnavailableError) return err.kind; // timeout, unreachable, server_error
  if (err instanceof EpnRejectedError) return 'rejected';
  return 'error';
}

async function timed<T>(operation: string, f: () => Promise<T>): Promise<T> {
  const end = epnSeconds.startTimer({ operation });
  try {
    const r = await f();
    end({ result: 'ok' });
    return r;
  } catch (err) {
    end({ result: resultOf(err) });
    throw err;
  }
}

/**
 * The client with every call timed and every authorization's outcome counted. A class, not an
 * object of closures: one is made per command (with that request's headers), so it must be cheap.
 */
class MeteredEpn implements EpnClient {
  constructor(private readonly epn: EpnClient) {}

  async authorize(p: Parameters<EpnClient['authorize']>[0]) {
    try {
      const r = await timed('authorize', () => this.epn.authorize(p));
      authorizations.inc({ merchant: p.merchantId, outcome: r.status, decline_code: r.status === 'declined' ? (r.declineCode ?? r.failureCode ?? 'unknown') : '' });
      return r;
    } catch (err) {
      authorizations.inc({ merchant: p.merchantId, outcome: err instanceof EpnRejectedError ? 'rejected' : 'unknown', decline_code: '' });
      throw err;
    }
  }
  verify(p: Parameters<EpnClient['verify']>[0]) {
    return timed('verify', () => this.epn.verify(p));
  }
  capture(p: Parameters<EpnClient['capture']>[0]) {
    return timed('capture', () => this.epn.capture(p));
  }
  void(p: Parameters<EpnClient['void']>[0]) {
    return timed('void', () => this.epn.void(p));
  }
  refund(p: Parameters<EpnClient['refund']>[0]) {
    return timed('refund', () => this.epn.refund(p));
  }
  inquire(ref: string) {
    return timed('inquire', () => this.epn.inquire(ref));
  }
  retrieve(ref: string) {
    return timed('retrieve', () => this.epn.retrieve(ref));
  }
  inquireAll(ref: string) {
    return timed('inquire_all', () => this.epn.inquireAll(ref));
  }
  settlement(date: string, merchantId?: string) {
    return timed('settlement', () => this.epn.settlement(date, merchantId));
  }
  chargebacks(after: number, limit?: number) {
    return timed('chargebacks', () => this.epn.chargebacks(after, limit));
  }
  chargeback(ref: string) {
    return timed('chargeback', () => this.epn.chargeback(ref));
  }
  represent(ref: string, p: Parameters<EpnClient['represent']>[1]) {
    return timed('represent', () => this.epn.represent(ref, p));
  }
  acceptChargeback(ref: string) {
    return timed('accept_chargeback', () => this.epn.acceptChargeback(ref));
  }
  fraudReports(after: number, limit?: number) {
    return timed('fraud_reports', () => this.epn.fraudReports(after, limit));
  }
  withHeaders(h: Record<string, string>): EpnClient {
    return new MeteredEpn(this.epn.withHeaders(h));
  }
}

export function meterEpn(epn: EpnClient): EpnClient {
  return new MeteredEpn(epn);
}
