// The daily settlement file: what the network says it booked for each transaction of a UTC day.
// It is the "truth" our records are reconciled against.
import type { WireSettlementRow, WireTransaction } from '../wire.ts';

/** UTC day (YYYY-MM-DD) a transaction was booked. */
export function txDate(tx: Pick<WireTransaction, 'created_at'>): string {
  return new Date(tx.created_at * 1000).toISOString().slice(0, 10);
}

/** The network's fee: 2.9% + 30 of what was captured, nothing on a declined or voided authorization. */
export function feeOf(tx: Pick<WireTransaction, 'amount_captured'>): number {
  return tx.amount_captured > 0 ? Math.round(tx.amount_captured * 0.029) + 30 : 0;
}

export function settlementRow(tx: WireTransaction): WireSettlementRow {
  return {
    network_ref: tx.network_ref,
    merchant_id: tx.merchant_id,
    intent_id: tx.intent_id ?? null,
    attempt_id: tx.reference,
    amount: tx.amount,
    amount_captured: tx.amount_captured,
    amount_refunded: tx.amount_refunded,
    currency: tx.currency,
    status: tx.status,
    fee: feeOf(tx),
    created_at: tx.created_at,
    updated_at: tx.updated_at,
  };
}

/** Rows of one day, in a stable order (booking time, then network reference). */
export function settlementRows(txs: WireTransaction[], date: string, merchantId?: string): WireSettlementRow[] {
  return txs
    .filter((tx) => txDate(tx) === date && (merchantId === undefined || tx.merchant_id === merchantId))
    .sort((a, b) => a.created_at - b.created_at || a.network_ref.localeCompare(b.network_ref))
    .map(settlementRow);
}
