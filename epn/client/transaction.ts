// The network's record of one transaction, as the client hands it to callers (camelCase).
import type { CardBrand, WireHistoryAction, WireRefund, WireTransaction, WireTransactionStatus } from '../wire.ts';

export interface EpnRefund {
  refundReference: string;
  networkRef: string;
  amount: number;
  createdAt: number;
}

export interface EpnHistoryEntry {
  action: WireHistoryAction;
  at: number;
  amount?: number;
  refundReference?: string;
}

export interface EpnTransaction {
  networkRef: string;
  reference: string;
  intentId: string | null;
  merchantId: string;
  amount: number;
  currency: string;
  status: WireTransactionStatus;
  amountCaptured: number;
  amountRefunded: number;
  declineCode: string | null;
  failureCode: string | null;
  brand: CardBrand;
  last4: string;
  createdAt: number;
  updatedAt: number;
  refunds: EpnRefund[];
  history: EpnHistoryEntry[];
}

export function refundFromWire(w: WireRefund): EpnRefund {
  return { refundReference: w.refund_reference, networkRef: w.network_ref, amount: w.amount, createdAt: w.created_at };
}

export function transactionFromWire(w: WireTransaction): EpnTransaction {
  return {
    networkRef: w.network_ref,
    reference: w.reference,
    intentId: w.intent_id ?? null,
    merchantId: w.merchant_id,
    amount: w.amount,
    currency: w.currency,
    status: w.status,
    amountCaptured: w.amount_captured,
    amountRefunded: w.amount_refunded,
    declineCode: w.decline_code,
    failureCode: w.failure_code,
    brand: w.brand,
    last4: w.last4,
    createdAt: w.created_at,
    updatedAt: w.updated_at,
    refunds: w.refunds.map(refundFromWire),
    history: w.history.map((h) => {
      const e: EpnHistoryEntry = { action: h.action, at: h.at };
      if (h.amount !== undefined) e.amount = h.amount;
      if (h.refund_reference !== undefined) e.refundReference = h.refund_reference;
      return e;
    }),
  };
}
