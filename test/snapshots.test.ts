// Aggregate snapshots (runtime/snapshots.ts): state outlives the event stream's retention.
//  1. pure: latestSnapshots keeps the newest commit per subject;
//  2. real nats-server, retention of 2 s: a customer ages out of the stream; its snapshot is the
//     state; two writers both load it (fence: "no message on the subject") and update at once:
//     one appends, the other conflicts, re-reads the stream and appends after it: one linear
//     history continuing the snapshot, no second `customer.created`; saveSnapshots never regresses.
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { customerDecider, type Customer, type CustomerCommand } from '../actors/mod.ts';
import { appendCommit, buckets, bucketStream, bucketSubject, connectNats, declareTopology, StreamConflictError } from '../nats/mod.ts';
import { createAggregateStore } from '../runtime/aggregates.ts';
import { latestSnapshots, readSnapshot, saveSnapshots, type Snapshot } from '../runtime/snapshots.ts';
import { decodeCommit } from '../streams/codec.ts';
import type { CustomerCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { withNats } from './helpers/nats.ts';
import { eventually } from './helpers/stack.ts';

const hex = (n = 8) => randomBytes(n).toString('hex');
const nowS = () => Math.floor(Date.now() / 1000);

/** A private nats-server with the declared topology, and the snapshots bucket. */
async function topology(t: Test, eventMaxAgeS: number) {
  const nats = await withNats(t);
  const nc = await connectNats(nats.url, 'snapshots-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS, leaseMs: 5_000 });
  return { js: jetstream(nc), jsm: await jetstreamManager(nc), kv: await new Kvm(nc).open(buckets.snapshots) };
}

t.test('latestSnapshots: the newest commit per subject, non-commits skipped', async (t) => {
  const commit = (id: string, name: string) => ({ v: 1, aggregate: 'customer', aggregate_id: id, merchant_id: 'acct_1', id: 'c', command: 'Update', events: [], state: { id, name } });
  const snaps = latestSnapshots([
    { seq: 3, subject: 's.a', time: 30, data: commit('a', 'a3') },
    { seq: 1, subject: 's.a', time: 10, data: commit('a', 'a1') },
    { seq: 2, subject: 's.b', time: 20, data: commit('b', 'b2') },
    { seq: 4, subject: 's.c', time: 40, data: { base64: 'AAAA' } },
  ]);
  t.same(
    snaps.map((s) => [s.subject, s.seq, s.time, (s.state as { name: string }).name, s.aggregate, s.merchant_id]),
    [
      ['s.a', 3, 30, 'a3', 'customer', 'acct_1'],
      ['s.b', 2, 20, 'b2', 'customer', 'acct_1'],
    ],
  );
});

t.test('after retention: the snapshot is the state, and the fence still admits one writer', { timeout: 60_000 }, async (t) => {
  const { js, jsm, kv } = await topology(t, 2);

  const merchantId = `acct_${hex()}`;
  const customerId = `cus_${hex()}`;
  const ref = { aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId };
  const ctx = (id: string) => ({ commandId: `cmd_${id}_${hex(4)}`, requestId: null, correlationId: null, now: nowS() });
  const setup = createAggregateStore(js, jsm, 'w_setup');
  const create: CustomerCommand = { type: 'Create', customerId, merchantId, livemode: false, email: 'old@example.com', name: 'Old Name', description: null, phone: null, metadata: { kept: 'yes' }, now: nowS() };
  const created = await setup.execute(customerDecider, ref, create, ctx('create'));
  t.equal(created.appended[0]?.type, 'customer.created');

  // What the archiver does when it closes the chunk holding that commit.
  const m = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: ref.subject });
  t.ok(m, 'the commit is in the stream');
  const record = { seq: m!.seq, subject: m!.subject, time: m!.time.getTime(), data: JSON.parse(m!.string()) as unknown };
  t.equal(await saveSnapshots(kv, latestSnapshots([record])), 1);
  t.equal(await saveSnapshots(kv, latestSnapshots([record])), 0, 'the same chunk again (a redelivery) writes nothing');
  const older: Snapshot = { ...(await readSnapshot(kv, ref.subject))!, seq: m!.seq - 1, state: { stale: true } };
  t.equal(await saveSnapshots(kv, [older]), 0, 'an older snapshot never replaces a newer one');

  // Retention passes: the stream no longer has the subject.
  await eventually(async () => (await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: ref.subject })) === null, 20_000, 200);
  t.equal((await jsm.streams.info(EVENTS_STREAM)).state.messages, 0, 'the stream is empty');

  // A create under the same id (an Idempotency-Key reused after the retention derives it again),
  // without a read first (assumeNew): the snapshot stops it from restarting the history.
  const again = await createAggregateStore(js, jsm, 'w_c').execute(customerDecider, ref, { ...create, email: 'new@example.com', now: nowS() }, ctx('again'), { assumeNew: true });
  t.same(again.appended, [], 'no second customer.created');
  t.equal(again.state?.email, 'old@example.com', 'the existing customer is answered');
  t.equal(await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: ref.subject }), null, 'nothing appended');

  // Two writers (say, an old owner and a new one) both load it: state from the snapshot, fence 0.
  const a = createAggregateStore(js, jsm, 'w_a');
  const b = createAggregateStore(js, jsm, 'w_b');
  const la = await a.load<Customer>(ref.subject);
  const lb = await b.load<Customer>(ref.subject);
  t.equal(la.seq, 0, 'fence: no message on the subject');
  t.equal(la.state?.email, 'old@example.com', 'the state is the snapshot');
  t.same(lb, la);

  const update = (key: string): CustomerCommand => ({ type: 'Update', changes: {}, metadata: { [key]: '1' }, now: nowS() });
  const [ra, rb] = await Promise.all([a.execute(customerDecider, ref, update('by_a'), ctx('a')), b.execute(customerDecider, ref, update('by_b'), ctx('b'))]);
  t.equal(ra.appended.length, 1);
  t.equal(rb.appended.length, 1, 'the loser re-read the stream and decided again');
  t.not(ra.seq, rb.seq);

  // The stream: two commits, one after the other, both continuing the snapshot.
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: ref.subject });
  t.equal(info.state.messages, 2, 'exactly two commits on the subject');
  const first = decodeCommit((await jsm.direct.getMessage(EVENTS_STREAM, { seq: Math.min(ra.seq, rb.seq) }))!.data) as CustomerCommit;
  const last = decodeCommit((await jsm.direct.getMessage(EVENTS_STREAM, { seq: Math.max(ra.seq, rb.seq) }))!.data) as CustomerCommit;
  t.same(
    [first, last].flatMap((c) => c.events.map((e) => e.type)),
    ['customer.updated', 'customer.updated'],
    'no second customer.created',
  );
  t.equal(Object.keys(first.state.metadata).length, 2, 'the first continues the snapshot');
  t.same(last.state.metadata, { kept: 'yes', by_a: '1', by_b: '1' }, 'the second continues the first: one linear history');
  t.equal(last.state.email, 'old@example.com');

  // And the fence itself: "no message on the subject" no longer holds, so a stale append fails.
  await t.rejects(
    appendCommit(js, { subject: ref.subject, msgId: `stale_${hex()}`, expectedSeq: 0, data: new TextEncoder().encode(JSON.stringify(first)), requestId: null, correlationId: null }),
    StreamConflictError,
    'a writer still holding the snapshot (fence 0) cannot append',
  );

  // A subject with neither stream message nor snapshot: no state.
  const none = await a.readLast(subjects.customer(merchantId, `cus_${hex()}`));
  t.same(none, { state: null, seq: 0 });
});

t.test('a create under an id drawn at random (neverExisted) skips the snapshot lookup; one under a derived id makes it', async (t) => {
  const nats = await withNats(t);
  const nc = await connectNats(nats.url, 'snapshots-lookup-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  // Every snapshot read is a JetStream API request on the bucket's stream (a message get): a plain
  // subscriber to the API subjects sees them.
  let lookups = 0;
  const spy = nc.subscribe('$JS.API.>', {
    callback: (_e, m) => {
      if (m.subject.includes(bucketStream(buckets.snapshots))) lookups++;
    },
  });
  t.teardown(() => spy.unsubscribe());
  await nc.flush();
  const store = createAggregateStore(js, jsm, 'w_lookup');
  const merchantId = `acct_${hex()}`;
  const create = async (neverExisted: boolean) => {
    const customerId = `cus_${hex()}`;
    const ref = { aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId };
    const cmd: CustomerCommand = { type: 'Create', customerId, merchantId, livemode: false, email: null, name: null, description: null, phone: null, metadata: {}, now: nowS() };
    const r = await store.execute(customerDecider, ref, cmd, { commandId: `cmd_${hex()}`, requestId: null, correlationId: null, now: nowS() }, { assumeNew: true, neverExisted });
    t.equal(r.appended[0]?.type, 'customer.created');
    await nc.flush();
  };
  await create(false);
  t.equal(lookups, 1, 'a derived id (Idempotency-Key): the snapshot is looked up');
  await create(true);
  t.equal(lookups, 1, 'a random id: not looked up');
});

t.test('saveSnapshots in atomic batches: one sync for a chunk, never a regression, one by one when something moved', { timeout: 60_000 }, async (t) => {
  const { js, jsm, kv } = await topology(t, 3600);
  const stream = bucketStream(buckets.snapshots);
  t.equal((await jsm.streams.info(stream)).config.allow_atomic, true, 'declareTopology lets the bucket take atomic batches');
  const batched = { js, jsm, bucket: buckets.snapshots };
  const lastSeq = async () => (await jsm.streams.info(stream)).state.last_seq;
  const snap = (i: number, seq: number, name = `n${i}`): Snapshot => ({ v: 1, aggregate: 'customer', subject: subjects.customer('acct_batch', `cus_${i}`), merchant_id: 'acct_batch', aggregate_id: `cus_${i}`, seq, time: seq * 10, state: { name } });
  const nameOf = async (i: number) => ((await readSnapshot<{ name: string }>(kv, snap(i, 0).subject))?.state.name ?? null);

  // 700 new aggregates: two batches (500 + 200).
  const first = Array.from({ length: 700 }, (_, i) => snap(i, 1_000 + i));
  t.equal(await saveSnapshots(kv, first, batched), 700, 'all 700 written');
  t.equal(await lastSeq(), 700, 'as 700 puts');
  t.equal(await nameOf(0), 'n0');
  t.equal(await nameOf(699), 'n699');
  const stored = await jsm.direct.getMessage(stream, { last_by_subj: bucketSubject(buckets.snapshots, snap(0, 0).subject) });
  t.equal(stored?.header?.get('Paynats-Snapshot-Seq'), '1000', 'written by a batch (its puts carry the snapshot sequence)');

  // The next chunk: some aggregates moved on, one comes again older (a redelivery), some are new.
  const next = [snap(0, 5_000, 'n0-later'), snap(1, 999, 'stale'), snap(2, 1_002, 'same-seq'), snap(800, 5_001, 'n800')];
  t.equal(await saveSnapshots(kv, next, batched), 2, 'the newer and the new one; the older and the same one skipped');
  t.equal(await nameOf(0), 'n0-later');
  t.equal(await nameOf(1), 'n1', 'an older snapshot never replaces a newer one');
  t.equal(await nameOf(2), 'n2');
  t.equal(await nameOf(800), 'n800');
  t.equal(await saveSnapshots(kv, next, batched), 0, 'the same chunk again writes nothing');

  // A racing writer moves one key after the batch read it: the batch is refused as a whole, and
  // the one-by-one path still writes every snapshot that is newer.
  const origGet = jsm.direct.getLastMessagesFor.bind(jsm.direct);
  let raced = false;
  jsm.direct.getLastMessagesFor = (async (...args: Parameters<typeof origGet>) => {
    const read = [];
    for await (const m of await origGet(...args)) read.push(m);
    if (!raced) {
      raced = true;
      await kv.put(snap(3, 0).subject, JSON.stringify(snap(3, 9_000, 'racer')));
    }
    return (async function* () {
      yield* read;
    })();
  }) as unknown as typeof origGet;
  const before = await lastSeq();
  t.equal(await saveSnapshots(kv, [snap(3, 6_000, 'n3-later'), snap(4, 6_001, 'n4-later')], batched), 1, 'one written, one skipped as older than the racer');
  t.equal(await nameOf(3), 'racer', 'the racer’s newer snapshot stands');
  t.equal(await nameOf(4), 'n4-later');
  t.equal((await lastSeq()) - before, 2, 'the racer’s put and one put of ours: nothing of the refused batch was stored');
});
