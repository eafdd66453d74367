// Ask the network what it did. This is how an "outcome unknown" (timeout) is resolved.
import type { WireInquiryByRefResponse, WireInquiryResponse } from '../wire.ts';
import { transactionFromWire, type EpnTransaction } from './transaction.ts';

/** Query string for an inquiry by our reference. */
export function toWire(reference: string): string {
  return `?${new URLSearchParams({ reference }).toString()}`;
}

/** null: the network has no transaction for the reference, so the attempt never reached it. */
export function fromWire(w: WireInquiryResponse): EpnTransaction | null {
  const tx = w.data[0];
  return tx === undefined ? null : transactionFromWire(tx);
}

export function byRefPath(networkRef: string): string {
  return `/v1/transactions/${encodeURIComponent(networkRef)}`;
}

export function byRefFromWire(w: WireInquiryByRefResponse): EpnTransaction {
  return transactionFromWire(w);
}

/** Every transaction the network booked for the reference (more than one: it executed twice). */
export function allFromWire(w: WireInquiryResponse): EpnTransaction[] {
  return w.data.map(transactionFromWire);
}
