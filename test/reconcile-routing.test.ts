// Reconciliation work reaches the reconciler through the fan-out (reconcile/work.ts), on a real
// nats-server with the declared topology:
//  1. a commit with work is queued in PAY_RECONCILE once however often it is routed, carries where
//     and when it was appended, and is done once the reconciler acks it (nothing pending);
//  2. an upgrade: the former `reconcile` durable on PAY_EVENTS is drained (every commit it still
//     held is handled) and then deleted; without it there is nothing to drain.
import { randomBytes } from 'node:crypto';
import t, { type Test as Tap } from 'tap';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import pino from 'pino';
import { connectNats, declareTopology, durables, runConsumer, type Outcome } from '../nats/mod.ts';
import { appendReconcileTask, commitTimeOf, mayNeedReconcile, reconcileWorkOf } from '../reconcile/work.ts';
import { drainLegacyReconcile } from '../reconcile/worker.ts';
import { decodeCommit, encodeCommit } from '../streams/codec.ts';
import type { Commit } from '../streams/envelope.ts';
import { EVENTS_STREAM, RECONCILE_STREAM, subjects } from '../streams/subjects.ts';
import { withNats } from './helpers/nats.ts';
import { eventually } from './helpers/stack.ts';

const hex = (n = 6) => randomBytes(n).toString('hex');
const log = pino({ level: 'silent' });

function intentCommit(merchantId: string, intentId: string, type: 'attempt.in_doubt' | 'intent.canceled'): Commit {
  const at = Math.floor(Date.now() / 1000);
  return {
    v: 1,
    id: `cm_${hex()}`,
    merchant_id: merchantId,
    aggregate: 'intent',
    aggregate_id: intentId,
    command: 'Test',
    request_id: 'req_1',
    correlation_id: null,
    at,
    events: [{ id: `evt_${hex()}`, v: 1, type, at, data: type === 'attempt.in_doubt' ? { attempt_id: 'ch_1' } : { reason: null } }],
    state: { id: intentId, livemode: false, status: 'processing', attempts: [], refunds: [] },
  } as unknown as Commit;
}

async function setup(t: Tap) {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'reconcile-routing');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

t.test('PAY_RECONCILE: queued once per commit, with its sequence and time; acked work is done', async (t) => {
  const { js, jsm } = await setup(t);
  const merchantId = `acct_${hex()}`;
  const doubt = intentCommit(merchantId, `pi_${hex()}`, 'attempt.in_doubt');
  t.ok(reconcileWorkOf(doubt), 'an in-doubt attempt is work');
  t.equal(reconcileWorkOf(intentCommit(merchantId, 'pi_x', 'intent.canceled')), null, 'a cancel is not');

  const ack = await js.publish(subjects.intent(merchantId, doubt.aggregate_id), encodeCommit(doubt), { msgID: doubt.id });
  const c = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [subjects.intent(merchantId, doubt.aggregate_id)] });
  const m = await c.next({ expires: 2_000 });
  t.ok(m);
  await appendReconcileTask(js, m!, decodeCommit(m!.data));
  await appendReconcileTask(js, m!, decodeCommit(m!.data)); // the fan-out redelivered
  t.equal((await jsm.streams.info(RECONCILE_STREAM)).state.messages, 1, 'one task');

  const got: { seq: string | undefined; time: number; same: boolean }[] = [];
  const loop = runConsumer(js, RECONCILE_STREAM, durables.reconcile, async (task: JsMsg): Promise<Outcome> => {
    got.push({ seq: task.headers?.get('Pay-Commit-Seq'), time: commitTimeOf(task), same: Buffer.from(task.data).equals(Buffer.from(m!.data)) });
    return { kind: 'ack' };
  }, log);
  t.teardown(() => loop.stop());
  await eventually(async () => {
    const ci = await jsm.consumers.info(RECONCILE_STREAM, durables.reconcile);
    return got.length === 1 && ci.num_pending === 0 && ci.num_ack_pending === 0 && ci.ack_floor.stream_seq === 1;
  }, 10_000, 50);
  t.same(got, [{ seq: String(ack.seq), time: Math.floor(m!.info.timestampNanos / 1e6), same: true }], 'the commit as appended, its sequence, its stream time');
});

t.test('an upgrade: the former reconcile durable on PAY_EVENTS is drained, then deleted', async (t) => {
  const { js, jsm } = await setup(t);
  t.equal(await drainLegacyReconcile(js, jsm, async () => ({ kind: 'ack' }), log, 50), null, 'no former durable: nothing to drain');

  // What an older version declared, holding commits it has not handled yet.
  await jsm.consumers.add(EVENTS_STREAM, { durable_name: durables.reconcileLegacy, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: 'pay.evt.intent.>' });
  const merchantId = `acct_${hex()}`;
  const commits = [intentCommit(merchantId, `pi_${hex()}`, 'attempt.in_doubt'), intentCommit(merchantId, `pi_${hex()}`, 'intent.canceled'), intentCommit(merchantId, `pi_${hex()}`, 'attempt.in_doubt')];
  for (const c of commits) await js.publish(subjects.intent(merchantId, c.aggregate_id), encodeCommit(c), { msgID: c.id });

  const handled: string[] = [];
  let first = true;
  const loop = await drainLegacyReconcile(
    js,
    jsm,
    async (m) => {
      const c = decodeCommit(m.data);
      // The first in-doubt commit is not settled at once: the drain waits for it.
      if (first && reconcileWorkOf(c)) {
        first = false;
        return { kind: 'nak', delayMs: 300, reason: 'not seen yet' };
      }
      handled.push(c.id);
      return { kind: 'ack' };
    },
    log,
    50,
  );
  t.ok(loop, 'the former durable is drained');
  t.teardown(() => loop?.stop());
  await loop!.done;
  t.same(handled.sort(), commits.map((c) => c.id).sort(), 'every commit it held was handled, the naked one too');
  await t.rejects(jsm.consumers.info(EVENTS_STREAM, durables.reconcileLegacy), 'then deleted');
});

t.test('saved-card work: the commit where a setup_future_usage payment succeeded, and a customer deletion with cards', async (t) => {
  const at = Math.floor(Date.now() / 1000);
  const paid = (sfu: string | null, customer: string | null, type = 'attempt.succeeded', pm = 'pm_1') =>
    ({
      v: 1, id: `cm_${hex()}`, merchant_id: 'acct_1', aggregate: 'intent', aggregate_id: 'pi_1', command: 'Test', request_id: null, correlation_id: null, at,
      events: [{ id: `evt_${hex()}`, v: 1, type, at, data: { attempt_id: 'ch_1', network_ref: 'n', amount: 100, captured: true } }],
      state: { id: 'pi_1', livemode: false, status: 'succeeded', setup_future_usage: sfu, customer, attempts: [{ id: 'ch_1', status: 'succeeded', payment_method: pm }], refunds: [] },
    }) as unknown as Commit;
  const work = reconcileWorkOf(paid('off_session', 'cus_1'));
  t.match(work, { saveCard: true, inDoubt: [], refunds: [], releaseCards: [] }, 'saved when the payment succeeds');
  t.ok(mayNeedReconcile(encodeCommit(paid('off_session', 'cus_1'))), 'and its bytes say it may be work');
  t.equal(reconcileWorkOf(paid(null, 'cus_1')), null, 'no setup_future_usage: nothing');
  t.equal(reconcileWorkOf(paid('off_session', null)), null, 'no customer: nothing');
  t.equal(reconcileWorkOf(paid('off_session', 'cus_1', 'intent.captured')), null, 'a later commit (a capture): nothing');
  t.equal(reconcileWorkOf(paid('off_session', 'cus_1', 'attempt.succeeded', 'pm_card_visa')), null, 'a test card id: nothing');
  t.notOk(mayNeedReconcile(encodeCommit(paid(null, 'cus_1'))), 'setup_future_usage null: certainly not work');

  const deleted = (cards: string[] | undefined) =>
    ({
      v: 1, id: `cm_${hex()}`, merchant_id: 'acct_1', aggregate: 'customer', aggregate_id: 'cus_1', command: 'Delete', request_id: null, correlation_id: null, at,
      events: [{ id: `evt_${hex()}`, v: 1, type: 'customer.deleted', at, data: cards ? { payment_methods: cards } : {} }],
      state: { id: 'cus_1', livemode: false, created: at, email: null, name: null, phone: null, description: null, metadata: {}, deleted: true, payment_methods: [] },
    }) as unknown as Commit;
  t.match(reconcileWorkOf(deleted(['pm_1', 'pm_2'])), { releaseCards: ['pm_1', 'pm_2'], saveCard: false });
  t.equal(reconcileWorkOf(deleted([])), null, 'a customer without cards: nothing');
  t.equal(reconcileWorkOf(deleted(undefined)), null, 'an event written before the cards were named: nothing');

  // A customer's personal data erased: its saved cards' billing details go too (the cards it has now).
  const erased = (cards: string[]) =>
    ({
      v: 1, id: `cm_${hex()}`, merchant_id: 'acct_1', aggregate: 'customer', aggregate_id: 'cus_1', command: 'Erase', request_id: null, correlation_id: null, at,
      events: [{ id: `evt_${hex()}`, v: 1, type: 'customer.erased', at, data: { reason: 'request', fields: ['email'] } }],
      state: { id: 'cus_1', livemode: false, created: at, email: null, name: null, phone: null, description: null, metadata: {}, payment_methods: cards },
    }) as unknown as Commit;
  t.match(reconcileWorkOf(erased(['pm_1'])), { eraseCards: ['pm_1'], releaseCards: [], saveCard: false });
  t.equal(reconcileWorkOf(erased([])), null, 'an erased customer without cards: nothing');
  t.ok(mayNeedReconcile(Buffer.from(JSON.stringify(erased(['pm_1'])))), 'the fan-out’s byte check finds customer.erased');

  // A SetupIntent with a customer that succeeded: its card is saved, from that commit only.
  const setup = (customer: string | null, type = 'setup_attempt.succeeded', status = 'succeeded') =>
    ({
      v: 1, id: `cm_${hex()}`, merchant_id: 'acct_1', aggregate: 'setup_intent', aggregate_id: 'seti_1', command: 'RecordVerification', request_id: null, correlation_id: null, at,
      events: [{ id: `evt_${hex()}`, v: 1, type, at, data: { attempt_id: 'setatt_1' } }],
      state: { id: 'seti_1', livemode: false, status, customer, attempts: [{ id: 'setatt_1', status: status === 'succeeded' ? 'succeeded' : 'failed', payment_method: 'pm_1' }] },
    }) as unknown as Commit;
  t.match(reconcileWorkOf(setup('cus_1')), { saveCard: true, inDoubt: [], refunds: [], releaseCards: [] }, 'a SetupIntent that succeeded saves its card');
  t.ok(mayNeedReconcile(encodeCommit(setup('cus_1'))), 'and its bytes say it may be work');
  t.equal(reconcileWorkOf(setup(null)), null, 'without a customer: nothing');
  t.equal(reconcileWorkOf(setup('cus_1', 'setup_attempt.failed', 'requires_payment_method')), null, 'a failed check: nothing');
});
