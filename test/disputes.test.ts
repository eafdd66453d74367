// Disputes end to end with the official stripe SDK against the real stack: Stripe's dispute test
// cards are charged, the EPN simulator files a chargeback once the charge is captured, the reconcile
// role reads the network's chargeback feed and opens the dispute on the intent; the merchant answers
// with evidence (winning_evidence / losing_evidence decide the case, as in Stripe's test mode) or
// accepts it; the verdict comes back through the feed; webhooks tell the merchant each step; the
// balance loses a chargeback's amount and fee and gets them back when it is won.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';
import { DISPUTE_FEE } from '../actors/mod.ts';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { buckets } from '../nats/topology.ts';
import { CHARGEBACK_FEED_CURSOR } from '../reconcile/disputes.ts';

t.test('disputes with the official stripe SDK', async (t) => {
  const receiver = await startReceiver(t);
  // The network decides a representment a second after it (not at its next feed read): the test looks
  // at the dispute under review before the verdict comes, however slow the machine.
  const stack = await startStack(t, { DISPUTE_POLL_MS: '150', EPN_CHARGEBACK_DECISION_MS: '1000' });
  const m = await stack.onboard({ call_back_url: receiver.url, events: ['*'] });
  const other = await stack.onboard({ name: 'Other Store' });
  const client = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const stripe = client(m.secret_key);
  const stripe2 = client(other.secret_key);
  const fails = async (p: Promise<unknown>): Promise<Stripe.errors.StripeError> => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    if (!(e instanceof Stripe.errors.StripeError)) throw new Error(`expected a Stripe error, got ${String(e)}`);
    return e;
  };
  const pay = async (pm: string, amount: number, capture_method: 'automatic' | 'manual' = 'automatic') =>
    stripe.paymentIntents.create({ amount, currency: 'usd', payment_method: pm, confirm: true, capture_method });
  const disputeOf = (pi: string) =>
    eventually(async () => {
      const l = await stripe.disputes.list({ payment_intent: pi });
      return l.data.length === 1 ? l.data[0]! : null;
    });
  const statusOf = (id: string, status: string) =>
    eventually(async () => {
      const d = await stripe.disputes.retrieve(id);
      return d.status === status ? d : null;
    });
  const webhooksOf = (id: string) =>
    receiver.received.map((r) => JSON.parse(r.body) as Stripe.Event).filter((e) => e.type.startsWith('charge.dispute.') && (e.data.object as Stripe.Dispute).id === id);

  // A plain card is never disputed.
  const plain = await pay('pm_card_visa', 1000);
  t.equal(plain.status, 'succeeded');

  const won = await pay('pm_card_createDispute', 5000);
  t.equal(won.status, 'succeeded', 'a dispute card is charged like any other');
  const lost = await pay('pm_card_createDisputeProductNotReceived', 3000);
  const losing = await pay('pm_card_createDispute', 2000);
  const inquiry = await pay('pm_card_createDisputeInquiry', 1500);

  await t.test('the network files the chargeback and the dispute opens, needing a response', async (t) => {
    const d = await disputeOf(won.id);
    t.match(d.id, /^dp_[0-9a-f]{24}$/);
    t.equal(d.object, 'dispute');
    t.equal(d.status, 'needs_response');
    t.equal(d.reason, 'fraudulent');
    t.equal(d.amount, 5000);
    t.equal(d.currency, 'usd');
    t.equal(d.charge, won.latest_charge);
    t.equal(d.payment_intent, won.id);
    t.equal(d.livemode, false);
    t.equal(d.is_charge_refundable, false);
    t.equal(d.evidence_details.submission_count, 0);
    t.equal(d.evidence_details.has_evidence, false);
    t.equal(d.evidence_details.past_due, false);
    t.ok(d.evidence_details.due_by! > Date.now() / 1000 + 6 * 86_400, 'a week to answer');
    t.equal(d.evidence.uncategorized_text, null);
    t.equal(d.payment_method_details?.card?.case_type, 'chargeback');
    t.equal(d.balance_transactions.length, 1, 'the amount and the fee are withdrawn');
    const w = d.balance_transactions[0]!;
    t.equal(w.amount, -5000);
    t.equal(w.fee, DISPUTE_FEE);
    t.equal(w.net, -5000 - DISPUTE_FEE);
    t.equal(w.type, 'adjustment');
    t.equal(w.reporting_category, 'dispute');
    t.same(await stripe.balanceTransactions.retrieve(w.id), w, 'the withdrawal is a balance transaction of its own');

    const charge = await stripe.charges.retrieve(won.latest_charge as string);
    t.equal(charge.disputed, true);
    const searched = await eventually(async () => {
      const r = await stripe.charges.search({ query: `disputed:"true" AND payment_intent:"${won.id}"` });
      return r.data.length === 1 ? r : null;
    });
    t.equal(searched.data[0]!.id, won.latest_charge, 'search finds the disputed charge');
    t.same((await stripe.charges.search({ query: `disputed:"true" AND payment_intent:"${plain.id}"` })).data, [], 'and not the plain one');
    t.equal((await stripe.charges.retrieve(plain.latest_charge as string)).disputed, false);
    t.same((await stripe.disputes.list({ payment_intent: plain.id })).data, [], 'the plain card has no dispute');

    const nr = await disputeOf(lost.id);
    t.equal(nr.reason, 'product_not_received');
    t.equal((await stripe.disputes.list({ charge: lost.latest_charge as string })).data[0]?.id, nr.id, 'listed by charge');
    t.equal(((await stripe.disputes.retrieve(d.id, { expand: ['payment_intent'] })).payment_intent as Stripe.PaymentIntent).id, won.id);
    const expanded = await stripe.disputes.retrieve(d.id, { expand: ['charge'] });
    t.equal((expanded.charge as Stripe.Charge).id, won.latest_charge);

    const foreign = await fails(stripe2.disputes.retrieve(d.id));
    t.equal(foreign.statusCode, 404, "another merchant's key does not find it");
    t.same((await stripe2.disputes.list()).data, []);
  });

  await t.test('a charged-back charge cannot be refunded', async (t) => {
    const e = await fails(stripe.refunds.create({ payment_intent: won.id }));
    t.equal(e.statusCode, 400);
    t.equal(e.code, 'charge_disputed');
  });

  await t.test('evidence is saved, then submitted; winning_evidence wins and the funds come back', async (t) => {
    const d = await disputeOf(won.id);
    const pan = await fails(stripe.disputes.update(d.id, { evidence: { uncategorized_text: 'card 4242 4242 4242 4242' } }));
    t.equal(pan.statusCode, 400);
    t.equal(pan.code, 'parameter_invalid');
    t.equal(pan.param, 'evidence[uncategorized_text]');
    const file = await fails(stripe.disputes.update(d.id, { evidence: { receipt: 'file_123' } }));
    t.equal(file.code, 'resource_missing');
    t.equal(file.param, 'evidence[receipt]');
    const unknown = await fails(stripe.disputes.update(d.id, { evidence: { nonsense: 'x' } as Stripe.DisputeUpdateParams.Evidence }));
    t.equal(unknown.statusCode, 400);

    const saved = await stripe.disputes.update(d.id, { evidence: { uncategorized_text: 'winning_evidence', customer_name: 'Jo Buyer' }, metadata: { case: 'A-1' } });
    t.equal(saved.status, 'needs_response', 'saved, not submitted');
    t.equal(saved.evidence.uncategorized_text, 'winning_evidence');
    t.equal(saved.evidence.customer_name, 'Jo Buyer');
    t.equal(saved.evidence_details.has_evidence, true);
    t.same(saved.metadata, { case: 'A-1' });

    const submitted = await stripe.disputes.update(d.id, { submit: true });
    t.equal(submitted.status, 'under_review');
    t.equal(submitted.evidence_details.submission_count, 1);
    t.equal(submitted.evidence_details.submission_method, 'manual');
    const again = await fails(stripe.disputes.update(d.id, { evidence: { customer_name: 'Other' } }));
    t.equal(again.code, 'dispute_under_review', 'evidence under review is frozen');

    const decided = await statusOf(d.id, 'won');
    t.equal(decided.balance_transactions.length, 2, 'withdrawal and reinstatement');
    const r = decided.balance_transactions[1]!;
    t.equal(r.amount, 5000);
    t.equal(r.net, 5000 + DISPUTE_FEE);
    t.equal(r.reporting_category, 'dispute_reversal');
    t.same(decided.metadata, { case: 'A-1' }, 'metadata kept');

    const types = await eventually(async () => {
      const ts: string[] = webhooksOf(d.id).map((e) => e.type);
      return ts.includes('charge.dispute.funds_reinstated') ? ts : null;
    });
    for (const type of ['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.updated', 'charge.dispute.closed', 'charge.dispute.funds_reinstated']) {
      t.ok(types.includes(type), `webhook ${type}`);
    }
    const closed = webhooksOf(d.id).find((e) => e.type === 'charge.dispute.closed')!;
    t.equal((closed.data.object as Stripe.Dispute).status, 'won');
    // A won chargeback leaves the charge refundable again.
    const refund = await stripe.refunds.create({ payment_intent: won.id, amount: 100 });
    t.equal(refund.status, 'succeeded');
  });

  await t.test('the network down: a submission is refused retryably, the evidence kept; retried, it goes through once', async (t) => {
    const pi = await pay('pm_card_createDispute', 1200);
    const d = await disputeOf(pi.id);
    const faults = (f: object) => fetch(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f) });
    t.equal((await faults({ outage: true })).status, 200);
    const down = await fails(stripe.disputes.update(d.id, { evidence: { uncategorized_text: 'losing_evidence' }, submit: true }));
    t.equal(down.statusCode, 503);
    t.equal(down.code, 'service_unavailable');
    const kept = await stripe.disputes.retrieve(d.id);
    t.equal(kept.status, 'needs_response', 'not submitted');
    t.equal(kept.evidence.uncategorized_text, 'losing_evidence', 'but the evidence is saved');
    await faults({ outage: false });
    const ok = await stripe.disputes.update(d.id, { submit: true });
    t.equal(ok.status, 'under_review');
    t.equal(ok.evidence_details.submission_count, 1, 'one submission');
    await statusOf(d.id, 'lost');
    const net = (await (await fetch(`${stack.epnUrl}/v1/chargebacks?after=0&limit=1000`)).json()) as { data: { intent_id: string; representments: number }[] };
    t.equal(net.data.find((c) => c.intent_id === pi.id)?.representments, 1, 'the network received one representment');
  });

  await t.test('losing_evidence loses', async (t) => {
    const d = await disputeOf(losing.id);
    await stripe.disputes.update(d.id, { evidence: { uncategorized_text: 'losing_evidence' }, submit: true });
    const decided = await statusOf(d.id, 'lost');
    t.equal(decided.balance_transactions.length, 1, 'nothing reinstated');
  });

  await t.test('closing accepts the dispute: lost at once; a closed dispute takes no more evidence', async (t) => {
    const d = await disputeOf(lost.id);
    const c = await stripe.disputes.close(d.id);
    t.equal(c.status, 'lost');
    t.equal((await stripe.disputes.close(d.id)).status, 'lost', 'closing again answers the same');
    const late = await fails(stripe.disputes.update(d.id, { evidence: { uncategorized_text: 'too late' } }));
    t.equal(late.code, 'dispute_already_closed');
    const meta = await stripe.disputes.update(d.id, { metadata: { note: 'accepted' } });
    t.same(meta.metadata, { note: 'accepted' }, 'metadata can still change');
    const submit = await fails(stripe.disputes.update(d.id, { submit: true }));
    t.equal(submit.code, 'dispute_already_closed');
  });

  await t.test('an inquiry withdraws nothing and its charge can still be refunded', async (t) => {
    const d = await disputeOf(inquiry.id);
    t.equal(d.status, 'warning_needs_response');
    t.equal(d.payment_method_details?.card?.case_type, 'inquiry');
    t.same(d.balance_transactions, []);
    t.equal(d.is_charge_refundable, true);
    const refund = await stripe.refunds.create({ payment_intent: inquiry.id });
    t.equal(refund.status, 'succeeded');
    const c = await stripe.disputes.close(d.id);
    t.equal(c.status, 'warning_closed');
  });

  await t.test('the balance: lost chargebacks cost their amount and fee, a won one nothing', async (t) => {
    // Captured charges are pending for days; refunds and dispute withdrawals leave the available funds at once.
    const expected = -100 - 1500 - (3000 + DISPUTE_FEE) - (2000 + DISPUTE_FEE) - (1200 + DISPUTE_FEE);
    // (the early fraud warning test below refunds its 1,800 after this)
    const b = await eventually(async () => {
      const bal = await stripe.balance.retrieve();
      const usd = bal.available.find((x) => x.currency === 'usd');
      return usd?.amount === expected ? bal : null;
    });
    t.equal(b.available.find((x) => x.currency === 'usd')?.amount, expected);
    const adjustments = await stripe.balanceTransactions.list({ type: 'adjustment', limit: 100 });
    t.equal(adjustments.data.length, 5, 'four withdrawals (the inquiry has none) and one reinstatement');
    t.same(adjustments.data.map((x) => x.reporting_category).sort(), ['dispute', 'dispute', 'dispute', 'dispute', 'dispute_reversal']);
    t.equal(adjustments.data.reduce((n, x) => n + x.net, 0), -(5000 + 3000 + 2000 + 1200 + 4 * DISPUTE_FEE) + (5000 + DISPUTE_FEE));
    const first = await stripe.balanceTransactions.list({ type: 'adjustment', limit: 1 });
    const next = await stripe.balanceTransactions.list({ type: 'adjustment', limit: 1, starting_after: first.data[0]!.id });
    t.not(next.data[0]?.id, first.data[0]?.id, 'paged by balance transaction id');
    const everything = await stripe.balanceTransactions.list({ limit: 100 });
    t.ok(everything.data.some((x) => x.type === 'adjustment') && everything.data.some((x) => x.type === 'charge'), 'listed with the charges');
    const won1 = await disputeOf(won.id);
    t.same((await stripe.balanceTransactions.list({ source: won1.id })).data.map((x) => x.id).sort(), won1.balance_transactions.map((x) => x.id).sort(), 'by source: the dispute\'s two');
    const all = await stripe.disputes.list({ limit: 2 });
    t.equal(all.data.length, 2);
    t.equal(all.has_more, true, 'five disputes, paged');
    const rest = await stripe.disputes.list({ starting_after: all.data[1]!.id });
    t.equal(rest.data.length, 3);
    t.ok([won.id, lost.id, losing.id, inquiry.id].every((id) => [...all.data, ...rest.data].some((d) => d.payment_intent === id)), 'all of them, paged');
  });

  await t.test('the feed read again from the start changes nothing', async (t) => {
    const nc = await connect({ servers: stack.nats.url });
    t.teardown(() => nc.close());
    const index = await new Kvm(nc).open(buckets.index);
    const before = await stripe.disputes.list({ limit: 100 });
    const events = (await stripe.events.list({ limit: 100 })).data.filter((e) => e.type.startsWith('charge.dispute.')).length;
    await index.put(CHARGEBACK_FEED_CURSOR, '0');
    // The reader moves the cursor back to where the feed ends.
    await eventually(async () => Number((await index.get(CHARGEBACK_FEED_CURSOR))?.string()) > 0);
    await new Promise((r) => setTimeout(r, 500));
    const after = await stripe.disputes.list({ limit: 100 });
    t.same(after.data.map((d) => [d.id, d.status]), before.data.map((d) => [d.id, d.status]), 'the same disputes, in the same states');
    t.equal((await stripe.events.list({ limit: 100 })).data.filter((e) => e.type.startsWith('charge.dispute.')).length, events, 'no new dispute events');
  });

  await t.test('a manual-capture payment is disputed once captured, not when authorized', async (t) => {
    const held = await pay('pm_card_createDispute', 4000, 'manual');
    t.equal(held.status, 'requires_capture');
    await new Promise((r) => setTimeout(r, 600));
    t.same((await stripe.disputes.list({ payment_intent: held.id })).data, [], 'no dispute on an authorization');
    await stripe.paymentIntents.capture(held.id);
    const d = await disputeOf(held.id);
    t.equal(d.amount, 4000);
  });

  await t.test("an erasure of the customer clears the evidence's personal fields, in the dispute and its stored events", async (t) => {
    const cus = await stripe.customers.create({ email: 'disputer@example.com', name: 'Dee Sputer' });
    const pi = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd', customer: cus.id, payment_method: 'pm_card_createDispute', confirm: true });
    const d = await disputeOf(pi.id);
    await stripe.disputes.update(d.id, { evidence: { customer_name: 'Dee Sputer', customer_email_address: 'disputer@example.com', uncategorized_text: 'delivered to the door' } });
    // Wait for the read model to hold the event with the evidence, so the erasure has something to scrub.
    await eventually(async () => (await stripe.events.list({ type: 'charge.dispute.updated', limit: 100 })).data.some((e) => (e.data.object as Stripe.Dispute).evidence.customer_name === 'Dee Sputer'));
    const res = await fetch(`${stack.url}/admin/merchants/${m.merchant_id}/erasures`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ customer: cus.id }),
    });
    t.equal(res.status, 200);
    const after = await stripe.disputes.retrieve(d.id);
    t.equal(after.evidence.customer_name, null);
    t.equal(after.evidence.customer_email_address, null);
    t.equal(after.evidence.uncategorized_text, 'delivered to the door', 'the rest of the evidence stays');
    await eventually(async () => {
      const events = (await stripe.events.list({ type: 'charge.dispute.*', limit: 100 })).data.filter((e) => (e.data.object as Stripe.Dispute).id === d.id);
      return events.length > 0 && events.every((e) => JSON.stringify(e).indexOf('Dee Sputer') === -1 && JSON.stringify(e).indexOf('disputer@example.com') === -1);
    }, 15_000);
    t.pass('no stored event of the dispute names the customer');
  });

  await t.test('an early fraud warning: reported by the network, actionable until the charge is refunded', async (t) => {
    const pi = await pay('pm_card_createIssuerFraudRecord', 1800);
    t.equal(pi.status, 'succeeded');
    const w = await eventually(async () => (await stripe.radar.earlyFraudWarnings.list({ payment_intent: pi.id })).data[0]);
    t.match(w.id, /^issfr_[0-9a-f]{24}$/);
    t.equal(w.object, 'radar.early_fraud_warning');
    t.equal(w.charge, pi.latest_charge);
    t.equal(w.payment_intent, pi.id);
    t.equal(w.fraud_type, 'made_with_stolen_card');
    t.equal(w.actionable, true);
    t.equal(w.livemode, false);
    t.same(await stripe.radar.earlyFraudWarnings.retrieve(w.id), w, 'retrieved as listed');
    t.equal(((await stripe.radar.earlyFraudWarnings.retrieve(w.id, { expand: ['charge'] })).charge as Stripe.Charge).id, pi.latest_charge, 'charge expands');
    t.equal((await stripe.radar.earlyFraudWarnings.list({ charge: pi.latest_charge as string })).data[0]?.id, w.id, 'listed by charge');
    t.same((await stripe.radar.earlyFraudWarnings.list({ payment_intent: plain.id })).data, [], 'a plain card has none');
    t.same((await stripe.disputes.list({ payment_intent: pi.id })).data, [], 'a warning is not a dispute');
    const created = await eventually(async () => receiver.received.map((r) => JSON.parse(r.body) as Stripe.Event).find((e) => e.type === 'radar.early_fraud_warning.created' && (e.data.object as Stripe.Radar.EarlyFraudWarning).id === w.id));
    t.equal((created.data.object as Stripe.Radar.EarlyFraudWarning).actionable, true, 'webhook radar.early_fraud_warning.created');
    await stripe.refunds.create({ payment_intent: pi.id, reason: 'fraudulent' });
    t.equal((await stripe.radar.earlyFraudWarnings.retrieve(w.id)).actionable, false, 'refunded: nothing left to act on');
    const updated = await eventually(async () => receiver.received.map((r) => JSON.parse(r.body) as Stripe.Event).find((e) => e.type === 'radar.early_fraud_warning.updated' && (e.data.object as Stripe.Radar.EarlyFraudWarning).id === w.id));
    t.equal((updated.data.object as Stripe.Radar.EarlyFraudWarning).actionable, false, 'webhook radar.early_fraud_warning.updated');
    // The fraudulent dispute card's warning stops being actionable with its dispute.
    const wonWarning = (await stripe.radar.earlyFraudWarnings.list({ payment_intent: won.id })).data[0];
    t.equal(wonWarning?.fraud_type, 'unauthorized_use_of_card', 'the fraudulent dispute card was reported before its dispute');
    t.equal(wonWarning?.actionable, false, 'disputed: not actionable');
    t.equal((await fails(stripe2.radar.earlyFraudWarnings.retrieve(w.id))).statusCode, 404, "another merchant's key does not find it");
    t.equal((await fails(stripe.radar.earlyFraudWarnings.retrieve('issfr_000000000000000000000000'))).code, 'resource_missing');
  });

  await t.test('bad input gets Stripe errors', async (t) => {
    const missing = await fails(stripe.disputes.retrieve('dp_doesnotexist'));
    t.equal(missing.statusCode, 404);
    t.equal(missing.code, 'resource_missing');
    const d = await disputeOf(won.id);
    const exp = await fails(stripe.disputes.retrieve(d.id, { expand: ['evidence'] }));
    t.equal(exp.statusCode, 400);
  });
});
