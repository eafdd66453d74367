// State outlives retention, end to end on the real stack (retention of 6 s): a merchant is
// onboarded, a customer created, an intent paid; their messages age out of PAY_EVENTS (asserted);
// then the merchant still authenticates and its webhooks still fan out for a new payment, a refund
// on the old intent works and continues its history (no second intent.created), and a customer
// update keeps what the customer had. The archiver wrote the snapshots (pay_snapshots).
import t from 'tap';
import Stripe from 'stripe';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { buckets } from '../nats/mod.ts';
import { readSnapshot } from '../runtime/snapshots.ts';
import { decodeCommit } from '../streams/codec.ts';
import type { Commit } from '../streams/envelope.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

/** Every commit the stream holds on a subject, oldest first. */
async function commitsOn(jsm: JetStreamManager, subject: string): Promise<{ seq: number; commit: Commit }[]> {
  const out: { seq: number; commit: Commit }[] = [];
  const si = await jsm.streams.info(EVENTS_STREAM);
  for (let seq = si.state.first_seq; seq <= si.state.last_seq && si.state.messages > 0; seq++) {
    const m = await jsm.direct.getMessage(EVENTS_STREAM, { seq }).catch(() => null);
    if (m && m.subject === subject) out.push({ seq: m.seq, commit: decodeCommit(m.data) });
  }
  return out;
}

t.test('merchants, intents and customers outlive the stream retention', { timeout: 120_000 }, async (t) => {
  const receiver = await startReceiver(t);
  const stack = await startStack(t, { EVENT_MAX_AGE_S: '6', ARCHIVE_CHUNK_MS: '500', ARCHIVE_CHUNK_EVENTS: '50' });
  const m = await stack.onboard({ call_back_url: receiver.url, events: ['*'] });
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 2 });

  const customer = await stripe.customers.create({ email: 'old@example.com', name: 'Old Name', metadata: { tier: 'gold' } });
  const paid = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  t.equal(paid.status, 'succeeded');
  const chargeId = paid.latest_charge as string;
  await eventually(async () => receiver.received.some((r) => r.body.includes(paid.id) && r.body.includes('"payment_intent.succeeded"')), 30_000);

  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const kv = await new Kvm(nc).open(buckets.snapshots);
  const subs = { merchant: subjects.merchant(m.merchant_id), intent: subjects.intent(m.merchant_id, paid.id), customer: subjects.customer(m.merchant_id, customer.id) };

  // Aged out: the stream no longer has any of them; the snapshots hold their last state.
  await eventually(async () => {
    for (const s of Object.values(subs)) if (await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: s })) return false;
    return true;
  }, 60_000, 250);
  t.equal((await jsm.streams.info(EVENTS_STREAM)).state.messages, 0, 'PAY_EVENTS holds nothing any more');
  for (const [kind, s] of Object.entries(subs)) t.ok(await readSnapshot(kv, s), `${kind} snapshot written by the archiver`);
  t.equal((await readSnapshot<{ status: string }>(kv, subs.intent))!.state.status, 'succeeded');
  const webhooksBefore = receiver.received.length;

  // The merchant: authenticates, and a new payment's webhooks fan out (the fan-out reads the merchant).
  const fresh = await stripe.paymentIntents.create({ amount: 500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
  t.equal(fresh.status, 'succeeded', 'the merchant still authenticates and pays');
  await eventually(async () => receiver.received.slice(webhooksBefore).some((r) => r.body.includes(fresh.id) && r.body.includes('"payment_intent.succeeded"')), 30_000);
  t.pass('webhooks fan out for the new payment');
  const account = await fetch(`${stack.url}/admin/merchants/${m.merchant_id}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
  t.equal(account.status, 200, 'the admin API still finds the merchant');

  // The old intent: a refund works and its history continues.
  const refund = await stripe.refunds.create({ payment_intent: paid.id });
  t.equal(refund.amount, 2000);
  t.match(refund.status, /^(succeeded|pending)$/);
  const after = await stripe.paymentIntents.retrieve(paid.id);
  t.equal(after.status, 'succeeded');
  t.equal(after.latest_charge, chargeId, 'the same charge: the intent was not restarted');
  await eventually(async () => {
    const c = await stripe.charges.retrieve(chargeId);
    return c.amount_refunded === 2000 && c.refunded;
  }, 20_000);
  t.pass('the charge is fully refunded');
  const intentCommits = await commitsOn(jsm, subs.intent);
  t.ok(intentCommits.length >= 1, 'the refund appended to the old intent subject');
  const types = intentCommits.flatMap((c) => c.commit.events.map((e) => e.type));
  t.notOk(types.includes('intent.created'), `no second intent.created (${types.join(',')})`);
  const last = intentCommits[intentCommits.length - 1]!.commit.state as { status: string; amount: number; attempts: unknown[]; refunds: { amount: number }[] };
  t.equal(last.status, 'succeeded');
  t.equal(last.attempts.length, 1, 'the old attempt is still there');
  t.same(last.refunds.map((r) => r.amount), [2000]);
  await eventually(async () => (await stripe.refunds.list({ payment_intent: paid.id })).data.length === 1, 20_000);
  t.pass('the refund is listed (projected from the continued history)');
  // A second full refund is refused: the state knows the first.
  await t.rejects(stripe.refunds.create({ payment_intent: paid.id }), { type: 'StripeInvalidRequestError' } as never);

  // The customer: an update keeps what it had.
  const updated = await stripe.customers.update(customer.id, { name: 'New Name' });
  t.equal(updated.name, 'New Name');
  t.equal(updated.email, 'old@example.com', 'the e-mail from before the retention is kept');
  t.same(updated.metadata, { tier: 'gold' });
  const customerTypes = (await commitsOn(jsm, subs.customer)).flatMap((c) => c.commit.events.map((e) => e.type));
  t.same(customerTypes, ['customer.updated'], 'no second customer.created');
});
