// Pure: which of the network's transactions for one attempt hold money we do not keep. The one
// charge we keep is a succeeded attempt's own network reference; anything else the network
// authorized or captured under the attempt's reference goes back, with the reason saying why.
import type { Attempt, Intent, ReversalReason } from '../actors/mod.ts';
import type { EpnTransaction } from '../epn/client/mod.ts';

/** The network still holds money for it: an authorization or a capture not fully refunded. */
export function holdsMoney(tx: Pick<EpnTransaction, 'status'>): boolean {
  return tx.status === 'authorized' || tx.status === 'captured' || tx.status === 'partially_refunded';
}

export interface Stray {
  tx: EpnTransaction;
  reason: ReversalReason;
}

export function strayMoney(intent: Intent, attempt: Attempt, txs: EpnTransaction[]): Stray[] {
  // In flight: nothing is decided until the attempt is settled.
  if (attempt.status !== 'succeeded' && attempt.status !== 'failed') return [];
  const reversed = new Set((attempt.reversals ?? []).map((r) => r.network_ref));
  const out: Stray[] = [];
  for (const tx of txs) {
    if (tx.reference !== attempt.id || !holdsMoney(tx) || reversed.has(tx.networkRef)) continue;
    if (attempt.status === 'succeeded') {
      if (tx.networkRef === attempt.network_ref) continue; // the charge we keep
      out.push({ tx, reason: 'duplicate_authorization' });
    } else if (attempt.failure_code === 'duplicate_success' || intent.attempts.some((x) => x.id !== attempt.id && x.status === 'succeeded')) {
      out.push({ tx, reason: 'second_success' });
    } else {
      out.push({ tx, reason: 'late_success_after_failure' });
    }
  }
  return out;
}
