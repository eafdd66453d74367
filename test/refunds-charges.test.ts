// Charges (retrieve, list) and refunds (create, retrieve, list) with the official stripe SDK
// against the real stack: a private nats-server, the EPN simulator (whose ledger must show each
// refund once), the projection, and signed webhooks.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import Stripe from 'stripe';
import { fold, intentDecider, type CardSummary, type Intent, type IntentCommand, type IntentState } from '../actors/mod.ts';
import { listCharges, listRefunds, migrateToLatest, openDatabase, projectCommits } from '../storage/mod.ts';
import { decodeCommit, encodeCommit } from '../streams/codec.ts';
import type { IntentCommit, StoredCommit } from '../streams/envelope.ts';
import { subjects } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { buckets } from '../nats/topology.ts';
import { chargeIdFor, intentIdOfCharge } from '../gateway/ids.ts';

const DECLINED_PAN = '4000000000000002';
const GOOD_PAN = '4242424242424242';

interface LedgerTx {
  network_ref: string;
  amount_captured: number;
  amount_refunded: number;
  status: string;
  refunds: { refund_reference: string; amount: number }[];
}

t.test('charges and refunds with the official stripe SDK', async (t) => {
  const receiver = await startReceiver(t);
  // Reconciliation out of the way: the outage case below reads the refund still pending, and the
  // reconciler would settle it the moment the request lets go of the intent (test/reconcile*.test.ts).
  const stack = await startStack(t, { RECON_INQUIRY_AFTER_MS: '120000' });
  const m = await stack.onboard({ call_back_url: receiver.url, events: ['*'] });
  const other = await stack.onboard({ name: 'Other Store' });
  const client = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const stripe = client(m.secret_key);
  const stripe2 = client(other.secret_key);
  const ledger = async (networkRef: string): Promise<LedgerTx> => {
    const res = await fetch(`${stack.epnUrl}/v1/transactions/${networkRef}`);
    t.equal(res.status, 200, 'the EPN ledger knows the transaction');
    return (await res.json()) as LedgerTx;
  };
  const fails = async (p: Promise<unknown>): Promise<Stripe.errors.StripeError> => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    if (!(e instanceof Stripe.errors.StripeError)) throw new Error(`expected a Stripe error, got ${String(e)}`);
    return e;
  };
  const card = async (number: string) => stripe.paymentMethods.create({ type: 'card', card: { number, exp_month: 12, exp_year: 2034, cvc: '123' } });

  // A decline, then a good card: one intent, two charges.
  const pi = await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', metadata: { order: 'A-1' } });
  const bad = await card(DECLINED_PAN);
  const declinedErr = await fails(stripe.paymentIntents.confirm(pi.id, { payment_method: bad.id }));
  t.ok(declinedErr instanceof Stripe.errors.StripeCardError);
  const declinedCharge = declinedErr.charge as string;
  t.match(declinedCharge, /^ch_/);
  const good = await card(GOOD_PAN);
  const paid = await stripe.paymentIntents.confirm(pi.id, { payment_method: good.id });
  t.equal(paid.status, 'succeeded');
  const chargeId = paid.latest_charge as string;
  t.not(chargeId, declinedCharge);

  await t.test('charges.retrieve: the declined and the successful charge', async (t) => {
    const d = await stripe.charges.retrieve(declinedCharge);
    t.equal(d.object, 'charge');
    t.equal(d.status, 'failed');
    t.equal(d.paid, false);
    t.equal(d.failure_code, 'card_declined');
    t.equal(d.failure_message, 'Your card was declined.');
    t.equal(d.outcome?.type, 'issuer_declined');
    t.equal(d.outcome?.network_status, 'declined_by_network');
    t.equal(d.outcome?.reason, 'generic_decline');
    t.equal(d.payment_intent, pi.id);
    t.equal(d.payment_method_details?.card?.last4, '0002');
    t.equal(d.refunded, false);

    const c = await stripe.charges.retrieve(chargeId, { expand: ['payment_intent'] });
    t.match(c, { receipt_number: null, receipt_url: null }, "Stripe's receipt keys are there (no receipts here)");
    t.ok('receipt_url' in c && 'receipt_number' in c);
    t.equal(c.status, 'succeeded');
    t.equal(c.paid, true);
    t.equal(c.captured, true);
    t.equal(c.amount, 5000);
    t.equal(c.amount_captured, 5000);
    t.equal(c.amount_refunded, 0);
    t.equal(c.refunded, false);
    t.equal(c.failure_code, null);
    t.equal(c.outcome?.type, 'authorized');
    t.equal(c.currency, 'usd');
    t.same(c.metadata, { order: 'A-1' });
    t.same(c.refunds, { object: 'list', data: [], has_more: false, total_count: 0, url: `/v1/charges/${chargeId}/refunds` });
    t.equal((c.payment_intent as Stripe.PaymentIntent).id, pi.id, 'payment_intent expands');

    const missing = await fails(stripe.charges.retrieve('ch_doesnotexist'));
    t.equal(missing.statusCode, 404);
    t.equal(missing.code, 'resource_missing');
  });

  await t.test('a charge id names its intent: found without pay_index, never across merchants or modes', async (t) => {
    for (const id of [declinedCharge, chargeId]) {
      t.match(id, /^ch_[0-9a-f]{36}$/);
      t.equal(id.slice(3, 27), pi.id.slice(3), "its first 24 hex are the intent's");
    }
    const nc = await connect({ servers: stack.nats.url });
    t.teardown(() => nc.close());
    const index = await new Kvm(nc).open(buckets.index);
    t.equal(await index.get(chargeId), null, 'a confirmation writes no pay_index entry');
    t.equal((await stripe.charges.retrieve(chargeId)).payment_intent, pi.id);
    const foreign = await fails(stripe2.charges.retrieve(chargeId));
    t.equal(foreign.statusCode, 404, "another merchant's key does not find it");
    const noSuchAttempt = await fails(stripe.charges.retrieve(`ch_${pi.id.slice(3)}${'0'.repeat(12)}`));
    t.equal(noSuchAttempt.statusCode, 404, 'an id naming the intent but no attempt of it is no charge');
    // A charge id of the former form (24 hex) is still found through pay_index.
    const legacy = `ch_${'ab'.repeat(12)}`;
    await index.put(legacy, JSON.stringify({ merchant_id: m.merchant_id, intent_id: pi.id, livemode: false }));
    const viaIndex = await fails(stripe.charges.retrieve(legacy));
    t.equal(viaIndex.statusCode, 404, 'indexed, but not an attempt of that intent: no such charge');
    t.equal(intentIdOfCharge(legacy), null);
    t.equal(intentIdOfCharge(chargeId), pi.id);
    t.equal(chargeIdFor('pi_legacy-id', 'cmd_x').length, 27, 'an intent id of another form gets an id that pay_index resolves');
  });

  await t.test('charges.list: filter by payment_intent, newest first, pagination', async (t) => {
    const page = await eventually(async () => {
      const p = await stripe.charges.list({ payment_intent: pi.id });
      return p.data.length === 2 && p.data.every((c) => c.status !== 'pending') ? p : null;
    });
    t.same(new Set(page.data.map((c) => c.id)), new Set([chargeId, declinedCharge]), 'a decline-then-success intent lists 2 charges');
    const d = page.data.find((c) => c.id === declinedCharge);
    t.equal(d?.failure_code, 'card_declined');
    t.equal(d?.failure_message, 'Your card was declined.');
    t.equal(d?.outcome?.type, 'issuer_declined');
    t.equal(page.data.find((c) => c.id === chargeId)?.outcome?.type, 'authorized');
    t.equal(page.url, '/v1/charges');
    const first = await stripe.charges.list({ payment_intent: pi.id, limit: 1 });
    t.equal(first.data.length, 1);
    t.equal(first.has_more, true);
    const second = await stripe.charges.list({ payment_intent: pi.id, limit: 1, starting_after: first.data[0]!.id });
    t.equal(second.data.length, 1);
    t.not(second.data[0]!.id, first.data[0]!.id);
    t.equal(second.has_more, false);
    const none = await stripe.charges.list({ payment_intent: 'pi_nothing' });
    t.same(none.data, []);
  });

  let partialId = '';
  await t.test('a partial refund by payment_intent', async (t) => {
    const r = await stripe.refunds.create({ payment_intent: pi.id, amount: 1500, reason: 'requested_by_customer', metadata: { ticket: 'T-9' } });
    partialId = r.id;
    t.match(r.id, /^re_/);
    t.equal(r.object, 'refund');
    t.equal(r.amount, 1500);
    t.equal(r.status, 'succeeded');
    t.equal(r.charge, chargeId);
    t.equal(r.payment_intent, pi.id);
    t.equal(r.currency, 'usd');
    t.equal(r.reason, 'requested_by_customer');
    t.same(r.metadata, { ticket: 'T-9' });
    t.equal(r.balance_transaction, `txn_${r.id.replace('_', '')}`, 'its balance transaction (derived: test/balance.test.ts)');
    t.equal(r.receipt_number, null);
    t.equal(r.transfer_reversal, null);
    t.equal(r.source_transfer_reversal, null);

    const c = await stripe.charges.retrieve(chargeId);
    t.equal(c.amount_refunded, 1500);
    t.equal(c.refunded, false, 'a partial refund does not make the charge refunded');
    t.equal((c.refunds as unknown as { total_count: number } | undefined)?.total_count, 1);
    t.equal(c.refunds?.data[0]?.id, r.id);

    const got = await stripe.refunds.retrieve(r.id, { expand: ['charge'] });
    t.equal(got.id, r.id);
    t.equal((got.charge as Stripe.Charge).amount_refunded, 1500, 'charge expands');

    const tx = await ledger((c as unknown as { network_reference: string }).network_reference);
    t.equal(tx.amount_refunded, 1500, 'the network refunded it');
    t.same(tx.refunds.map((x) => [x.refund_reference, x.amount]), [[r.id, 1500]]);
  });

  await t.test('a refund’s metadata is updated (merged), with refund.updated', async (t) => {
    const u = await stripe.refunds.update(partialId, { metadata: { reviewed: 'yes' } });
    t.same(u.metadata, { ticket: 'T-9', reviewed: 'yes' }, 'merged with what it had');
    t.equal(u.amount, 1500);
    t.same((await stripe.refunds.retrieve(partialId)).metadata, { ticket: 'T-9', reviewed: 'yes' });
    const cleared = await stripe.refunds.update(partialId, { metadata: { ticket: '' } });
    t.same(cleared.metadata, { reviewed: 'yes' }, 'a key given empty is removed');
    const e = await fails(stripe.refunds.update('re_nope', { metadata: { a: '1' } }));
    t.match(e, { statusCode: 404, code: 'resource_missing' });
    const unknown = await fails(stripe.refunds.update(partialId, { amount: 5 } as Stripe.RefundUpdateParams));
    t.match(unknown, { statusCode: 400, code: 'parameter_unknown' });
    const ev = await eventually(async () => (await stripe.events.list({ type: 'refund.updated' })).data.find((x) => (x.data.object as Stripe.Refund).id === partialId && (x.data.object as Stripe.Refund).metadata?.reviewed === 'yes'), 10_000);
    t.equal((ev.data.object as Stripe.Refund).amount, 1500);
    t.same((await stripe.refunds.update(partialId, { metadata: { ticket: 'T-9', reviewed: '' } })).metadata, { ticket: 'T-9' }, 'back as it was');
  });

  await t.test('an over-refund is refused on amount', async (t) => {
    const e = await fails(stripe.refunds.create({ charge: chargeId, amount: 4000 }));
    t.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(e.statusCode, 400);
    t.equal(e.param, 'amount');
    t.equal(e.message, 'Refund amount ($40.00) is greater than unrefunded amount on charge ($35.00)');
    t.equal((await stripe.charges.retrieve(chargeId)).amount_refunded, 1500, 'nothing changed');
  });

  let restId = '';
  await t.test('the rest by charge: fully refunded, then nothing is left', async (t) => {
    const r = await stripe.refunds.create({ charge: chargeId });
    restId = r.id;
    t.equal(r.amount, 3500, 'amount defaults to what is left');
    t.equal(r.status, 'succeeded');
    t.equal(r.payment_intent, pi.id);
    const c = await stripe.charges.retrieve(chargeId);
    t.equal(c.amount_refunded, 5000);
    t.equal(c.refunded, true);
    t.same(c.refunds?.data.map((x) => x.id), [r.id, partialId], 'newest first');
    const again = await fails(stripe.refunds.create({ payment_intent: pi.id }));
    t.ok(again instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(again.code, 'charge_already_refunded');
    t.equal(again.message, `Charge ${chargeId} has already been refunded.`);
    const tx = await ledger((c as unknown as { network_reference: string }).network_reference);
    t.equal(tx.amount_refunded, 5000);
    t.equal(tx.status, 'refunded');
    t.equal((await stripe.paymentIntents.retrieve(pi.id)).status, 'succeeded', 'the intent stays succeeded');
  });

  await t.test('a declined charge or an uncaptured intent cannot be refunded', async (t) => {
    const e = await fails(stripe.refunds.create({ charge: declinedCharge }));
    t.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(e.statusCode, 400);
    t.match(e.message, /does not have a successful charge to refund/);

    const held = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', capture_method: 'manual', payment_method: good.id, confirm: true });
    t.equal(held.status, 'requires_capture');
    const u = await fails(stripe.refunds.create({ payment_intent: held.id }));
    t.ok(u instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(u.param, 'payment_intent');
    t.equal(u.message, `This PaymentIntent (${held.id}) does not have a successful charge to refund.`);
    const uc = await fails(stripe.refunds.create({ charge: held.latest_charge as string }));
    t.equal(uc.statusCode, 400);

    // Captured, it can.
    await stripe.paymentIntents.capture(held.id, { amount_to_capture: 1000 });
    const r = await stripe.refunds.create({ payment_intent: held.id });
    t.equal(r.amount, 1000, 'only the captured amount');
  });

  await t.test('bad input', async (t) => {
    const none = await fails(stripe.refunds.create({}));
    t.equal(none.statusCode, 400);
    t.equal(none.code, 'parameter_missing');
    const reason = await fails(stripe.refunds.create({ payment_intent: pi.id, reason: 'because' as 'duplicate' }));
    t.equal(reason.param, 'reason');
    const missing = await fails(stripe.refunds.create({ payment_intent: 'pi_doesnotexist' }));
    t.equal(missing.statusCode, 404);
    t.equal(missing.param, 'payment_intent');
    const missingCharge = await fails(stripe.refunds.create({ charge: 'ch_doesnotexist' }));
    t.equal(missingCharge.statusCode, 404);
    t.equal(missingCharge.param, 'charge');
    const zero = await fails(stripe.refunds.create({ payment_intent: pi.id, amount: 0 }));
    t.equal(zero.param, 'amount');
    const nosuch = await fails(stripe.refunds.retrieve('re_doesnotexist'));
    t.equal(nosuch.statusCode, 404);
    t.equal(nosuch.code, 'resource_missing');
  });

  await t.test('an idempotent replay of a refund create refunds once', async (t) => {
    const p2 = await stripe.paymentIntents.create({ amount: 3000, currency: 'usd', payment_method: good.id, confirm: true });
    const a = await stripe.refunds.create({ payment_intent: p2.id, amount: 700 }, { idempotencyKey: 'refund-order-7' });
    const b = await stripe.refunds.create({ payment_intent: p2.id, amount: 700 }, { idempotencyKey: 'refund-order-7' });
    t.equal(b.id, a.id, 'the replay answers the same refund');
    t.equal(b.lastResponse.headers['idempotent-replayed'], 'true');
    const mismatch = await fails(stripe.refunds.create({ payment_intent: p2.id, amount: 701 }, { idempotencyKey: 'refund-order-7' }));
    t.ok(mismatch instanceof Stripe.errors.StripeIdempotencyError);
    const c = await stripe.charges.retrieve(p2.latest_charge as string);
    t.equal(c.amount_refunded, 700);
    const tx = await ledger((c as unknown as { network_reference: string }).network_reference);
    t.equal(tx.refunds.length, 1, 'the network saw one refund');
    t.equal(tx.amount_refunded, 700);
  });

  await t.test('refunds.list: filters and pagination', async (t) => {
    const byPi = await eventually(async () => {
      const p = await stripe.refunds.list({ payment_intent: pi.id });
      return p.data.length === 2 && p.data.every((r) => r.status === 'succeeded') ? p : null;
    });
    t.same(new Set(byPi.data.map((r) => r.id)), new Set([partialId, restId]));
    t.equal(byPi.url, '/v1/refunds');
    const r0 = byPi.data.find((r) => r.id === partialId);
    t.same(r0?.metadata, { ticket: 'T-9' });
    t.equal(r0?.reason, 'requested_by_customer');
    t.equal(r0?.charge, chargeId);
    t.equal(r0?.currency, 'usd');
    const byCharge = await stripe.refunds.list({ charge: chargeId });
    t.equal(byCharge.data.length, 2);
    const all = await eventually(async () => {
      const p = await stripe.refunds.list({ limit: 100 });
      return p.data.length >= 4 ? p : null;
    });
    const first = await stripe.refunds.list({ limit: 2 });
    t.equal(first.has_more, true);
    const next = await stripe.refunds.list({ limit: 100, starting_after: first.data[1]!.id });
    t.equal(first.data.length + next.data.length, all.data.length, 'the pages cover the list once');
    t.same([...first.data, ...next.data].map((r) => r.id), all.data.map((r) => r.id));
    const expanded = await stripe.refunds.list({ charge: chargeId, expand: ['data.charge'] });
    t.equal((expanded.data[0]?.charge as Stripe.Charge).id, chargeId);
    const sub = (await stripe.rawRequest('GET', `/v1/charges/${chargeId}/refunds`)) as unknown as { object: string; data: Stripe.Refund[] };
    t.equal(sub.object, 'list');
    t.same(sub.data.map((r) => r.id), [restId, partialId], 'the charge\'s refunds url lists them');
  });

  await t.test('another merchant sees none of it', async (t) => {
    for (const e of [
      await fails(stripe2.charges.retrieve(chargeId)),
      await fails(stripe2.refunds.retrieve(partialId)),
      await fails(stripe2.refunds.create({ charge: chargeId })),
      await fails(stripe2.refunds.create({ payment_intent: pi.id })),
      await fails(stripe2.rawRequest('GET', `/v1/charges/${chargeId}/refunds`)),
    ]) {
      t.equal(e.statusCode, 404);
      t.equal(e.code, 'resource_missing');
    }
    t.same((await stripe2.charges.list()).data, []);
    t.same((await stripe2.refunds.list()).data, []);
    const pk = client(m.publishable_key);
    const e = await fails(pk.charges.retrieve(chargeId));
    t.equal(e.statusCode, 401, 'a publishable key cannot read charges');
  });

  await t.test('webhooks: refund.created, charge.refunded, refund.updated arrive signed', async (t) => {
    const of = (type: string, id: string) =>
      receiver.received.find((r) => {
        const e = JSON.parse(r.body) as { type: string; data: { object: { id: string } } };
        return e.type === type && e.data.object.id === id;
      });
    const created = await eventually(async () => of('refund.created', partialId), 15_000);
    const ev = stripe.webhooks.constructEvent(created.body, created.signature, m.webhook_secret);
    t.equal((ev.data.object as Stripe.Refund).status, 'pending', 'refund.created shows the refund as created');
    t.equal((ev.data.object as Stripe.Refund).amount, 1500);
    const refunded = await eventually(
      async () =>
        receiver.received.find((r) => {
          const e = JSON.parse(r.body) as { type: string; data: { object: Stripe.Charge } };
          return e.type === 'charge.refunded' && e.data.object.id === chargeId && e.data.object.refunded;
        }),
      15_000,
    );
    const ce = stripe.webhooks.constructEvent(refunded.body, refunded.signature, m.webhook_secret);
    t.equal((ce.data.object as Stripe.Charge).amount_refunded, 5000);
    const updated = await eventually(async () => of('refund.updated', restId), 15_000);
    t.equal((JSON.parse(updated.body) as { data: { object: Stripe.Refund } }).data.object.status, 'succeeded');
  });

  await t.test('a network outage leaves the refund pending, never refunded twice', async (t) => {
    const p3 = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: good.id, confirm: true });
    const setLatency = (ms: number) => fetch(`${stack.epnUrl}/admin/latency`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latency_ms: ms }) });
    await setLatency(stack.config.epnTimeoutMs + 1_000);
    let r: Stripe.Refund;
    try {
      r = await stripe.refunds.create({ payment_intent: p3.id });
    } finally {
      await setLatency(0);
    }
    t.equal(r.status, 'pending', 'answered with the pending refund');
    t.equal(r.amount, 2000);
    t.equal((await stripe.refunds.retrieve(r.id)).status, 'pending');
    const c = await stripe.charges.retrieve(p3.latest_charge as string);
    t.equal(c.amount_refunded, 2000, 'the pending refund holds the amount');
    const second = await fails(stripe.refunds.create({ payment_intent: p3.id, amount: 1 }));
    t.equal(second.code, 'charge_already_refunded', 'no second refund while the first is in doubt');
    // The delayed network call lands once; reconciliation (not here) records it.
    const tx = await eventually(async () => {
      const x = await ledger((c as unknown as { network_reference: string }).network_reference);
      return x.refunds.length > 0 ? x : null;
    }, 10_000);
    t.equal(tx.refunds.length, 1);
    t.equal(tx.refunds[0]?.refund_reference, r.id, 'under the refund id, so a retry is an inquiry');
  });
});

t.test('the projection: refund rows and amount_refunded follow the newest snapshot only', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-refunds-'));
  const opened = await openDatabase({ dataDir: dir });
  t.teardown(async () => {
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  });
  const db = opened.db;
  await migrateToLatest(db);
  const card: CardSummary = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: 'fp', funding: 'credit', country: 'US' };
  const T0 = 1_800_000_000;
  const commands: IntentCommand[] = [
    { type: 'Create', intentId: 'pi_p', merchantId: 'mer_p', livemode: false, amount: 900, currency: 'eur', clientSecret: 's', captureMethod: 'automatic', description: null, metadata: {}, receiptEmail: null, customer: 'cus_p', userEmail: null, productId: null, paymentMethod: null, now: T0 },
    { type: 'StartAttempt', attemptId: 'ch_p', paymentMethod: 'pm_p', card, now: T0 + 1 },
    { type: 'RecordAuthorization', attemptId: 'ch_p', outcome: 'approved', networkRef: 'net_p', now: T0 + 2 },
    { type: 'StartRefund', refundId: 're_p1', amount: 400, reason: 'duplicate', metadata: { k: 'v' }, now: T0 + 3 },
    { type: 'RecordRefund', refundId: 're_p1', outcome: 'succeeded', networkRef: 'net_p', now: T0 + 4 },
    { type: 'StartRefund', refundId: 're_p2', reason: null, metadata: {}, now: T0 + 5 },
    { type: 'RecordRefund', refundId: 're_p2', outcome: 'failed', networkRef: 'net_p', failureReason: 'declined', now: T0 + 6 },
  ];
  let state: IntentState = null;
  const commits: StoredCommit[] = commands.map((cmd, n) => {
    const events = intentDecider.decide(cmd, state);
    state = fold(intentDecider, events, state);
    const commit: IntentCommit = {
      v: 1,
      id: `cmt_${n}`,
      aggregate: 'intent',
      merchant_id: 'mer_p',
      aggregate_id: 'pi_p',
      command: cmd.type,
      request_id: null,
      correlation_id: null,
      at: cmd.now,
      events: events.map((e, k) => ({ ...e, id: `evt_p${n}_${k}`, v: 1 })),
      state: state as Intent,
    };
    return { commit: decodeCommit(encodeCommit(commit)), seq: n + 1, subject: subjects.intent('mer_p', 'pi_p'), time: cmd.now * 1000 };
  });
  const rows = async () => ({
    refunds: await db.selectFrom('refunds').selectAll().orderBy('id').execute(),
    attempt: await db.selectFrom('payment_attempts').select(['id', 'amount_refunded', 'last_seq']).executeTakeFirst(),
  });

  for (const c of commits) await projectCommits(db, [c]);
  const after = await rows();
  t.same(
    after.refunds.map((r) => [r.id, r.charge_id, r.intent_id, r.status, Number(r.amount), r.reason, r.failure_reason, r.currency, r.metadata]),
    [
      ['re_p1', 'ch_p', 'pi_p', 'succeeded', 400, 'duplicate', null, 'eur', { k: 'v' }],
      ['re_p2', 'ch_p', 'pi_p', 'failed', 500, null, 'declined', 'eur', {}],
    ],
  );
  t.equal(Number(after.attempt?.amount_refunded), 400, 'the failed refund gave its amount back');

  // Redelivery and replay of older commits change nothing.
  await projectCommits(db, commits.slice(3, 6));
  await projectCommits(db, [commits[3]!]);
  t.same(await rows(), after, 'never goes backwards');

  const listed = await listRefunds(db, { merchantId: 'mer_p', livemode: false, limit: 10, charge: 'ch_p' });
  t.same(listed.data.map((r) => [r.id, r.created]), [['re_p2', T0 + 5], ['re_p1', T0 + 3]], 'newest first');
  t.equal((await listRefunds(db, { merchantId: 'mer_p', livemode: true, limit: 10 })).data.length, 0, 'mode-filtered');
  t.equal((await listRefunds(db, { merchantId: 'mer_p', livemode: false, limit: 1 })).hasMore, true);
  const charges = await listCharges(db, { merchantId: 'mer_p', livemode: false, limit: 10, customer: 'cus_p' });
  t.same(charges.data.map((c) => c.id), ['ch_p']);
  t.equal(charges.data[0]?.intent.attempts[0]?.amount_refunded, 400);
  t.equal((await listCharges(db, { merchantId: 'mer_p', livemode: false, limit: 10, customer: 'cus_other' })).data.length, 0);
  t.equal((await listCharges(db, { merchantId: 'mer_p', livemode: false, limit: 10, created: { gt: T0 + 1 } })).data.length, 0);
});
