// Disputes (chargebacks) of a PaymentIntent's charges. The cardholder's issuer disputes a captured
// charge at the card network; reconciliation reads the network's chargeback feed and opens the
// dispute here, on the intent that holds the charge, so the intent's single writer is what keeps a
// disputed charge from also being refunded. The merchant answers with evidence (or accepts); the
// network decides; the decision comes back through the feed. Pure: ids and `now` ride on commands.
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';
import { DomainError, assertNever } from '../decider.ts';
import type { Intent } from './intent.ts';

/** Stripe's dispute reasons the network files (a subset of Stripe's list). */
export type DisputeReason = 'fraudulent' | 'product_not_received' | 'general';

/**
 * Stripe's dispute statuses. An inquiry (a retrieval request, no money moved) goes
 * warning_needs_response → warning_under_review → warning_closed; a chargeback goes
 * needs_response → under_review → won | lost.
 */
export type DisputeStatus = 'warning_needs_response' | 'warning_under_review' | 'warning_closed' | 'needs_response' | 'under_review' | 'won' | 'lost';

/** What the network says of a case (epn/wire.ts WireChargebackStatus). */
export type NetworkDisputeStatus = 'open' | 'under_review' | 'won' | 'lost';

/** Stripe's evidence fields that take text (the file ones take a File id, which we have no API for). */
export const DISPUTE_EVIDENCE_TEXT_FIELDS = [
  'access_activity_log',
  'billing_address',
  'cancellation_policy_disclosure',
  'cancellation_rebuttal',
  'customer_email_address',
  'customer_name',
  'customer_purchase_ip',
  'duplicate_charge_explanation',
  'duplicate_charge_id',
  'product_description',
  'refund_policy_disclosure',
  'refund_refusal_explanation',
  'service_date',
  'shipping_address',
  'shipping_carrier',
  'shipping_date',
  'shipping_tracking_number',
  'uncategorized_text',
] as const;

/** Stripe's evidence fields that take a File id. */
export const DISPUTE_EVIDENCE_FILE_FIELDS = [
  'cancellation_policy',
  'customer_communication',
  'customer_signature',
  'duplicate_charge_documentation',
  'receipt',
  'refund_policy',
  'service_documentation',
  'shipping_documentation',
  'uncategorized_file',
] as const;

export type DisputeEvidenceField = (typeof DISPUTE_EVIDENCE_TEXT_FIELDS)[number];
/** The evidence given so far: only the fields that have a value. */
export type DisputeEvidence = Partial<Record<DisputeEvidenceField, string>>;
/** An evidence update: a field given '' is cleared. */
export type DisputeEvidencePatch = Partial<Record<DisputeEvidenceField, string>>;

/** The evidence fields that name or locate a person: cleared by a PII erasure of the intent. */
export const PERSONAL_EVIDENCE_FIELDS = ['billing_address', 'customer_email_address', 'customer_name', 'customer_purchase_ip', 'shipping_address'] as const satisfies readonly DisputeEvidenceField[];

export function hasPersonalEvidence(d: Dispute): boolean {
  return PERSONAL_EVIDENCE_FIELDS.some((f) => d.evidence[f] !== undefined);
}

export function withoutPersonalEvidence(d: Dispute): Dispute {
  const evidence = { ...d.evidence };
  for (const f of PERSONAL_EVIDENCE_FIELDS) delete evidence[f];
  return { ...d, evidence };
}

/** Stripe: all evidence fields together hold at most 150,000 characters. */
export const MAX_EVIDENCE_CHARS = 150_000;
/** What the network takes from the merchant for a chargeback (Stripe's $15.00), in the dispute's minor units; given back when won. */
export const DISPUTE_FEE = 1500;

export interface Dispute {
  id: string; // dp_…
  /** The disputed charge (attempt id). */
  charge: string;
  amount: number;
  reason: DisputeReason;
  status: DisputeStatus;
  /** A retrieval request: no money is withdrawn, the charge may still be refunded. */
  inquiry: boolean;
  /** The network's case. */
  chargeback_ref: string;
  evidence: DisputeEvidence;
  /** Unix seconds: the network closes a case still unanswered after this as lost. */
  due_by: number;
  submission_count: number;
  metadata: Record<string, string>;
  created: number;
  /** The disputed amount and the fee taken from the merchant's balance (a chargeback), and when; null for an inquiry. */
  withdrawn: { amount: number; fee: number; at: number } | null;
  /** What was given back when the chargeback was won. */
  reinstated: { amount: number; fee: number; at: number } | null;
  closed_at: number | null;
}

export type DisputeCommand =
  /** The network filed a case against a charge of this intent (reconciliation read it from the chargeback feed). */
  | { type: 'OpenDispute'; disputeId: string; attemptId: string; chargebackRef: string; amount: number; reason: DisputeReason; inquiry: boolean; dueBy: number; now: number }
  /** The network's newest word on a case (the feed): under review, won or lost. */
  | { type: 'RecordDisputeStatus'; disputeId: string; networkStatus: NetworkDisputeStatus; now: number }
  /** Stripe's dispute update: evidence (a field '' clears it) and metadata (merged). */
  | { type: 'UpdateDispute'; disputeId: string; evidence?: DisputeEvidencePatch; metadata?: MetadataPatch; now: number }
  /** The network received the merchant's evidence (Stripe's submit=true): under review. */
  | { type: 'SubmitDisputeEvidence'; disputeId: string; now: number }
  /** The merchant accepted the dispute at the network (Stripe's close): lost. */
  | { type: 'AcceptDispute'; disputeId: string; now: number };

export type DisputeEvent =
  | { type: 'dispute.created'; at: number; data: { dispute_id: string; attempt_id: string; chargeback_ref: string; amount: number; reason: DisputeReason; inquiry: boolean; due_by: number } }
  | { type: 'dispute.funds_withdrawn'; at: number; data: { dispute_id: string; amount: number; fee: number } }
  /** The dispute's whole evidence and/or metadata after an update: only what changed. */
  | { type: 'dispute.updated'; at: number; data: { dispute_id: string; evidence?: DisputeEvidence; metadata?: Record<string, string> } }
  | { type: 'dispute.evidence_submitted'; at: number; data: { dispute_id: string } }
  | { type: 'dispute.closed'; at: number; data: { dispute_id: string; status: 'won' | 'lost' | 'warning_closed'; by: 'network' | 'merchant' } }
  | { type: 'dispute.funds_reinstated'; at: number; data: { dispute_id: string; amount: number; fee: number } };

export function isDisputeClosed(s: DisputeStatus): boolean {
  switch (s) {
    case 'won':
    case 'lost':
    case 'warning_closed':
      return true;
    case 'needs_response':
    case 'under_review':
    case 'warning_needs_response':
    case 'warning_under_review':
      return false;
  }
}

/** A charge with a chargeback not won cannot be refunded (Stripe's is_charge_refundable false); an inquiry can. */
export function blocksRefund(d: Dispute): boolean {
  return !d.inquiry && d.status !== 'won';
}

const noSuchDispute = (id: string) => new DomainError('resource_missing', `No such dispute: '${id}'`, 'id', 404);

function findDispute(s: Intent, id: string): Dispute {
  const d = (s.disputes ?? []).find((x) => x.id === id);
  if (!d) throw noSuchDispute(id);
  return d;
}

export function decideDispute(cmd: DisputeCommand, s: Intent): DisputeEvent[] {
  switch (cmd.type) {
    case 'OpenDispute': {
      if ((s.disputes ?? []).some((d) => d.id === cmd.disputeId || d.chargeback_ref === cmd.chargebackRef)) return []; // a repeat
      const a = s.attempts.find((x) => x.id === cmd.attemptId);
      if (!a) throw new DomainError('resource_missing', `No such charge: '${cmd.attemptId}'`, 'charge', 404);
      if (a.status !== 'succeeded' || !a.captured) {
        throw new DomainError('charge_not_disputable', `Charge ${a.id} has no captured funds to dispute.`, 'charge', 409);
      }
      if (!Number.isSafeInteger(cmd.amount) || cmd.amount < 1 || cmd.amount > a.amount_captured) {
        throw new DomainError('amount_too_large', `A dispute of ${cmd.amount} exceeds what charge ${a.id} captured (${a.amount_captured}).`, 'amount', 409);
      }
      const created: DisputeEvent = {
        type: 'dispute.created',
        at: cmd.now,
        data: { dispute_id: cmd.disputeId, attempt_id: a.id, chargeback_ref: cmd.chargebackRef, amount: cmd.amount, reason: cmd.reason, inquiry: cmd.inquiry, due_by: cmd.dueBy },
      };
      if (cmd.inquiry) return [created];
      return [created, { type: 'dispute.funds_withdrawn', at: cmd.now, data: { dispute_id: cmd.disputeId, amount: cmd.amount, fee: DISPUTE_FEE } }];
    }
    case 'RecordDisputeStatus': {
      const d = findDispute(s, cmd.disputeId);
      if (isDisputeClosed(d.status)) {
        // Closed means closed: a repeated verdict writes nothing, a contrary one is refused.
        const contrary = (d.status === 'won' && cmd.networkStatus === 'lost') || (d.status === 'lost' && cmd.networkStatus === 'won');
        if (contrary) throw new DomainError('dispute_already_closed', `Dispute ${d.id} is already closed as ${d.status}; the network's ${cmd.networkStatus} cannot change it.`, 'dispute', 409);
        return [];
      }
      switch (cmd.networkStatus) {
        case 'open':
          return [];
        case 'under_review':
          return d.status === 'needs_response' || d.status === 'warning_needs_response' ? [{ type: 'dispute.evidence_submitted', at: cmd.now, data: { dispute_id: d.id } }] : [];
        case 'won':
        case 'lost':
          return close(d, cmd.networkStatus, 'network', cmd.now);
        default:
          return assertNever(cmd.networkStatus);
      }
    }
    case 'UpdateDispute': {
      const d = findDispute(s, cmd.disputeId);
      const data: Extract<DisputeEvent, { type: 'dispute.updated' }>['data'] = { dispute_id: d.id };
      if (cmd.evidence !== undefined && Object.keys(cmd.evidence).length > 0) {
        if (isDisputeClosed(d.status)) {
          throw new DomainError('dispute_already_closed', `This dispute is already closed (${d.status}): its evidence can no longer be changed.`, 'evidence', 400);
        }
        if (d.status === 'under_review' || d.status === 'warning_under_review') {
          throw new DomainError('dispute_under_review', 'This dispute is under review: its evidence was submitted and can no longer be changed.', 'evidence', 400);
        }
        const evidence: DisputeEvidence = { ...d.evidence };
        for (const [k, v] of Object.entries(cmd.evidence) as [DisputeEvidenceField, string][]) {
          if (v === '') delete evidence[k];
          else evidence[k] = v;
        }
        const chars = Object.values(evidence).reduce((n, v) => n + (v?.length ?? 0), 0);
        if (chars > MAX_EVIDENCE_CHARS) {
          throw new DomainError('parameter_invalid', `The evidence of a dispute can hold at most ${MAX_EVIDENCE_CHARS} characters in all; it would hold ${chars}.`, 'evidence');
        }
        if (JSON.stringify(sorted(evidence)) !== JSON.stringify(sorted(d.evidence))) data.evidence = evidence;
      }
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(d.metadata, cmd.metadata);
        checkMetadata(metadata);
        if (JSON.stringify(metadata) !== JSON.stringify(d.metadata)) data.metadata = metadata;
      }
      return Object.keys(data).length === 1 ? [] : [{ type: 'dispute.updated', at: cmd.now, data }];
    }
    case 'SubmitDisputeEvidence': {
      const d = findDispute(s, cmd.disputeId);
      assertSubmittable(d);
      return [{ type: 'dispute.evidence_submitted', at: cmd.now, data: { dispute_id: d.id } }];
    }
    case 'AcceptDispute': {
      const d = findDispute(s, cmd.disputeId);
      if (d.status === 'lost' || d.status === 'warning_closed') return []; // a repeat
      assertAcceptable(d);
      return close(d, 'lost', 'merchant', cmd.now);
    }
    default:
      return assertNever(cmd);
  }
}

/** Evidence can be submitted while the dispute waits on the merchant (the shell checks this before it calls the network). */
export function assertSubmittable(d: Dispute): void {
  if (d.status === 'needs_response' || d.status === 'warning_needs_response') return;
  if (isDisputeClosed(d.status)) throw new DomainError('dispute_already_closed', `This dispute is already closed (${d.status}): evidence can no longer be submitted.`, 'submit', 400);
  throw new DomainError('dispute_under_review', 'This dispute is already under review: its evidence was submitted.', 'submit', 400);
}

/** A dispute can be accepted (closed as lost) until the network decided it. */
export function assertAcceptable(d: Dispute): void {
  if (d.status === 'won') throw new DomainError('dispute_already_closed', 'This dispute was won: it can no longer be closed.', undefined, 400);
}

function close(d: Dispute, outcome: 'won' | 'lost', by: 'network' | 'merchant', now: number): DisputeEvent[] {
  const status = d.inquiry ? 'warning_closed' : outcome;
  const closed: DisputeEvent = { type: 'dispute.closed', at: now, data: { dispute_id: d.id, status, by } };
  if (status === 'won' && d.withdrawn && !d.reinstated) {
    return [closed, { type: 'dispute.funds_reinstated', at: now, data: { dispute_id: d.id, amount: d.withdrawn.amount, fee: d.withdrawn.fee } }];
  }
  return [closed];
}

function sorted(e: DisputeEvidence): [string, string | undefined][] {
  return Object.entries(e).sort(([a], [b]) => a.localeCompare(b));
}

function updateDispute(s: Intent, id: string, f: (d: Dispute) => Dispute): Dispute[] {
  return (s.disputes ?? []).map((d) => (d.id === id ? f(d) : d));
}

export function evolveDispute(s: Intent, e: DisputeEvent): Intent {
  switch (e.type) {
    case 'dispute.created': {
      const d = e.data;
      const dispute: Dispute = {
        id: d.dispute_id,
        charge: d.attempt_id,
        amount: d.amount,
        reason: d.reason,
        status: d.inquiry ? 'warning_needs_response' : 'needs_response',
        inquiry: d.inquiry,
        chargeback_ref: d.chargeback_ref,
        evidence: {},
        due_by: d.due_by,
        submission_count: 0,
        metadata: {},
        created: e.at,
        withdrawn: null,
        reinstated: null,
        closed_at: null,
      };
      return { ...s, disputes: [...(s.disputes ?? []), dispute] };
    }
    case 'dispute.funds_withdrawn':
      return { ...s, disputes: updateDispute(s, e.data.dispute_id, (d) => ({ ...d, withdrawn: { amount: e.data.amount, fee: e.data.fee, at: e.at } })) };
    case 'dispute.updated':
      return {
        ...s,
        disputes: updateDispute(s, e.data.dispute_id, (d) => ({
          ...d,
          ...(e.data.evidence !== undefined ? { evidence: { ...e.data.evidence } } : {}),
          ...(e.data.metadata !== undefined ? { metadata: { ...e.data.metadata } } : {}),
        })),
      };
    case 'dispute.evidence_submitted':
      return {
        ...s,
        disputes: updateDispute(s, e.data.dispute_id, (d) => ({ ...d, status: d.inquiry ? 'warning_under_review' : 'under_review', submission_count: d.submission_count + 1 })),
      };
    case 'dispute.closed':
      return { ...s, disputes: updateDispute(s, e.data.dispute_id, (d) => ({ ...d, status: e.data.status, closed_at: e.at })) };
    case 'dispute.funds_reinstated':
      return { ...s, disputes: updateDispute(s, e.data.dispute_id, (d) => ({ ...d, reinstated: { amount: e.data.amount, fee: e.data.fee, at: e.at } })) };
    default:
      return assertNever(e);
  }
}

/** The evidence as the text the network receives with a representment: one "field: value" line per field given. */
export function representmentText(d: Dispute): string {
  return DISPUTE_EVIDENCE_TEXT_FIELDS.filter((f) => d.evidence[f] !== undefined)
    .map((f) => `${f}: ${d.evidence[f]}`)
    .join('\n');
}
