// chaos/history.ts: the linearity audit of PAY_EVENTS. A history written through the real aggregate
// store (two writers taking turns) passes; each kind of broken history appended by hand is caught:
// a commit decided on a stale state (two writers forked the aggregate), a commit stored twice, an
// event id reused, a history that starts mid-way on a stream that never dropped anything, a message
// that is not a commit. A stream that dropped old messages (max_age) counts truncated histories
// instead of failing them.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { customerDecider, type Customer, type CustomerCommand, type CustomerState } from '../actors/mod.ts';
import { checkAggregateHistories } from '../chaos/history.ts';
import { connectNats, declareTopology } from '../nats/mod.ts';
import { createAggregateStore, newEventId } from '../runtime/aggregates.ts';
import { encodeCommit } from '../streams/codec.ts';
import type { CustomerCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { headers } from '@nats-io/transport-node';
import { withNats } from './helpers/nats.ts';

const hex = (n = 6) => randomBytes(n).toString('hex');
const nowS = () => Math.floor(Date.now() / 1000);
const ctx = (id: string) => ({ commandId: `cmd_${id}_${hex(4)}`, requestId: null, correlationId: null, now: nowS() });
const create = (merchantId: string, customerId: string): CustomerCommand => ({
  type: 'Create',
  customerId,
  merchantId,
  livemode: false,
  email: 'a@example.com',
  name: 'A',
  description: null,
  phone: null,
  metadata: {},
  now: nowS(),
});
const update = (key: string): CustomerCommand => ({ type: 'Update', changes: {}, metadata: { [key]: '1' }, now: nowS() });

/** A commit as a writer that decided `cmd` on `from` would append it. */
function decided(base: CustomerCommit, from: CustomerState, cmd: CustomerCommand, id = `cmd_${hex()}`): CustomerCommit {
  const events = customerDecider.decide(cmd, from).map((e) => ({ ...e, id: newEventId(), v: 1 }));
  const state = events.reduce<CustomerState>((s, e) => customerDecider.evolve(s, e), from);
  return { ...base, id, command: cmd.type, events, state: state! } as CustomerCommit;
}

t.test('linear histories pass; every kind of broken one is caught', async (t) => {
  const nats = await withNats(t);
  const nc = await connectNats(nats.url, 'history-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  const empty = await checkAggregateHistories(nc);
  t.same([empty.aggregates, empty.commits, empty.violations], [0, 0, []], 'an empty stream');

  // ── linear: two writers taking turns through the real store (fenced appends) ──
  const merchantId = `acct_${hex()}`;
  const refOf = (customerId: string) => ({ aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId });
  const good = refOf(`cus_${hex()}`);
  const a = createAggregateStore(js, jsm, 'w_a');
  const b = createAggregateStore(js, jsm, 'w_b');
  await a.execute(customerDecider, good, create(merchantId, good.aggregateId), ctx('c'));
  await a.execute(customerDecider, good, update('k1'), ctx('u1'));
  await b.execute(customerDecider, good, update('k2'), ctx('u2')); // the partition moved to w_b
  await a.execute(customerDecider, good, update('k3'), ctx('u3')); // w_a's cache is stale: its fence conflicts, it re-reads and decides again
  const other = refOf(`cus_${hex()}`);
  await b.execute(customerDecider, other, create(merchantId, other.aggregateId), ctx('c2'));

  const ok = await checkAggregateHistories(nc);
  t.same(ok.violations, [], 'no violation in linear histories');
  t.equal(ok.aggregates, 2);
  t.equal(ok.commits, 5);
  t.equal(ok.truncated, 0);
  t.same(Object.fromEntries(ok.writers), { w_a: 3, w_b: 2 }, 'commits per writer (Writer header)');
  t.same(Object.fromEntries(ok.writerChanges), { [good.subject]: 2 }, 'w_a → w_b → w_a on the first customer');

  // ── broken ones, appended by hand (no fence: a writer that should not have written) ──
  const last = async (subject: string) => {
    const m = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: subject });
    return JSON.parse(m!.string()) as CustomerCommit;
  };
  const raw = async (subject: string, c: CustomerCommit | string) => {
    const h = headers();
    h.set('Writer', 'w_rogue');
    await js.publish(subject, typeof c === 'string' ? c : encodeCommit(c), { msgID: `rogue_${hex()}`, headers: h });
  };

  // 1. a fork: decided on the state before the last commit (a lost update: the name change is lost)
  const fork = refOf(`cus_${hex()}`);
  await a.execute(customerDecider, fork, create(merchantId, fork.aggregateId), ctx('fc'));
  const before = await last(fork.subject);
  await a.execute(customerDecider, fork, { type: 'Update', changes: { name: 'B' }, now: nowS() }, ctx('f1'));
  await raw(fork.subject, decided(before, before.state as Customer, { type: 'Update', changes: { email: 'stale@example.com' }, now: nowS() }));

  // 2. a commit stored twice (the msgID de-duplication failed)
  const dup = refOf(`cus_${hex()}`);
  await a.execute(customerDecider, dup, create(merchantId, dup.aggregateId), ctx('dc'));
  const d1 = await last(dup.subject);
  const again = decided(d1, d1.state as Customer, update('d'));
  await raw(dup.subject, again);
  await raw(dup.subject, { ...again, events: again.events.map((e) => ({ ...e, id: newEventId() })), state: decided(again, again.state as Customer, update('d')).state });

  // 3. an event id appended twice (on another aggregate)
  const reuse = refOf(`cus_${hex()}`);
  await a.execute(customerDecider, reuse, create(merchantId, reuse.aggregateId), ctx('rc'));
  const r1 = await last(reuse.subject);
  const r2 = decided(r1, r1.state as Customer, update('r'));
  r2.events[0]!.id = (await last(good.subject)).events[0]!.id;
  await raw(reuse.subject, r2);

  // 4. a history that starts mid-way (the stream never dropped anything)
  const headless = refOf(`cus_${hex()}`);
  const h0 = decided({ ...before, aggregate_id: headless.aggregateId }, before.state as Customer, update('h'));
  await raw(headless.subject, { ...h0, state: { ...h0.state, id: headless.aggregateId } });

  // 5. not a commit
  await raw(subjects.customer(merchantId, `cus_${hex()}`), '{"hello":"world"}');

  const bad = await checkAggregateHistories(nc);
  t.comment(bad.violations.join('\n'));
  const about = (subject: string, re: RegExp) => bad.violations.filter((v) => v.startsWith(subject) && re.test(v));
  t.equal(about(fork.subject, /was not decided on the previous commit/).length, 1, 'the fork is caught');
  t.equal(about(dup.subject, /appended twice/).length, 1, 'the duplicate commit is caught');
  t.equal(about(reuse.subject, /event evt_\w+ \(customer\.updated\) already appended/).length, 1, 'the reused event id is caught');
  t.equal(about(headless.subject, /does not start from an empty aggregate/).length, 1, 'the headless history is caught');
  t.equal(bad.violations.filter((v) => /not a valid commit/.test(v)).length, 1, 'the garbage message is caught');
  t.equal(bad.violations.length, 5, 'nothing else');
  t.notOk(bad.violations.some((v) => v.startsWith(`${good.subject} `)), 'the linear history still passes');
});

t.test('a stream that dropped old messages: histories may start mid-way', async (t) => {
  const nats = await withNats(t);
  const nc = await connectNats(nats.url, 'history-trunc-test');
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  // max_msgs_per_subject stands in for max_age: the oldest commits of a subject are gone.
  const cfg = (await jsm.streams.info(EVENTS_STREAM)).config;
  await jsm.streams.update(EVENTS_STREAM, { ...cfg, max_msgs_per_subject: 2 });
  const js = jetstream(nc);
  const store = createAggregateStore(js, jsm, 'w_a');
  const merchantId = `acct_${hex()}`;
  const customerId = `cus_${hex()}`;
  const ref = { aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId };
  await store.execute(customerDecider, ref, create(merchantId, customerId), ctx('c'));
  for (let i = 0; i < 3; i++) await store.execute(customerDecider, ref, update(`k${i}`), ctx(`u${i}`));
  const r = await checkAggregateHistories(nc);
  t.same(r.violations, [], 'no violation');
  t.equal(r.truncated, 1, 'one truncated history');
  t.equal(r.commits, 2);
  t.ok(r.firstSeq > 1, `the stream starts at ${r.firstSeq}`);
});
