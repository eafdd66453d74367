// The read model against PGlite (always) and a real Postgres (when one answers on 127.0.0.1:5432):
// migrations, projection of hand-built commits made with the real deciders, idempotence and
// never going backwards, the API's reads, and the webhook receipts fold. NATS only for the
// projector loop (a real nats-server and the real topology).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { freshDatabase, postgresUnreachable } from './helpers/postgres.ts';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { sql, type Kysely } from 'kysely';
import pino from 'pino';
import { fold, intentDecider, merchantDecider, type CardSummary, type IntentCommand, type IntentState, type MerchantCommand } from '../actors/mod.ts';
import { connectNats, declareTopology, durables } from '../nats/mod.ts';
import { decodeCommit, encodeCommit } from '../streams/codec.ts';
import type { IntentCommit, MerchantCommit, StoredCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import type { DeadLetter, DeliveryReceipt } from '../webhooks/types.ts';
import {
  getCheckpoint,
  getIntentWithAttempts,
  getMerchant,
  listDeliveries,
  listEvents,
  listIntents,
  migrateToLatest,
  openDatabase,
  projectCommits,
  projectReceipts,
  receiptMessageOf,
  startProjector,
  type Database,
  type ReceiptMessage,
} from '../storage/mod.ts';
import { withNats } from './helpers/nats.ts';

const log = pino({ level: 'silent' });
const T0 = 1_800_000_000; // unix seconds

const card = (last4: string): CardSummary => ({
  brand: 'visa',
  last4,
  exp_month: 12,
  exp_year: 2030,
  fingerprint: `fp_${last4}`,
  funding: 'credit',
  country: 'IN',
});

/** Commits made the way the actors make them: decide, stamp, evolve, and round-trip through the codec. */
let evtCounter = 0; // event ids are unique across every Stream of the file

class Stream {
  seq = 0;
  private intents = new Map<string, IntentState>();

  merchant(cmd: Extract<MerchantCommand, { type: 'Onboard' }>): StoredCommit<MerchantCommit> {
    const events = merchantDecider.decide(cmd, null);
    const state = fold(merchantDecider, events, null);
    if (!state) throw new Error('no merchant state');
    const commit: MerchantCommit = {
      v: 1,
      id: `cmt_${randomBytes(6).toString('hex')}`,
      aggregate: 'merchant',
      merchant_id: cmd.merchantId,
      aggregate_id: cmd.merchantId,
      command: cmd.type,
      request_id: null,
      correlation_id: null,
      at: cmd.now,
      events: events.map((e) => ({ ...e, id: `evt_${String(++evtCounter).padStart(6, '0')}`, v: 1 })),
      state,
    };
    return this.store(commit);
  }

  intent(merchantId: string, intentId: string, cmd: IntentCommand): StoredCommit<IntentCommit> {
    const before = this.intents.get(intentId) ?? null;
    const events = intentDecider.decide(cmd, before);
    if (events.length === 0) throw new Error(`${cmd.type} decided nothing`);
    const state = fold(intentDecider, events, before);
    if (!state) throw new Error('no intent state');
    this.intents.set(intentId, state);
    const commit: IntentCommit = {
      v: 1,
      id: `cmt_${randomBytes(6).toString('hex')}`,
      aggregate: 'intent',
      merchant_id: merchantId,
      aggregate_id: intentId,
      command: cmd.type,
      request_id: null,
      correlation_id: null,
      at: cmd.now,
      events: events.map((e) => ({ ...e, id: `evt_${String(++evtCounter).padStart(6, '0')}`, v: 1 })),
      state,
    };
    return this.store(commit);
  }

  private store<C extends MerchantCommit | IntentCommit>(commit: C): StoredCommit<C> {
    const seq = ++this.seq;
    const decoded = decodeCommit(encodeCommit(commit)) as C; // the catalogue accepts it
    const subject = decoded.aggregate === 'merchant' ? subjects.merchant(decoded.merchant_id) : subjects.intent(decoded.merchant_id, decoded.aggregate_id);
    return { commit: decoded, seq, subject, time: decoded.at * 1000 };
  }
}

function create(merchantId: string, intentId: string, now: number, extra: Partial<Extract<IntentCommand, { type: 'Create' }>> = {}): IntentCommand {
  return {
    type: 'Create',
    intentId,
    merchantId,
    livemode: false,
    amount: 5000,
    currency: 'inr',
    clientSecret: `${intentId}_secret_x`,
    captureMethod: 'automatic',
    description: null,
    metadata: { order: intentId },
    receiptEmail: null,
    customer: null,
    userEmail: 'buyer@example.com',
    productId: 'prod_1',
    paymentMethod: null,
    now,
    ...extra,
  };
}

function onboard(merchantId: string, now: number): Extract<MerchantCommand, { type: 'Onboard' }> {
  return {
    type: 'Onboard',
    merchantId,
    name: `Shop ${merchantId}`,
    address: '1 MG Road',
    gstId: '29ABCDE1234F1Z5',
    callbackUrl: 'https://shop.example/hook',
    events: ['payment_intent.succeeded'],
    keys: [{ id: 'key_1', kind: 'secret', hash: 'ab'.repeat(32), redacted: 'sk_test_…abcd', created: now }],
    webhookSecretEnc: 'ENCRYPTED',
    webhookEndpointId: 'we_1',
    allowedOrigins: ['https://shop.example'],
    now,
  };
}

/** Everything the projector writes, for before/after comparisons (checkpoint times excluded). */
async function snapshot(db: Kysely<Database>) {
  return {
    merchants: await db.selectFrom('merchants').selectAll().orderBy('merchant_id').execute(),
    intents: await db.selectFrom('payment_intents').selectAll().orderBy('id').execute(),
    attempts: await db.selectFrom('payment_attempts').selectAll().orderBy('id').execute(),
    events: await db.selectFrom('events').selectAll().orderBy('id').execute(),
    deliveries: await db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute(),
    checkpoints: await db.selectFrom('projection_checkpoints').select(['name', 'stream', 'last_seq']).orderBy('name').execute(),
  };
}

async function suite(t: Test, db: Kysely<Database>): Promise<void> {
  await migrateToLatest(db);
  await migrateToLatest(db); // a second run has nothing to do

  const s = new Stream();
  const M = 'acct_a';
  const PI = 'pi_main';
  const merchant = s.merchant(onboard(M, T0));
  const created = s.intent(M, PI, create(M, PI, T0 + 10, { customer: 'cus_1' }));
  const started1 = s.intent(M, PI, { type: 'StartAttempt', attemptId: 'ch_1', paymentMethod: 'pm_1', card: card('0002'), now: T0 + 11 });
  const declined = s.intent(M, PI, {
    type: 'RecordAuthorization',
    attemptId: 'ch_1',
    outcome: 'declined',
    networkRef: 'net_1',
    declineCode: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
    now: T0 + 12,
  });
  const started2 = s.intent(M, PI, { type: 'StartAttempt', attemptId: 'ch_2', paymentMethod: 'pm_2', card: card('4242'), now: T0 + 13 });
  const approved = s.intent(M, PI, { type: 'RecordAuthorization', attemptId: 'ch_2', outcome: 'approved', networkRef: 'net_2', now: T0 + 14 });
  const all = [merchant, created, started1, declined, started2, approved];

  await t.test('created, then a declined attempt', async (t) => {
    await projectCommits(db, [merchant, created, started1, declined]);
    const pi = await getIntentWithAttempts(db, M, PI);
    t.equal(pi?.status, 'requires_payment_method');
    t.equal(pi?.attempts.length, 1);
    t.equal(pi?.attempts[0]?.status, 'failed');
    t.equal(pi?.attempts[0]?.decline_code, 'insufficient_funds');
    t.equal(pi?.last_payment_error?.decline_code, 'insufficient_funds');
    t.equal(pi?.last_seq, declined.seq);
    t.equal((await getCheckpoint(db, 'projector'))?.last_seq, declined.seq);
  });

  await t.test('a second attempt succeeds: the dashboard read', async (t) => {
    await projectCommits(db, [started2, approved]);
    const pi = await getIntentWithAttempts(db, M, PI);
    if (!pi) throw new Error('intent missing');
    t.match(pi, {
      id: PI,
      merchant_id: M,
      status: 'succeeded',
      amount: 5000,
      amount_received: 5000,
      amount_capturable: 0,
      attempt_count: 2,
      latest_attempt_id: 'ch_2',
      customer: 'cus_1',
      metadata: { order: PI },
      last_payment_error: null,
      last_seq: approved.seq,
    });
    t.equal(typeof pi.amount, 'number', 'int8 converted at the edge');
    t.ok(pi.created_at instanceof Date);
    t.equal(pi.created_at.getTime(), (T0 + 10) * 1000);
    t.equal(pi.updated_at.getTime(), (T0 + 14) * 1000);
    t.strictSame(pi.state, approved.commit.state, 'state is the full snapshot');
    t.strictSame(
      pi.attempts.map((a) => [a.seq_no, a.id, a.status, a.card_last4, a.amount, a.captured, a.amount_captured]),
      [
        [1, 'ch_1', 'failed', '0002', 5000, false, 0],
        [2, 'ch_2', 'succeeded', '4242', 5000, true, 5000],
      ],
    );
    const a2 = pi.attempts[1];
    t.ok(a2?.created_at instanceof Date, 'json-aggregated timestamps come back as Dates');
    t.equal(a2?.created_at.getTime(), (T0 + 13) * 1000);
    t.equal(a2?.settled_at?.getTime(), (T0 + 14) * 1000);
    t.equal(a2?.last_seq, approved.seq);
    t.equal(await getIntentWithAttempts(db, 'acct_other', PI), undefined, "another merchant's intent is not found");

    const m = await getMerchant(db, M);
    t.match(m, { merchant_id: M, name: `Shop ${M}`, events: ['payment_intent.succeeded'], allowed_origins: ['https://shop.example'], last_seq: merchant.seq });
  });

  await t.test('re-projection and older commits change nothing', async (t) => {
    const before = await snapshot(db);
    await projectCommits(db, all); // the whole history again, in one batch
    await projectCommits(db, [created]); // an old commit alone
    await projectCommits(db, [declined, started1]); // older ones, out of order
    await projectCommits(db, [...all].reverse());
    t.strictSame(await snapshot(db), before);
    t.equal((await getCheckpoint(db, 'projector'))?.last_seq, approved.seq, 'the checkpoint never goes backwards');
  });

  await t.test('one batch holding an aggregate many times projects its newest state', async (t) => {
    const s2 = new Stream();
    s2.seq = 1000;
    const c = [
      s2.intent(M, 'pi_batch', create(M, 'pi_batch', T0 + 20)),
      s2.intent(M, 'pi_batch', { type: 'StartAttempt', attemptId: 'ch_b1', paymentMethod: 'pm_1', card: card('1111'), now: T0 + 21 }),
      s2.intent(M, 'pi_batch', { type: 'RecordAuthorization', attemptId: 'ch_b1', outcome: 'approved', networkRef: null, now: T0 + 22 }),
    ];
    await projectCommits(db, [c[2]!, c[0]!, c[1]!]);
    const pi = await getIntentWithAttempts(db, M, 'pi_batch');
    t.equal(pi?.status, 'succeeded');
    t.equal(pi?.attempts[0]?.status, 'succeeded');
    t.equal(pi?.last_seq, 1003);
    const ev = await listEvents(db, { merchantId: M, type: 'attempt.*', limit: 10 });
    t.strictSame(
      ev.data.map((e) => e.type),
      ['attempt.succeeded', 'attempt.started', 'attempt.succeeded', 'attempt.started', 'attempt.declined', 'attempt.started'],
    );
    await db.deleteFrom('payment_attempts').where('intent_id', '=', 'pi_batch').execute();
    await db.deleteFrom('payment_intents').where('id', '=', 'pi_batch').execute();
    await db.deleteFrom('events').where('aggregate_id', '=', 'pi_batch').execute();
  });

  await t.test('events', async (t) => {
    const page = await listEvents(db, { merchantId: M, limit: 3 });
    t.strictSame(
      page.data.map((e) => e.type),
      ['attempt.succeeded', 'attempt.started', 'attempt.declined'],
    );
    t.equal(page.hasMore, true);
    const rest = await listEvents(db, { merchantId: M, limit: 10, startingAfter: page.data[2]!.id });
    t.strictSame(rest.data.map((e) => e.type), ['attempt.started', 'intent.created', 'merchant.onboarded']);
    t.equal(rest.hasMore, false);
    t.equal(rest.data[0]?.stream_seq, started1.seq);
    const onboarded = rest.data[2];
    t.equal(onboarded?.data.name, `Shop ${M}`);
    t.notOk('webhook_secret_enc' in (onboarded?.data ?? {}), 'the encrypted secret is not copied');
    t.notOk('keys' in (onboarded?.data ?? {}), 'key hashes are not copied');
    const created = await listEvents(db, { merchantId: M, type: 'intent.created', limit: 10 });
    t.strictSame(created.data.map((e) => e.aggregate_id), [PI]);
    t.equal((await listEvents(db, { merchantId: 'acct_other', limit: 10 })).data.length, 0);
    t.equal((await listEvents(db, { merchantId: M, limit: 10, startingAfter: 'evt_unknown' })).data.length, 0);
  });

  await t.test('list intents: order, pagination, filters', async (t) => {
    const s3 = new Stream();
    s3.seq = 2000;
    const M2 = 'acct_list';
    // Nine intents; 3 share their created second (ties ordered by id desc); every third has a customer.
    const times = [100, 200, 300, 300, 300, 400, 500, 600, 700];
    const batch = times.map((dt, i) => s3.intent(M2, `pi_l${i}`, create(M2, `pi_l${i}`, T0 + dt, i % 3 === 0 ? { customer: 'cus_x' } : {})));
    batch.push(s3.intent('acct_elsewhere', 'pi_else', create('acct_elsewhere', 'pi_else', T0 + 300)));
    await projectCommits(db, batch);
    const expected = ['pi_l8', 'pi_l7', 'pi_l6', 'pi_l5', 'pi_l4', 'pi_l3', 'pi_l2', 'pi_l1', 'pi_l0'];

    const seen: string[] = [];
    let cursor: string | undefined;
    const pages: boolean[] = [];
    for (;;) {
      const p = await listIntents(db, { merchantId: M2, limit: 4, ...(cursor ? { startingAfter: cursor } : {}) });
      seen.push(...p.data.map((i) => i.id));
      pages.push(p.hasMore);
      if (!p.hasMore) break;
      cursor = p.data[p.data.length - 1]?.id;
    }
    t.strictSame(seen, expected, 'pages walk every intent newest first, ties by id');
    t.strictSame(pages, [true, true, false]);

    const before = await listIntents(db, { merchantId: M2, limit: 2, endingBefore: 'pi_l3' });
    t.strictSame(before.data.map((i) => i.id), ['pi_l5', 'pi_l4'], 'ending_before: the page just newer, newest first');
    t.equal(before.hasMore, true);
    const first = await listIntents(db, { merchantId: M2, limit: 5, endingBefore: 'pi_l6' });
    t.strictSame(first.data.map((i) => i.id), ['pi_l8', 'pi_l7']);
    t.equal(first.hasMore, false);

    const cus = await listIntents(db, { merchantId: M2, limit: 10, customer: 'cus_x' });
    t.strictSame(cus.data.map((i) => i.id), ['pi_l6', 'pi_l3', 'pi_l0']);
    const range = await listIntents(db, { merchantId: M2, limit: 10, created: { gte: T0 + 300, lt: T0 + 500 } });
    t.strictSame(range.data.map((i) => i.id), ['pi_l5', 'pi_l4', 'pi_l3', 'pi_l2']);
    const gtLte = await listIntents(db, { merchantId: M2, limit: 10, created: { gt: T0 + 300, lte: T0 + 500 } });
    t.strictSame(gtLte.data.map((i) => i.id), ['pi_l6', 'pi_l5']);
    t.equal(gtLte.data[0]?.status, 'requires_payment_method', 'snapshots are Intents');
    t.equal((await listIntents(db, { merchantId: M2, limit: 10, startingAfter: 'pi_else' })).data.length, 0, "another merchant's cursor finds nothing");
    await t.rejects(listIntents(db, { merchantId: M2, limit: 10, startingAfter: 'a', endingBefore: 'b' }), RangeError);
  });

  await t.test('concurrent batches and reads', async (t) => {
    const s4 = new Stream();
    s4.seq = 3000;
    const M3 = 'acct_conc';
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 5 }, (_, i) => s4.intent(M3, `pi_c${b}_${i}`, create(M3, `pi_c${b}_${i}`, T0 + b * 10 + i))),
    );
    const reads = Array.from({ length: 8 }, () => listIntents(db, { merchantId: M3, limit: 100 }));
    await Promise.all([...batches.map((b) => projectCommits(db, b)), ...reads]);
    t.equal((await listIntents(db, { merchantId: M3, limit: 100 })).data.length, 40);
  });

  await t.test('webhook receipts fold', async (t) => {
    const base = { merchant_id: M, endpoint_id: 'we_1', event_id: 'evt_s1', event_type: 'payment_intent.succeeded', url: 'https://shop.example/hook' };
    const receipt = (id: string, attempt: number, outcome: 'delivered' | 'failed', at: number): DeliveryReceipt => ({
      v: 1,
      delivery_id: id,
      ...base,
      attempt,
      outcome,
      status_code: outcome === 'delivered' ? 200 : 500,
      error: outcome === 'delivered' ? null : 'HTTP 500',
      duration_ms: 12,
      at,
      next_retry_at: outcome === 'delivered' ? null : at + 30,
    });
    const dead = (id: string, attempts: number, at: number): DeadLetter => ({ v: 1, delivery_id: id, ...base, attempts, last_error: 'HTTP 503', at });
    const r = (seq: number, receipt: DeliveryReceipt): ReceiptMessage => ({ seq, subject: subjects.webhookReceipt(M), receipt });
    const d = (seq: number, dl: DeadLetter): ReceiptMessage => ({ seq, subject: subjects.webhookDlq(M), dead: dl });

    await projectReceipts(db, [r(1, receipt('whd_1', 1, 'failed', T0 + 100))]);
    let [w] = await listDeliveries(db, { merchantId: M, eventId: 'evt_s1' });
    t.match(w, { id: 'whd_1', status: 'failed', attempts: 1, last_status_code: 500, last_error: 'HTTP 500' });
    t.equal(w?.next_retry_at?.getTime(), (T0 + 130) * 1000);

    await projectReceipts(db, [r(2, receipt('whd_1', 2, 'delivered', T0 + 130))]);
    // Late and repeated receipts: an older failure (redelivered, and one read out of order).
    await projectReceipts(db, [r(1, receipt('whd_1', 1, 'failed', T0 + 100)), r(5, receipt('whd_1', 1, 'failed', T0 + 100))]);
    await projectReceipts(db, [r(2, receipt('whd_1', 2, 'delivered', T0 + 130))]);
    [w] = await listDeliveries(db, { merchantId: M, eventId: 'evt_s1' });
    t.match(w, { status: 'delivered', attempts: 2, last_status_code: 200, last_error: null, next_retry_at: null });
    t.equal(w?.delivered_at?.getTime(), (T0 + 130) * 1000);

    // whd_2 runs out of tries; its dead letter is read before the last failed receipt.
    await projectReceipts(db, [r(10, { ...receipt('whd_2', 1, 'failed', T0 + 100), event_id: 'evt_s2' }), r(11, { ...receipt('whd_2', 2, 'failed', T0 + 130), event_id: 'evt_s2' })]);
    await projectReceipts(db, [d(13, { ...dead('whd_2', 3, T0 + 200), event_id: 'evt_s2' })]);
    await projectReceipts(db, [r(12, { ...receipt('whd_2', 3, 'failed', T0 + 200), event_id: 'evt_s2' })]);
    const [w2] = await listDeliveries(db, { merchantId: M, eventId: 'evt_s2' });
    t.match(w2, { id: 'whd_2', status: 'dead', attempts: 3, last_error: 'HTTP 503', last_status_code: 500, next_retry_at: null, last_seq: 13 });

    // The same in one batch, in another order, for a third delivery.
    await projectReceipts(db, [
      d(23, { ...dead('whd_3', 3, T0 + 200), event_id: 'evt_s3' }),
      r(22, { ...receipt('whd_3', 3, 'failed', T0 + 200), event_id: 'evt_s3' }),
      r(20, { ...receipt('whd_3', 1, 'failed', T0 + 100), event_id: 'evt_s3' }),
    ]);
    const [w3] = await listDeliveries(db, { merchantId: M, eventId: 'evt_s3' });
    t.match(w3, { status: 'dead', attempts: 3, last_seq: 23, last_error: 'HTTP 503', next_retry_at: null });

    t.equal((await listDeliveries(db, { merchantId: M })).length, 3);
    t.equal((await listDeliveries(db, { merchantId: 'acct_other' })).length, 0);
    t.equal((await getCheckpoint(db, 'receipts_projector'))?.last_seq, 23);
    t.equal((await getCheckpoint(db, 'receipts_projector'))?.stream, 'PAY_WEBHOOKS');
  });
}

t.test('receiptMessageOf', async (t) => {
  const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
  const good = { v: 1, delivery_id: 'whd_1', merchant_id: 'm', endpoint_id: 'we', event_id: 'evt', event_type: 'x', url: 'u', attempt: 1, outcome: 'failed', at: 1 };
  t.ok(receiptMessageOf({ seq: 1, subject: 'pay.webhook.receipt.m', data: enc(good) }).receipt);
  t.ok(receiptMessageOf({ seq: 1, subject: 'pay.webhook.dlq.m', data: enc({ ...good, attempts: 3 }) }).dead);
  t.throws(() => receiptMessageOf({ seq: 1, subject: 'pay.webhook.receipt.m', data: enc({ ...good, outcome: 'maybe' }) }));
  t.throws(() => receiptMessageOf({ seq: 1, subject: 'pay.webhook.receipt.m', data: new TextEncoder().encode('{') }));
  t.throws(() => receiptMessageOf({ seq: 1, subject: 'pay.webhook.deliver.m', data: enc(good) }));
});

t.test('PGlite', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-storage-'));
  const started = Date.now();
  const store = await openDatabase({ dataDir: dir });
  t.comment(`PGlite opened in ${Date.now() - started} ms`);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  t.equal(store.kind, 'pglite');
  t.equal(await store.ping(), true);
  await suite(t, store.db);

  await t.test('startProjector terms an undecodable message and acks the rest', async (t) => {
    const { url } = await withNats(t);
    const nc = await connectNats(url, 'storage-test');
    t.teardown(() => nc.close());
    await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);

    // The server announces every term; listen before anything is consumed.
    const terminated: { stream_seq: number; reason?: string }[] = [];
    const advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${EVENTS_STREAM}.${durables.projector}`, {
      callback: (err, m) => {
        if (!err) terminated.push(m.json<{ stream_seq: number; reason?: string }>());
      },
    });
    t.teardown(() => advisories.unsubscribe());

    const M = 'acct_loop';
    const PI = 'pi_loop';
    const subject = subjects.intent(M, PI);
    const s = new Stream();
    const good = s.intent(M, PI, create(M, PI, T0 + 50));
    // Undecodable: a JSON object that is not a commit, on the same aggregate's subject.
    const badAck = await js.publish(subject, new TextEncoder().encode('{"v":1}'));
    const goodAck = await js.publish(subject, encodeCommit(good.commit), { msgID: good.commit.id });
    t.ok(goodAck.seq > badAck.seq, 'the bad message comes first');

    const loop = startProjector({ js, db: store.db, log });
    let stopped = false;
    t.teardown(async () => {
      if (!stopped) await loop.stop();
    });
    const deadline = Date.now() + 15_000;
    let info = await jsm.consumers.info(EVENTS_STREAM, durables.projector);
    while (Date.now() < deadline) {
      info = await jsm.consumers.info(EVENTS_STREAM, durables.projector);
      if (info.delivered.stream_seq >= goodAck.seq && info.num_ack_pending === 0 && terminated.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    stopped = true;
    await loop.stop();

    t.equal(info.delivered.stream_seq, goodAck.seq, 'both messages were delivered');
    t.equal(info.num_ack_pending, 0, 'nothing is left unsettled');
    t.equal(info.num_pending, 0);
    t.equal(info.num_redelivered, 0, 'neither was redelivered');
    t.strictSame(
      terminated.map((a) => a.stream_seq),
      [badAck.seq],
      'the undecodable message was termed, the commit was not',
    );
    t.match(terminated[0]?.reason ?? '', /undecodable commit/);
    const pi = await getIntentWithAttempts(store.db, M, PI);
    t.equal(pi?.status, 'requires_payment_method', 'the good commit was projected');
    t.equal(pi?.last_seq, goodAck.seq, 'at its stream sequence');
    t.equal(pi?.created_at.getTime(), (T0 + 50) * 1000);
  });
});

const unreachable = await postgresUnreachable();

t.test('Postgres', { skip: unreachable ? `Postgres is unreachable (${unreachable})` : false }, async (t) => {
  const fresh = await freshDatabase();
  const store = await openDatabase({ databaseUrl: fresh.url, dataDir: os.tmpdir() });
  t.teardown(async () => {
    await store.close();
    await fresh.drop();
  });
  t.equal(store.kind, 'postgres');
  t.equal(await store.ping(), true);
  const { rows } = await sql<{ v: string }>`select current_database() as v`.execute(store.db);
  t.equal(rows[0]?.v, fresh.name, 'runs in its own database');
  await suite(t, store.db);

  await t.test('a failing migration names itself', async (t) => {
    const broken = await freshDatabase();
    const other = await openDatabase({ databaseUrl: broken.url, dataDir: os.tmpdir() });
    try {
      await sql`create table merchants (x int)`.execute(other.db);
      await t.rejects(migrateToLatest(other.db), { name: 'MigrationError', message: /migration 2026_11_25_0001_initial failed: .*merchants.*already exists/ });
    } finally {
      await other.close();
      await broken.drop();
    }
  });
});
