// Capture an authorization (fully or partly). Repeating a capture of the same amount is safe.
import type { WireCaptureRequest, WireCaptureResponse } from '../wire.ts';
import { transactionFromWire, type EpnTransaction } from './transaction.ts';

export interface CaptureParams {
  networkRef: string;
  amount: number;
}

export function toWire(p: CaptureParams): WireCaptureRequest {
  return { network_ref: p.networkRef, amount: p.amount };
}

export function fromWire(w: WireCaptureResponse): EpnTransaction {
  return transactionFromWire(w);
}
