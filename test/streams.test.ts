// streams/: the commit codec (checked against the event catalogue) and the subject scheme.
import t, { type Test } from 'tap';
import { intentDecider, type CardSummary, type IntentCommand, type IntentState } from '../actors/mod.ts';
import { CommitSchemaError, decodeCommit, encodeCommit, validateCommit } from '../streams/codec.ts';
import { RecentCommits } from '../streams/recent.ts';
import type { IntentCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM, assertToken, fnv1a32, parseEventSubject, partitionOf, subjects } from '../streams/subjects.ts';

const T0 = 1_800_000_000;
const M = 'acct_1';
const PI = 'pi_1';

const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: 'fp_x', funding: 'credit', country: 'US' };

let evt = 0;
/** A commit the way an actor makes one: decide, stamp each event, evolve the state. */
function commitOf(before: IntentState, cmd: IntentCommand): IntentCommit {
  const events = intentDecider.decide(cmd, before);
  const state = events.reduce(intentDecider.evolve, before);
  if (!state) throw new Error('no state');
  return {
    v: 1,
    id: `cmt_${++evt}`,
    aggregate: 'intent',
    merchant_id: M,
    aggregate_id: PI,
    command: cmd.type,
    request_id: 'req_1',
    correlation_id: null,
    at: cmd.now,
    events: events.map((e) => ({ ...e, id: `evt_${String(++evt).padStart(4, '0')}`, v: 1 })),
    state,
  };
}

const created = commitOf(null, {
  type: 'Create',
  intentId: PI,
  merchantId: M,
  livemode: false,
  amount: 5000,
  currency: 'inr',
  clientSecret: `${PI}_secret_x`,
  captureMethod: 'automatic',
  description: 'order 7',
  metadata: { order: '7' },
  receiptEmail: null,
  customer: null,
  userEmail: 'buyer@example.com',
  productId: 'prod_1',
  paymentMethod: null,
  now: T0,
});
const started = commitOf(created.state, { type: 'StartAttempt', attemptId: 'ch_1', paymentMethod: 'pm_1', card, now: T0 + 1 });

/** A deep copy to spoil. */
const copy = <T>(x: T): T => structuredClone(x);
const bytes = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));

function rejects(t: Test, what: string, bad: unknown, message: RegExp): void {
  t.throws(() => encodeCommit(bad as IntentCommit), CommitSchemaError, `${what}: encode refuses`);
  t.throws(() => encodeCommit(bad as IntentCommit), { message }, `${what}: says why`);
  t.throws(() => decodeCommit(bytes(bad)), CommitSchemaError, `${what}: decode refuses`);
}

t.test('codec: a real commit round-trips', async (t) => {
  t.equal(created.events[0]?.type, 'intent.created');
  t.equal(started.events[0]?.type, 'attempt.started');
  for (const c of [created, started]) {
    const data = encodeCommit(c);
    t.type(data, Uint8Array);
    const back = decodeCommit(data);
    t.strictSame(back, c, `${c.command} decodes to what was encoded`);
    t.strictSame(encodeCommit(back), data, 'and encodes to the same bytes again');
  }
  t.equal(started.state.status, 'processing');
  t.equal(started.state.attempts[0]?.card.last4, '4242');
  t.doesNotThrow(() => validateCommit(JSON.parse(JSON.stringify(started))));
});

t.test('codec: what it refuses', async (t) => {
  const unknownType = copy(created);
  (unknownType.events[0] as { type: string }).type = 'intent.exploded';
  rejects(t, 'unknown event type', unknownType, /unknown event type intent\.exploded/);

  const wrongV = copy(started);
  wrongV.events[0]!.v = 2;
  rejects(t, 'event of another version', wrongV, /attempt\.started v2: this build reads v1/);

  const wrongCommitV = copy(started) as unknown as { v: number };
  wrongCommitV.v = 2;
  rejects(t, 'commit of another version', wrongCommitV, /commit envelope/);

  // A PAN in last4 can never be written: the schema allows exactly four digits.
  for (const last4 of ['42424', '4242424242424242', '42a2', '424']) {
    const pan = copy(started);
    const e = pan.events[0];
    if (e?.type !== 'attempt.started') throw new Error('not attempt.started');
    e.data.card.last4 = last4;
    rejects(t, `last4 '${last4}'`, pan, /attempt\.started: .*last4.*pattern/);
  }

  const extra = copy(started);
  const e = extra.events[0];
  if (e?.type !== 'attempt.started') throw new Error('not attempt.started');
  (e.data.card as unknown as Record<string, unknown>).number = '4242424242424242';
  rejects(t, 'a card number beside the summary', extra, /attempt\.started: .*additional properties/);

  for (const field of ['v', 'id', 'aggregate', 'aggregate_id', 'merchant_id', 'command', 'request_id', 'correlation_id', 'at', 'events', 'state'] as const) {
    const missing = copy(created) as unknown as Record<string, unknown>;
    delete missing[field];
    rejects(t, `missing ${field}`, missing, new RegExp(`commit envelope: .*${field}`));
  }
  for (const field of ['id', 'v', 'type', 'at', 'data'] as const) {
    const missing = copy(created);
    delete (missing.events[0] as unknown as Record<string, unknown>)[field];
    rejects(t, `event missing ${field}`, missing, new RegExp(`commit envelope: .*${field}`));
  }
  const badEventId = copy(created);
  badEventId.events[0]!.id = 'cmt_1';
  rejects(t, 'an event id without evt_', badEventId, /commit envelope: .*pattern/);

  const none = copy(created);
  none.events = [];
  rejects(t, 'zero events', none, /commit envelope: .*fewer than 1 items/);

  t.throws(() => decodeCommit(new TextEncoder().encode('{')), SyntaxError, 'not JSON');
  t.throws(() => decodeCommit(bytes({ v: 1 })), CommitSchemaError, 'a bare object');
  t.throws(() => decodeCommit(bytes([created])), CommitSchemaError, 'an array');
});

t.test('subjects: builders', async (t) => {
  t.equal(EVENTS_STREAM, 'PAY_EVENTS');
  t.equal(WEBHOOKS_STREAM, 'PAY_WEBHOOKS');
  t.equal(subjects.events, 'pay.evt.>');
  t.equal(subjects.webhooks, 'pay.webhook.>');
  t.equal(subjects.merchant('acct_1'), 'pay.evt.merchant.acct_1');
  t.equal(subjects.intent('acct_1', 'pi_2'), 'pay.evt.intent.acct_1.pi_2');
  t.equal(subjects.merchantIntents('acct_1'), 'pay.evt.intent.acct_1.*');
  t.equal(subjects.command(7), 'pay.cmd.7');
  t.equal(subjects.webhookDeliver('acct_1'), 'pay.webhook.deliver.acct_1');
  t.equal(subjects.webhookReceipt('acct_1'), 'pay.webhook.receipt.acct_1');
  t.equal(subjects.webhookDlq('acct_1'), 'pay.webhook.dlq.acct_1');
  t.throws(() => subjects.merchant('a.b'), /merchant id 'a\.b' cannot be a subject token/);
  t.throws(() => subjects.intent('acct_1', 'pi*'), /intent id/);
  t.throws(() => subjects.webhookDeliver('>'), /merchant id/);
});

t.test('subjects: parseEventSubject', async (t) => {
  t.strictSame(parseEventSubject('pay.evt.merchant.acct_1'), { aggregate: 'merchant', merchantId: 'acct_1', aggregateId: 'acct_1' });
  t.strictSame(parseEventSubject('pay.evt.intent.acct_1.pi_2'), { aggregate: 'intent', merchantId: 'acct_1', aggregateId: 'pi_2' });
  t.strictSame(parseEventSubject(subjects.customer('acct_1', 'cus_2')), { aggregate: 'customer', merchantId: 'acct_1', aggregateId: 'cus_2' });
  t.equal(parseEventSubject('pay.evt.customer.acct_1'), null);
  for (const s of [subjects.merchant('m_x'), subjects.intent('m_x', 'pi_y')]) {
    const p = parseEventSubject(s);
    t.ok(p, s);
    t.equal(p?.aggregate === 'merchant' ? subjects.merchant(p.merchantId) : subjects.intent(p!.merchantId, p!.aggregateId), s, 'round-trips');
  }
  for (const s of [
    '',
    'pay.evt',
    'pay.evt.merchant',
    'pay.evt.merchant.',
    'pay.evt.merchant.a.b',
    'pay.evt.intent.acct_1',
    'pay.evt.intent.acct_1.',
    'pay.evt.intent.acct_1.pi_2.x',
    'pay.evt.refund.acct_1',
    'pay.cmd.1',
    'pay.webhook.deliver.acct_1',
    'foo.evt.merchant.acct_1',
  ]) {
    t.equal(parseEventSubject(s), null, `'${s}' is not an event subject`);
  }
});

t.test('subjects: assertToken', async (t) => {
  for (const ok of ['acct_1', 'pi_3MtwBwLkdIwHu7ix28a3tqPa', 'A-b_9', 'x'.repeat(64)]) t.equal(assertToken(ok, 'id'), ok);
  for (const bad of ['a.b', '.', 'a*', '*', '>', 'a>', 'a b', ' a', 'a\t', 'a\nb', '', 'x'.repeat(65), 'é', 'a/b']) {
    t.throws(() => assertToken(bad, 'thing'), { message: /^thing '.*' cannot be a subject token$/s }, JSON.stringify(bad));
  }
});

t.test('subjects: fnv1a32 and partitionOf', async (t) => {
  t.equal(fnv1a32(''), 0x811c9dc5);
  t.equal(fnv1a32('a'), 0xe40c292c);
  t.equal(fnv1a32('foobar'), 0xbf9cf968);
  t.equal(fnv1a32('é'), fnv1a32('\u00e9'), 'hashes UTF-8 bytes');
  t.not(fnv1a32('é'), fnv1a32('\u00e9'.normalize('NFD')), 'bytes, not characters');
  const ids = Array.from({ length: 500 }, (_, i) => `acct_${i}`);
  for (const n of [1, 2, 16, 1024]) {
    const first = ids.map((id) => partitionOf(id, n));
    t.ok(first.every((p) => Number.isInteger(p) && p >= 0 && p < n), `every partition is in [0, ${n})`);
    t.strictSame(ids.map((id) => partitionOf(id, n)), first, `stable across calls (n=${n})`);
    if (n === 16) t.equal(new Set(first).size, 16, 'every one of 16 partitions gets merchants');
  }
  t.equal(partitionOf('acct_1', 16), fnv1a32('acct_1') % 16);
  t.equal(partitionOf('', 16), 0x811c9dc5 % 16);
});

t.test('recent commits: the appended object for the same message, a decode for anything else', async (t) => {
  const recent = new RecentCommits(2);
  const subject = subjects.intent(M, PI);
  const c1 = copy(created);
  const c2 = copy(started);
  const d1 = encodeCommit(c1);
  const d2 = encodeCommit(c2);
  recent.remember(7, subject, d1.length, c1);
  t.equal(recent.commitOf({ seq: 7, subject, data: d1 }), c1, 'same sequence, subject and size: the very object');
  t.ok(Object.isFrozen(c1) && Object.isFrozen(c1.state) && Object.isFrozen(c1.events[0]), 'shared, so frozen deep under tap');
  const other = recent.commitOf({ seq: 7, subject: subjects.intent(M, 'pi_2'), data: d1 });
  t.not(other, c1, 'another subject at that sequence (another stream, a stream made again) is decoded');
  t.strictSame(other, c1, 'to the same content');
  t.not(recent.commitOf({ seq: 7, subject, data: d2 }), c1, 'another size is decoded');
  recent.remember(8, subject, d2.length, c2);
  recent.remember(9, subject, d2.length, c2);
  t.not(recent.commitOf({ seq: 7, subject, data: d1 }), c1, 'the oldest is dropped past the cap');
  t.equal(recent.commitOf({ seq: 9, subject, data: d2 }), c2, 'the newest is kept');
  t.strictSame(recent.stats(), { size: 2, hits: 2, misses: 3 }, 'hits and misses counted');
  t.throws(() => {
    (c1.state as { amount: number }).amount = 1;
  }, TypeError, 'a reader writing into a shared commit fails');
});
