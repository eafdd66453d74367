// Refund part or all of a captured transaction. Idempotent on `refundReference`.
import type { WireRefundRequest, WireRefundResponse } from '../wire.ts';
import { refundFromWire, transactionFromWire, type EpnRefund, type EpnTransaction } from './transaction.ts';

export interface RefundParams {
  networkRef: string;
  amount: number;
  /** Our refund id: retrying with the same one never refunds twice. */
  refundReference: string;
}

export interface RefundResult {
  refund: EpnRefund;
  transaction: EpnTransaction;
}

export function toWire(p: RefundParams): WireRefundRequest {
  return { network_ref: p.networkRef, amount: p.amount, refund_reference: p.refundReference };
}

export function fromWire(w: WireRefundResponse): RefundResult {
  return { refund: refundFromWire(w.refund), transaction: transactionFromWire(w.transaction) };
}
