// /v1/webhook_endpoints with the official stripe SDK against the real stack: create (secret shown
// once), retrieve, update, list, delete; fan-out to every enabled endpoint subscribed to the event,
// each signed with its own secret; disabled and deleted endpoints get nothing; the onboarding
// endpoint keeps working alongside; isolation between merchants and modes.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver, type Received } from './helpers/webhook-receiver.ts';

type Onboarded = Awaited<ReturnType<Awaited<ReturnType<typeof startStack>>['onboard']>> & { live_secret_key: string };

const fails = <T>(p: Promise<T>) => p.then(
  () => null,
  (e: unknown) => e as Stripe.errors.StripeError,
);
const types = (r: { received: Received[] }) => r.received.map((x) => (JSON.parse(x.body) as { type: string }).type);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

t.test('webhook endpoints through the official stripe SDK', async (t) => {
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const onboardingRx = await startReceiver(t);
  const m = (await stack.onboard({ call_back_url: onboardingRx.url, events: ['payment_successful'] })) as Onboarded;
  const other = (await stack.onboard({ name: 'Other Store' })) as Onboarded;
  const stripe = sdk(m.secret_key);
  const live = sdk(m.live_secret_key);
  const otherStripe = sdk(other.secret_key);
  const [rxA, rxB, rxCharge, rxDisabled, rxDeleted] = [await startReceiver(t), await startReceiver(t), await startReceiver(t), await startReceiver(t), await startReceiver(t)];

  const a = await stripe.webhookEndpoints.create({ url: rxA.url, enabled_events: ['*'], description: 'all of them', metadata: { team: 'ops' } });
  const b = await stripe.webhookEndpoints.create({ url: rxB.url, enabled_events: ['payment_successful' as Stripe.WebhookEndpointCreateParams.EnabledEvent] });
  const c = await stripe.webhookEndpoints.create({ url: rxCharge.url, enabled_events: ['charge.succeeded'] });
  const d = await stripe.webhookEndpoints.create({ url: rxDisabled.url, enabled_events: ['*'] });
  const e = await stripe.webhookEndpoints.create({ url: rxDeleted.url, enabled_events: ['*'] });

  await t.test('create answers with Stripe’s object and the secret, once', async (t) => {
    t.match(a.id, /^we_[a-f0-9]{24}$/);
    t.equal(a.object, 'webhook_endpoint');
    t.equal(a.url, rxA.url);
    t.strictSame(a.enabled_events, ['*']);
    t.equal(a.description, 'all of them');
    t.strictSame(a.metadata, { team: 'ops' });
    t.equal(a.status, 'enabled');
    t.equal(a.livemode, false);
    t.equal(a.api_version, null);
    t.equal(a.application, null);
    t.type(a.created, 'number');
    t.match(a.secret, /^whsec_\w{20,}$/);
    t.not(a.secret, b.secret, 'each endpoint has its own secret');
    t.strictSame(b.enabled_events, ['payment_intent.succeeded'], 'the seed alias is mapped');
    const got = await stripe.webhookEndpoints.retrieve(a.id);
    t.equal(got.secret, undefined, 'no secret on retrieve');
    t.equal(got.url, a.url);
    t.strictSame(got.metadata, { team: 'ops' });
  });

  await t.test('an idempotent create answers the same endpoint and secret', async (t) => {
    const key = `we-create-${Date.now()}`;
    const x = await stripe.webhookEndpoints.create({ url: 'https://example.com/x', enabled_events: ['refund.created'] }, { idempotencyKey: key });
    const y = await stripe.webhookEndpoints.create({ url: 'https://example.com/x', enabled_events: ['refund.created'] }, { idempotencyKey: key });
    t.equal(y.id, x.id);
    t.equal(y.secret, x.secret);
    t.strictSame(await stripe.webhookEndpoints.del(x.id), { id: x.id, object: 'webhook_endpoint', deleted: true });
  });

  await t.test('update, disable, delete', async (t) => {
    const u = await stripe.webhookEndpoints.update(d.id, { description: 'paused', metadata: { k: 'v' } });
    t.equal(u.description, 'paused');
    t.strictSame(u.metadata, { k: 'v' });
    t.equal(u.secret, undefined);
    const off = await stripe.webhookEndpoints.update(d.id, { disabled: true });
    t.equal(off.status, 'disabled');
    const on = await stripe.webhookEndpoints.update(d.id, { disabled: false, url: `${rxDisabled.url}?v=2` });
    t.equal(on.status, 'enabled');
    t.equal(on.url, `${rxDisabled.url}?v=2`);
    t.equal((await stripe.webhookEndpoints.update(d.id, { disabled: true })).status, 'disabled');
    const del = await stripe.webhookEndpoints.del(e.id);
    t.strictSame(del, { id: e.id, object: 'webhook_endpoint', deleted: true });
    const gone = await fails(stripe.webhookEndpoints.retrieve(e.id));
    t.equal(gone?.statusCode, 404);
    t.equal(gone?.code, 'resource_missing');
    t.equal((await fails(stripe.webhookEndpoints.del(e.id)))?.statusCode, 404, 'a second delete is 404');
  });

  await t.test('list: newest first, paginated, no secrets, one mode', async (t) => {
    const all = await stripe.webhookEndpoints.list({ limit: 100 });
    t.strictSame(all.data.map((x) => x.id), [d.id, c.id, b.id, a.id]);
    t.equal(all.has_more, false);
    t.ok(all.data.every((x) => x.secret === undefined), 'no secret in the list');
    const p1 = await stripe.webhookEndpoints.list({ limit: 2 });
    t.strictSame(p1.data.map((x) => x.id), [d.id, c.id]);
    t.equal(p1.has_more, true);
    const p2 = await stripe.webhookEndpoints.list({ limit: 2, starting_after: c.id });
    t.strictSame(p2.data.map((x) => x.id), [b.id, a.id]);
    t.equal(p2.has_more, false);
    const back = await stripe.webhookEndpoints.list({ limit: 1, ending_before: b.id });
    t.strictSame(back.data.map((x) => x.id), [c.id]);
    t.equal(back.has_more, true);
    const auto: string[] = [];
    for await (const x of stripe.webhookEndpoints.list({ limit: 1 })) auto.push(x.id);
    t.strictSame(auto, [d.id, c.id, b.id, a.id], 'auto-pagination');
    t.strictSame((await live.webhookEndpoints.list()).data, [], 'live mode sees none of the test endpoints');
    t.equal((await fails(live.webhookEndpoints.retrieve(a.id)))?.statusCode, 404);
  });

  await t.test('validation', async (t) => {
    const bad = await fails(stripe.webhookEndpoints.create({ url: 'https://example.com/h', enabled_events: ['payment_intent.exploded' as Stripe.WebhookEndpointCreateParams.EnabledEvent] }));
    t.ok(bad instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(bad?.param, 'enabled_events');
    const badUpdate = await fails(stripe.webhookEndpoints.update(a.id, { enabled_events: ['nope' as Stripe.WebhookEndpointUpdateParams.EnabledEvent] }));
    t.equal(badUpdate?.param, 'enabled_events');
    const noUrl = await fails(stripe.webhookEndpoints.create({ enabled_events: ['*'] } as unknown as Stripe.WebhookEndpointCreateParams));
    t.equal(noUrl?.param, 'url');
    const ftp = await fails(stripe.webhookEndpoints.create({ url: 'ftp://example.com/h', enabled_events: ['*'] }));
    t.ok(ftp instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(ftp?.param, 'url');
    const noEvents = await fails(stripe.webhookEndpoints.create({ url: 'https://example.com/h' } as Stripe.WebhookEndpointCreateParams));
    t.equal(noEvents?.param, 'enabled_events');
    const pk = await fails(sdk(m.publishable_key).webhookEndpoints.list());
    t.equal(pk?.statusCode, 401, 'a publishable key is refused');
  });

  await t.test('another merchant’s endpoint does not exist for the key', async (t) => {
    const calls: (() => Promise<unknown>)[] = [
      () => otherStripe.webhookEndpoints.retrieve(a.id),
      () => otherStripe.webhookEndpoints.update(a.id, { description: 'mine' }),
      () => otherStripe.webhookEndpoints.del(a.id),
    ];
    for (const call of calls) {
      const err = await fails(call());
      t.equal(err?.statusCode, 404);
      t.equal(err?.code, 'resource_missing');
    }
    t.strictSame((await otherStripe.webhookEndpoints.list()).data, []);
    t.equal((await stripe.webhookEndpoints.retrieve(a.id)).description, 'all of them', 'untouched');
  });

  await t.test('a paid intent reaches every enabled, subscribed endpoint, each signed with its own secret', async (t) => {
    const pm = await sdk(m.publishable_key).paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
    const pi = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd', payment_method: pm.id });
    const paid = await stripe.paymentIntents.confirm(pi.id);
    t.equal(paid.status, 'succeeded');
    const succeeded = (rx: { received: Received[] }) => rx.received.find((r) => (JSON.parse(r.body) as { type: string; data: { object: { id: string } } }).type === 'payment_intent.succeeded');
    const hookA = await eventually(async () => succeeded(rxA), 15_000);
    const hookB = await eventually(async () => succeeded(rxB), 15_000);
    const hookOnboarding = await eventually(async () => succeeded(onboardingRx), 15_000);
    const evA = stripe.webhooks.constructEvent(hookA.body, hookA.signature, a.secret!);
    const evB = stripe.webhooks.constructEvent(hookB.body, hookB.signature, b.secret!);
    t.equal((evA.data.object as Stripe.PaymentIntent).id, pi.id);
    t.equal(evB.id, evA.id, 'the same event');
    t.throws(() => stripe.webhooks.constructEvent(hookA.body, hookA.signature, b.secret!), 'another endpoint’s secret does not verify');
    t.ok(stripe.webhooks.constructEvent(hookOnboarding.body, hookOnboarding.signature, m.webhook_secret), 'the onboarding endpoint keeps its secret');
    await eventually(async () => rxCharge.received.length > 0, 15_000);
    t.ok(stripe.webhooks.constructEvent(rxCharge.received[0]!.body, rxCharge.received[0]!.signature, c.secret!));
    await eventually(async () => types(rxA).includes('charge.succeeded') && types(rxA).includes('payment_intent.created'), 15_000);
    await sleep(800); // anything owed to the others would have arrived by now
    t.strictSame([...new Set(types(rxCharge))], ['charge.succeeded'], 'the charge.succeeded endpoint gets only that');
    t.strictSame(types(rxB), ['payment_intent.succeeded']);
    t.strictSame(types(rxDisabled), [], 'a disabled endpoint gets nothing');
    t.strictSame(types(rxDeleted), [], 'a deleted endpoint gets nothing');
    t.notOk(types(onboardingRx).includes('charge.succeeded'), 'the onboarding endpoint keeps its own subscription');
  });

  await t.test('events list: delivery_success', async (t) => {
    const failing = await startReceiver(t, { status: () => 500 });
    const ok = await startReceiver(t);
    const m2 = await stack.onboard({ name: 'Delivery Store' });
    const s2 = sdk(m2.secret_key);
    await s2.webhookEndpoints.create({ url: failing.url, enabled_events: ['payment_intent.created'] });
    await s2.webhookEndpoints.create({ url: ok.url, enabled_events: ['payment_intent.succeeded'] });
    await s2.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    await eventually(async () => types(ok).includes('payment_intent.succeeded'), 15_000);
    const typesOf = async (success: boolean) => (await s2.events.list({ delivery_success: success, limit: 100 })).data.map((e) => e.type);
    const bad = await eventually(async () => {
      const x = await typesOf(false);
      return x.includes('payment_intent.created') ? x : null;
    }, 15_000);
    t.same(bad, ['payment_intent.created'], 'false: only the event whose delivery is failing');
    const good = await eventually(async () => {
      const x = await typesOf(true);
      return x.includes('payment_intent.succeeded') ? x : null;
    }, 15_000);
    t.notOk(good.includes('payment_intent.created'), 'true: not the failing one');
    t.ok(good.includes('charge.succeeded'), 'an event owed to no endpoint counts as delivered');
    t.equal((await s2.events.list({ limit: 100 })).data.length, good.length + bad.length, 'the two lists split the events');
  });

  await t.test('a live endpoint gets no test-mode events', async (t) => {
    // Live mode needs https to a public address (a local receiver cannot be one): no delivery may even be queued for it.
    const l = await live.webhookEndpoints.create({ url: 'https://203.0.113.10/hook', enabled_events: ['*'] });
    t.equal(l.livemode, true);
    t.strictSame((await stripe.webhookEndpoints.list()).data.map((x) => x.id).includes(l.id), false);
    const before = rxA.received.length;
    await stripe.customers.create({ name: 'test-mode customer' });
    await eventually(async () => rxA.received.length > before, 15_000);
    await sleep(500);
    const res = await fetch(`${stack.url}/admin/webhook_deliveries?endpoint=${l.id}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    t.equal(res.status, 200);
    t.strictSame(((await res.json()) as { data: unknown[] }).data, [], 'no delivery to the live endpoint');
    const all = await fetch(`${stack.url}/admin/webhook_deliveries?endpoint=${a.id}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    t.ok(((await all.json()) as { data: unknown[] }).data.length > 0, 'while the test endpoint has deliveries (the query can find some)');
  });
});

t.test('a POST with no body at all is an empty parameter set (curl -X POST), as Stripe takes it', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const auth = { authorization: `Bearer ${m.secret_key}` };
  const created = await fetch(`${stack.url}/v1/webhook_endpoints`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&enabled_events[]=*',
  });
  t.equal(created.status, 200);
  const we = (await created.json()) as { id: string; secret: string };
  const rolled = await fetch(`${stack.url}/v1/webhook_endpoints/${we.id}/roll_secret`, { method: 'POST', headers: auth });
  t.equal(rolled.status, 200, 'roll_secret with no body uses its defaults');
  const body = (await rolled.json()) as { secret: string };
  t.match(body.secret, /^whsec_/);
  t.not(body.secret, we.secret);
  const noBody = await fetch(`${stack.url}/v1/payment_intents`, { method: 'POST', headers: auth });
  t.equal(noBody.status, 400, 'a create with no body names its missing parameter');
  const err = (await noBody.json()) as { error: { type: string; code: string; param: string } };
  t.equal(err.error.type, 'invalid_request_error');
  t.equal(err.error.code, 'parameter_missing');
  t.equal(err.error.param, 'amount');
});
