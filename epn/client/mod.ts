// Typed client of the EPN card network, used by the payment workers.
import type {
  WireAuthorizeResponse,
  WireCaptureResponse,
  WireChargeback,
  WireChargebackFeed,
  WireChargebackResponse,
  WireFraudReportFeed,
  WireInquiryByRefResponse,
  WireInquiryResponse,
  WireRefundResponse,
  WireVoidResponse,
  WireVerifyResponse,
  WireSettlementRow,
} from '../wire.ts';
import * as authorizeFlow from './authorize.ts';
import * as captureFlow from './capture.ts';
import * as chargebackFlow from './chargeback.ts';
import * as fraudReportFlow from './fraud-report.ts';
import { createEpnRequest, type EpnRequest } from './http.ts';
import * as inquiryFlow from './inquiry.ts';
import * as refundFlow from './refund.ts';
import type { EpnTransaction } from './transaction.ts';
import * as verifyFlow from './verify.ts';
import * as voidFlow from './void.ts';

export { EpnRejectedError, EpnUnavailableError, type EpnUnavailableKind } from './errors.ts';
export type { AuthorizeParams, AuthorizeResult, EpnCard } from './authorize.ts';
export type { CaptureParams } from './capture.ts';
export type { VerifyParams, VerifyResult } from './verify.ts';
export type { VoidParams } from './void.ts';
export type { RefundParams, RefundResult } from './refund.ts';
export type { EpnHistoryEntry, EpnRefund, EpnTransaction } from './transaction.ts';
export type { EpnChargeback, EpnChargebackFeed, RepresentParams } from './chargeback.ts';
export type { EpnFraudReport, EpnFraudReportFeed, EpnFraudType } from './fraud-report.ts';

export interface EpnClientOptions {
  baseUrl: string;
  timeoutMs: number;
}

/** Every method throws EpnUnavailableError (outcome unknown) or EpnRejectedError (refused, nothing done). */
export interface EpnClient {
  authorize(params: authorizeFlow.AuthorizeParams): Promise<authorizeFlow.AuthorizeResult>;
  /** Account verification (a SetupIntent): the issuer's answer, no money moved, nothing booked. */
  verify(params: verifyFlow.VerifyParams): Promise<verifyFlow.VerifyResult>;
  capture(params: captureFlow.CaptureParams): Promise<EpnTransaction>;
  void(params: voidFlow.VoidParams): Promise<EpnTransaction>;
  refund(params: refundFlow.RefundParams): Promise<refundFlow.RefundResult>;
  /** The transaction for our reference, or null if the network never saw it. */
  inquire(reference: string): Promise<EpnTransaction | null>;
  /** The transaction by network reference; EpnRejectedError 404 when unknown. */
  retrieve(networkRef: string): Promise<EpnTransaction>;
  /** The same client (same connections) sending these headers on every call: `Request-Id`, `Correlation-Id`. */
  withHeaders(headers: Record<string, string>): EpnClient;
  /** Every transaction booked under our reference: more than one when the network executed twice. */
  inquireAll(reference: string): Promise<EpnTransaction[]>;
  /** The network's settlement file of a UTC day (YYYY-MM-DD), optionally one merchant's. */
  settlement(date: string, merchantId?: string): Promise<WireSettlementRow[]>;
  /** The chargeback feed: cases changed after feed position `after` (oldest change first), at most `limit` (default 100, max 1,000); read next after `next`. */
  chargebacks(after: number, limit?: number): Promise<chargebackFlow.EpnChargebackFeed>;
  /** One case; EpnRejectedError 404 when unknown. */
  chargeback(chargebackRef: string): Promise<chargebackFlow.EpnChargeback>;
  /** Evidence against a case (idempotent on `reference`); EpnRejectedError 409 invalid_state once won or lost. */
  represent(chargebackRef: string, p: chargebackFlow.RepresentParams): Promise<chargebackFlow.EpnChargeback>;
  /** Accept the chargeback: lost at once (a repeat answers the case); EpnRejectedError 409 invalid_state when won. */
  acceptChargeback(chargebackRef: string): Promise<chargebackFlow.EpnChargeback>;
  /** The fraud report feed (early fraud warnings): reports filed after feed position `after` (oldest first), at most `limit` (default 100, max 1,000); read next after `next`. */
  fraudReports(after: number, limit?: number): Promise<fraudReportFlow.EpnFraudReportFeed>;
}

export function createEpnClient(opts: EpnClientOptions): EpnClient {
  return bind(createEpnRequest(opts), undefined);
}

function bind(send: EpnRequest, extra: Record<string, string> | undefined): EpnClient {
  const request: EpnRequest = (method, path, body, o) => send(method, path, body, { ...o, headers: extra });
  return {
    withHeaders(headers) {
      return bind(send, { ...extra, ...headers });
    },
    async authorize(params) {
      return authorizeFlow.fromWire(await request<WireAuthorizeResponse>('POST', '/v1/authorize', authorizeFlow.toWire(params)));
    },
    async verify(params) {
      return verifyFlow.fromWire(await request<WireVerifyResponse>('POST', '/v1/verify', verifyFlow.toWire(params)));
    },
    async capture(params) {
      return captureFlow.fromWire(await request<WireCaptureResponse>('POST', '/v1/capture', captureFlow.toWire(params)));
    },
    async void(params) {
      return voidFlow.fromWire(await request<WireVoidResponse>('POST', '/v1/void', voidFlow.toWire(params)));
    },
    async refund(params) {
      return refundFlow.fromWire(await request<WireRefundResponse>('POST', '/v1/refund', refundFlow.toWire(params)));
    },
    async inquire(reference) {
      return inquiryFlow.fromWire(await request<WireInquiryResponse>('GET', `/v1/transactions${inquiryFlow.toWire(reference)}`));
    },
    async retrieve(networkRef) {
      return inquiryFlow.byRefFromWire(await request<WireInquiryByRefResponse>('GET', inquiryFlow.byRefPath(networkRef)));
    },
    async inquireAll(reference) {
      return inquiryFlow.allFromWire(await request<WireInquiryResponse>('GET', `/v1/transactions${inquiryFlow.toWire(reference)}`));
    },
    async settlement(date, merchantId) {
      const q = merchantId === undefined ? '' : `?${new URLSearchParams({ merchant_id: merchantId }).toString()}`;
      const text = await request<string>('GET', `/v1/settlements/${encodeURIComponent(date)}${q}`, undefined, { raw: true });
      return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as WireSettlementRow);
    },
    async chargebacks(after, limit) {
      return chargebackFlow.feedFromWire(await request<WireChargebackFeed>('GET', chargebackFlow.feedPath(after, limit)));
    },
    async chargeback(chargebackRef) {
      return chargebackFlow.chargebackFromWire(await request<WireChargeback>('GET', chargebackFlow.byRefPath(chargebackRef)));
    },
    async represent(chargebackRef, p) {
      return chargebackFlow.chargebackFromWire(await request<WireChargebackResponse>('POST', chargebackFlow.representPath(chargebackRef), chargebackFlow.representToWire(p)));
    },
    async acceptChargeback(chargebackRef) {
      return chargebackFlow.chargebackFromWire(await request<WireChargebackResponse>('POST', chargebackFlow.acceptPath(chargebackRef)));
    },
    async fraudReports(after, limit) {
      return fraudReportFlow.feedFromWire(await request<WireFraudReportFeed>('GET', fraudReportFlow.feedPath(after, limit)));
    },
  };
}
