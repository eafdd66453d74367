// Pure: the deterministic matching of the network's settlement file against our attempts. A row
// is keyed by attempt id (the network's reference) + network reference, and checked on amount,
// currency and status; what the network holds money for but we do not keep is marked for reversal.
import { createHash } from 'node:crypto';
import type { AttemptStatus, IntentStatus } from '../actors/mod.ts';
import type { WireSettlementRow } from '../epn/wire.ts';
import { holdsMoney } from './stray.ts';

/** One of our attempts as the read model holds it. */
export interface OurAttempt {
  id: string;
  intent_id: string;
  merchant_id: string;
  amount: number;
  currency: string;
  status: AttemptStatus;
  network_ref: string | null;
  intent_status: IntentStatus;
  /** unix seconds */
  created_at: number;
}

export type MatchKind = 'matched' | 'in_flight' | 'missing_ours' | 'missing_theirs' | 'amount_mismatch' | 'status_mismatch';
export type DiscrepancyKind = Exclude<MatchKind, 'matched' | 'in_flight'>;

export interface MatchResult {
  kind: MatchKind;
  merchant_id: string;
  intent_id: string | null;
  attempt_id: string | null;
  network_ref: string | null;
  currency: string | null;
  our_amount: number | null;
  their_amount: number | null;
  our_status: string | null;
  their_status: string | null;
  detail: string;
  /** The network holds money we do not keep: give it back (intent.reconcile reverse_stray). */
  reverse: boolean;
}

/** Same discrepancy, same id, whichever run finds it again. */
export function discrepancyId(kind: DiscrepancyKind, attemptId: string | null, networkRef: string | null): string {
  return `dsc_${createHash('sha256').update(`${kind}|${attemptId ?? ''}|${networkRef ?? ''}`).digest('hex').slice(0, 24)}`;
}

const IN_FLIGHT: ReadonlySet<AttemptStatus> = new Set(['pending', 'in_doubt', 'requires_action']);

/** One settlement row against our attempt for its reference (undefined: we have none). */
export function matchRow(row: WireSettlementRow, our: OurAttempt | undefined): MatchResult {
  const base = {
    merchant_id: row.merchant_id,
    intent_id: our?.intent_id ?? row.intent_id,
    attempt_id: row.attempt_id,
    network_ref: row.network_ref,
    currency: row.currency,
    our_amount: our?.amount ?? null,
    their_amount: row.amount,
    our_status: our?.status ?? null,
    their_status: row.status,
    reverse: false,
  };
  if (!our) {
    return { ...base, kind: 'missing_ours', detail: `The network booked ${row.network_ref} (${row.status}) for reference ${row.attempt_id}, which we have no attempt for.` };
  }
  if (IN_FLIGHT.has(our.status)) return { ...base, kind: 'in_flight', detail: `Attempt ${our.id} is still ${our.status}.` };
  if (our.amount !== row.amount || our.currency !== row.currency) {
    return { ...base, kind: 'amount_mismatch', detail: `We hold ${our.amount} ${our.currency}, the network booked ${row.amount} ${row.currency}.` };
  }
  const moved = holdsMoney(row);
  if (our.status === 'succeeded') {
    if (our.network_ref !== row.network_ref) {
      // The network booked the request twice: a second network reference we never got.
      return moved
        ? { ...base, kind: 'missing_ours', reverse: true, detail: `Second booking ${row.network_ref} of attempt ${our.id} (ours is ${our.network_ref ?? 'none'}): reversed.` }
        : { ...base, kind: 'matched', detail: `Second booking ${row.network_ref} already given back (${row.status}).` };
    }
    if (row.status === 'declined') return { ...base, kind: 'status_mismatch', detail: `We hold ${our.id} succeeded; the network declined it.` };
    if (row.status === 'voided' && our.intent_status !== 'canceled') {
      return { ...base, kind: 'status_mismatch', detail: `We hold ${our.id} succeeded; the network voided it.` };
    }
    return { ...base, kind: 'matched', detail: 'succeeded on both sides' };
  }
  // Ours failed: the network must not hold money for it.
  if (moved) {
    return { ...base, kind: 'status_mismatch', reverse: true, detail: `We settled ${our.id} as failed; the network ${row.status} it: reversed.` };
  }
  return { ...base, kind: 'matched', detail: `failed on our side, ${row.status} at the network` };
}

/** Our succeeded attempts of the day the file does not have. */
export function missingTheirs(ours: OurAttempt[], rows: WireSettlementRow[]): MatchResult[] {
  const booked = new Set(rows.map((r) => r.network_ref));
  return ours
    .filter((a) => a.status === 'succeeded' && (a.network_ref === null || !booked.has(a.network_ref)))
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((a) => ({
      kind: 'missing_theirs' as const,
      merchant_id: a.merchant_id,
      intent_id: a.intent_id,
      attempt_id: a.id,
      network_ref: a.network_ref,
      currency: a.currency,
      our_amount: a.amount,
      their_amount: null,
      our_status: a.status,
      their_status: null,
      detail: `We hold ${a.id} succeeded (${a.network_ref ?? 'no network reference'}); the network's settlement file does not have it.`,
      reverse: false,
    }));
}
