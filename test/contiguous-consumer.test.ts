// nats/consumer.ts runContiguousBatchConsumer (the projector's loop, ack-all, one ack per batch) and
// the migration of an explicit-ack durable to ack-all in nats/topology.ts. Against a real nats-server.
import t, { type Test } from 'tap';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import { connectNats, declareTopology, durables, runContiguousBatchConsumer, type Outcome, type SeqRecord } from '../nats/mod.ts';
import { subjectMatches } from '../nats/consumer.ts';
import { EVENTS_STREAM } from '../streams/subjects.ts';
import { withNats } from './helpers/nats.ts';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function publish(js: JetStreamClient, n: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push((await js.publish(`pay.evt.intent.m.pi_${i % 3}`, `{"i":${i}}`)).seq);
  return seqs;
}

async function until(f: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await sleep(50);
  }
  return false;
}

async function setup(t: Test) {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'contiguous-test');
  t.teardown(() => nc.close());
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

function start(js: JetStreamClient, jsm: JetStreamManager, handle: (b: SeqRecord[]) => Promise<Outcome[]>) {
  return runContiguousBatchConsumer(js, jsm, EVENTS_STREAM, durables.projector, handle, log, { maxMessages: 8, expiresMs: 1_000 });
}

t.test('the projector durable is ack-all; one ack per batch settles everything', async (t) => {
  const { nc, js, jsm } = await setup(t);
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  t.equal((await jsm.consumers.info(EVENTS_STREAM, durables.projector)).config.ack_policy, AckPolicy.All);
  const seqs = await publish(js, 30);
  const seen: number[] = [];
  const loop = start(js, jsm, async (b) => {
    seen.push(...b.map((r) => r.seq));
    return b.map(() => ({ kind: 'ack' }));
  });
  t.teardown(() => loop.stop());
  t.ok(await until(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq === seqs.at(-1)), 'ack floor reached the last');
  const ci = await jsm.consumers.info(EVENTS_STREAM, durables.projector);
  t.equal(ci.num_ack_pending, 0);
  t.strictSame(seen, seqs, 'each once, in order');
});

t.test('messages held by another (crashed) client are read by direct get before anything is acknowledged', async (t) => {
  const { nc, js, jsm } = await setup(t);
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  const seqs = await publish(js, 20);
  // Another client takes the first 6 and never settles them (ack_wait is 30 s).
  const c = await js.consumers.get(EVENTS_STREAM, durables.projector);
  const taken: number[] = [];
  for await (const m of await c.fetch({ max_messages: 6, expires: 1_000 })) taken.push(m.seq);
  t.strictSame(taken, seqs.slice(0, 6));
  const seen: number[] = [];
  const loop = start(js, jsm, async (b) => {
    seen.push(...b.map((r) => r.seq));
    return b.map(() => ({ kind: 'ack' }));
  });
  t.teardown(() => loop.stop());
  t.ok(await until(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq === seqs.at(-1)), 'ack floor reached the last');
  t.strictSame(seen, seqs, 'every sequence handled once, in order, the held ones first');
});

t.test('a nak stops the run: what follows is not acknowledged until it is handled', async (t) => {
  const { nc, js, jsm } = await setup(t);
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  const seqs = await publish(js, 20);
  const failing = seqs[9]!;
  let failures = 0;
  const seen: number[] = [];
  const floors: number[] = [];
  const loop = start(js, jsm, async (b) => {
    if (failures < 3) floors.push((await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq);
    seen.push(...b.map((r) => r.seq));
    return b.map((r): Outcome => (r.seq === failing && failures++ < 2 ? { kind: 'nak', delayMs: 100, reason: 'test' } : r.seq === seqs[3] ? { kind: 'term', reason: 'poison' } : { kind: 'ack' }));
  });
  t.teardown(() => loop.stop());
  t.ok(await until(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq === seqs.at(-1)), 'ack floor reached the last');
  t.equal(failures, 3, 'the failing one was handled again until it passed');
  t.ok(floors.length > 0 && floors.every((f) => f < failing), `the floor never passed the failing message before it passed (${floors})`);
  t.equal(seen.filter((s) => s === failing).length, 3);
  t.strictSame([...new Set(seen)].sort((a, b) => a - b), seqs, 'everything handled');
  const ci = await jsm.consumers.info(EVENTS_STREAM, durables.projector);
  t.equal(ci.num_ack_pending, 0);
});

t.test('an explicit-ack projector durable is recreated as ack-all from its ack floor', async (t) => {
  const { nc, js, jsm } = await setup(t);
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  // The durable as an older build declared it.
  await jsm.consumers.delete(EVENTS_STREAM, durables.projector);
  await jsm.consumers.add(EVENTS_STREAM, { durable_name: durables.projector, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: 'pay.evt.>' });
  const seqs = await publish(js, 10);
  const c = await js.consumers.get(EVENTS_STREAM, durables.projector);
  for await (const m of await c.fetch({ max_messages: 5, expires: 1_000 })) if (m.seq !== seqs[3]) m.ack();
  t.ok(await until(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq === seqs[2]));

  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  let ci = await jsm.consumers.info(EVENTS_STREAM, durables.projector);
  t.equal(ci.config.ack_policy, AckPolicy.All);
  t.equal(ci.config.deliver_policy, DeliverPolicy.StartSequence);
  t.equal(ci.config.opt_start_seq, seqs[3], 'starts right after the old ack floor');
  // Declaring again (the next start) keeps it.
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  ci = await jsm.consumers.info(EVENTS_STREAM, durables.projector);
  t.equal(ci.config.opt_start_seq, seqs[3]);
  t.equal(ci.config.ack_policy, AckPolicy.All);

  const seen: number[] = [];
  const loop = start(js, jsm, async (b) => {
    seen.push(...b.map((r) => r.seq));
    return b.map(() => ({ kind: 'ack' }));
  });
  t.teardown(() => loop.stop());
  t.ok(await until(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq === seqs.at(-1)));
  t.strictSame(seen, seqs.slice(3), 'from the old floor on, the unacknowledged one included');
});

t.test('subjectMatches', async (t) => {
  t.ok(subjectMatches('pay.evt.>', 'pay.evt.intent.m.pi'));
  t.notOk(subjectMatches('pay.evt.>', 'pay.evt'));
  t.ok(subjectMatches('pay.*.x', 'pay.a.x'));
  t.notOk(subjectMatches('pay.*.x', 'pay.a.x.y'));
  t.notOk(subjectMatches('pay.webhook.receipt.>', 'pay.webhook.deliver.m'));
  t.ok(subjectMatches('a.b', 'a.b'));
  t.notOk(subjectMatches('a.b', 'a'));
});

t.test('a held sequence outside the filter is skipped, one inside is handled', async (t) => {
  const { js, jsm } = await setup(t);
  await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
  await jsm.consumers.add('T', { durable_name: 'd', ack_policy: AckPolicy.All, filter_subjects: ['t.a.>', 't.c.>'] });
  const a1 = (await js.publish('t.a.1', '1')).seq;
  await js.publish('t.b.1', 'x');
  const c1 = (await js.publish('t.c.1', '2')).seq;
  const c = await js.consumers.get('T', 'd');
  const taken: number[] = [];
  for await (const m of await c.fetch({ max_messages: 2, expires: 1_000 })) taken.push(m.seq);
  t.strictSame(taken, [a1, c1], 'held by a client that never settles');
  const a2 = (await js.publish('t.a.2', '3')).seq;
  const seen: string[] = [];
  const loop = runContiguousBatchConsumer(js, jsm, 'T', 'd', async (b) => {
    seen.push(...b.map((r) => r.subject));
    return b.map(() => ({ kind: 'ack' }));
  }, log, { maxMessages: 8, expiresMs: 1_000 });
  t.teardown(() => loop.stop());
  t.ok(await until(async () => (await jsm.consumers.info('T', 'd')).ack_floor.stream_seq === a2));
  t.strictSame(seen, ['t.a.1', 't.c.1', 't.a.2']);
});

t.test('two loops on one durable: everything handled, the floor reaches the last', async (t) => {
  const { nc, js, jsm } = await setup(t);
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  const seen: number[][] = [[], []];
  const loops = [0, 1].map((i) =>
    start(js, jsm, async (b) => {
      seen[i]!.push(...b.map((r) => r.seq));
      await sleep(20);
      return b.map(() => ({ kind: 'ack' }));
    }),
  );
  t.teardown(() => Promise.all(loops.map((l) => l.stop())));
  const seqs = await publish(js, 60);
  t.ok(await until(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.projector)).ack_floor.stream_seq === seqs.at(-1)));
  t.strictSame([...new Set([...seen[0]!, ...seen[1]!])].sort((a, b) => a - b), seqs, 'every sequence handled');
  t.comment(`handled ${seen[0]!.length} + ${seen[1]!.length} for ${seqs.length}`);
});
