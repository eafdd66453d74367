// What the network really did, independent of what any caller believes. Reconciliation and
// "outcome unknown" recovery read this, so every mutation is idempotent on the caller's key and
// written to disk before it is answered.
//
// Persistence: an append-only JSON-lines file, one full transaction snapshot per change; on load
// the last line for a network_ref wins. The card number and CVC never reach this module: callers
// pass brand and last4 only.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import type {
  CardBrand,
  WireErrorCode,
  WireHistoryEntry,
  WireRefund,
  WireTransaction,
} from '../wire.ts';

/** A refused ledger operation; the server maps it to an HTTP error. */
export class LedgerError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'LedgerError';
  }
}

export interface AuthorizeInput {
  reference: string;
  merchant_id: string;
  amount: number;
  currency: string;
  capture: boolean;
  brand: CardBrand;
  last4: string;
  outcome: { approved: true } | { approved: false; failure_code: string; decline_code: string };
  /** The caller's payment (intent) id, carried into the settlement file. */
  intent_id?: string | null;
  /** A network fault: book the request again under a new network reference even though it was seen. */
  duplicate?: boolean;
}

/** A fault the simulator injected, as it happened (the ledger is the truth about faults too). */
export interface FaultRecord {
  at: number;
  reference: string;
  merchant_id: string;
  kind: string;
  /** timeout: whether the request was executed anyway. */
  executed: boolean;
  delay_ms: number;
  network_ref: string | null;
}

export interface Ledger {
  /** Same reference → the stored transaction again (`replayed: true`), never a second authorization. */
  authorize(input: AuthorizeInput): { tx: WireTransaction; replayed: boolean };
  capture(networkRef: string, amount: number): WireTransaction;
  void(networkRef: string): WireTransaction;
  refund(networkRef: string, amount: number, refundReference: string): { tx: WireTransaction; refund: WireRefund; replayed: boolean };
  get(networkRef: string): WireTransaction | undefined;
  findByReference(reference: string): WireTransaction | undefined;
  /** Every transaction booked for a reference: more than one only after a duplicate fault. */
  findAllByReference(reference: string): WireTransaction[];
  all(): WireTransaction[];
  recordFault(f: Omit<FaultRecord, 'at'>): FaultRecord;
  faults(): FaultRecord[];
  close(): void;
}

export interface LedgerOptions {
  /** JSON-lines file; omitted → memory only. */
  path?: string;
  /** Unix seconds. */
  now?: () => number;
  newNetworkRef?: () => string;
}

export function newNetworkRef(): string {
  return `epn_${randomBytes(12).toString('hex')}`;
}

const REFUNDABLE = new Set(['captured', 'partially_refunded']);

export function createLedger(opts: LedgerOptions = {}): Ledger {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const mkRef = opts.newNetworkRef ?? newNetworkRef;
  const byRef = new Map<string, WireTransaction>();
  // The first network reference for a caller's reference is its answer; a duplicate adds more.
  const byReference = new Map<string, string[]>();
  const faultLog: FaultRecord[] = [];
  const byRefundReference = new Map<string, string>();

  const index = (tx: WireTransaction): void => {
    byRef.set(tx.network_ref, tx);
    const refs = byReference.get(tx.reference) ?? [];
    if (!refs.includes(tx.network_ref)) byReference.set(tx.reference, [...refs, tx.network_ref]);
    for (const r of tx.refunds) byRefundReference.set(r.refund_reference, tx.network_ref);
  };

  let fd: number | undefined;
  // After close a change could no longer be persisted, so it is refused rather than kept in memory only.
  let closed = false;
  if (opts.path !== undefined) {
    const loaded = load(opts.path);
    for (const tx of loaded.txs) index(tx);
    faultLog.push(...loaded.faults);
    mkdirSync(path.dirname(opts.path), { recursive: true });
    fd = openSync(opts.path, 'a');
  }

  // Disk first, memory second: a failed write must not leave an answer the file cannot back.
  const commit = (tx: WireTransaction): WireTransaction => {
    if (closed) throw new Error('ledger is closed');
    if (fd !== undefined) writeSync(fd, `${JSON.stringify({ v: 1, tx })}\n`);
    index(tx);
    return structuredClone(tx);
  };

  const mustGet = (networkRef: string): WireTransaction => {
    const tx = byRef.get(networkRef);
    if (!tx) throw new LedgerError('resource_missing', `No such transaction: '${networkRef}'`, 404);
    return tx;
  };

  const change = (tx: WireTransaction, patch: Partial<WireTransaction>, entry: Omit<WireHistoryEntry, 'at'>): WireTransaction => {
    const at = now();
    return { ...structuredClone(tx), ...patch, updated_at: at, history: [...tx.history, { ...entry, at }] };
  };

  return {
    authorize(input) {
      const existingRef = byReference.get(input.reference)?.[0];
      if (existingRef !== undefined && !input.duplicate) {
        const tx = mustGet(existingRef);
        // A reused key with different terms is a caller bug; answering the old result would hide it.
        if (tx.merchant_id !== input.merchant_id || tx.amount !== input.amount || tx.currency !== input.currency) {
          throw new LedgerError(
            'reference_conflict',
            `Reference '${input.reference}' was already used for a different authorization.`,
            409,
          );
        }
        return { tx: structuredClone(tx), replayed: true };
      }
      const at = now();
      const approved = input.outcome.approved;
      const captured = approved && input.capture;
      const history: WireHistoryEntry[] = [{ action: approved ? 'authorized' : 'declined', at, amount: input.amount }];
      if (captured) history.push({ action: 'captured', at, amount: input.amount });
      const tx: WireTransaction = {
        network_ref: mkRef(),
        reference: input.reference,
        intent_id: input.intent_id ?? null,
        merchant_id: input.merchant_id,
        amount: input.amount,
        currency: input.currency,
        status: !approved ? 'declined' : captured ? 'captured' : 'authorized',
        amount_captured: captured ? input.amount : 0,
        amount_refunded: 0,
        decline_code: input.outcome.approved ? null : input.outcome.decline_code,
        failure_code: input.outcome.approved ? null : input.outcome.failure_code,
        brand: input.brand,
        last4: input.last4,
        created_at: at,
        updated_at: at,
        refunds: [],
        history,
      };
      return { tx: commit(tx), replayed: false };
    },

    capture(networkRef, amount) {
      const tx = mustGet(networkRef);
      if (tx.status !== 'authorized') {
        // A retried capture (same amount) is answered with the capture that already happened.
        if (tx.amount_captured > 0 && tx.amount_captured === amount) return structuredClone(tx);
        throw new LedgerError('invalid_state', `Transaction '${networkRef}' is ${tx.status} and cannot be captured.`, 409);
      }
      if (amount > tx.amount) {
        throw new LedgerError('amount_too_large', `Capture amount ${amount} exceeds the authorized ${tx.amount}.`, 400);
      }
      return commit(change(tx, { status: 'captured', amount_captured: amount }, { action: 'captured', amount }));
    },

    void(networkRef) {
      const tx = mustGet(networkRef);
      if (tx.status === 'voided') return structuredClone(tx);
      if (tx.status !== 'authorized') {
        throw new LedgerError('invalid_state', `Transaction '${networkRef}' is ${tx.status} and cannot be voided.`, 409);
      }
      return commit(change(tx, { status: 'voided' }, { action: 'voided' }));
    },

    refund(networkRef, amount, refundReference) {
      const tx = mustGet(networkRef);
      const seenOn = byRefundReference.get(refundReference);
      if (seenOn !== undefined) {
        const prior = seenOn === networkRef ? tx.refunds.find((r) => r.refund_reference === refundReference) : undefined;
        if (!prior || prior.amount !== amount) {
          throw new LedgerError(
            'reference_conflict',
            `Refund reference '${refundReference}' was already used for a different refund.`,
            409,
          );
        }
        return { tx: structuredClone(tx), refund: { ...prior }, replayed: true };
      }
      if (!REFUNDABLE.has(tx.status)) {
        throw new LedgerError('invalid_state', `Transaction '${networkRef}' is ${tx.status} and cannot be refunded.`, 409);
      }
      const remaining = tx.amount_captured - tx.amount_refunded;
      if (amount > remaining) {
        throw new LedgerError('amount_too_large', `Refund amount ${amount} exceeds the refundable ${remaining}.`, 400);
      }
      const refund: WireRefund = { refund_reference: refundReference, network_ref: networkRef, amount, created_at: now() };
      const refunded = tx.amount_refunded + amount;
      const next = change(
        tx,
        {
          status: refunded === tx.amount_captured ? 'refunded' : 'partially_refunded',
          amount_refunded: refunded,
          refunds: [...tx.refunds, refund],
        },
        { action: 'refunded', amount, refund_reference: refundReference },
      );
      return { tx: commit(next), refund: { ...refund }, replayed: false };
    },

    get(networkRef) {
      const tx = byRef.get(networkRef);
      return tx && structuredClone(tx);
    },

    findByReference(reference) {
      const ref = byReference.get(reference)?.[0];
      const tx = ref === undefined ? undefined : byRef.get(ref);
      return tx && structuredClone(tx);
    },

    findAllByReference(reference) {
      return (byReference.get(reference) ?? []).flatMap((r) => {
        const tx = byRef.get(r);
        return tx ? [structuredClone(tx)] : [];
      });
    },

    all() {
      return [...byRef.values()].map((tx) => structuredClone(tx));
    },

    recordFault(f) {
      if (closed) throw new Error('ledger is closed');
      const rec: FaultRecord = { at: now(), ...f };
      if (fd !== undefined) writeSync(fd, `${JSON.stringify({ v: 1, fault: rec })}\n`);
      faultLog.push(rec);
      return { ...rec };
    },

    faults() {
      return faultLog.map((f) => ({ ...f }));
    },

    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      closed = true;
    },
  };
}

/**
 * Reads the snapshots back. A torn last line (crash mid-write) is cut off so the next append
 * starts clean; a bad line anywhere else is corruption and refuses to start.
 */
function load(file: string): { txs: WireTransaction[]; faults: FaultRecord[] } {
  if (!existsSync(file)) return { txs: [], faults: [] };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  if (tail !== '') truncateSync(file, Buffer.byteLength(text, 'utf8') - Buffer.byteLength(tail, 'utf8'));
  const latest = new Map<string, WireTransaction>();
  const faults: FaultRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: { v?: number; tx?: WireTransaction; fault?: FaultRecord };
    try {
      rec = JSON.parse(line) as { v?: number; tx?: WireTransaction; fault?: FaultRecord };
    } catch {
      throw new Error(`${file}:${i + 1}: ledger line is not JSON`);
    }
    if (rec.v === 1 && rec.fault && typeof rec.fault.reference === 'string') {
      faults.push(rec.fault);
      return;
    }
    if (rec.v !== 1 || typeof rec.tx?.network_ref !== 'string') throw new Error(`${file}:${i + 1}: not a ledger record`);
    latest.set(rec.tx.network_ref, rec.tx);
  });
  return { txs: [...latest.values()], faults };
}
