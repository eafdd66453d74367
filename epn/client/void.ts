// Release an uncaptured authorization. Voiding an already-voided one is safe.
import type { WireVoidRequest, WireVoidResponse } from '../wire.ts';
import { transactionFromWire, type EpnTransaction } from './transaction.ts';

export interface VoidParams {
  networkRef: string;
}

export function toWire(p: VoidParams): WireVoidRequest {
  return { network_ref: p.networkRef };
}

export function fromWire(w: WireVoidResponse): EpnTransaction {
  return transactionFromWire(w);
}
