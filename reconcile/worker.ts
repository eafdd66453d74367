// Reconciliation of in-doubt attempts: a durable consumer of intent commits that, for each
// `attempt.in_doubt`, asks the network what it did with our reference (the attempt id) and sends
// the answer to the intent's owner as an `intent.settle` command. The network never saw it →
// ask again later (nak with backoff) until the deadline, then settle as a timeout. Every verdict has
// a deterministic command id, and the decider ignores verdicts for settled attempts, so a
// redelivered commit or a second reconciler settles nothing twice.
import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { EpnClient, EpnTransaction } from '../epn/client/mod.ts';
import type { Outcome } from '../nats/mod.ts';
import type { CommandClient } from '../runtime/client.ts';
import type { CommandRequest } from '../runtime/protocol.ts';
import { decodeCommit } from '../streams/codec.ts';
import { ApiError } from '../stripe/errors.ts';

export interface ReconcileOptions {
  epn: Pick<EpnClient, 'inquire'>;
  commands: CommandClient;
  /** Delays between inquiries, ms; the last one repeats. */
  backoffMs: number[];
  /** Past this long after the attempt went in doubt, an attempt the network never saw is a timeout. */
  deadlineMs: number;
  log: Logger;
  /** ms since epoch (tests). */
  clock?: () => number;
}

type Settle = Extract<CommandRequest, { op: 'intent.settle' }>;
type Verdict = Pick<Settle, 'outcome' | 'networkRef'> & Partial<Pick<Settle, 'failureCode' | 'declineCode' | 'message'>>;

/** What the network's record says happened; null: nothing to settle yet. */
export function verdictOf(tx: EpnTransaction): Verdict {
  switch (tx.status) {
    case 'authorized':
    case 'captured':
    case 'refunded':
    case 'partially_refunded':
      return { outcome: 'approved', networkRef: tx.networkRef };
    case 'declined':
      return {
        outcome: 'declined',
        networkRef: tx.networkRef,
        failureCode: tx.failureCode ?? 'card_declined',
        ...(tx.declineCode ? { declineCode: tx.declineCode } : {}),
      };
    case 'voided':
      // Authorized, then reversed before anything was captured: no money moved.
      return { outcome: 'timeout', networkRef: null };
  }
}

/** The delay before the next inquiry: the backoff list by delivery count, never past the deadline. */
export function nextDelay(backoffMs: number[], deliveryCount: number, msToDeadline: number): number {
  const d = backoffMs[Math.min(Math.max(deliveryCount - 1, 0), backoffMs.length - 1)] ?? 1_000;
  return Math.max(1, Math.min(d, msToDeadline));
}

export function createReconciler(o: ReconcileOptions): (m: JsMsg) => Promise<Outcome> {
  const clock = o.clock ?? Date.now;
  return async (m) => {
    let commit;
    try {
      commit = decodeCommit(m.data);
    } catch (err) {
      return { kind: 'term', reason: `undecodable commit: ${(err as Error).message}` };
    }
    if (commit.aggregate !== 'intent') return { kind: 'ack' };
    const inDoubt = commit.events.flatMap((e) => (e.type === 'attempt.in_doubt' ? [e.data.attempt_id] : []));
    if (inDoubt.length === 0) return { kind: 'ack' };

    const since = Math.floor(m.info.timestampNanos / 1e6);
    const msToDeadline = since + o.deadlineMs - clock();
    const retry = (reason: string): Outcome => ({ kind: 'nak', delayMs: nextDelay(o.backoffMs, m.info.deliveryCount, Math.max(msToDeadline, 1_000)), reason });
    const intent = commit.state;
    let later: Outcome | null = null;

    for (const attemptId of inDoubt) {
      let verdict: Verdict;
      try {
        const tx = await o.epn.inquire(attemptId);
        if (tx) verdict = verdictOf(tx);
        else if (msToDeadline <= 0) verdict = { outcome: 'timeout', networkRef: null };
        else {
          o.log.debug({ attempt: attemptId, intent: intent.id, ms_to_deadline: msToDeadline }, 'the network has not seen the attempt yet');
          later = { kind: 'nak', delayMs: nextDelay(o.backoffMs, m.info.deliveryCount, msToDeadline), reason: 'not seen by the network yet' };
          continue;
        }
      } catch (err) {
        // Unreachable or refusing: ask again later; the deadline only applies to "never seen".
        later = retry(`inquiry failed: ${(err as Error).message}`);
        continue;
      }
      const req: Settle = {
        op: 'intent.settle',
        merchantId: commit.merchant_id,
        intentId: intent.id,
        attemptId,
        ...verdict,
        ctx: {
          commandId: `rec_${attemptId}_${verdict.outcome}`,
          livemode: intent.livemode,
          requestId: null,
          correlationId: commit.correlation_id,
          now: Math.floor(clock() / 1000),
        },
      };
      try {
        const state = await o.commands.send(req);
        const after = 'attempts' in state ? state : null;
        const a = after?.attempts.find((x) => x.id === attemptId);
        o.log.info(
          { attempt: attemptId, intent: intent.id, merchant: commit.merchant_id, outcome: verdict.outcome, network_ref: verdict.networkRef, attempt_status: a?.status, intent_status: after?.status },
          'reconciled in-doubt attempt',
        );
      } catch (err) {
        if (err instanceof ApiError && err.status < 500) {
          o.log.error({ err, attempt: attemptId, intent: intent.id, outcome: verdict.outcome }, 'settle refused; giving up on this attempt');
          continue;
        }
        later = retry(`settle failed: ${(err as Error).message}`);
      }
    }
    return later ?? { kind: 'ack' };
  };
}
