// The projector: folds PAY_EVENTS commits, and PAY_WEBHOOKS receipts and dead letters, into the
// Postgres read model. One transaction per batch; every write is idempotent and never goes
// backwards (a row only changes for a newer stream sequence), so redelivery, replay from the start
// and out-of-order delivery all leave the same rows.
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Intent, Merchant } from '../actors/mod.ts';
import { durables } from '../nats/topology.ts';
import { runBatchConsumer, type ConsumerLoop, type Outcome } from '../nats/consumer.ts';
import { decodeOnly, type CommitReader } from '../streams/recent.ts';
import type { StoredCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import type { DeadLetter, DeliveryReceipt } from '../webhooks/types.ts';
import { advanceCheckpoint } from './checkpoints.ts';
import type { Database } from './database.ts';
import { eventRowsFromCommit, insertEvents, stripeEventRowsFromCommit, type NewEventRow } from './events.ts';
import { merchantRowFromState, upsertMerchants } from './merchants.ts';
import { attemptRowsFromState, upsertAttempts } from './payment-attempts.ts';
import { intentRowFromState, upsertIntents } from './payment-intents.ts';
import { refundRowsFromState, upsertRefunds } from './refunds.ts';
import { disputeRowsFromState, upsertDisputes } from './disputes.ts';
import { earlyFraudWarningRowsFromState, insertEarlyFraudWarnings } from './early-fraud-warnings.ts';
import { customerRowFromState, upsertCustomers } from './customers.ts';
import type { Coupon, Customer, PaymentLink, Product, SetupIntent } from '../actors/mod.ts';
import { setupIntentRowFromState, upsertSetupIntents } from './setup-intents.ts';
import { priceRowsFromState, productRowFromState, upsertPrices, upsertProducts } from './products.ts';
import { paymentLinkRowFromState, upsertPaymentLinks } from './payment-links.ts';
import { couponRowFromState, promotionCodeRowsFromState, upsertCoupons, upsertPromotionCodes } from './coupons.ts';
import { deliveryFromMessage, foldDelivery, upsertDeliveries, type DeliveryFold, type ReceiptMessage } from './webhook-deliveries.ts';
import { webhookTryRowFromReceipt, insertWebhookTries } from './webhook-attempts.ts';
import type { DeliveryTask } from '../webhooks/types.ts';
import { applyErasures, applyIntentErasures, scrubErasedIntents, type ErasedCustomer } from './erasure.ts';

/** Checkpoint names: the durable each projection reads with. */
export const checkpointNames = { commits: durables.projector, receipts: durables.receiptsProjector } as const;

function inTransaction<T>(db: Kysely<Database>, f: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? f(db) : db.transaction().execute(f);
}

/**
 * Projects a batch of commits in one transaction: the latest snapshot of each aggregate in the
 * batch (merchant, customer or intent, with every attempt of the intent), each commit's events, and the
 * checkpoint. A snapshot older than, or as old as, the stored row changes nothing.
 */
export async function projectCommits(db: Kysely<Database>, batch: readonly StoredCommit[]): Promise<void> {
  if (batch.length === 0) return;
  // One row per aggregate per statement: ON CONFLICT DO UPDATE cannot touch a row twice, and the
  // newest snapshot supersedes the rest anyway.
  const merchants = new Map<string, { state: Merchant; seq: number }>();
  const intents = new Map<string, { state: Intent; seq: number; at: number }>();
  const customers = new Map<string, { state: Customer; seq: number }>();
  const setupIntents = new Map<string, { state: SetupIntent; seq: number }>();
  const products = new Map<string, { state: Product; seq: number }>();
  const links = new Map<string, { state: PaymentLink; seq: number }>();
  const coupons = new Map<string, { state: Coupon; seq: number }>();
  const events: NewEventRow[] = [];
  const erasures: ErasedCustomer[] = [];
  const intentErasures: { merchantId: string; id: string }[] = [];
  let maxSeq = 0;
  for (const { commit: c, seq } of batch) {
    maxSeq = Math.max(maxSeq, seq);
    events.push(...eventRowsFromCommit(c, seq));
    // Beside the domain events, the Stripe events the commit stands for (GET /v1/events).
    events.push(...stripeEventRowsFromCommit(c, seq));
    if (c.aggregate === 'merchant') {
      const prev = merchants.get(c.state.merchant_id);
      if (!prev || prev.seq < seq) merchants.set(c.state.merchant_id, { state: c.state, seq });
    } else if (c.aggregate === 'customer') {
      const prev = customers.get(c.state.id);
      if (!prev || prev.seq < seq) customers.set(c.state.id, { state: c.state, seq });
      for (const e of c.events) {
        if (e.type === 'customer.erased') erasures.push({ merchantId: c.merchant_id, customerId: c.aggregate_id, at: new Date(e.at * 1000) });
      }
    } else if (c.aggregate === 'setup_intent') {
      const prev = setupIntents.get(c.state.id);
      if (!prev || prev.seq < seq) setupIntents.set(c.state.id, { state: c.state, seq });
    } else if (c.aggregate === 'product') {
      // Product ids may be the merchant's own: unique per merchant, not across merchants.
      const key = `${c.merchant_id}/${c.state.id}`;
      const prev = products.get(key);
      if (!prev || prev.seq < seq) products.set(key, { state: c.state, seq });
    } else if (c.aggregate === 'payment_link') {
      const prev = links.get(c.state.id);
      if (!prev || prev.seq < seq) links.set(c.state.id, { state: c.state, seq });
    } else if (c.aggregate === 'coupon') {
      // Coupon ids may be the merchant's own: unique per merchant, not across merchants.
      const key = `${c.merchant_id}/${c.state.id}`;
      const prev = coupons.get(key);
      if (!prev || prev.seq < seq) coupons.set(key, { state: c.state, seq });
    } else {
      const prev = intents.get(c.state.id);
      if (!prev || prev.seq < seq) intents.set(c.state.id, { state: c.state, seq, at: c.at });
      if (c.events.some((e) => e.type === 'intent.pii_erased')) intentErasures.push({ merchantId: c.merchant_id, id: c.aggregate_id });
    }
  }
  const uniqueEvents = [...new Map(events.map((e) => [e.id, e])).values()];
  await inTransaction(db, async (trx) => {
    await upsertMerchants(trx, [...merchants.values()].map((m) => merchantRowFromState(m.state, m.seq)));
    const latest = [...intents.values()];
    await upsertIntents(trx, latest.map((i) => intentRowFromState(i.state, i.seq, i.at)));
    await upsertAttempts(trx, latest.flatMap((i) => attemptRowsFromState(i.state, i.seq)));
    await upsertRefunds(trx, latest.flatMap((i) => refundRowsFromState(i.state, i.seq)));
    await upsertDisputes(trx, latest.flatMap((i) => disputeRowsFromState(i.state, i.seq)));
    await insertEarlyFraudWarnings(trx, latest.flatMap((i) => earlyFraudWarningRowsFromState(i.state)));
    await upsertCustomers(trx, [...customers.values()].map((x) => customerRowFromState(x.state, x.seq)));
    await upsertSetupIntents(trx, [...setupIntents.values()].map((x) => setupIntentRowFromState(x.state, x.seq)));
    await upsertProducts(trx, [...products.values()].map((x) => productRowFromState(x.state, x.seq)));
    await upsertPrices(trx, [...products.values()].flatMap((x) => priceRowsFromState(x.state, x.seq)));
    await upsertPaymentLinks(trx, [...links.values()].map((x) => paymentLinkRowFromState(x.state, x.seq)));
    await upsertCoupons(trx, [...coupons.values()].map((x) => couponRowFromState(x.state, x.seq)));
    await upsertPromotionCodes(trx, [...coupons.values()].flatMap((x) => promotionCodeRowsFromState(x.state, x.seq)));
    await insertEvents(trx, uniqueEvents);
    // PII erasure wins over what the batch copied (storage/erasure.ts).
    await applyErasures(trx, erasures);
    await applyIntentErasures(trx, intentErasures);
    await scrubErasedIntents(trx, latest.map((i) => ({ merchantId: i.state.merchant_id, id: i.state.id, customer: i.state.customer })));
    await advanceCheckpoint(trx, { name: checkpointNames.commits, stream: EVENTS_STREAM, seq: maxSeq });
  });
}

/**
 * Folds receipts and dead letters into webhook_deliveries in one transaction (see the fold rule in
 * webhook-deliveries.ts), and advances the receipts checkpoint.
 */
export async function projectReceipts(db: Kysely<Database>, batch: readonly ReceiptMessage[]): Promise<void> {
  if (batch.length === 0) return;
  const folds = new Map<string, DeliveryFold>();
  let maxSeq = 0;
  for (const m of batch) {
    maxSeq = Math.max(maxSeq, m.seq);
    const d = deliveryFromMessage(m);
    if (d) folds.set(d.id, foldDelivery(folds.get(d.id), d));
  }
  // Every try, as its receipt said (webhook_attempts).
  const attempts = batch.flatMap((m) => (m.receipt ? [webhookTryRowFromReceipt(m.receipt, m.seq)] : []));
  await inTransaction(db, async (trx) => {
    await upsertDeliveries(trx, [...folds.values()]);
    await insertWebhookTries(trx, attempts);
    await advanceCheckpoint(trx, { name: checkpointNames.receipts, stream: WEBHOOKS_STREAM, seq: maxSeq });
  });
}

export interface ProjectorOptions {
  js: JetStreamClient;
  db: Kysely<Database>;
  log: Logger;
  /** Messages per batch (one transaction each); default 256. */
  maxMessages?: number;
  /** Commits appended in this process, taken without a decode (streams/recent.ts). */
  commits?: CommitReader;
}

const RETRY_MS = 1_000;
/** degrade: consecutive failed batches (database down) back off 1, 2, 4 s… up to this. */
const MAX_RETRY_MS = 5_000;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Decodes each message of a batch; one that does not decode is termed (it never will), the rest are
 * projected together and acked, or all naked for redelivery when the transaction fails.
 */
async function projectBatch<T>(
  msgs: JsMsg[],
  decode: (m: JsMsg) => T,
  project: (items: T[]) => Promise<void>,
  log: Logger,
  what: string,
  backoff: { failures: number } = { failures: 0 },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const items: T[] = [];
  const decoded: number[] = [];
  msgs.forEach((m, i) => {
    try {
      items.push(decode(m));
      decoded.push(i);
      outcomes[i] = { kind: 'ack' };
    } catch (err) {
      outcomes[i] = { kind: 'term', reason: `undecodable ${what}: ${errorMessage(err)}` };
    }
  });
  if (items.length === 0) return outcomes;
  try {
    await project(items);
    if (backoff.failures > 0) log.info({ failures: backoff.failures }, `projecting ${what}s again after failures`);
    backoff.failures = 0;
  } catch (err) {
    // degrade: the database down is the usual cause. Nothing is lost (the batch is naked, the
    // durable keeps its place, max_deliver is unlimited) and nothing is applied twice (rows only move
    // forward by stream sequence). The batch is held for a delay that grows while failures repeat,
    // then naked for redelivery at once: a dead database is not hammered, and the projection
    // resumes at most MAX_RETRY_MS after the database is back.
    backoff.failures++;
    const delayMs = Math.min(RETRY_MS * 2 ** (backoff.failures - 1), MAX_RETRY_MS);
    log.error({ err, count: items.length, first_seq: msgs[decoded[0]!]?.seq, failures: backoff.failures, retry_ms: delayMs }, `projecting ${what}s failed; redelivering`);
    await new Promise((r) => setTimeout(r, delayMs));
    for (const i of decoded) outcomes[i] = { kind: 'nak', delayMs: 0, reason: errorMessage(err) };
  }
  return outcomes;
}

export function storedCommitOf(m: JsMsg, commits: CommitReader = decodeOnly): StoredCommit {
  return { commit: commits.commitOf(m), seq: m.seq, subject: m.subject, time: Math.floor(m.info.timestampNanos / 1e6) };
}

/** One projection: a stream read with a durable, its messages decoded and projected a batch at a time. */
interface Projection<T> {
  component: string;
  stream: string;
  durable: string;
  decode: (m: JsMsg) => T;
  project: (db: Kysely<Database>, batch: T[]) => Promise<void>;
  /** What one message is, in logs and term reasons. */
  what: string;
}

function startProjection<T>(o: ProjectorOptions, p: Projection<T>): ConsumerLoop {
  const log = o.log.child({ component: p.component });
  const backoff = { failures: 0 };
  return runBatchConsumer(o.js, p.stream, p.durable, (msgs) => projectBatch(msgs, p.decode, (batch) => p.project(o.db, batch), log, p.what, backoff), log, {
    maxMessages: o.maxMessages ?? 256,
  });
}

/** Folds PAY_EVENTS into the read model with the `projector` durable. */
export function startProjector(o: ProjectorOptions): ConsumerLoop {
  return startProjection(o, { component: 'projector', stream: EVENTS_STREAM, durable: durables.projector, decode: (m) => storedCommitOf(m, o.commits), project: projectCommits, what: 'commit' });
}

const dec = new TextDecoder();

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** A receipt (pay.webhook.receipt.*) or dead letter (pay.webhook.dlq.*), checked enough to fold. */
export function receiptMessageOf(m: Pick<JsMsg, 'seq' | 'subject' | 'data'>): ReceiptMessage {
  const body: unknown = JSON.parse(dec.decode(m.data));
  need(isObject(body), 'not a JSON object');
  const b = body as Record<string, unknown>;
  need(b.v === 1, `unsupported version ${String(b.v)}`);
  // A task names its delivery `id` and has no `at`; receipts and dead letters name `delivery_id`.
  const task = m.subject.startsWith('pay.webhook.deliver.');
  for (const f of [task ? 'id' : 'delivery_id', 'merchant_id', 'endpoint_id', 'event_id', 'event_type', 'url']) {
    need(typeof b[f] === 'string', `${f} must be a string`);
  }
  if (!task) need(Number.isInteger(b.at), 'at must be an integer');
  if (m.subject.startsWith('pay.webhook.receipt.')) {
    need(Number.isInteger(b.attempt) && (b.attempt as number) >= 1, 'attempt must be a positive integer');
    need(b.outcome === 'delivered' || b.outcome === 'failed', `unknown outcome ${String(b.outcome)}`);
    return { seq: m.seq, subject: m.subject, receipt: b as unknown as DeliveryReceipt };
  }
  if (m.subject.startsWith('pay.webhook.dlq.')) {
    need(Number.isInteger(b.attempts), 'attempts must be an integer');
    return { seq: m.seq, subject: m.subject, dead: b as unknown as DeadLetter };
  }
  if (m.subject.startsWith('pay.webhook.deliver.')) {
    need(typeof b.id === 'string', 'id must be a string');
    return { seq: m.seq, subject: m.subject, task: b as unknown as DeliveryTask };
  }
  throw new Error(`not a receipt or dead-letter subject: ${m.subject}`);
}

/** Folds PAY_WEBHOOKS receipts and dead letters into webhook_deliveries with the `receipts_projector` durable. */
export function startReceiptsProjector(o: ProjectorOptions): ConsumerLoop {
  return startProjection(o, { component: 'receipts_projector', stream: WEBHOOKS_STREAM, durable: durables.receiptsProjector, decode: receiptMessageOf, project: projectReceipts, what: 'receipt' });
}
