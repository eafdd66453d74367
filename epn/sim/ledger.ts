// What the network really did, independent of what any caller believes. Reconciliation and
// "outcome unknown" recovery read this, so every mutation is idempotent on the caller's key and
// written to disk before it is answered.
//
// Persistence: an append-only JSON-lines file, one full transaction snapshot per change; on load
// the last line for a network_ref wins. The card number and CVC never reach this module: callers
// pass brand and last4 only.
//
// Memory: the file is the store. A process that lives for weeks books millions of transactions, and
// keeping each one as objects (about 1 KB) made the simulator's memory grow without bound. So only
// the newest `cacheMax` transactions are kept as objects; every transaction has a slot (booking
// order) that records where its latest line is in the file, and open-addressing hash tables on typed
// arrays map a reference, network reference or refund reference to candidate slots (a hash match is
// always checked against the record itself). That is about 100 bytes per transaction, however old,
// and every question the ledger answered before (inquiries by reference, by network reference, the
// ledger and settlement listings, replays of a reference or refund reference) is answered the same,
// from the cache or by reading the line back. Without a file (tests) the latest line of each slot is
// kept as a string instead.
//
// Chargebacks: a transaction of a dispute test card carries the issuer's intent (`dispute`, beside
// the transaction on its lines, never inside the WireTransaction answers) until it is captured; the
// line of the capture carries the chargeback it filed, so the two are written at once. Every later
// change of a case is a `{ v: 1, cb }` line with the case's new feed position (`seq`); on load the
// last line of a case wins and the feed position is the highest seen. Cases are few (test cards
// only), so they are all kept as objects. The evidence of a representment is not kept, only its
// reference (for idempotency) and the decision it led to.
//
// Fraud reports (early fraud warnings) follow the same path: the issuer's intent (`fraud`) rides
// beside an authorized transaction of a fraud test card, and the line of its capture carries the
// report it filed (`fr`). A report never changes, so there are no later lines for it; on load every
// report is read back from its capture line and the fraud feed's position is the highest seq seen
// (a feed of its own, independent of the chargeback feed). Reports are few and kept as objects.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { randomHex } from '../../vault/random.ts';
import type { DisputeIntent, FraudIntent } from './cards.ts';
import type {
  CardBrand,
  WireChargeback,
  WireChargebackFeed,
  WireErrorCode,
  WireFraudReport,
  WireFraudReportFeed,
  WireHistoryEntry,
  WireRefund,
  WireRepresentmentRequest,
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
  /** The issuer disputes the transaction once it is captured (a dispute test card; the card number itself is not passed). */
  dispute?: DisputeIntent | null;
  /** The issuer reports the transaction as fraud once it is captured (a fraud test card; the card number itself is not passed). */
  fraud?: FraudIntent | null;
}

/**
 * A chargeback as the ledger keeps it: the wire answer, plus the representment references seen
 * (idempotency) and the decision taken on a representment, which applies once `at` has come.
 */
interface ChargebackRecord extends WireChargeback {
  representment_refs: string[];
  /** `at`: unix seconds, fractional (the decision delay is in milliseconds). */
  decision: { status: 'won' | 'lost'; at: number } | null;
}

/** A case still open this long after it was filed is lost. */
export const CHARGEBACK_RESPONSE_SECONDS = 7 * 86_400;
export const CHARGEBACK_FEED_LIMIT_DEFAULT = 100;
export const CHARGEBACK_FEED_LIMIT_MAX = 1_000;
export const FRAUD_FEED_LIMIT_DEFAULT = 100;
export const FRAUD_FEED_LIMIT_MAX = 1_000;

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
  /** Whether a transaction was booked for the reference (findByReference without the copy). */
  has(reference: string): boolean;
  findByReference(reference: string): WireTransaction | undefined;
  /** Every transaction booked for a reference: more than one only after a duplicate fault. */
  findAllByReference(reference: string): WireTransaction[];
  all(): WireTransaction[];
  /** The transactions booked on a UTC day (YYYY-MM-DD), in booking order; only that day's are read. */
  ofDay(date: string): WireTransaction[];
  recordFault(f: Omit<FaultRecord, 'at'>): FaultRecord;
  faults(): FaultRecord[];
  /**
   * The chargeback feed: what is due is applied first (a decision whose time has come, an open case
   * past due_by lost), then the cases changed after feed position `after`, in feed order, at most
   * `limit` (default 100, at most 1,000). `now`: unix seconds (default the ledger's clock).
   */
  feed(after: number, limit?: number, now?: number): WireChargebackFeed;
  /** One case (what is due for it applied first); undefined when unknown. */
  chargeback(chargebackRef: string, now?: number): WireChargeback | undefined;
  /** The case filed against a transaction, if any (as it stands, nothing applied). */
  chargebackOf(networkRef: string): WireChargeback | undefined;
  /** The merchant's evidence: idempotent on `reference`; 409 invalid_state once won or lost; 404 when unknown. */
  represent(chargebackRef: string, p: WireRepresentmentRequest, now?: number): WireChargeback;
  /** The merchant accepts the chargeback: lost at once (a repeat answers the case); 409 invalid_state when won. */
  accept(chargebackRef: string, now?: number): WireChargeback;
  /**
   * The fraud report feed: the reports filed after feed position `after`, in feed order, at most
   * `limit` (default 100, at most 1,000); `next` is the last returned report's seq, or `after`.
   */
  fraudFeed(after: number, limit?: number): WireFraudReportFeed;
  /** The report filed against a transaction, if any. */
  fraudReportOfTx(networkRef: string): WireFraudReport | undefined;
  close(): void;
}

export interface LedgerOptions {
  /** JSON-lines file; omitted → memory only. */
  path?: string;
  /** Unix seconds. */
  now?: () => number;
  newNetworkRef?: () => string;
  /** Transactions kept as objects (the newest booked or changed); the rest are read back when asked for. Default 1,000. */
  cacheMax?: number;
  /** How long after a representment the network's decision takes effect, ms. Default 0 (the next feed read). */
  chargebackDecisionMs?: number;
  newChargebackRef?: () => string;
  newFraudReportRef?: () => string;
}

export function newNetworkRef(): string {
  return `epn_${randomHex(12)}`;
}

export function newChargebackRef(): string {
  return `cb_${randomHex(12)}`;
}

export function newFraudReportRef(): string {
  return `fr_${randomHex(12)}`;
}

/** The wire answer: the record without what only the network knows. */
function chargebackWire(cb: ChargebackRecord): WireChargeback {
  return {
    chargeback_ref: cb.chargeback_ref,
    network_ref: cb.network_ref,
    reference: cb.reference,
    intent_id: cb.intent_id,
    merchant_id: cb.merchant_id,
    amount: cb.amount,
    currency: cb.currency,
    reason: cb.reason,
    inquiry: cb.inquiry,
    status: cb.status,
    due_by: cb.due_by,
    representments: cb.representments,
    seq: cb.seq,
    created_at: cb.created_at,
    updated_at: cb.updated_at,
  };
}

const REFUNDABLE = new Set(['captured', 'partially_refunded']);
const DEFAULT_CACHE_MAX = 1_000;

/** An independent copy (callers get copies; the cache keeps its own). Keys keep their order. */
function copyTx(tx: WireTransaction): WireTransaction {
  return { ...tx, refunds: tx.refunds.map((r) => ({ ...r })), history: tx.history.map((h) => ({ ...h })) };
}

/**
 * key → slots, as an open-addressing table of two 32-bit hashes and a slot number. Several slots
 * may share a key (a duplicate booking) and two keys may share both hashes, so a lookup yields
 * candidates the caller checks against the record.
 */
class SlotIndex {
  private h1 = new Uint32Array(1024);
  private h2 = new Uint32Array(1024);
  private slot = new Int32Array(1024).fill(-1);
  private size = 0;

  add(key: string, slot: number): void {
    if ((this.size + 1) * 2 > this.slot.length) this.grow();
    this.put(hash1(key), hash2(key), slot);
    this.size++;
  }

  /** Candidate slots for the key, lowest (first booked) first. */
  candidates(key: string): number[] {
    const a = hash1(key);
    const b = hash2(key);
    const mask = this.slot.length - 1;
    const out: number[] = [];
    for (let i = a & mask; this.slot[i] !== -1; i = (i + 1) & mask) {
      if (this.h1[i] === a && this.h2[i] === b) out.push(this.slot[i]!);
    }
    return out.length > 1 ? out.sort((x, y) => x - y) : out;
  }

  private put(a: number, b: number, slot: number): void {
    const mask = this.slot.length - 1;
    let i = a & mask;
    while (this.slot[i] !== -1) i = (i + 1) & mask;
    this.h1[i] = a;
    this.h2[i] = b;
    this.slot[i] = slot;
  }

  private grow(): void {
    const { h1, h2, slot } = this;
    const n = slot.length * 2;
    this.h1 = new Uint32Array(n);
    this.h2 = new Uint32Array(n);
    this.slot = new Int32Array(n).fill(-1);
    for (let i = 0; i < slot.length; i++) if (slot[i] !== -1) this.put(h1[i]!, h2[i]!, slot[i]!);
  }
}

/** FNV-1a over UTF-16 code units. */
function hash1(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A second, independent hash (murmur-style mixing), so both rarely collide. */
function hash2(s: string): number {
  let h = 0x9747b28c ^ s.length;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 13;
  }
  h = Math.imul(h ^ (h >>> 15), 0x5bd1e995);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Growable numeric column per slot. */
class Column<T extends Float64Array | Uint32Array> {
  constructor(private make: (n: number) => T, public data: T = make(1024)) {}
  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const next = this.make(Math.max(this.data.length * 2, i + 1));
      next.set(this.data);
      this.data = next;
    }
    this.data[i] = v;
  }
  get(i: number): number {
    return this.data[i]!;
  }
}

/** Where a UTC day's bookings start and end (unix seconds); null for a day that does not exist. */
function dayBounds(date: string): [number, number] | null {
  const start = Date.parse(`${date}T00:00:00Z`) / 1000;
  return Number.isFinite(start) ? [start, start + 86_400] : null;
}

const utcDay = (createdAt: number): string => new Date(createdAt * 1000).toISOString().slice(0, 10);

export function createLedger(opts: LedgerOptions = {}): Ledger {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const mkRef = opts.newNetworkRef ?? newNetworkRef;
  const mkChargebackRef = opts.newChargebackRef ?? newChargebackRef;
  const mkFraudReportRef = opts.newFraudReportRef ?? newFraudReportRef;
  const decisionSeconds = Math.max(0, opts.chargebackDecisionMs ?? 0) / 1000;
  const cacheMax = Math.max(0, opts.cacheMax ?? DEFAULT_CACHE_MAX);

  // Slots in booking order; the first slot for a caller's reference is its answer, a duplicate adds more.
  let slots = 0;
  const byReference = new SlotIndex();
  const byNetworkRef = new SlotIndex();
  const byRefundReference = new SlotIndex();
  const createdAt = new Column((n) => new Float64Array(n));
  // File: where the slot's latest line is. Memory only: the line itself.
  const lineAt = new Column((n) => new Float64Array(n));
  const lineLen = new Column((n) => new Uint32Array(n));
  const lines: string[] = [];
  // The newest booked or changed transactions, as objects (Map order: oldest first).
  const cache = new Map<number, WireTransaction>();
  const faultLog: FaultRecord[] = [];
  // Chargebacks: the issuer's intent for a disputed transaction not yet captured (network_ref →
  // intent), every case (Map order is feed order: a changed case is re-inserted at the end), the
  // case of a transaction, and the feed position of the last change.
  const disputes = new Map<string, DisputeIntent>();
  const cases = new Map<string, ChargebackRecord>();
  const caseOfTx = new Map<string, string>();
  let feedSeq = 0;
  // Fraud reports: the issuer's intent for a transaction not yet captured (network_ref → intent),
  // every report in feed order (seq increasing), the report of a transaction, and the feed position
  // of the last report.
  const frauds = new Map<string, FraudIntent>();
  const reports: WireFraudReport[] = [];
  const reportOfTx = new Map<string, WireFraudReport>();
  let fraudSeq = 0;

  let fd: number | undefined;
  let rfd: number | undefined;
  let end = 0;
  let readBuf = Buffer.allocUnsafe(4096);
  // After close a change could no longer be persisted, so it is refused rather than kept in memory only.
  let closed = false;

  const newSlot = (tx: WireTransaction): number => {
    const slot = slots++;
    byReference.add(tx.reference, slot);
    byNetworkRef.add(tx.network_ref, slot);
    createdAt.set(slot, tx.created_at);
    return slot;
  };

  if (opts.path !== undefined) {
    mkdirSync(path.dirname(opts.path), { recursive: true });
    const loaded = load(opts.path, (tx, refunds, at, len, slotOf) => {
      let slot = slotOf(tx.network_ref);
      if (slot === undefined) slot = newSlot(tx);
      lineAt.set(slot, at);
      lineLen.set(slot, len);
      for (const r of refunds) byRefundReference.add(r, slot);
      return slot;
    });
    faultLog.push(...loaded.faults);
    for (const [ref, d] of loaded.disputes) disputes.set(ref, d);
    for (const cb of [...loaded.chargebacks.values()].sort((a, b) => a.seq - b.seq)) {
      cases.set(cb.chargeback_ref, cb);
      caseOfTx.set(cb.network_ref, cb.chargeback_ref);
      disputes.delete(cb.network_ref);
      feedSeq = Math.max(feedSeq, cb.seq);
    }
    for (const [ref, f] of loaded.frauds) frauds.set(ref, f);
    for (const fr of [...loaded.reports.values()].sort((a, b) => a.seq - b.seq)) {
      reports.push(fr);
      reportOfTx.set(fr.network_ref, fr);
      frauds.delete(fr.network_ref);
      fraudSeq = Math.max(fraudSeq, fr.seq);
    }
    fd = openSync(opts.path, 'a');
    rfd = openSync(opts.path, 'r');
    end = fstatSync(fd).size;
  }

  const readLine = (slot: number): WireTransaction => {
    if (opts.path === undefined) return (JSON.parse(lines[slot]!) as { tx: WireTransaction }).tx;
    if (rfd === undefined) throw new Error('ledger is closed');
    const len = lineLen.get(slot);
    if (readBuf.length < len) readBuf = Buffer.allocUnsafe(Math.max(len, readBuf.length * 2));
    const n = readSync(rfd, readBuf, 0, len, lineAt.get(slot));
    if (n !== len) throw new Error(`ledger: short read at ${lineAt.get(slot)}`);
    return (JSON.parse(readBuf.toString('utf8', 0, len)) as { tx: WireTransaction }).tx;
  };

  /** The slot's transaction: the cached object itself (not to be handed out) or one read back. */
  const at = (slot: number): WireTransaction => cache.get(slot) ?? readLine(slot);

  const remember = (slot: number, tx: WireTransaction): void => {
    if (cacheMax === 0) return;
    cache.delete(slot);
    cache.set(slot, tx);
    if (cache.size > cacheMax) cache.delete(cache.keys().next().value!);
  };

  const slotsOfReference = (reference: string): number[] => byReference.candidates(reference).filter((s) => at(s).reference === reference);

  const slotOfNetworkRef = (networkRef: string): number | undefined => {
    for (const s of byNetworkRef.candidates(networkRef)) if (at(s).network_ref === networkRef) return s;
    return undefined;
  };

  // Disk first, memory second: a failed write must not leave an answer the file cannot back.
  // `tx` is a new object owned by the ledger from here on; the caller gets a copy.
  // `extra`: the issuer's dispute and fraud intents (kept beside the transaction until it is
  // captured) or the chargeback and fraud report its capture filed, written on the same line.
  const commit = (tx: WireTransaction, slot: number | undefined, prevRefunds: number, extra: CommitExtra = {}): WireTransaction => {
    if (closed) throw new Error('ledger is closed');
    const line = `${JSON.stringify({ v: 1, tx, ...extra })}\n`;
    let len = 0;
    if (fd !== undefined) {
      len = writeSync(fd, line);
      const want = Buffer.byteLength(line);
      if (len !== want) {
        end += len;
        throw new Error(`ledger: short write (${len} of ${want} bytes)`);
      }
    }
    const s = slot ?? newSlot(tx);
    if (fd !== undefined) {
      lineAt.set(s, end);
      lineLen.set(s, len);
      end += len;
    } else {
      lines[s] = line;
    }
    for (let i = prevRefunds; i < tx.refunds.length; i++) byRefundReference.add(tx.refunds[i]!.refund_reference, s);
    remember(s, tx);
    if (extra.dispute) disputes.set(tx.network_ref, extra.dispute);
    else if (tx.status !== 'authorized') disputes.delete(tx.network_ref);
    if (extra.fraud) frauds.set(tx.network_ref, extra.fraud);
    else if (tx.status !== 'authorized') frauds.delete(tx.network_ref);
    if (extra.cb) {
      cases.set(extra.cb.chargeback_ref, extra.cb);
      caseOfTx.set(tx.network_ref, extra.cb.chargeback_ref);
      feedSeq = extra.cb.seq;
    }
    if (extra.fr) {
      reports.push(extra.fr);
      reportOfTx.set(tx.network_ref, extra.fr);
      fraudSeq = extra.fr.seq;
    }
    return copyTx(tx);
  };

  /** The report the issuer files when a transaction of a fraud card is captured (at the capture's time). */
  const newReport = (tx: WireTransaction, f: FraudIntent): WireFraudReport => ({
    report_ref: mkFraudReportRef(),
    network_ref: tx.network_ref,
    reference: tx.reference,
    intent_id: tx.intent_id ?? null,
    merchant_id: tx.merchant_id,
    fraud_type: f.fraud_type,
    seq: fraudSeq + 1,
    created_at: tx.updated_at,
  });

  /** The case the issuer files when a disputed transaction is captured (at the capture's time). */
  const newCase = (tx: WireTransaction, d: DisputeIntent): ChargebackRecord => ({
    chargeback_ref: mkChargebackRef(),
    network_ref: tx.network_ref,
    reference: tx.reference,
    intent_id: tx.intent_id ?? null,
    merchant_id: tx.merchant_id,
    amount: tx.amount_captured,
    currency: tx.currency,
    reason: d.reason,
    inquiry: d.inquiry,
    status: 'open',
    due_by: tx.updated_at + CHARGEBACK_RESPONSE_SECONDS,
    representments: 0,
    seq: feedSeq + 1,
    created_at: tx.updated_at,
    updated_at: tx.updated_at,
    representment_refs: [],
    decision: null,
  });

  /** A case changed: written (disk first), then moved to the end of the feed under the next position. */
  const changeCase = (cb: ChargebackRecord, patch: Partial<ChargebackRecord>, at: number): ChargebackRecord => {
    if (closed) throw new Error('ledger is closed');
    const next: ChargebackRecord = { ...cb, representment_refs: [...cb.representment_refs], ...patch, seq: feedSeq + 1, updated_at: Math.floor(at) };
    if (fd !== undefined) {
      const line = `${JSON.stringify({ v: 1, cb: next })}\n`;
      const len = writeSync(fd, line);
      end += len;
      const want = Buffer.byteLength(line);
      if (len !== want) throw new Error(`ledger: short write (${len} of ${want} bytes)`);
    }
    cases.delete(cb.chargeback_ref);
    cases.set(cb.chargeback_ref, next);
    feedSeq = next.seq;
    return next;
  };

  const isDue = (cb: ChargebackRecord, at: number): boolean =>
    (cb.status === 'under_review' && cb.decision !== null && cb.decision.at <= at) || (cb.status === 'open' && cb.due_by < at);

  /** What has come due for the case: a decision taken, or the deadline passed while open. */
  const settle = (cb: ChargebackRecord, at: number): ChargebackRecord => {
    if (!isDue(cb, at)) return cb;
    if (cb.status === 'open') return changeCase(cb, { status: 'lost', decision: null }, at);
    return changeCase(cb, { status: cb.decision!.status, decision: null }, at);
  };

  const mustCase = (chargebackRef: string, at: number): ChargebackRecord => {
    const cb = cases.get(chargebackRef);
    if (!cb) throw new LedgerError('resource_missing', `No such chargeback: '${chargebackRef}'`, 404);
    return settle(cb, at);
  };

  const mustGet = (networkRef: string): { slot: number; tx: WireTransaction } => {
    const slot = slotOfNetworkRef(networkRef);
    if (slot === undefined) throw new LedgerError('resource_missing', `No such transaction: '${networkRef}'`, 404);
    return { slot, tx: at(slot) };
  };

  const change = (tx: WireTransaction, patch: Partial<WireTransaction>, entry: Omit<WireHistoryEntry, 'at'>): WireTransaction => {
    const at = now();
    const next = copyTx(tx);
    return { ...next, ...patch, updated_at: at, history: [...next.history, { ...entry, at }] };
  };

  return {
    authorize(input) {
      const existing = input.duplicate ? undefined : slotsOfReference(input.reference)[0];
      if (existing !== undefined) {
        const tx = at(existing);
        // A reused key with different terms is a caller bug; answering the old result would hide it.
        if (tx.merchant_id !== input.merchant_id || tx.amount !== input.amount || tx.currency !== input.currency) {
          throw new LedgerError(
            'reference_conflict',
            `Reference '${input.reference}' was already used for a different authorization.`,
            409,
          );
        }
        return { tx: copyTx(tx), replayed: true };
      }
      const at0 = now();
      const approved = input.outcome.approved;
      const captured = approved && input.capture;
      const history: WireHistoryEntry[] = [{ action: approved ? 'authorized' : 'declined', at: at0, amount: input.amount }];
      if (captured) history.push({ action: 'captured', at: at0, amount: input.amount });
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
        created_at: at0,
        updated_at: at0,
        refunds: [],
        history,
      };
      // The issuer's intents: filed now when captured, else kept beside the transaction until its capture.
      const dispute = approved && input.dispute ? { reason: input.dispute.reason, inquiry: input.dispute.inquiry } : undefined;
      const fraud = approved && input.fraud ? { fraud_type: input.fraud.fraud_type } : undefined;
      const extra: CommitExtra = {};
      if (dispute) {
        if (captured) extra.cb = newCase(tx, dispute);
        else extra.dispute = dispute;
      }
      if (fraud) {
        if (captured) extra.fr = newReport(tx, fraud);
        else extra.fraud = fraud;
      }
      return { tx: commit(tx, undefined, 0, extra), replayed: false };
    },

    capture(networkRef, amount) {
      const { slot, tx } = mustGet(networkRef);
      if (tx.status !== 'authorized') {
        // A retried capture (same amount) is answered with the capture that already happened.
        if (tx.amount_captured > 0 && tx.amount_captured === amount) return copyTx(tx);
        throw new LedgerError('invalid_state', `Transaction '${networkRef}' is ${tx.status} and cannot be captured.`, 409);
      }
      if (amount > tx.amount) {
        throw new LedgerError('amount_too_large', `Capture amount ${amount} exceeds the authorized ${tx.amount}.`, 400);
      }
      const next = change(tx, { status: 'captured', amount_captured: amount }, { action: 'captured', amount });
      const extra: CommitExtra = {};
      const dispute = disputes.get(networkRef);
      if (dispute !== undefined && !caseOfTx.has(networkRef)) extra.cb = newCase(next, dispute);
      const fraud = frauds.get(networkRef);
      if (fraud !== undefined && !reportOfTx.has(networkRef)) extra.fr = newReport(next, fraud);
      return commit(next, slot, tx.refunds.length, extra);
    },

    void(networkRef) {
      const { slot, tx } = mustGet(networkRef);
      if (tx.status === 'voided') return copyTx(tx);
      if (tx.status !== 'authorized') {
        throw new LedgerError('invalid_state', `Transaction '${networkRef}' is ${tx.status} and cannot be voided.`, 409);
      }
      return commit(change(tx, { status: 'voided' }, { action: 'voided' }), slot, tx.refunds.length);
    },

    refund(networkRef, amount, refundReference) {
      const { slot, tx } = mustGet(networkRef);
      let seenOn: string | undefined;
      for (const s of byRefundReference.candidates(refundReference)) {
        const other = s === slot ? tx : at(s);
        if (other.refunds.some((r) => r.refund_reference === refundReference)) seenOn = other.network_ref;
      }
      if (seenOn !== undefined) {
        const prior = seenOn === networkRef ? tx.refunds.find((r) => r.refund_reference === refundReference) : undefined;
        if (!prior || prior.amount !== amount) {
          throw new LedgerError(
            'reference_conflict',
            `Refund reference '${refundReference}' was already used for a different refund.`,
            409,
          );
        }
        return { tx: copyTx(tx), refund: { ...prior }, replayed: true };
      }
      if (!REFUNDABLE.has(tx.status)) {
        throw new LedgerError('invalid_state', `Transaction '${networkRef}' is ${tx.status} and cannot be refunded.`, 409);
      }
      // The issuer took the money back: a chargeback not won cannot also be refunded (an inquiry can).
      const caseRef = caseOfTx.get(networkRef);
      if (caseRef !== undefined) {
        const cb = settle(cases.get(caseRef)!, now());
        if (!cb.inquiry && cb.status !== 'won') {
          throw new LedgerError('charge_disputed', `Transaction ${networkRef} has been charged back; it cannot be refunded.`, 409);
        }
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
          refunds: [...tx.refunds.map((r) => ({ ...r })), refund],
        },
        { action: 'refunded', amount, refund_reference: refundReference },
      );
      return { tx: commit(next, slot, tx.refunds.length), refund: { ...refund }, replayed: false };
    },

    get(networkRef) {
      const slot = slotOfNetworkRef(networkRef);
      return slot === undefined ? undefined : copyTx(at(slot));
    },

    has(reference) {
      return slotsOfReference(reference).length > 0;
    },

    findByReference(reference) {
      const slot = slotsOfReference(reference)[0];
      return slot === undefined ? undefined : copyTx(at(slot));
    },

    findAllByReference(reference) {
      return slotsOfReference(reference).map((s) => copyTx(at(s)));
    },

    all() {
      const out: WireTransaction[] = [];
      for (let s = 0; s < slots; s++) out.push(copyTx(at(s)));
      return out;
    },

    ofDay(date) {
      const bounds = dayBounds(date);
      if (!bounds) return [];
      const out: WireTransaction[] = [];
      for (let s = 0; s < slots; s++) {
        const c = createdAt.get(s);
        // The bounds only spare reading other days; the day itself is decided as txDate does.
        if (c < bounds[0] - 86_400 || c >= bounds[1] + 86_400 || utcDay(c) !== date) continue;
        out.push(copyTx(at(s)));
      }
      return out;
    },

    recordFault(f) {
      if (closed) throw new Error('ledger is closed');
      const rec: FaultRecord = { at: now(), ...f };
      if (fd !== undefined) end += writeSync(fd, `${JSON.stringify({ v: 1, fault: rec })}\n`);
      faultLog.push(rec);
      return { ...rec };
    },

    faults() {
      return faultLog.map((f) => ({ ...f }));
    },

    feed(after, limit = CHARGEBACK_FEED_LIMIT_DEFAULT, at = now()) {
      // Collected first: a settled case moves to the end of the Map.
      for (const cb of [...cases.values()].filter((c) => isDue(c, at))) settle(cb, at);
      const max = Math.min(Math.max(1, Math.floor(limit)), CHARGEBACK_FEED_LIMIT_MAX);
      const data: WireChargeback[] = [];
      if (after < feedSeq) {
        for (const cb of cases.values()) {
          if (cb.seq <= after) continue;
          data.push(chargebackWire(cb));
          if (data.length >= max) break;
        }
      }
      return { data, next: data.length > 0 ? data[data.length - 1]!.seq : after };
    },

    chargeback(chargebackRef, at = now()) {
      const cb = cases.get(chargebackRef);
      return cb === undefined ? undefined : chargebackWire(settle(cb, at));
    },

    chargebackOf(networkRef) {
      const ref = caseOfTx.get(networkRef);
      return ref === undefined ? undefined : chargebackWire(cases.get(ref)!);
    },

    represent(chargebackRef, p, at = now()) {
      const cb = mustCase(chargebackRef, at);
      if (cb.representment_refs.includes(p.reference)) return chargebackWire(cb);
      if (cb.status === 'won' || cb.status === 'lost') {
        throw new LedgerError('invalid_state', `Chargeback '${chargebackRef}' is ${cb.status} and cannot be represented.`, 409);
      }
      // Stripe's test-mode evidence words decide the case; anything else stays under review.
      const outcome = p.evidence.includes('winning_evidence') ? 'won' : p.evidence.includes('losing_evidence') ? 'lost' : null;
      const next = changeCase(
        cb,
        {
          status: 'under_review',
          representments: cb.representments + 1,
          representment_refs: [...cb.representment_refs, p.reference],
          decision: outcome === null ? null : { status: outcome, at: at + decisionSeconds },
        },
        at,
      );
      return chargebackWire(next);
    },

    accept(chargebackRef, at = now()) {
      const cb = mustCase(chargebackRef, at);
      if (cb.status === 'lost') return chargebackWire(cb);
      if (cb.status === 'won') throw new LedgerError('invalid_state', `Chargeback '${chargebackRef}' was won and cannot be accepted.`, 409);
      return chargebackWire(changeCase(cb, { status: 'lost', decision: null }, at));
    },

    fraudFeed(after, limit = FRAUD_FEED_LIMIT_DEFAULT) {
      const max = Math.min(Math.max(1, Math.floor(limit)), FRAUD_FEED_LIMIT_MAX);
      // Reports are in seq order: the first one after `after`, by binary search.
      let lo = 0;
      let hi = reports.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (reports[mid]!.seq <= after) lo = mid + 1;
        else hi = mid;
      }
      const data = reports.slice(lo, lo + max).map((r) => ({ ...r }));
      return { data, next: data.length > 0 ? data[data.length - 1]!.seq : after };
    },

    fraudReportOfTx(networkRef) {
      const r = reportOfTx.get(networkRef);
      return r === undefined ? undefined : { ...r };
    },

    close() {
      if (fd !== undefined) closeSync(fd);
      if (rfd !== undefined) closeSync(rfd);
      fd = undefined;
      rfd = undefined;
      closed = true;
    },
  };
}

/** What a transaction's line carries beside it: the issuer's pending intents, or what its capture filed. */
interface CommitExtra {
  dispute?: DisputeIntent;
  cb?: ChargebackRecord;
  fraud?: FraudIntent;
  fr?: WireFraudReport;
}

type LoadedTx = (
  tx: WireTransaction,
  refunds: string[],
  at: number,
  len: number,
  slotOf: (networkRef: string) => number | undefined,
) => number;

/**
 * Reads the snapshots back, a block at a time, handing each transaction line (its new refund
 * references, byte offset and length) to `onTx`. A torn last line (crash mid-write) is cut off so
 * the next append starts clean; a bad line anywhere else is corruption and refuses to start.
 */
interface Loaded {
  faults: FaultRecord[];
  /** network_ref → the issuer's intent, for disputed transactions whose last line still carries it. */
  disputes: Map<string, DisputeIntent>;
  /** chargeback_ref → the case as its last line has it. */
  chargebacks: Map<string, ChargebackRecord>;
  /** network_ref → the issuer's fraud intent, for transactions whose last line still carries it. */
  frauds: Map<string, FraudIntent>;
  /** report_ref → the report, as filed on its capture line. */
  reports: Map<string, WireFraudReport>;
}

function load(file: string, onTx: LoadedTx): Loaded {
  const faults: FaultRecord[] = [];
  const disputes = new Map<string, DisputeIntent>();
  const chargebacks = new Map<string, ChargebackRecord>();
  const frauds = new Map<string, FraudIntent>();
  const reports = new Map<string, WireFraudReport>();
  if (!existsSync(file)) return { faults, disputes, chargebacks, frauds, reports };
  // Only while loading: network reference → slot, and the refund references seen per slot.
  const slotByRef = new Map<string, number>();
  const refundsSeen = new Set<string>();
  const fd = openSync(file, 'r');
  let pos = 0; // file offset of buf[0]
  let lineNo = 0;
  let buf = Buffer.allocUnsafe(1 << 20);
  let have = 0;
  try {
    for (;;) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, pos + have);
      if (n === 0) break;
      have += n;
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1 && nl < have; nl = buf.indexOf(10, start)) {
        lineNo++;
        const text = buf.toString('utf8', start, nl);
        if (text.trim() !== '') {
          type Rec = { v?: number; tx?: WireTransaction; fault?: FaultRecord } & CommitExtra;
          let rec: Rec;
          try {
            rec = JSON.parse(text) as Rec;
          } catch {
            throw new Error(`${file}:${lineNo}: ledger line is not JSON`);
          }
          if (rec.v === 1 && rec.fault && typeof rec.fault.reference === 'string') {
            faults.push(rec.fault);
          } else if (rec.v === 1 && rec.tx === undefined && typeof rec.cb?.chargeback_ref === 'string') {
            chargebacks.set(rec.cb.chargeback_ref, rec.cb);
          } else {
            if (rec.v !== 1 || typeof rec.tx?.network_ref !== 'string') throw new Error(`${file}:${lineNo}: not a ledger record`);
            const tx = rec.tx;
            const fresh = (tx.refunds ?? []).map((r) => r.refund_reference).filter((r) => !refundsSeen.has(r));
            for (const r of fresh) refundsSeen.add(r);
            const slot = onTx(tx, fresh, pos + start, nl + 1 - start, (ref) => slotByRef.get(ref));
            slotByRef.set(tx.network_ref, slot);
            if (rec.dispute) disputes.set(tx.network_ref, rec.dispute);
            else disputes.delete(tx.network_ref);
            if (typeof rec.cb?.chargeback_ref === 'string') chargebacks.set(rec.cb.chargeback_ref, rec.cb);
            if (rec.fraud) frauds.set(tx.network_ref, rec.fraud);
            else frauds.delete(tx.network_ref);
            if (typeof rec.fr?.report_ref === 'string') reports.set(rec.fr.report_ref, rec.fr);
          }
        }
        start = nl + 1;
      }
      // Keep the unfinished line at the front of the buffer.
      buf.copy(buf, 0, start, have);
      pos += start;
      have -= start;
    }
  } finally {
    closeSync(fd);
  }
  if (have > 0) truncateSync(file, pos);
  return { faults, disputes, chargebacks, frauds, reports };
}
