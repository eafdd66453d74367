// runConsumer (nats/consumer.ts) against a real nats-server: at most `concurrency` handlers run at
// once, every message ends in ack, nak or term (a handler that throws, even before its first await,
// is naked and comes back), and stop() returns only once every message taken has been settled.
import t, { type Test } from 'tap';
import pino from 'pino';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connectNats, declareTopology, durables, runConsumer, type Outcome } from '../nats/mod.ts';
import { withNats } from './helpers/nats.ts';
import { eventually } from './helpers/stack.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function setup(t: Test, n: number) {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'consumer-loop-test');
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'LOOP', subjects: ['loop.>'] });
  await jsm.consumers.add('LOOP', { durable_name: 'loop', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 30_000_000_000, max_deliver: -1 });
  const js = jetstream(nc);
  for (let i = 0; i < n; i++) await js.publish(`loop.${i}`, String(i));
  const pending = async () => {
    const ci = await jsm.consumers.info('LOOP', 'loop');
    return ci.num_pending + ci.num_ack_pending;
  };
  return { js, pending };
}

t.test('bounded concurrency; every message settled, a throwing handler naked and redelivered', async (t) => {
  const N = 200;
  const { js, pending } = await setup(t, N);
  let running = 0;
  let maxRunning = 0;
  const acked = new Set<number>();
  const thrown = new Set<number>();
  const handle = async (m: JsMsg): Promise<Outcome> => {
    const i = Number(m.subject.split('.')[1]);
    // Every 10th throws once, before any await (a synchronous throw out of the handler).
    if (i % 10 === 0 && !thrown.has(i)) {
      thrown.add(i);
      throw new Error(`boom ${i}`);
    }
    running++;
    maxRunning = Math.max(maxRunning, running);
    await sleep(1 + (i % 7));
    running--;
    acked.add(i);
    return { kind: 'ack' };
  };
  const loop = runConsumer(js, 'LOOP', 'loop', handle, log, { concurrency: 8 });
  t.teardown(() => loop.stop());
  await eventually(async () => acked.size === N && (await pending()) === 0, 60_000, 100);
  t.equal(acked.size, N, 'every message handled to an ack');
  t.equal(thrown.size, N / 10, 'the throwing ones came back after their nak');
  t.ok(maxRunning <= 8, `never more than 8 handlers at once (${maxRunning})`);
  t.ok(maxRunning > 1, 'handlers ran concurrently');
});

t.test('stop() waits for the handlers in flight, and what they took is settled', async (t) => {
  const { js, pending } = await setup(t, 20);
  let started = 0;
  let finished = 0;
  const loop = runConsumer(
    js,
    'LOOP',
    'loop',
    async () => {
      started++;
      await sleep(300);
      finished++;
      return { kind: 'ack' };
    },
    log,
    { concurrency: 4 },
  );
  await eventually(async () => started >= 4, 10_000, 20);
  await loop.stop();
  t.equal(finished, started, 'every handler started had finished when stop() returned');
  t.ok(started >= 4 && started <= 20, `some were taken (${started})`);
  await eventually(async () => (await pending()) === 20 - finished, 10_000, 50);
  t.pass('the rest are still owed, none held unsettled');
});

t.test('declareTopology moves a projector durable left ack-all (dd20858) back to explicit acks, after its ack floor', async (t) => {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'consumer-migration-test');
  t.teardown(() => nc.close());
  const topo = { eventMaxAgeS: 3600, leaseMs: 10_000 };
  await declareTopology(nc, topo);
  const jsm = await jetstreamManager(nc);
  // As dd20858 left it: ack-all, some messages acked.
  await jsm.consumers.delete('PAY_EVENTS', durables.projector);
  await jsm.consumers.add('PAY_EVENTS', { durable_name: durables.projector, ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, filter_subject: 'pay.evt.>' });
  const js = jetstream(nc);
  for (let i = 0; i < 10; i++) await js.publish(`pay.evt.merchant.m_${i}`, '{}');
  const c = await js.consumers.get('PAY_EVENTS', durables.projector);
  const got = await c.fetch({ max_messages: 4, expires: 2_000 });
  const taken = [];
  for await (const m of got) taken.push(m);
  await taken.at(-1)?.ackAck(); // ack-all: the last covers the four
  await declareTopology(nc, topo);
  const after = await jsm.consumers.info('PAY_EVENTS', durables.projector);
  t.equal(after.config.ack_policy, AckPolicy.Explicit, 'explicit acks again');
  t.equal(after.config.opt_start_seq, 5, 'starts after the old ack floor');
  t.equal(after.num_pending, 6, 'what was not acked is still owed, what was acked is not read again');
  // A later start finds it as declared and leaves its start alone.
  await declareTopology(nc, topo);
  const again = await jsm.consumers.info('PAY_EVENTS', durables.projector);
  t.equal(again.config.opt_start_seq, 5, 'a second declaration keeps the start');
  t.equal(again.num_pending, 6, 'and the position');
  t.equal((await jsm.consumers.info('PAY_WEBHOOKS', durables.receiptsProjector)).config.ack_policy, AckPolicy.Explicit, 'the receipts projector acks each message too');
});
