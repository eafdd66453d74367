// Reconciliation of in-doubt attempts against the real stack: an authorization whose answer comes
// after EPN_TIMEOUT_MS leaves the intent `processing`; the reconcile consumer asks the network and
// settles it on its own. The 'timeout' verdict is exercised through the settle op directly.
import t, { type Test } from 'tap';
import Stripe from 'stripe';
import { connect } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import pino from 'pino';
import type { Intent } from '../actors/mod.ts';
import { createReconciler, nextDelay } from '../reconcile/worker.ts';
import { createCommandClient, type CommandClient } from '../runtime/client.ts';
import type { CommandRequest } from '../runtime/protocol.ts';
import { encodeCommit } from '../streams/codec.ts';
import type { Commit } from '../streams/envelope.ts';
import { subjects } from '../streams/subjects.ts';
import { commitsOf } from './helpers/epn.ts';
import { startStack, eventually, type Stack } from './helpers/stack.ts';

const GOOD_PAN = '4242424242424242';

interface WireTx {
  network_ref: string;
  reference: string;
  status: string;
  history: { action: string }[];
}

const setLatency = async (stack: Stack, ms: number) => {
  const res = await fetch(`${stack.epnUrl}/admin/latency`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latency_ms: ms }) });
  if (res.status !== 200) throw new Error(`latency: ${res.status} ${await res.text()}`);
};


/** Confirms a card payment while the network answers too late: the attempt is left in doubt. */
async function inDoubtPayment(t: Test, stack: Stack, stripe: Stripe) {
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD_PAN, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const pi = await stripe.paymentIntents.create({ amount: 4200, currency: 'usd' });
  await setLatency(stack, 800);
  let confirmed: Stripe.PaymentIntent;
  try {
    confirmed = await stripe.paymentIntents.confirm(pi.id, { payment_method: pm.id });
  } catch (err) {
    await setLatency(stack, 0);
    throw err;
  }
  t.equal(confirmed.status, 'processing', 'the attempt is in doubt: the intent stays processing');
  return { pi: confirmed, pm };
}

t.test('an in-doubt authorization is settled by reconciliation once the network answers', async (t) => {
  const stack = await startStack(t, { EPN_TIMEOUT_MS: '300', RECONCILE_BACKOFF_MS: '200,400', RECONCILE_DEADLINE_MS: '3000' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });

  const { pi } = await inDoubtPayment(t, stack, stripe);
  const subject = subjects.intent(m.merchant_id, pi.id);
  const doubtful = await commitsOf(stack.nats.url, subject);
  const inDoubt = doubtful.flatMap((c) => c.events as { type: string; data: unknown }[]).find((e) => e.type === 'attempt.in_doubt');
  t.ok(inDoubt, 'attempt.in_doubt was recorded');
  const attemptId = (inDoubt as { data: { attempt_id: string } } | undefined)?.data.attempt_id ?? '';
  // While the network is slow, inquiries time out too: still processing.
  await new Promise((r) => setTimeout(r, 500));
  t.equal((await stripe.paymentIntents.retrieve(pi.id)).status, 'processing', 'still processing while the network is unreachable');

  await setLatency(stack, 0);
  const done = await eventually(async () => {
    const x = await stripe.paymentIntents.retrieve(pi.id);
    return x.status === 'succeeded' ? x : null;
  }, 15_000, 100);
  t.equal(done.amount_received, 4200);
  t.equal(done.latest_charge, attemptId, 'the in-doubt attempt is the charge that succeeded');

  // The network: exactly one authorization, under the attempt id.
  const res = await fetch(`${stack.epnUrl}/v1/transactions?reference=${attemptId}`);
  const txs = ((await res.json()) as { data: WireTx[] }).data;
  t.equal(txs.length, 1, 'one transaction for the reference');
  t.equal(txs[0]?.history.filter((h) => h.action === 'authorized').length, 1, 'one approved authorization');

  // The stream: exactly one attempt.succeeded, after the in-doubt one.
  const commits = await commitsOf(stack.nats.url, subject);
  const types = commits.flatMap((c) => (c.events as { type: string }[]).map((e) => e.type));
  t.equal(types.filter((x) => x === 'attempt.succeeded').length, 1, 'one attempt.succeeded');
  t.ok(types.indexOf('attempt.in_doubt') < types.indexOf('attempt.succeeded'));
  const settledBy = commits.find((c) => c.events.some((e) => e.type === 'attempt.succeeded'));
  t.equal(settledBy?.command, 'RecordAuthorization');
  t.ok(
    stack.logs.some((l) => l.includes('reconciled in-doubt attempt') && l.includes(attemptId) && l.includes('"outcome":"approved"')),
    'the reconciler logged its verdict',
  );

  // The webhook event is emitted: the Events API lists it.
  const ev = await eventually(async () => {
    const list = await stripe.events.list({ type: 'payment_intent.succeeded', limit: 100 });
    return list.data.find((e) => (e.data.object as { id?: string }).id === pi.id) ?? null;
  }, 10_000, 100);
  t.equal((ev.data.object as Stripe.PaymentIntent).status, 'succeeded');
});

t.test("the settle op's timeout verdict: attempt.timed_out (payment_timeout), payment_failed and payment_timeout emitted, late answers refused", async (t) => {
  // No reconcile role here, so the in-doubt attempt waits for the command sent by hand.
  const stack = await startStack(t, { EPN_TIMEOUT_MS: '300', ROLES: 'gateway,actors,projector,webhooks' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const { pi } = await inDoubtPayment(t, stack, stripe);
  await setLatency(stack, 0);
  const commits = await commitsOf(stack.nats.url, subjects.intent(m.merchant_id, pi.id));
  const attemptId = (commits.flatMap((c) => c.events as { type: string; data: unknown }[]).find((e) => e.type === 'attempt.in_doubt') as { data: { attempt_id: string } } | undefined)?.data.attempt_id;
  if (!attemptId) throw new Error('no in-doubt attempt');

  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const commands = createCommandClient(nc, { partitions: stack.config.partitions, timeoutMs: 10_000 });
  const ctx = (outcome: string) => ({ commandId: `rec_${attemptId}_${outcome}`, livemode: false, requestId: null, correlationId: null, now: Math.floor(Date.now() / 1000) });
  const base = { op: 'intent.settle' as const, merchantId: m.merchant_id, intentId: pi.id, attemptId };
  const after = await commands.send({ ...base, outcome: 'timeout', networkRef: null, ctx: ctx('timeout') });
  t.equal((after as Intent).status, 'requires_payment_method');

  const x = await stripe.paymentIntents.retrieve(pi.id);
  t.equal(x.status, 'requires_payment_method');
  t.equal(x.last_payment_error?.code, 'payment_timeout');
  t.equal(x.last_payment_error?.message, 'The card network did not answer in time; no money moved.');

  // Repeated and late verdicts write nothing: terminal never goes backwards.
  const before = (await commitsOf(stack.nats.url, subjects.intent(m.merchant_id, pi.id))).length;
  await commands.send({ ...base, outcome: 'timeout', networkRef: null, ctx: ctx('timeout') });
  await t.rejects(commands.send({ ...base, outcome: 'approved', networkRef: 'net_late', ctx: ctx('approved') }), { status: 409, code: 'attempt_already_settled' }, 'a late approval is refused: terminal never goes backwards');
  t.equal((await stripe.paymentIntents.retrieve(pi.id)).status, 'requires_payment_method', 'the timed-out attempt did not move');
  t.equal((await commitsOf(stack.nats.url, subjects.intent(m.merchant_id, pi.id))).length, before, 'nothing appended');

  const ev = await eventually(async () => {
    const list = await stripe.events.list({ type: 'payment_intent.payment_failed', limit: 100 });
    return list.data.find((e) => (e.data.object as { id?: string }).id === pi.id) ?? null;
  }, 10_000, 100);
  t.equal((ev.data.object as Stripe.PaymentIntent).last_payment_error?.code, 'payment_timeout');
  const seed = await eventually(async () => {
    const list = await stripe.events.list({ type: 'payment_intent.payment_timeout', limit: 100 });
    return list.data.find((e) => (e.data.object as { id?: string }).id === pi.id) ?? null;
  }, 10_000, 100);
  t.ok(seed, "the seed's payment_timeout event is emitted too");
  const timedOut = (await commitsOf(stack.nats.url, subjects.intent(m.merchant_id, pi.id))).flatMap((c) => c.events as { type: string }[]).filter((e) => e.type === 'attempt.timed_out');
  t.equal(timedOut.length, 1, 'one attempt.timed_out on the intent');
});

t.test('the reconciler, unit: never seen → nak with backoff until the deadline, then timeout; found → its verdict', async (t) => {
  const T = 1_900_000_000_000;
  let now = T;
  const sent: CommandRequest[] = [];
  const commands: CommandClient = {
    async send(req) {
      sent.push(req);
      return { status: 'requires_payment_method', attempts: [] } as never;
    },
  };
  let answer: 'none' | 'down' | 'declined' = 'none';
  const epn = {
    async inquire(reference: string) {
      if (answer === 'down') throw new Error('EPN unreachable');
      if (answer === 'none') return null;
      return { networkRef: 'net_1', reference, status: 'declined', failureCode: 'card_declined', declineCode: 'insufficient_funds' } as never;
    },
  };
  const handle = createReconciler({ epn, commands, backoffMs: [200, 400], deadlineMs: 3_000, log: pino({ level: 'silent' }), clock: () => now });
  const commit = {
    v: 1,
    id: 'cm_1',
    merchant_id: 'mer_1',
    aggregate: 'intent',
    aggregate_id: 'pi_1',
    command: 'RecordAuthorization',
    request_id: null,
    correlation_id: 'corr_1',
    at: T / 1000,
    events: [{ id: 'evt_1', v: 1, type: 'attempt.in_doubt', at: T / 1000, data: { attempt_id: 'ch_1' } }],
    state: { id: 'pi_1', livemode: false, status: 'processing', attempts: [] },
  };
  const data = encodeCommit(commit as unknown as Commit);
  const msg = (deliveryCount: number) => ({ data, seq: 1, subject: 'pay.evt.intent.mer_1.pi_1', info: { timestampNanos: T * 1e6, deliveryCount } }) as unknown as JsMsg;

  t.match(await handle(msg(1)), { kind: 'nak', delayMs: 200 }, 'not seen: first backoff');
  t.match(await handle(msg(2)), { kind: 'nak', delayMs: 400 });
  t.match(await handle(msg(5)), { kind: 'nak', delayMs: 400 }, 'the last delay repeats');
  now = T + 2_900;
  t.match(await handle(msg(6)), { kind: 'nak', delayMs: 100 }, 'never past the deadline');
  answer = 'down';
  now = T + 10_000;
  t.match(await handle(msg(7)), { kind: 'nak' }, 'network unreachable: ask again, even past the deadline');
  t.equal(sent.length, 0);
  answer = 'none';
  t.same(await handle(msg(8)), { kind: 'ack' }, 'past the deadline and never seen: timeout');
  t.match(sent.pop(), { op: 'intent.settle', merchantId: 'mer_1', intentId: 'pi_1', attemptId: 'ch_1', outcome: 'timeout', networkRef: null, ctx: { commandId: 'rec_ch_1_timeout', correlationId: 'corr_1' } });
  answer = 'declined';
  t.same(await handle(msg(9)), { kind: 'ack' });
  t.match(sent.pop(), { outcome: 'declined', networkRef: 'net_1', failureCode: 'card_declined', declineCode: 'insufficient_funds', ctx: { commandId: 'rec_ch_1_declined' } });
  t.equal(nextDelay([1_000, 5_000], 0, 60_000), 1_000);
});
