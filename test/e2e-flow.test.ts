// The seed's flow end to end, with the official stripe SDK against the real stack:
// onboard → intent via /stripe/intend → a declined card → a good card on the same intent →
// succeeded → the webhook arrives and verifies → the projection shows two attempts.
import t from 'tap';
import Stripe from 'stripe';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { getIntentWithAttempts, openDatabase } from '../storage/mod.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

const DECLINED_PAN = '4000000000000002';
const GOOD_PAN = '4242424242424242';

t.test('the seed flow with the official stripe SDK', async (t) => {
  const receiver = await startReceiver(t);
  const stack = await startStack(t);
  const m = await stack.onboard({ call_back_url: receiver.url, events: ['payment_successful', 'payment_failure'] });
  t.match(m.secret_key, /^sk_test_/);
  t.match(m.publishable_key, /^pk_test_/);
  t.match(m.webhook_secret, /^whsec_/);

  // The seed's API creates the intent.
  const res = await fetch(`${stack.url}/stripe/intend`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ merchant_id: m.merchant_id, user_email: 'shopper@example.com', product_id: 'sku_42', amount: 4999, currency: 'INR' }),
  });
  t.equal(res.status, 201);
  t.match(res.headers.get('request-id'), /^req_/);
  const intended = (await res.json()) as { intent_id: string; status: string; amount: number; currency: string; client_secret: string };
  t.match(intended.intent_id, /^pi_/);
  t.equal(intended.status, 'requires_payment_method');
  t.equal(intended.currency, 'inr');

  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 2 });
  const pk = new Stripe(m.publishable_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });

  // The shopper's first card is declined: 402 card error, intent back to requires_payment_method.
  const bad = await pk.paymentMethods.create({ type: 'card', card: { number: DECLINED_PAN, exp_month: 12, exp_year: 2034, cvc: '123' } });
  t.match(bad.id, /^pm_/);
  t.equal(bad.card?.last4, '0002');
  t.equal(bad.card?.brand, 'visa');
  const declined = await stripe.paymentIntents.confirm(intended.intent_id, { payment_method: bad.id }).then(
    () => null,
    (err: unknown) => err,
  );
  t.ok(declined instanceof Stripe.errors.StripeCardError, 'a decline raises StripeCardError');
  const ce = declined as Stripe.errors.StripeCardError;
  t.equal(ce.statusCode, 402);
  t.equal(ce.code, 'card_declined');
  t.equal(ce.decline_code, 'generic_decline');
  t.match(ce.requestId, /^req_/);
  t.equal((ce.payment_intent as Stripe.PaymentIntent | undefined)?.status, 'requires_payment_method');

  const afterDecline = await stripe.paymentIntents.retrieve(intended.intent_id);
  t.equal(afterDecline.status, 'requires_payment_method');
  t.equal(afterDecline.last_payment_error?.code, 'card_declined');
  t.equal(afterDecline.last_payment_error?.decline_code, 'generic_decline');
  const firstCharge = afterDecline.latest_charge;

  // A good card on the same intent is a new attempt.
  const good = await pk.paymentMethods.create({ type: 'card', card: { number: GOOD_PAN, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const paid = await stripe.paymentIntents.confirm(intended.intent_id, { payment_method: good.id, expand: ['latest_charge'] });
  t.equal(paid.status, 'succeeded');
  t.equal(paid.amount_received, 4999);
  t.equal(paid.last_payment_error, null);
  const charge = paid.latest_charge as Stripe.Charge;
  t.not(charge.id, firstCharge, 'the retry is a new charge');
  t.equal(charge.status, 'succeeded');
  t.equal(charge.payment_method_details?.card?.last4, '4242');
  t.equal(charge.outcome?.type, 'authorized');

  // The webhook arrives, signed as Stripe signs.
  const hook = await eventually(async () => receiver.received.find((r) => JSON.parse(r.body).type === 'payment_intent.succeeded'), 15_000);
  const event = stripe.webhooks.constructEvent(hook.body, hook.signature, m.webhook_secret);
  t.notOk('account' in event, 'no `account` in the body: Stripe names one only in Connect events');
  t.equal(event.type, 'payment_intent.succeeded');
  t.equal((event.data.object as Stripe.PaymentIntent).id, intended.intent_id);
  t.equal((event.data.object as Stripe.PaymentIntent).status, 'succeeded');
  t.throws(() => stripe.webhooks.constructEvent(hook.body, hook.signature, 'whsec_wrong'), 'a wrong secret does not verify');
  const failedHook = await eventually(async () => receiver.received.find((r) => JSON.parse(r.body).type === 'payment_intent.payment_failed'), 15_000);
  t.ok(stripe.webhooks.constructEvent(failedHook.body, failedHook.signature, m.webhook_secret));
  t.notOk(
    receiver.received.some((r) => JSON.parse(r.body).type === 'payment_intent.created'),
    'only subscribed events are sent',
  );

  // The projection: one SQL read shows the intent succeeded with both attempts. The node holds
  // PGlite; read it through the node's own API (list) and, after stopping nothing, through a
  // second read of the stream-fed table via the list endpoint.
  const listed = await eventually(async () => {
    const page = await stripe.paymentIntents.list({ limit: 5 });
    const row = page.data.find((i) => i.id === intended.intent_id);
    return row?.status === 'succeeded' ? row : null;
  });
  t.equal(listed.status, 'succeeded');

  // Idempotency: the same key replays the stored answer; other params under it are refused.
  const a = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' }, { idempotencyKey: 'order-17' });
  const b = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' }, { idempotencyKey: 'order-17' });
  t.equal(b.id, a.id, 'a replay returns the same intent');
  const mismatch = await stripe.paymentIntents.create({ amount: 1001, currency: 'usd' }, { idempotencyKey: 'order-17' }).catch((e: unknown) => e);
  t.ok(mismatch instanceof Stripe.errors.StripeIdempotencyError);

  // Bad input gets a Stripe-shaped error, never a 5xx.
  const invalid = await stripe.paymentIntents.create({ amount: -5, currency: 'usd' }).catch((e: unknown) => e);
  t.ok(invalid instanceof Stripe.errors.StripeInvalidRequestError);
  t.equal((invalid as Stripe.errors.StripeError).param, 'amount');
  const missing = await stripe.paymentIntents.retrieve('pi_doesnotexist').catch((e: unknown) => e);
  t.equal((missing as Stripe.errors.StripeError).statusCode, 404);
  t.equal((missing as Stripe.errors.StripeError).code, 'resource_missing');

  t.test('the projection holds the intent with two attempts (the dashboard read)', async (t) => {
    // Stop the node so its PGlite can be opened here.
    await stack.node.stop();
    const db = await openDatabase({ dataDir: stack.dataDir });
    t.teardown(() => db.close());
    const row = await getIntentWithAttempts(db.db, m.merchant_id, intended.intent_id);
    t.ok(row);
    t.equal(row?.status, 'succeeded');
    t.equal(row?.attempts.length, 2);
    t.same(row?.attempts.map((x) => x.status), ['failed', 'succeeded']);
    t.equal(row?.user_email, 'shopper@example.com');
    t.equal(row?.product_id, 'sku_42');
  });

  t.test('no card number anywhere: streams, KV, database, logs', async (t) => {
    const nc = await connect({ servers: stack.nats.url });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const haystack: string[] = [];
    for await (const si of jsm.streams.list()) {
      const name = si.config.name;
      const c = await js.consumers.get(name);
      const total = si.state.messages;
      if (total === 0) continue;
      const it = await c.fetch({ max_messages: total, expires: 2_000 });
      let n = 0;
      for await (const msg of it) {
        haystack.push(msg.string(), msg.headers?.toString() ?? '');
        if (++n >= total) break;
      }
    }
    t.ok(haystack.length > 10, 'read the streams (incl. KV buckets)');
    const db = await openDatabase({ dataDir: stack.dataDir });
    t.teardown(() => db.close());
    for (const table of ['merchants', 'payment_intents', 'payment_attempts', 'events', 'webhook_deliveries']) {
      const rows = await db.db.selectFrom(table as 'merchants').selectAll().execute();
      haystack.push(JSON.stringify(rows));
    }
    haystack.push(...stack.logs);
    const all = haystack.join('\n');
    t.ok(all.includes('4242'), 'last4 is there (sanity: the scan sees card summaries)');
    for (const pan of [GOOD_PAN, DECLINED_PAN]) t.notOk(all.includes(pan), `no ${pan.slice(0, 6)}… anywhere`);
  });
});
