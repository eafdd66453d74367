// Reconciliation work: which commits leave something to settle after them, and the task that
// carries such a commit to the reconciler. The fan-out reads PAY_EVENTS once for webhooks and
// reconciliation both (webhooks/fanout.ts); the few commits with work are copied to PAY_RECONCILE,
// which the reconcile role consumes:
//  - with the network: an attempt in doubt, a refund the network did not answer;
//  - with the vault: a card setup_future_usage saves to the customer once its payment succeeded, the
//    card a SetupIntent with a customer checked, and
//    the cards a deleted customer lets go, and the billing details of an erased customer's cards
//    (vault/saved-cards.ts). The gateway does these right after
//    its answer; done again from the commit, a gateway that crashed in between loses nothing.
// Every other commit costs the reconciler nothing: no delivery, no ack.
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { Commit } from '../streams/envelope.ts';
import { subjects } from '../streams/subjects.ts';
import { cardToSave, cardToSaveAfterSetup } from '../vault/saved-cards.ts';

export interface ReconcileWork {
  /** Attempts the commit put in doubt. */
  inDoubt: string[];
  /** Refunds the commit created that are still pending (the network did not answer). */
  refunds: string[];
  /** The intent's payment succeeded with setup_future_usage and a customer, or a SetupIntent with a customer succeeded: its card is saved. */
  saveCard: boolean;
  /** A customer was deleted: these cards' records are cleared. */
  releaseCards: string[];
  /** A customer's personal data was erased: these saved cards' billing details are erased too. */
  eraseCards?: string[];
}

// The event types that can leave work, as they appear in a commit's JSON (JSON.stringify never
// escapes these characters). A commit naming none needs no decoding to know it has none.
const NEEDLES = [Buffer.from('attempt.in_doubt'), Buffer.from('refund.created'), Buffer.from('"setup_future_usage":"'), Buffer.from('customer.deleted'), Buffer.from('customer.erased'), Buffer.from('setup_attempt.succeeded')];

/** Whether the commit's bytes may hold reconciliation work (false: certainly not). */
export function mayNeedReconcile(data: Uint8Array): boolean {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return NEEDLES.some((n) => b.includes(n));
}

/** Pure: the work a decoded commit leaves, or null when it leaves none. */
export function reconcileWorkOf(commit: Commit): ReconcileWork | null {
  if (commit.aggregate === 'customer') {
    const releaseCards = commit.events.flatMap((e) => (e.type === 'customer.deleted' ? (e.data.payment_methods ?? []) : []));
    const eraseCards = commit.events.some((e) => e.type === 'customer.erased') ? [...(commit.state.payment_methods ?? [])] : [];
    if (!releaseCards.length && !eraseCards.length) return null;
    return { inDoubt: [], refunds: [], saveCard: false, releaseCards, ...(eraseCards.length ? { eraseCards } : {}) };
  }
  if (commit.aggregate === 'setup_intent') {
    const owed = cardToSaveAfterSetup(commit.state);
    const saveCard = owed !== null && commit.events.some((e) => e.type === 'setup_attempt.succeeded' && e.data.attempt_id === owed.attemptId);
    return saveCard ? { inDoubt: [], refunds: [], saveCard, releaseCards: [] } : null;
  }
  if (commit.aggregate !== 'intent') return null;
  const inDoubt = commit.events.flatMap((e) => (e.type === 'attempt.in_doubt' ? [e.data.attempt_id] : []));
  const refunds = commit.events.flatMap((e) => (e.type === 'refund.created' && commit.state.refunds.find((r) => r.id === e.data.refund_id)?.status === 'pending' ? [e.data.refund_id] : []));
  // Only the commit where the paying attempt succeeded: later ones (a capture, a refund) owe nothing.
  const owed = commit.state.setup_future_usage ? cardToSave(commit.state) : null;
  const saveCard = owed !== null && commit.events.some((e) => e.type === 'attempt.succeeded' && e.data.attempt_id === owed.attemptId);
  return inDoubt.length || refunds.length || saveCard ? { inDoubt, refunds, saveCard, releaseCards: [] } : null;
}

/** Headers of a task: where its commit is in PAY_EVENTS, and when it was appended (ms since epoch). */
export const COMMIT_SEQ = 'Pay-Commit-Seq';
export const COMMIT_TIME = 'Pay-Commit-Time';

/**
 * Copies a commit with work (as read from PAY_EVENTS) to PAY_RECONCILE. Its msgID is derived from
 * the commit's, so a redelivered commit is queued once; resolves once the task is stored.
 */
export async function appendReconcileTask(js: JetStreamClient, m: JsMsg, commit: Commit): Promise<void> {
  const h = headers();
  h.set(COMMIT_SEQ, String(m.seq));
  h.set(COMMIT_TIME, String(Math.floor(m.info.timestampNanos / 1e6)));
  if (commit.request_id) h.set('Request-Id', commit.request_id);
  if (commit.correlation_id) h.set('Correlation-Id', commit.correlation_id);
  await js.publish(subjects.reconcileTask(commit.merchant_id), m.data, { msgID: `rec:${commit.id}`, headers: h, timeout: 5_000 });
}

/**
 * When the commit a message carries was appended, ms since epoch: a task's header, or the message's
 * own stream time (a commit read from PAY_EVENTS itself, as the former durable did).
 */
export function commitTimeOf(m: JsMsg): number {
  const t = Number(m.headers?.get(COMMIT_TIME));
  return Number.isFinite(t) && t > 0 ? t : Math.floor(m.info.timestampNanos / 1e6);
}
