// setup_future_usage and customer delete done from the commit (reconcile/work.ts, vault/saved-cards.ts),
// through the real stack and the official SDK:
//  - a payment the network answered too late is settled by reconciliation, not by the confirm
//    request, and its card is still saved to the customer (no gateway ever saw it succeed);
//  - the same work run again later (a redelivered commit) does not attach a card the merchant has
//    detached since;
//  - the customer.deleted event names the cards it lets go, and the reconcile role clears them;
//  - a SetupIntent confirmed where no gateway saved its card afterwards (the command sent straight to
//    the owner, as if the gateway died after it) has its card attached by the reconcile role alone.
import t from 'tap';
import Stripe from 'stripe';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { connectNats, durables } from '../nats/mod.ts';
import { createCommandClient } from '../runtime/client.ts';
import type { SetupIntent } from '../actors/mod.ts';
import { decodeCommit } from '../streams/codec.ts';
import { EVENTS_STREAM, RECONCILE_STREAM, subjects } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';

const EPN_TIMEOUT_MS = 600;

t.test('saved cards from the commit', async (t) => {
  const stack = await startStack(t, { EPN_TIMEOUT_MS: String(EPN_TIMEOUT_MS), RECONCILE_BACKOFF_MS: '200,400', RECON_INQUIRY_AFTER_MS: '200', RECONCILE_DEADLINE_MS: '60000' });
  const { merchant_id: merchantId, secret_key } = await stack.onboard();
  const stripe = new Stripe(secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const nc = await connectNats(stack.nats.url, 'saved-cards-durable-test');
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const faults = async (body: unknown) => {
    const r = await fetch(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    t.equal(r.status, 200, 'EPN faults set');
  };
  const card = () => stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
  /** Waits until the reconcile role has acknowledged everything queued for it. */
  const reconcilerIdle = () =>
    eventually(async () => {
      const i = await jsm.consumers.info(RECONCILE_STREAM, durables.reconcile);
      return i.num_pending === 0 && i.num_ack_pending === 0 ? i : null;
    }, 15_000);

  // Lists read the projection, which a commit made by the reconcile role reaches a little later.
  const listedOnce = (customer: string) =>
    eventually(async () => {
      const ids = (await stripe.customers.listPaymentMethods(customer)).data.map((x) => x.id);
      return ids.length > 0 ? ids : null;
    }, 15_000);

  t.test('a payment settled by reconciliation saves its card', async (t) => {
    const ana = await stripe.customers.create({ email: 'ana@example.com' });
    const pm = await card();
    const pi = await stripe.paymentIntents.create({ amount: 2300, currency: 'usd', customer: ana.id, setup_future_usage: 'off_session', payment_method: pm.id });
    // The network answers after our deadline: the confirm cannot know, the intent is processing.
    await faults({ latency_ms: EPN_TIMEOUT_MS * 3 });
    const confirmed = await stripe.paymentIntents.confirm(pi.id);
    t.equal(confirmed.status, 'processing', 'in doubt after the confirm');
    t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, null, 'nothing saved by the request: it never saw a success');
    await faults({ latency_ms: 0 });
    const settled = await eventually(async () => {
      const x = await stripe.paymentIntents.retrieve(pi.id);
      return x.status === 'processing' ? null : x;
    }, 30_000, 100);
    t.equal(settled.status, 'succeeded', 'reconciliation settled it as the network did');
    const saved = await eventually(async () => {
      const x = await stripe.paymentMethods.retrieve(pm.id);
      return x.customer === ana.id ? x : null;
    }, 15_000);
    t.equal(saved.customer, ana.id, 'the card is the customer’s now');
    t.same(await listedOnce(ana.id), [pm.id], 'and the customer lists it');
  });

  t.test('run again after a detach, the payment does not save the card again', async (t) => {
    const bo = await stripe.customers.create({ email: 'bo@example.com' });
    const pm = await card();
    const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', customer: bo.id, setup_future_usage: 'on_session', payment_method: pm.id, confirm: true });
    t.equal(pi.status, 'succeeded');
    t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, bo.id, 'saved right after the answer');
    await reconcilerIdle();
    await stripe.paymentMethods.detach(pm.id);
    t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, null, 'detached');

    // The payment's commit handed to the reconcile role once more, as a redelivery would.
    const last = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subjects.intent(merchantId, pi.id) });
    const commit = decodeCommit(last!.data);
    t.ok(commit.events.some((e) => e.type === 'attempt.succeeded'), 'the payment’s commit');
    const before = (await jsm.consumers.info(RECONCILE_STREAM, durables.reconcile)).delivered.stream_seq;
    const h = headers();
    h.set('Pay-Commit-Seq', String(last!.seq));
    const ack = await jetstream(nc).publish(subjects.reconcileTask(merchantId), last!.data, { msgID: `redeliver:${commit.id}`, headers: h });
    t.ok(ack.seq > 0, 'queued again');
    const idle = await reconcilerIdle();
    t.ok(idle.delivered.stream_seq > before, 'the reconcile role has run it');
    t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, null, 'still detached');
    t.same((await stripe.customers.listPaymentMethods(bo.id)).data, [], 'and no list shows it');
  });

  t.test('customer.deleted names the cards it lets go; the reconcile role clears them', async (t) => {
    const cy = await stripe.customers.create({ email: 'cy@example.com' });
    const a = await stripe.paymentMethods.attach((await card()).id, { customer: cy.id });
    const b = await stripe.paymentMethods.attach((await card()).id, { customer: cy.id });
    await stripe.customers.del(cy.id);
    const last = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subjects.customer(merchantId, cy.id) });
    const deleted = decodeCommit(last!.data).events.find((e) => e.type === 'customer.deleted');
    t.same([...((deleted?.data as { payment_methods?: string[] }).payment_methods ?? [])].sort(), [a.id, b.id].sort(), 'the event names both cards');
    await reconcilerIdle();
    for (const pm of [a, b]) t.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, null, `${pm.id} is nobody’s`);
  });

  t.test('a SetupIntent’s card is saved by the reconcile role when no gateway did it', async (t) => {
    const di = await stripe.customers.create({ email: 'di@example.com' });
    const pm = await card();
    const si = await stripe.setupIntents.create({ customer: di.id });
    // The confirmation goes to the SetupIntent's owner without a gateway around it: nothing runs the
    // gateway's save after the answer, as when the gateway dies right after the owner's commit.
    const commands = createCommandClient(nc, { partitions: Number(stack.config.partitions), timeoutMs: 15_000 });
    const hex = randomBytes(12).toString('hex');
    const done = (await commands.send({
      op: 'setup_intent.confirm',
      merchantId,
      setupIntentId: si.id,
      attemptId: `setatt_${hex}`,
      changes: { payment_method: pm.id },
      challengeUrl: `${stack.url}/3ds/unused`,
      returnUrl: null,
      ctx: { commandId: `cmd_${hex}`, livemode: false, requestId: null, correlationId: null, now: Math.floor(Date.now() / 1000) },
    })) as SetupIntent;
    t.equal(done.status, 'succeeded', 'the network approved the card');
    const saved = await eventually(async () => {
      const x = await stripe.paymentMethods.retrieve(pm.id);
      return x.customer === di.id ? x : null;
    }, 15_000);
    t.equal(saved.customer, di.id, 'the reconcile role attached it from the commit');
    t.same(await listedOnce(di.id), [pm.id], 'and the customer lists it');
    t.match(await stripe.setupIntents.retrieve(si.id), { status: 'succeeded', payment_method: pm.id });
  });
});
