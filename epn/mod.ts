// Public surface of the EPN package: the client our workers use, the simulator for tests and
// the launcher, and the wire types. Named exports only, so the surface is visible here.
export {
  createEpnClient,
  EpnRejectedError,
  EpnUnavailableError,
  type AuthorizeParams,
  type AuthorizeResult,
  type CaptureParams,
  type EpnCard,
  type EpnClient,
  type EpnClientOptions,
  type EpnHistoryEntry,
  type EpnRefund,
  type EpnTransaction,
  type EpnUnavailableKind,
  type RefundParams,
  type RefundResult,
  type VoidParams,
} from './client/mod.ts';
export { buildEpnServer, type EpnServer, type EpnServerOptions } from './sim/server.ts';
export { createEpnLogger, EPN_REDACT_PATHS, scrubPan, withCardRedaction } from './sim/log.ts';
export {
  APPROVED_TEST_CARDS,
  brandOf,
  cardOutcome,
  DECLINED_TEST_CARDS,
  luhnValid,
  type CardOutcome,
} from './sim/cards.ts';
export { createLedger, LedgerError, type Ledger, type LedgerOptions } from './sim/ledger.ts';
export type {
  CardBrand,
  WireAuthorizeRequest,
  WireAuthorizeResponse,
  WireCaptureRequest,
  WireCaptureResponse,
  WireCard,
  WireError,
  WireErrorCode,
  WireHistoryEntry,
  WireInquiryByRefResponse,
  WireInquiryResponse,
  WireLatencyRequest,
  WireLatencyResponse,
  WireRefund,
  WireRefundRequest,
  WireRefundResponse,
  WireTransaction,
  WireTransactionStatus,
  WireVoidRequest,
  WireVoidResponse,
} from './wire.ts';
