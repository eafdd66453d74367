// The fan-out's inline first try (webhooks/delivery.ts firstTry), through the real stack: a delivery
// answered 2xx at once leaves one receipt and no task; a failed first try leaves its receipt and the
// task of the retries, which waits out the backoff and counts on from try 2; an endpoint found slow
// goes the task way; WEBHOOK_INLINE_TRIES=0 stores every delivery as a task first.
import t from 'tap';
import Stripe from 'stripe';
import { connect } from '@nats-io/transport-node';
import { readAll } from '../ops/read.ts';
import { intentStory } from '../ops/commands/intent.ts';
import { WEBHOOKS_STREAM, subjects } from '../streams/subjects.ts';
import type { DeliveryReceipt, DeliveryTask } from '../webhooks/types.ts';
import { startStack, eventually, type Stack } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';
import type { Teardownable } from './helpers/nats.ts';

const dec = new TextDecoder();

async function pipelineOf(t: Teardownable, stack: Stack, merchantId: string) {
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  return async () => {
    const msgs = await readAll(nc, WEBHOOKS_STREAM, [subjects.webhookDeliver(merchantId), subjects.webhookReceipt(merchantId)]);
    const tasks = msgs.filter((m) => m.subject.startsWith('pay.webhook.deliver.')).map((m) => JSON.parse(dec.decode(m.data)) as DeliveryTask);
    const receipts = msgs.filter((m) => m.subject.startsWith('pay.webhook.receipt.')).map((m) => JSON.parse(dec.decode(m.data)) as DeliveryReceipt);
    return { tasks, receipts, nc };
  };
}

async function pay(stack: Stack, secretKey: string): Promise<string> {
  const stripe = new Stripe(secretKey, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const pi = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
  if (pi.status !== 'succeeded') throw new Error(`payment ${pi.status}`);
  return pi.id;
}

t.test('delivered at once: one receipt (try 1, naming its commit), no task; the story and pending_webhooks see it', async (t) => {
  const rx = await startReceiver(t);
  const stack = await startStack(t);
  const m = await stack.onboard({ call_back_url: rx.url, events: ['*'] });
  const read = await pipelineOf(t, stack, m.merchant_id);
  const pi = await pay(stack, m.secret_key);
  const succeeded = await eventually(async () => rx.received.find((r) => (JSON.parse(r.body) as { type: string }).type === 'payment_intent.succeeded'), 10_000);
  const event = JSON.parse(succeeded.body) as { id: string };

  const { receipts, tasks, nc } = await eventually(async () => {
    const p = await read();
    return p.receipts.length >= rx.received.length ? p : null;
  });
  t.equal(tasks.length, 0, 'no delivery was stored as a task');
  t.ok(receipts.length >= 3, 'every event of the payment was delivered');
  t.ok(receipts.every((r) => r.attempt === 1 && r.outcome === 'delivered' && typeof r.commit_seq === 'number'), 'each one on try 1, naming its commit');
  t.equal(rx.tries(), receipts.length, 'one POST per delivery');

  // The read model and the operator's story are built from the receipts alone.
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });
  const ev = await eventually(async () => {
    const e = await stripe.events.retrieve(event.id).catch(() => null); // not projected yet
    return e?.pending_webhooks === 0 ? e : null;
  });
  t.equal(ev.pending_webhooks, 0);
  const delivered = await stripe.events.list({ delivery_success: true, limit: 100 } as Stripe.EventListParams);
  t.ok(delivered.data.some((e) => e.id === event.id), 'listed among the events delivered');
  const story = await eventually(async () => {
    const s = await intentStory(nc, pi);
    return s.webhooks.some((w) => w.event_type === 'payment_intent.succeeded' && w.status === 'delivered') ? s : null;
  });
  const hook = story.webhooks.find((w) => w.event_type === 'payment_intent.succeeded')!;
  t.same(hook.tries.map((x) => [x.attempt, x.outcome, x.status_code]), [[1, 'delivered', 200]]);
});

t.test('WEBHOOK_INLINE_TRIES=0: every delivery is stored as a task first', async (t) => {
  const rx = await startReceiver(t);
  const stack = await startStack(t, { WEBHOOK_INLINE_TRIES: '0' });
  const m = await stack.onboard({ call_back_url: rx.url, events: ['payment_intent.succeeded'] });
  const read = await pipelineOf(t, stack, m.merchant_id);
  await pay(stack, m.secret_key);
  const { tasks, receipts } = await eventually(async () => {
    const p = await read();
    return p.receipts.length === 1 ? p : null;
  });
  t.equal(tasks.length, 1, 'a task');
  t.equal(receipts[0]!.delivery_id, tasks[0]!.id);
  t.equal(receipts[0]!.attempt, 1);
});

t.test('a failed first try: its receipt, then the task of the retries, tried after the backoff as try 2', async (t) => {
  const rx = await startReceiver(t, { status: (n) => (n === 1 ? 500 : 200) });
  const stack = await startStack(t);
  const m = await stack.onboard({ call_back_url: rx.url, events: ['payment_intent.succeeded'] });
  const read = await pipelineOf(t, stack, m.merchant_id);
  await pay(stack, m.secret_key);
  await eventually(async () => rx.received.length === 1, 10_000);
  const { tasks, receipts } = await eventually(async () => {
    const p = await read();
    return p.receipts.length === 2 ? p : null;
  });
  t.equal(rx.tries(), 2, 'two POSTs');
  t.same(receipts.map((r) => [r.attempt, r.outcome, r.status_code]), [[1, 'failed', 500], [2, 'delivered', 200]]);
  t.equal(tasks.length, 1, 'one task, for the retries');
  const task = tasks[0]!;
  t.equal(task.id, receipts[0]!.delivery_id);
  t.equal(task.tried, 1, 'it says one try was made');
  t.ok(task.not_before !== undefined && rx.received[0]!.at >= task.not_before, 'the retry waited out the backoff');
  t.ok(receipts[0]!.next_retry_at !== null, 'the failed receipt says when the next try is');
});

t.test('an endpoint found slow: its next deliveries go the task way', async (t) => {
  // Over SLOW_MS (1 s), under the stack's 2 s timeout.
  const rx = await startReceiver(t, { delayMs: 1_300 });
  const stack = await startStack(t);
  const m = await stack.onboard({ call_back_url: rx.url, events: ['payment_intent.succeeded'] });
  const read = await pipelineOf(t, stack, m.merchant_id);
  await pay(stack, m.secret_key);
  await eventually(async () => (await read()).receipts.length === 1, 10_000);
  t.equal((await read()).tasks.length, 0, 'the first delivery was tried inline');
  await pay(stack, m.secret_key);
  const p = await eventually(async () => {
    const x = await read();
    return x.receipts.length === 2 ? x : null;
  }, 10_000);
  t.equal(p.tasks.length, 1, 'the second was stored as a task');
  t.equal(p.tasks[0]!.id, p.receipts[1]!.delivery_id);
  t.ok(p.receipts.every((r) => r.outcome === 'delivered' && r.attempt === 1), 'both delivered on try 1');
});
