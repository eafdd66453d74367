// Reconciliation of in-doubt attempts: a durable consumer of the commits that leave work
// (PAY_RECONCILE, fed by the fan-out: reconcile/work.ts) that, for each `attempt.in_doubt`, waits
// RECON_INQUIRY_AFTER_MS, then asks the network what it did with our
// reference (the attempt id) and sends the answer to the intent's owner as an `intent.settle`
// command. The network never saw it → ask again later (nak with backoff) until the deadline, then
// settle as a timeout (`attempt.timed_out`, the seed's payment_timeout). Money the network moved
// that we do not keep (a second booking of the request, an approval for an attempt we already
// settled as failed) is given back through `intent.reconcile` (reverse_stray). Every command has a
// deterministic id, and the decider ignores repeats, so a redelivered commit or a second
// reconciler settles nothing twice.
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Intent } from '../actors/mod.ts';
import type { EpnClient, EpnTransaction } from '../epn/client/mod.ts';
import { durables, runConsumer, type ConsumerLoop, type Outcome } from '../nats/mod.ts';
import type { CommandClient } from '../runtime/client.ts';
import type { CommandRequest, Ctx } from '../runtime/protocol.ts';
import { decodeCommit } from '../streams/codec.ts';
import { EVENTS_STREAM } from '../streams/subjects.ts';
import type { Commit } from '../streams/envelope.ts';
import { ApiError } from '../stripe/errors.ts';
import { holdsMoney } from './stray.ts';
import { reconMetrics } from './metrics.ts';
import { commitTimeOf, mayNeedReconcile, reconcileWorkOf, type ReconcileWork } from './work.ts';
import { eraseCardDetails, releaseCards, saveCardAfterPayment, saveCardAfterSetup } from '../vault/saved-cards.ts';
import type { Vault } from '../vault/vault.ts';

export interface ReconcileOptions {
  epn: Pick<EpnClient, 'inquire'> & Partial<Pick<EpnClient, 'inquireAll'>>;
  commands: CommandClient;
  /** The card vault, for saved-card work (vault/saved-cards.ts); without it that work is left to the gateway. */
  vault?: Vault;
  /** Delays between inquiries, ms; the last one repeats. */
  backoffMs: number[];
  /** Past this long after the attempt went in doubt, an attempt the network never saw is a timeout. */
  deadlineMs: number;
  /** The first inquiry waits this long after the attempt went in doubt (0: at once). */
  inquiryAfterMs?: number;
  log: Logger;
  /** ms since epoch (tests). */
  clock?: () => number;
}

type Settle = Extract<CommandRequest, { op: 'intent.settle' }>;
type Verdict = Pick<Settle, 'outcome' | 'networkRef'> & Partial<Pick<Settle, 'failureCode' | 'declineCode' | 'message'>>;

/** What the network's record says happened. */
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

export interface InDoubt {
  merchantId: string;
  intentId: string;
  attemptId: string;
  livemode: boolean;
  correlationId: string | null;
}

export type SettleResult =
  /** Settled (or already settled): the outcome recorded. */
  | { kind: 'settled'; outcome: Settle['outcome']; networkRef: string | null }
  /** The network has not seen it and the deadline is not past. */
  | { kind: 'not_seen' }
  /** Network or owner unreachable: ask again later. */
  | { kind: 'retry'; reason: string }
  | { kind: 'gave_up'; reason: string };

/**
 * One attempt in doubt, asked about once: the verdict settled through its owner, stray money
 * given back. Shared by the consumer and the sweep of stuck attempts.
 */
export async function settleInDoubt(o: Pick<ReconcileOptions, 'epn' | 'commands' | 'log'>, x: InDoubt, pastDeadline: boolean, nowMs: number): Promise<SettleResult> {
  let txs: EpnTransaction[];
  try {
    if (o.epn.inquireAll) txs = await o.epn.inquireAll(x.attemptId);
    else {
      const tx = await o.epn.inquire(x.attemptId);
      txs = tx ? [tx] : [];
    }
  } catch (err) {
    // Unreachable or refusing: ask again later; the deadline only applies to "never seen".
    return { kind: 'retry', reason: `inquiry failed: ${(err as Error).message}` };
  }
  // The first booking is the answer the network gave (or would have given); later ones are duplicates.
  const first = txs[0];
  let verdict: Verdict;
  if (first) verdict = verdictOf(first);
  else if (pastDeadline) verdict = { outcome: 'timeout', networkRef: null };
  else return { kind: 'not_seen' };

  const ctx = (commandId: string): Ctx => ({ commandId, livemode: x.livemode, requestId: null, correlationId: x.correlationId, now: Math.floor(nowMs / 1000) });
  const req: Settle = { op: 'intent.settle', merchantId: x.merchantId, intentId: x.intentId, attemptId: x.attemptId, ...verdict, ctx: ctx(`rec_${x.attemptId}_${verdict.outcome}`) };
  let after: Intent | null = null;
  let contrary = false;
  try {
    const state = await o.commands.send(req);
    after = 'amount' in state ? state : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 409 && err.code === 'attempt_already_settled') {
      // Settled otherwise already (e.g. timed out, then the network executed it late).
      contrary = true;
    } else if (err instanceof ApiError && err.status < 500) {
      o.log.error({ err, attempt: x.attemptId, intent: x.intentId, outcome: verdict.outcome }, 'settle refused; giving up on this attempt');
      return { kind: 'gave_up', reason: err.message };
    } else {
      return { kind: 'retry', reason: `settle failed: ${(err as Error).message}` };
    }
  }
  const a = after?.attempts.find((y) => y.id === x.attemptId);
  o.log.info(
    { attempt: x.attemptId, intent: x.intentId, merchant: x.merchantId, outcome: verdict.outcome, network_ref: verdict.networkRef, attempt_status: a?.status, intent_status: after?.status, contrary },
    'reconciled in-doubt attempt',
  );
  reconMetrics.verdicts.inc({ outcome: contrary ? 'contrary' : verdict.outcome });

  // Money moved that we may not keep: a second booking, or an approval we settled otherwise.
  const moved = txs.filter(holdsMoney);
  const keep = a?.status === 'succeeded' ? a.network_ref : null;
  if (moved.some((tx) => tx.networkRef !== keep)) {
    try {
      await o.commands.send({ op: 'intent.reconcile', merchantId: x.merchantId, intentId: x.intentId, action: { kind: 'reverse_stray', attemptId: x.attemptId }, ctx: ctx(`rec_${x.attemptId}_reverse_${moved.length}`) });
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) {
        o.log.error({ err, attempt: x.attemptId, intent: x.intentId }, 'reversal refused; left for settlement reconciliation');
      } else {
        return { kind: 'retry', reason: `reversal failed: ${(err as Error).message}` };
      }
    }
  }
  return { kind: 'settled', outcome: verdict.outcome, networkRef: verdict.networkRef };
}

export function createReconciler(o: ReconcileOptions): (m: JsMsg) => Promise<Outcome> {
  const clock = o.clock ?? Date.now;
  const inquiryAfterMs = o.inquiryAfterMs ?? 0;
  return async (m) => {
    // Most commits (every one without an in-doubt attempt or a new refund) end here, undecoded.
    if (!mayNeedReconcile(m.data)) return { kind: 'ack' };
    let commit: Commit;
    try {
      commit = decodeCommit(m.data);
    } catch (err) {
      return { kind: 'term', reason: `undecodable commit: ${(err as Error).message}` };
    }
    const work = reconcileWorkOf(commit);
    if (!work) return { kind: 'ack' };
    // Saved-card work first: quick, safe to repeat, and due at once (a later nak runs it again).
    const cards = await cardWork(o, commit, work);
    if (cards) return cards;
    if (commit.aggregate !== 'intent') return { kind: 'ack' };
    const { inDoubt, refunds } = work;
    if (inDoubt.length === 0) return refunds.length ? settleRefunds(o, m, commit.merchant_id, commit.state, refunds, clock()) : { kind: 'ack' };

    const since = commitTimeOf(m);
    const now = clock();
    // The network may still be working on it: the first question waits a little.
    for (const id of inDoubt) reconMetrics.open.add(id);
    if (m.info.deliveryCount <= 1 && now < since + inquiryAfterMs) {
      return { kind: 'nak', delayMs: Math.max(1, since + inquiryAfterMs - now), reason: 'first inquiry not due yet' };
    }
    const msToDeadline = since + o.deadlineMs - now;
    const retry = (reason: string): Outcome => ({ kind: 'nak', delayMs: nextDelay(o.backoffMs, m.info.deliveryCount, Math.max(msToDeadline, 1_000)), reason });
    const intent = commit.state;
    let later: Outcome | null = null;

    for (const attemptId of inDoubt) {
      const r = await settleInDoubt(o, { merchantId: commit.merchant_id, intentId: intent.id, attemptId, livemode: intent.livemode, correlationId: commit.correlation_id }, msToDeadline <= 0, now);
      if (r.kind === 'not_seen') {
        o.log.debug({ attempt: attemptId, intent: intent.id, ms_to_deadline: msToDeadline }, 'the network has not seen the attempt yet');
        later = { kind: 'nak', delayMs: nextDelay(o.backoffMs, m.info.deliveryCount, msToDeadline), reason: 'not seen by the network yet' };
      } else if (r.kind === 'retry') {
        later = retry(r.reason);
      } else {
        reconMetrics.open.delete(attemptId);
        if (r.kind === 'settled') reconMetrics.timeToReconcile.observe({ outcome: r.outcome }, Math.max(0, now - since) / 1000);
      }
    }
    return later ?? { kind: 'ack' };
  };
}

/**
 * A commit's saved-card work (reconcile/work.ts): the card setup_future_usage or a SetupIntent saves, or a deleted
 * customer's cards let go. null when done (or none); a nak to try again when the vault or the
 * customer's owner could not be reached.
 */
async function cardWork(o: ReconcileOptions, commit: Commit, work: ReconcileWork): Promise<Outcome | null> {
  if (!o.vault || (!work.saveCard && work.releaseCards.length === 0 && !work.eraseCards?.length)) return null;
  try {
    if (commit.aggregate === 'customer') {
      if (work.eraseCards?.length) {
        await eraseCardDetails(o.vault, commit.merchant_id, commit.state.id, commit.state.livemode, work.eraseCards);
        o.log.info({ customer: commit.state.id, merchant: commit.merchant_id, cards: work.eraseCards.length }, 'erased customer: saved cards’ billing details erased');
      }
      if (work.releaseCards.length) {
        await releaseCards(o.vault, commit.merchant_id, commit.state.id, work.releaseCards);
        o.log.info({ customer: commit.state.id, merchant: commit.merchant_id, cards: work.releaseCards.length }, 'deleted customer: saved cards let go');
      }
    } else if (commit.aggregate === 'intent' && work.saveCard) {
      const i = commit.state;
      const outcome = await saveCardAfterPayment({ vault: o.vault, commands: o.commands }, i, { livemode: i.livemode, requestId: null, correlationId: commit.correlation_id, now: Math.floor(Date.now() / 1000) });
      o.log.debug({ intent: i.id, merchant: commit.merchant_id, outcome }, 'setup_future_usage: card saved');
    } else if (commit.aggregate === 'setup_intent' && work.saveCard) {
      const s = commit.state;
      const outcome = await saveCardAfterSetup({ vault: o.vault, commands: o.commands }, s, { livemode: s.livemode, requestId: null, correlationId: commit.correlation_id, now: Math.floor(Date.now() / 1000) });
      o.log.debug({ setup_intent: s.id, merchant: commit.merchant_id, outcome }, 'setup intent: card saved');
    }
  } catch (err) {
    if (err instanceof ApiError && err.status < 500) {
      o.log.error({ err, commit: commit.id }, 'saved-card work refused; giving up on it');
      return null;
    }
    return { kind: 'nak', delayMs: nextDelay(o.backoffMs, 1, Number.MAX_SAFE_INTEGER), reason: `saved-card work failed: ${(err as Error).message}` };
  }
  return null;
}

/** Pending refunds of one commit: the owner asks the network (retrying is safe: one refund per reference). */
async function settleRefunds(o: ReconcileOptions, m: JsMsg, merchantId: string, intent: Intent, refundIds: string[], now: number): Promise<Outcome> {
  const since = commitTimeOf(m);
  const inquiryAfterMs = o.inquiryAfterMs ?? 0;
  // The request that created it is still running; it usually records the answer itself.
  if (now < since + Math.max(inquiryAfterMs, 1_000)) return { kind: 'nak', delayMs: Math.max(1, since + Math.max(inquiryAfterMs, 1_000) - now), reason: 'refund may still be answered' };
  for (const refundId of refundIds) {
    try {
      const state = await o.commands.send({
        op: 'intent.reconcile',
        merchantId,
        intentId: intent.id,
        action: { kind: 'settle_refund', refundId },
        ctx: { commandId: `rec_${refundId}`, livemode: intent.livemode, requestId: null, correlationId: null, now: Math.floor(now / 1000) },
      });
      const r = 'refunds' in state ? state.refunds.find((x) => x.id === refundId) : undefined;
      if (r?.status === 'pending') return { kind: 'nak', delayMs: nextDelay(o.backoffMs, m.info.deliveryCount, Number.MAX_SAFE_INTEGER), reason: 'refund still pending' };
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) {
        o.log.error({ err, refund: refundId, intent: intent.id }, 'refund reconciliation refused; giving up on it');
        continue;
      }
      return { kind: 'nak', delayMs: nextDelay(o.backoffMs, m.info.deliveryCount, Number.MAX_SAFE_INTEGER), reason: `refund settle failed: ${(err as Error).message}` };
    }
  }
  return { kind: 'ack' };
}

/**
 * An upgrade from the versions that read every intent commit through their own durable on
 * PAY_EVENTS (`reconcile`): where that durable is left, it may still hold work the fan-out of the
 * old version did not route (commits it had passed). It is consumed with the same handler until
 * nothing is pending or waiting for an ack, then deleted. Commits the fan-out routes meanwhile may
 * be settled through both: harmless, every settle command has a deterministic id. Null when there
 * is no such durable.
 */
export async function drainLegacyReconcile(js: JetStreamClient, jsm: JetStreamManager, handle: (m: JsMsg) => Promise<Outcome>, log: Logger, checkEveryMs = 10_000): Promise<ConsumerLoop | null> {
  const name = durables.reconcileLegacy;
  const info = () => jsm.consumers.info(EVENTS_STREAM, name).catch(() => null);
  if (!(await info())) return null;
  log.info({ durable: name }, 'draining the former reconcile durable on PAY_EVENTS');
  const loop = runConsumer(js, EVENTS_STREAM, name, handle, log, { concurrency: 16 });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let finish!: () => void;
  // Resolves once drained and deleted (or stopped): not when the loop alone ends.
  const done = new Promise<void>((r) => (finish = r));
  const check = async () => {
    const i = await info();
    if (stopped) return;
    if (i && (i.num_pending > 0 || i.num_ack_pending > 0)) return void (timer = setTimeout(() => void check(), checkEveryMs));
    await loop.stop();
    if (i) await jsm.consumers.delete(EVENTS_STREAM, name).catch((err) => log.warn({ err, durable: name }, 'could not delete the drained durable; the next start tries again'));
    log.info({ durable: name }, 'former reconcile durable drained and deleted');
    finish();
  };
  timer = setTimeout(() => void check(), checkEveryMs);
  return {
    done,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await loop.stop();
      finish();
    },
  };
}
