// The webhook fan-out (webhooks/fanout.ts) without a server: an event is rendered only when an
// enabled endpoint of the merchant wants it, and what is appended (payload bytes, msgIDs) is what
// rendering every event and filtering afterwards gave.
import t from 'tap';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import pino from 'pino';
import type { Merchant } from '../actors/mod.ts';
import type { Commit } from '../streams/envelope.ts';
import { encodeCommit } from '../streams/codec.ts';
import { pendingStripeEventsOf, stripeEventsOf } from '../stripe/objects.ts';
import { createFanout, deliveryId, endpointsOf, tasksFor, tasksForPending } from '../webhooks/fanout.ts';
import type { DeliveryTask } from '../webhooks/types.ts';

const attempt = (id: string, status: 'succeeded' | 'failed') => ({
  id,
  payment_method: 'pm_1',
  card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, country: 'US', funding: 'credit', fingerprint: 'fp_1' },
  amount: 1000,
  status,
  captured: status === 'succeeded',
  amount_captured: status === 'succeeded' ? 1000 : 0,
  network_ref: 'nr_1',
  failure_code: status === 'failed' ? 'card_declined' : null,
  decline_code: status === 'failed' ? 'generic_decline' : null,
  failure_message: status === 'failed' ? 'Your card was declined.' : null,
  created: 1_700_000_000,
  settled_at: 1_700_000_001,
  amount_refunded: 0,
});

const state = (livemode: boolean, status: string, a: ReturnType<typeof attempt>) => ({
  id: 'pi_1',
  merchant_id: 'm_1',
  livemode,
  amount: 1000,
  amount_capturable: 0,
  amount_received: a.status === 'succeeded' ? 1000 : 0,
  currency: 'usd',
  status,
  capture_method: 'automatic',
  client_secret: 'pi_1_secret_x',
  created: 1_700_000_000,
  canceled_at: null,
  cancellation_reason: null,
  description: null,
  metadata: { order: '42' },
  receipt_email: null,
  customer: null,
  payment_method: 'pm_1',
  attempts: [a],
  last_payment_error:
    a.status === 'failed' ? { charge: a.id, code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.', type: 'card_error' } : null,
});

const commit = (id: string, events: Commit['events'], st: unknown, aggregate: Commit['aggregate'] = 'intent'): Commit =>
  ({
    v: 1,
    id,
    aggregate,
    aggregate_id: aggregate === 'merchant' ? 'm_1' : 'pi_1',
    merchant_id: 'm_1',
    command: 'Test',
    request_id: 'req_1',
    correlation_id: null,
    at: 1_700_000_001,
    events,
    state: st,
  }) as Commit;

const succeeded = commit(
  'c_ok',
  [{ id: 'evt_ok', v: 1, type: 'attempt.succeeded', at: 1_700_000_001, data: { attempt_id: 'ch_1', network_ref: 'nr_1', amount: 1000, captured: true } }] as Commit['events'],
  state(false, 'succeeded', attempt('ch_1', 'succeeded')),
);
const declined = commit(
  'c_no',
  [
    { id: 'evt_no', v: 1, type: 'attempt.declined', at: 1_700_000_001, data: { attempt_id: 'ch_2', network_ref: 'nr_2', failure_code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' } },
  ] as Commit['events'],
  state(true, 'requires_payment_method', attempt('ch_2', 'failed')),
);
const inDoubt = commit('c_doubt', [{ id: 'evt_doubt', v: 1, type: 'attempt.in_doubt', at: 1_700_000_001, data: { attempt_id: 'ch_1' } }] as Commit['events'], state(false, 'processing', attempt('ch_1', 'succeeded')));

const merchant = (events: string[], added: { id: string; enabled_events: string[]; livemode: boolean; status?: 'enabled' | 'disabled' }[] = []) =>
  ({
    merchant_id: 'm_1',
    call_back_url: 'https://example.test/hook',
    events,
    webhook_endpoint_id: 'we_onboarding',
    webhook_endpoints: added.map((e) => ({ url: `https://example.test/${e.id}`, status: 'enabled', ...e })),
  }) as unknown as Merchant;

const merchants = {
  bench: merchant(['payment_intent.succeeded', 'payment_intent.payment_failed']),
  all: merchant(['*']),
  none: merchant([]),
  mixed: merchant(['charge.failed'], [
    { id: 'we_live', enabled_events: ['*'], livemode: true },
    { id: 'we_test', enabled_events: ['payment_intent.succeeded', 'charge.succeeded'], livemode: false },
    { id: 'we_off', enabled_events: ['*'], livemode: false, status: 'disabled' },
  ]),
};

t.test('pending events render to exactly what stripeEventsOf gives', async (t) => {
  for (const c of [succeeded, declined, inDoubt]) {
    const pending = pendingStripeEventsOf(c);
    const rendered = stripeEventsOf(c);
    t.same(pending.map((p) => [p.type, p.livemode]), rendered.map((e) => [e.type, e.livemode]), `${c.id}: types and modes known before rendering`);
    t.equal(JSON.stringify(pending.map((p) => p.render())), JSON.stringify(rendered), `${c.id}: same bytes`);
  }
});

t.test('tasks: the same as rendering everything then filtering, and only wanted events are rendered', async (t) => {
  for (const [name, m] of Object.entries(merchants)) {
    for (const c of [succeeded, declined, inDoubt]) {
      const eps = endpointsOf(m);
      const expected = tasksFor(stripeEventsOf(c), 'm_1', eps, 7, 1_700_000_005);
      let renders = 0;
      const pending = pendingStripeEventsOf(c).map((p) => ({ ...p, render: () => (renders++, p.render()) }));
      const got = tasksForPending(pending, 'm_1', eps, 7, 1_700_000_005);
      t.same(got, expected, `${name}/${c.id}: same tasks`);
      t.equal(renders, new Set(expected.map((x) => x.event_id)).size, `${name}/${c.id}: rendered only the ${renders} delivered event(s)`);
    }
  }
  // The bench merchant: a successful payment's charge.succeeded is never rendered.
  const pending = pendingStripeEventsOf(succeeded);
  let rendered: string[] = [];
  tasksForPending(pending.map((p) => ({ ...p, render: () => (rendered.push(p.type), p.render()) })), 'm_1', endpointsOf(merchants.bench), 1, 1);
  t.same(rendered, ['payment_intent.succeeded']);
  rendered = [];
  tasksForPending(pending.map((p) => ({ ...p, render: () => (rendered.push(p.type), p.render()) })), 'm_1', endpointsOf(merchants.none), 1, 1);
  t.same(rendered, [], 'no endpoint wants anything: nothing rendered');
});

t.test('createFanout appends one task per (event, endpoint) with derived msgIDs; a redelivery appends the same', async (t) => {
  const published: { subject: string; task: DeliveryTask; msgID: string; requestId: string | null | undefined }[] = [];
  const reconcile: { subject: string; data: Uint8Array; msgID: string; seq: string; time: string }[] = [];
  const js = {
    publish: async (subject: string, data: string | Uint8Array, opts: { msgID: string; headers: { get(k: string): string } }) => {
      if (subject.startsWith('pay.reconcile.')) {
        reconcile.push({ subject, data: data as Uint8Array, msgID: opts.msgID, seq: opts.headers.get('Pay-Commit-Seq'), time: opts.headers.get('Pay-Commit-Time') });
      } else {
        published.push({ subject, task: JSON.parse(data as string) as DeliveryTask, msgID: opts.msgID, requestId: opts.headers.get('Request-Id') });
      }
      return { seq: published.length, duplicate: false };
    },
  } as unknown as JetStreamClient;
  const loads: string[] = [];
  const changed: string[] = [];
  let current: Merchant = merchants.mixed;
  const fanout = createFanout(js, async (id) => (loads.push(id), current), pino({ level: 'silent' }), { changed: (id) => changed.push(id) });
  const msg = (c: Commit, seq: number) => ({ data: encodeCommit(c), seq, info: { timestampNanos: 1_700_000_001_500 * 1e6 } }) as unknown as JsMsg;

  t.same(await fanout(msg(inDoubt, 1)), { kind: 'ack' });
  t.same(loads, [], 'a commit with no Stripe event does not read the merchant');
  t.equal(published.length, 0);
  t.same(
    reconcile.map((r) => [r.subject, r.msgID, r.seq, r.time, Buffer.from(r.data).equals(Buffer.from(encodeCommit(inDoubt)))]),
    [['pay.reconcile.m_1', 'rec:c_doubt', '1', '1700000001500', true]],
    'the in-doubt commit is queued for reconciliation as is, with where and when it was appended',
  );
  await fanout(msg(inDoubt, 1));
  t.equal(reconcile[1]?.msgID, 'rec:c_doubt', 'a redelivered commit is queued under the same msgID (the stream keeps one)');
  reconcile.length = 0;

  t.same(await fanout(msg(succeeded, 2)), { kind: 'ack' });
  const expected = tasksFor(stripeEventsOf(succeeded), 'm_1', endpointsOf(current), 2, 0);
  t.same(
    published.map((p) => p.msgID),
    expected.map((x) => x.id),
  );
  t.same(
    published.map((p) => ({ ...p.task, created: 0 })),
    expected,
    'tasks and payloads as before',
  );
  t.ok(published.every((p) => p.subject === 'pay.webhook.deliver.m_1' && p.requestId === 'req_1'));
  t.same(
    published.map((p) => [p.task.event_type, p.task.endpoint_id, p.msgID === deliveryId(p.task.event_id, p.task.endpoint_id)]),
    [
      ['charge.succeeded', 'we_test', true],
      ['payment_intent.succeeded', 'we_test', true],
    ],
    'a test-mode event: the onboarding endpoint only wants charge.failed, the live endpoint is skipped, the disabled one gets nothing',
  );

  const first = published.splice(0).map((p) => p.msgID);
  await fanout(msg(succeeded, 2));
  t.same(
    published.map((p) => p.msgID),
    first,
    'a redelivered commit carries the same msgIDs',
  );

  published.length = 0;
  current = merchants.bench;
  await fanout(msg(declined, 3));
  t.same(
    published.map((p) => p.task.event_type),
    ['payment_intent.payment_failed'],
  );

  const bad = await fanout({ data: new TextEncoder().encode('{"nope":1}'), seq: 4 } as unknown as JsMsg);
  t.equal(bad.kind, 'term', 'an undecodable commit is terminated');

  published.length = 0;
  loads.length = 0;
  const mcommit = commit('c_m', [{ id: 'evt_m', v: 1, type: 'merchant.updated', at: 1, data: { name: 'x' } }] as Commit['events'], {}, 'merchant');
  t.same(await fanout(msg(mcommit, 5)), { kind: 'ack' });
  t.same(changed, ['m_1'], 'a merchant commit is reported');
  t.same(loads, [], 'with no Stripe event, the merchant is not read');
  t.equal(published.length, 0);
});

t.test('with a first try: a commit read the first time has its deliveries tried, only those declined become tasks; a redelivered one stores them all', async (t) => {
  const published: string[] = [];
  const triedMarks: (number | undefined)[] = [];
  const js = {
    publish: async (_subject: string, data: string | Uint8Array) => {
      const task = JSON.parse(data as string) as DeliveryTask;
      published.push(task.event_type);
      triedMarks.push(task.tried);
      return { seq: published.length, duplicate: false };
    },
  } as unknown as JetStreamClient;
  const tried: { type: string; requestId: string | null; seq: number }[] = [];
  // The delivery takes charge.succeeded (its receipt is its business) and declines the rest.
  const firstTry = async (task: DeliveryTask, requestId: string | null, commit: JsMsg) => {
    tried.push({ type: task.event_type, requestId, seq: commit.seq });
    return task.event_type === 'charge.succeeded';
  };
  const fanout = createFanout(js, async () => merchants.mixed, pino({ level: 'silent' }), { firstTry });
  const msg = (c: Commit, seq: number, deliveryCount: number) => ({ data: encodeCommit(c), seq, info: { timestampNanos: 1e18, deliveryCount } }) as unknown as JsMsg;

  // given a commit read the first time, when fanned out, then both deliveries are tried and only the declined one is stored
  t.same(await fanout(msg(succeeded, 2, 1)), { kind: 'ack' });
  t.same(tried.map((x) => [x.type, x.requestId, x.seq]), [['charge.succeeded', 'req_1', 2], ['payment_intent.succeeded', 'req_1', 2]]);
  t.same(published, ['payment_intent.succeeded'], 'a task for the delivery it declined only');
  t.same(triedMarks, [undefined], 'a plain task: its first POST is try 1');
  triedMarks.length = 0;

  // given the same commit redelivered, then nothing is tried inline: every delivery is stored as a task
  tried.length = 0;
  published.length = 0;
  t.same(await fanout(msg(succeeded, 2, 2)), { kind: 'ack' });
  t.equal(tried.length, 0, 'no inline try');
  t.same(published.sort(), ['charge.succeeded', 'payment_intent.succeeded']);
  t.same(triedMarks, [0, 0], 'each says a try may have been made: the worker counts on from the recorded tries');
});
