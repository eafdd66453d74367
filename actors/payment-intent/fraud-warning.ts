// Early fraud warnings (Stripe Radar's): the cardholder's issuer reported a captured charge as fraud
// to the network (a TC40 / SAFE report). No money moves; a chargeback may follow. Reconciliation reads
// the network's fraud report feed and records the warning on the intent holding the charge. Whether
// it is still actionable (worth refunding to head off a dispute) follows from the charge: not once the
// charge is fully refunded or disputed. Pure: ids and `now` ride on the command.
import { DomainError } from '../decider.ts';
import type { Intent } from './intent.ts';

export type FraudType =
  | 'card_never_received'
  | 'fraudulent_card_application'
  | 'made_with_counterfeit_card'
  | 'made_with_lost_card'
  | 'made_with_stolen_card'
  | 'misc'
  | 'unauthorized_use_of_card';

export interface FraudWarning {
  id: string; // issfr_…
  charge: string;
  fraud_type: FraudType;
  /** The network's report. */
  report_ref: string;
  created: number;
}

export type FraudWarningCommand = { type: 'RecordFraudWarning'; warningId: string; attemptId: string; reportRef: string; fraudType: FraudType; now: number };

export type FraudWarningEvent = { type: 'fraud_warning.created'; at: number; data: { warning_id: string; attempt_id: string; report_ref: string; fraud_type: FraudType } };

export function decideFraudWarning(cmd: FraudWarningCommand, s: Intent): FraudWarningEvent[] {
  if ((s.fraud_warnings ?? []).some((w) => w.id === cmd.warningId || w.report_ref === cmd.reportRef)) return []; // a report read twice
  const a = s.attempts.find((x) => x.id === cmd.attemptId);
  if (!a) throw new DomainError('resource_missing', `No such charge: '${cmd.attemptId}'`, 'charge', 404);
  if (a.status !== 'succeeded') throw new DomainError('charge_not_disputable', `Charge ${a.id} did not succeed: nothing to warn about.`, 'charge', 409);
  return [{ type: 'fraud_warning.created', at: cmd.now, data: { warning_id: cmd.warningId, attempt_id: a.id, report_ref: cmd.reportRef, fraud_type: cmd.fraudType } }];
}

export function evolveFraudWarning(s: Intent, e: FraudWarningEvent): Intent {
  const w: FraudWarning = { id: e.data.warning_id, charge: e.data.attempt_id, fraud_type: e.data.fraud_type, report_ref: e.data.report_ref, created: e.at };
  return { ...s, fraud_warnings: [...(s.fraud_warnings ?? []), w] };
}

/** Stripe's actionable: the charge can still be refunded to head off a dispute (not fully refunded, not disputed). */
export function isActionable(s: Intent, w: FraudWarning): boolean {
  const a = s.attempts.find((x) => x.id === w.charge);
  if (!a) return false;
  const refunded = a.amount_captured > 0 && (a.amount_refunded ?? 0) >= a.amount_captured;
  const disputed = (s.disputes ?? []).some((d) => d.charge === a.id);
  return !refunded && !disputed;
}
