// The reconciliation operation run by an intent's owner (op `intent.reconcile`): the single writer
// re-reads the intent, asks the network, gives money back and records every step as an event on
// the intent, so two reconcilers (or a reconciler and an operator) never double-reverse.
import { intentDecider, type DiscrepancyKind, type Intent, type IntentCommand, type ReversalReason } from '../actors/mod.ts';
import { EpnRejectedError, EpnUnavailableError } from '../epn/client/mod.ts';
import type { EpnTransaction } from '../epn/client/mod.ts';
import type { CommandContext } from '../runtime/aggregates.ts';
import type { HandlerDeps } from '../runtime/handlers.ts';
import type { Ctx } from '../runtime/protocol.ts';
import { subjects } from '../streams/subjects.ts';
import { ApiError, noSuch, unavailable } from '../stripe/errors.ts';
import { strayMoney } from './stray.ts';
import { counter } from '../metrics/registry.ts';

export type ReconcileAction =
  /** Give back every network transaction of the attempt that holds money we do not keep. */
  | { kind: 'reverse_stray'; attemptId: string }
  /** An operator's reversal of one network transaction of the attempt (even the kept charge). */
  | { kind: 'reverse_manual'; attemptId: string; networkRef: string }
  | { kind: 'flag'; discrepancyId: string; discrepancy: DiscrepancyKind; attemptId: string | null; networkRef: string | null; detail: string }
  | { kind: 'resolve'; discrepancyId: string; discrepancy: DiscrepancyKind; operator: string; reason: string; action: string }
  /** The sweep: an attempt left pending (a crash between attempt.started and the network's answer) goes in doubt. */
  | { kind: 'mark_unknown'; attemptId: string }
  /** A refund left pending (the network did not answer): ask, and retry it if the network never saw it —
   *  safe, the network refunds once per refund reference. */
  | { kind: 'settle_refund'; refundId: string };

const reversals = counter('paynats_reconcile_reversals_total', 'Money given back at the network by reconciliation, by reason and method', ['reason', 'method']);

const step = (ctx: Ctx, name: string): CommandContext => ({ ...ctx, commandId: `${ctx.commandId}:${name}` });

export async function reconcileIntent(
  deps: HandlerDeps,
  req: { merchantId: string; intentId: string; action: ReconcileAction; ctx: Ctx },
): Promise<{ state: Intent; seq: number }> {
  const { merchantId, intentId, action, ctx } = req;
  const ref = { aggregate: 'intent' as const, subject: subjects.intent(merchantId, intentId), merchantId, aggregateId: intentId };
  const exec = async (cmd: IntentCommand, name: string) => {
    const r = await deps.store.execute(intentDecider, ref, cmd, step(ctx, name));
    if (!r.state) throw noSuch('payment_intent', intentId);
    return { state: r.state, seq: r.seq };
  };
  const l = await deps.store.load<Intent>(ref.subject);
  if (!l.state) throw noSuch('payment_intent', intentId);
  let state: Intent = l.state;
  let seq = l.seq;

  switch (action.kind) {
    case 'flag':
      return exec({ type: 'FlagDiscrepancy', discrepancyId: action.discrepancyId, kind: action.discrepancy, attemptId: action.attemptId, networkRef: action.networkRef, detail: action.detail, now: ctx.now }, `flag_${action.discrepancyId}`);
    case 'resolve':
      return exec(
        { type: 'ResolveDiscrepancy', discrepancyId: action.discrepancyId, kind: action.discrepancy, operator: action.operator, reason: action.reason, action: action.action, now: ctx.now },
        `resolve_${action.discrepancyId}`,
      );
    case 'mark_unknown': {
      const a = state.attempts.find((x) => x.id === action.attemptId);
      if (!a || a.status !== 'pending') return { state, seq };
      return exec({ type: 'RecordAuthorization', attemptId: a.id, outcome: 'unknown', networkRef: null, now: ctx.now }, `unknown_${a.id}`);
    }
    case 'settle_refund': {
      const r = state.refunds.find((x) => x.id === action.refundId);
      if (!r || r.status !== 'pending') return { state, seq };
      const a = state.attempts.find((x) => x.id === r.charge);
      if (!a?.network_ref) return { state, seq };
      let cmd: IntentCommand;
      try {
        const res = await deps.epn.refund({ networkRef: a.network_ref, amount: r.amount, refundReference: r.id });
        cmd = { type: 'RecordRefund', refundId: r.id, outcome: 'succeeded', networkRef: res.refund.networkRef, now: ctx.now };
      } catch (err) {
        if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer the refund; try again.');
        if (!(err instanceof EpnRejectedError)) throw err;
        cmd = { type: 'RecordRefund', refundId: r.id, outcome: 'failed', networkRef: a.network_ref, failureReason: 'declined', now: ctx.now };
      }
      deps.log.info({ intent: intentId, refund: r.id, outcome: cmd.type === 'RecordRefund' ? cmd.outcome : null }, 'reconciled pending refund');
      return exec(cmd, `refund_${r.id}`);
    }
    case 'reverse_stray':
    case 'reverse_manual': {
      const a = state.attempts.find((x) => x.id === action.attemptId);
      if (!a) throw noSuch('charge', action.attemptId, 'attempt');
      let txs: EpnTransaction[];
      try {
        txs = await deps.epn.inquireAll(a.id);
      } catch (err) {
        if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer the inquiry; try again.');
        throw err;
      }
      const targets =
        action.kind === 'reverse_stray'
          ? strayMoney(state, a, txs)
          : txs.filter((tx) => tx.networkRef === action.networkRef).map((tx) => ({ tx, reason: 'manual' as ReversalReason }));
      if (action.kind === 'reverse_manual' && targets.length === 0) throw noSuch('network transaction', action.networkRef, 'network_ref');
      for (const { tx, reason } of targets) {
        // Validate before money moves: the decider refuses what may not be reversed.
        const probe: IntentCommand = { type: 'RecordReversal', attemptId: a.id, networkRef: tx.networkRef, amount: 0, method: 'none', reason, now: ctx.now };
        if (intentDecider.decide(probe, state).length === 0) continue;
        const done = await giveBack(deps, tx);
        const r = await exec({ type: 'RecordReversal', attemptId: a.id, networkRef: tx.networkRef, amount: done.amount, method: done.method, reason, now: ctx.now }, `reverse_${tx.networkRef}`);
        state = r.state;
        seq = r.seq;
        reversals.inc({ reason, method: done.method });
        deps.log.warn({ intent: intentId, attempt: a.id, network_ref: tx.networkRef, reason, method: done.method, amount: done.amount }, 'reconciliation reversed money at the network');
      }
      return { state, seq };
    }
  }
}

/** Void an authorization, refund a capture (idempotent on the refund reference). */
async function giveBack(deps: HandlerDeps, tx: EpnTransaction): Promise<{ method: 'void' | 'refund' | 'none'; amount: number }> {
  try {
    if (tx.status === 'authorized') {
      await deps.epn.void({ networkRef: tx.networkRef });
      return { method: 'void', amount: tx.amount };
    }
    const left = tx.amountCaptured - tx.amountRefunded;
    if (left <= 0) return { method: 'none', amount: 0 };
    await deps.epn.refund({ networkRef: tx.networkRef, amount: left, refundReference: `rev_${tx.networkRef}` });
    return { method: 'refund', amount: left };
  } catch (err) {
    if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer the reversal; try again.');
    if (err instanceof EpnRejectedError) throw new ApiError(409, 'invalid_request_error', 'reversal_refused', `The network refused the reversal of ${tx.networkRef}: ${err.message}`, 'network_ref');
    throw err;
  }
}
