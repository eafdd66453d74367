// Reconciliation's metrics (served by GET /metrics with the rest of the registry).
import { counter, gauge, histogram } from '../metrics/registry.ts';

/** Attempts this process is waiting on the network for (in doubt, not yet settled). */
const open = new Set<string>();

/** Stuck attempts by age bucket, as the last sweep counted them. */
export const AGE_BUCKETS = ['lt_5m', '5m_1h', '1h_24h', 'gt_24h'] as const;
export function ageBucket(ageMs: number): (typeof AGE_BUCKETS)[number] {
  if (ageMs < 5 * 60_000) return 'lt_5m';
  if (ageMs < 3600_000) return '5m_1h';
  if (ageMs < 24 * 3600_000) return '1h_24h';
  return 'gt_24h';
}

export const reconMetrics = {
  open,
  backlog: gauge('paynats_reconcile_backlog', 'In-doubt attempts waiting on a network answer in this process', [], function () {
    this.set(open.size);
  }),
  timeToReconcile: histogram(
    'paynats_reconcile_time_to_reconcile_seconds',
    'From an attempt going in doubt to its settlement, by outcome',
    ['outcome'],
    [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  ),
  verdicts: counter('paynats_reconcile_verdicts_total', 'In-doubt attempts settled, by outcome (contrary: the network disagreed with a settled attempt)', ['outcome']),
  mismatches: counter('paynats_reconcile_mismatches_total', 'Settlement discrepancies found, by kind', ['kind']),
  mismatchRate: gauge('paynats_reconcile_mismatch_rate', 'Share of settlement rows of the last run that did not match (0..1)'),
  runs: counter('paynats_reconcile_settlement_runs_total', 'Settlement reconciliation runs, by result', ['result']),
  runSeconds: histogram('paynats_reconcile_settlement_run_seconds', 'Duration of a settlement reconciliation run', [], [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]),
  unsettled: gauge('paynats_reconcile_unsettled_attempts', 'Attempts pending or in doubt in the read model, by status (last sweep): the backlog across every reconciler', ['status']),
  stuck: gauge('paynats_reconcile_stuck_attempts', 'Attempts pending or in doubt past RECON_STUCK_AFTER_MS, by age bucket (last sweep)', ['age']),
  openDiscrepancies: gauge('paynats_reconcile_open_discrepancies', 'Discrepancies waiting for an operator (last run)'),
};
