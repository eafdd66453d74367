// Webhooks a merchant can trust, end to end on the real stack (nats-server, PGlite, the gateway,
// the webhook worker) with real HTTP receivers that verify every signature with the official stripe
// SDK: secret rotation (both v1= during the overlap), retries then delivery with every try receipted
// (status, latency, capped body), pending_webhooks, the Request-Id correlation header, an endpoint
// failing everything disabled (and an event saying so), re-enabled, its dead letters replayed
// through the admin API and the ops CLI, resend through POST /v1/events/:id/retry, and the
// live-mode URL rules.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually, type Stack } from './helpers/stack.ts';
import { startReceiver, type Received } from './helpers/webhook-receiver.ts';
import { REPO_ROOT } from './helpers/worker-process.ts';

const run = promisify(execFile);
const verifier = new Stripe('sk_test_verifier');
/** Matched by shape: the package's ESM and CJS builds have distinct error classes. */
const SIG_ERROR = { type: 'StripeSignatureVerificationError', message: /No signatures found matching/ };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const eventOf = (r: Received) => JSON.parse(r.body) as Stripe.Event;

type Onboarded = Awaited<ReturnType<Stack['onboard']>> & { live_secret_key: string };

interface Delivery {
  id: string;
  endpoint: string;
  event: string;
  status: string;
  attempts: number;
  tries?: { attempt: number; outcome: string; status_code: number | null; latency_ms: number; response_body: string | null; error: string | null; request_id: string | null }[];
}

t.test('webhooks merchants can trust', async (t) => {
  const stack = await startStack(t, { WEBHOOK_BACKOFF_MS: '200,400,800', WEBHOOK_DISABLE_AFTER_MS: '1000' });
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const deliveriesOf = async (q: string) => (await admin<{ data: Delivery[] }>('GET', `/admin/webhook_deliveries?${q}`)).body.data;
  const ops = async (...args: string[]) => {
    const r = await run(process.execPath, ['--import', 'tsx', 'ops/cli.ts', ...args, '--json'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEWAY_URL: stack.url, ADMIN_TOKEN: stack.adminToken, NATS_URL: stack.nats.url, DATA_DIR: stack.dataDir },
    });
    return JSON.parse(r.stdout) as unknown;
  };

  await t.test('secret rotation: during the overlap both v1= are sent and each secret verifies', async (t) => {
    const m = (await stack.onboard({ name: 'Rotation Store' })) as Onboarded;
    const stripe = sdk(m.secret_key);
    const rx = await startReceiver(t);
    const ep = await stripe.webhookEndpoints.create({ url: rx.url, enabled_events: ['customer.created'] });
    const oldSecret = ep.secret!;
    const rolled = (await stripe.rawRequest('POST', `/v1/webhook_endpoints/${ep.id}/roll_secret`, { expires_in: 3600 })) as unknown as { secret: string; previous_secret_expires_at: number; id: string };
    t.match(rolled.secret, /^whsec_\w{20,}$/);
    t.not(rolled.secret, oldSecret, 'a new secret');
    t.ok(Math.abs(rolled.previous_secret_expires_at - (Math.floor(Date.now() / 1000) + 3600)) < 30, 'the old one ends in an hour');
    t.equal((await stripe.webhookEndpoints.retrieve(ep.id)).secret, undefined, 'the new secret is not shown again');

    const c = await stripe.customers.create({ name: 'overlap' });
    const got = await eventually(async () => rx.received.find((r) => eventOf(r).data.object && (eventOf(r).data.object as { id?: string }).id === c.id), 15_000);
    t.match(got.signature, /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/, 'two signatures');
    t.match(verifier.webhooks.constructEvent(got.body, got.signature, rolled.secret), { type: 'customer.created' }, 'verifies with the new secret');
    t.match(verifier.webhooks.constructEvent(got.body, got.signature, oldSecret), { type: 'customer.created' }, 'and with the old one');
    t.throws(() => verifier.webhooks.constructEvent(got.body, got.signature, 'whsec_neither'), SIG_ERROR);

    const bad = await fetch(`${stack.url}/v1/webhook_endpoints/${ep.id}/roll_secret`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `expires_in=${8 * 24 * 3600}`,
    });
    t.equal(bad.status, 400, 'at most 7 days of overlap');
    t.match(((await bad.json()) as { error: { param: string } }).error, { type: 'invalid_request_error', param: 'expires_in' });

    // Rolled again with expires_in=0: the secret being replaced stops at once; the first one keeps its hour.
    const again = (await stripe.rawRequest('POST', `/v1/webhook_endpoints/${ep.id}/roll_secret`, { expires_in: 0 })) as unknown as { secret: string; previous_secret_expires_at: number | null };
    t.not(again.secret, rolled.secret);
    const c2 = await stripe.customers.create({ name: 'after' });
    const got2 = await eventually(async () => rx.received.find((r) => (eventOf(r).data.object as { id?: string }).id === c2.id), 15_000);
    t.match(got2.signature, /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/, 'two signatures: the newest and the first (still in its hour)');
    t.ok(verifier.webhooks.constructEvent(got2.body, got2.signature, again.secret), 'the newest verifies');
    t.ok(verifier.webhooks.constructEvent(got2.body, got2.signature, oldSecret), 'the first still verifies');
    t.throws(() => verifier.webhooks.constructEvent(got2.body, got2.signature, rolled.secret), SIG_ERROR, 'the secret rolled away with expires_in=0 no longer verifies');
  });

  await t.test('500, 500, then 200: delivered after retries; every try receipted; pending_webhooks 0; Request-Id carried', async (t) => {
    const m = (await stack.onboard({ name: 'Retry Store' })) as Onboarded;
    const stripe = sdk(m.secret_key);
    const big = 'x'.repeat(5000);
    const rx = await startReceiver(t, { status: (n) => (n <= 2 ? 500 : 200), body: big });
    const ep = await stripe.webhookEndpoints.create({ url: rx.url, enabled_events: ['customer.created'] });
    const res = await fetch(`${stack.url}/v1/customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=retry',
    });
    const requestId = res.headers.get('request-id');
    t.ok(requestId, 'the API answered with a Request-Id');
    await res.json();
    const got = await eventually(async () => rx.received[0], 15_000);
    t.equal(rx.tries(), 3, 'two failures, then the 2xx');
    const event = verifier.webhooks.constructEvent(got.body, got.signature, ep.secret!);
    t.equal(event.type, 'customer.created');
    t.equal(got.headers['request-id'], requestId, 'the delivery carries the Request-Id of the API call that caused it');
    t.equal(event.request?.id, requestId);
    t.match(String(got.headers['paynats-delivery-id']), /^whd_[0-9a-f]{24}$/);

    const d = await eventually(async () => (await deliveriesOf(`event=${event.id}&status=delivered`))[0], 15_000);
    t.match(d, { endpoint: ep.id, event: event.id, status: 'delivered', attempts: 3 });
    const one = await eventually(async () => {
      const r = await admin<Delivery>('GET', `/admin/webhook_deliveries/${d.id}`);
      return r.body.tries?.length === 3 ? r.body : null;
    }, 15_000);
    t.strictSame(one.tries!.map((x) => [x.attempt, x.outcome, x.status_code]), [
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'delivered', 200],
    ]);
    for (const x of one.tries!) {
      t.equal(x.response_body, big.slice(0, 1024), `try ${x.attempt}: the first 1 KB of the answer, no more`);
      t.ok(x.latency_ms >= 0 && x.latency_ms < 5_000, 'latency recorded');
      t.equal(x.request_id, requestId);
    }
    t.equal(one.tries![0]!.error, 'HTTP 500');
    const failedTries = (await admin<{ data: { delivery: string; status_code: number; outcome: string }[] }>('GET', `/admin/webhook_attempts?merchant=${m.merchant_id}&status_code=500`)).body.data;
    t.strictSame(failedTries.map((x) => [x.delivery, x.outcome, x.status_code]), [
      [d.id, 'failed', 500],
      [d.id, 'failed', 500],
    ], 'tries are queryable by merchant and HTTP status');
    const viaOps = (await ops('webhooks', 'tries', '--endpoint', ep.id, '--outcome', 'delivered')) as { data: { attempt: number }[] };
    t.strictSame(viaOps.data.map((x) => x.attempt), [3], 'and through the ops CLI');
    t.equal((await deliveriesOf(`merchant=${m.merchant_id}&status=failed`)).length, 0, 'nothing left failing for the merchant');
    const e = await eventually(async () => {
      const x = await stripe.events.retrieve(event.id);
      return x.pending_webhooks === 0 ? x : null;
    }, 15_000);
    t.equal(e.pending_webhooks, 0, 'Stripe pending_webhooks: 0 once delivered');
    t.equal((await stripe.events.list({ type: 'customer.created' })).data.find((x) => x.id === event.id)?.pending_webhooks, 0, 'and in the list');
    t.equal((await admin('GET', '/admin/webhook_deliveries')).status, 200);
    t.equal((await fetch(`${stack.url}/admin/webhook_deliveries`)).status, 401, 'the admin token is needed');
  });

  await t.test('always failing: dead-lettered, disabled (an event says so); fixed, enabled, replayed: delivered', async (t) => {
    const m = (await stack.onboard({ name: 'Dead Store' })) as Onboarded;
    const stripe = sdk(m.secret_key);
    let fixed = false;
    const rx = await startReceiver(t, { status: () => (fixed ? 200 : 503) });
    const watcher = await startReceiver(t);
    const ep = await stripe.webhookEndpoints.create({ url: rx.url, enabled_events: ['customer.created'] });
    const w = await stripe.webhookEndpoints.create({ url: watcher.url, enabled_events: ['webhook_endpoint.disabled' as Stripe.WebhookEndpointCreateParams.EnabledEvent] });
    const c = await stripe.customers.create({ name: 'never arrives' });

    // 4 tries (200, 400, 800 ms apart), each a 503; the clock of 1 s runs out on the last.
    const dead = await eventually(async () => {
      const r = await admin<{ data: { delivery_id: string; event_id: string; endpoint_id: string; attempts: number; last_error: string; history: unknown[]; replayable: boolean }[] }>('GET', `/admin/webhook_dlq?merchant=${m.merchant_id}`);
      return r.body.data[0];
    }, 20_000);
    t.match(dead, { endpoint_id: ep.id, attempts: 4, last_error: 'HTTP 503', replayable: true });
    t.equal(dead.history.length, 4, 'the dead letter keeps every try');
    t.equal(rx.tries(), 4);

    const off = await eventually(async () => {
      const x = await stripe.webhookEndpoints.retrieve(ep.id);
      return x.status === 'disabled' ? x : null;
    }, 15_000);
    t.equal((off as unknown as { disabled_reason: string }).disabled_reason, 'failing');
    const note = await eventually(async () => watcher.received[0], 15_000);
    const disabledEvent = verifier.webhooks.constructEvent(note.body, note.signature, w.secret!);
    t.match(disabledEvent, { type: 'webhook_endpoint.disabled', data: { object: { id: ep.id, object: 'webhook_endpoint', status: 'disabled' } } }, 'the merchant’s other endpoint hears of it');
    const listed = await eventually(async () => (await stripe.events.list({ type: 'webhook_endpoint.disabled' })).data[0], 15_000);
    t.equal(listed.id, disabledEvent.id, 'and GET /v1/events lists it');

    const owed = await eventually(async () => (await stripe.events.retrieve(dead.event_id).catch(() => null)) ?? null, 15_000);
    t.equal(owed.pending_webhooks, 1, 'pending_webhooks 1 while its endpoint has not had it');

    // Disabled: nothing more is POSTed to it.
    await stripe.customers.create({ name: 'while disabled' });
    await sleep(1_500);
    t.equal(rx.tries(), 4, 'no deliveries to a disabled endpoint');

    // A replay while it is disabled sends nothing.
    const early = await admin<{ replayed: unknown[]; skipped: { reason: string }[] }>('POST', '/admin/webhook_dlq/replay', { merchant: m.merchant_id });
    t.equal(early.body.replayed.length, 0);
    t.equal(early.body.skipped.length, 1, 'the one dead letter stays');
    t.ok(early.body.skipped.every((s) => s.reason === 'endpoint disabled'), 'skipped: endpoint disabled');

    fixed = true;
    t.equal((await stripe.webhookEndpoints.update(ep.id, { disabled: false })).status, 'enabled', 're-enabled with disabled=false');
    const dry = (await ops('webhooks', 'replay-dlq', '--merchant', m.merchant_id, '--endpoint', ep.id, '--dry-run')) as { dry_run: boolean; replayed: unknown[] };
    t.equal(dry.dry_run, true);
    t.ok(dry.replayed.length >= 1, 'the ops CLI shows what would be replayed');
    const replay = (await ops('webhooks', 'replay-dlq', '--merchant', m.merchant_id, '--endpoint', ep.id)) as { replayed: { event_id: string }[] };
    t.ok(replay.replayed.some((x) => x.event_id === dead.event_id), 'replayed through the ops CLI');
    const got = await eventually(async () => rx.received.find((r) => (eventOf(r).data.object as { id?: string }).id === c.id), 15_000);
    t.match(verifier.webhooks.constructEvent(got.body, got.signature, ep.secret!), { id: dead.event_id, type: 'customer.created' });
    const left = await admin<{ data: unknown[] }>('GET', `/admin/webhook_dlq?merchant=${m.merchant_id}&endpoint=${ep.id}`);
    t.strictSame(left.body.data, [], 'the dead-letter subject no longer holds them');
    const e = await eventually(async () => {
      const x = await stripe.events.retrieve(dead.event_id);
      return x.pending_webhooks === 0 ? x : null;
    }, 15_000);
    t.equal(e.pending_webhooks, 0, 'pending_webhooks 0 after the replay');
    const receipts = (await ops('webhooks', 'receipts', '--event', dead.event_id)) as { data: Delivery[] };
    t.strictSame(receipts.data.map((x) => x.status).sort(), ['dead', 'delivered'], 'the ops CLI shows the dead delivery and its replay');
    const dlq = (await ops('webhooks', 'dlq', '--merchant', m.merchant_id)) as { data: unknown[] };
    t.ok(Array.isArray(dlq.data));
  });

  await t.test('resend: POST /v1/events/:id/retry sends one event again to one endpoint', async (t) => {
    const m = (await stack.onboard({ name: 'Resend Store' })) as Onboarded;
    const stripe = sdk(m.secret_key);
    const rx = await startReceiver(t);
    const ep = await stripe.webhookEndpoints.create({ url: rx.url, enabled_events: ['customer.created'] });
    await stripe.customers.create({ name: 'once' });
    const first = await eventually(async () => rx.received[0], 15_000);
    const event = eventOf(first);
    await eventually(async () => (await stripe.events.retrieve(event.id).catch(() => null)) ?? null, 15_000);
    const again = (await stripe.rawRequest('POST', `/v1/events/${event.id}/retry`, { webhook_endpoint: ep.id })) as unknown as Stripe.Event;
    t.equal(again.id, event.id, 'answers with the event');
    const second = await eventually(async () => rx.received[1], 15_000);
    t.equal(verifier.webhooks.constructEvent(second.body, second.signature, ep.secret!).id, event.id, 'the same event, signed again');
    t.not(second.headers['paynats-delivery-id'], first.headers['paynats-delivery-id'], 'as a delivery of its own');
    const missing = await fetch(`${stack.url}/v1/events/${event.id}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'webhook_endpoint=we_nope',
    });
    t.equal(missing.status, 404);
    const none = await fetch(`${stack.url}/v1/events/${event.id}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'for_stripecli=true',
    });
    t.equal(none.status, 400);
    t.match(((await none.json()) as { error: unknown }).error, { type: 'invalid_request_error', code: 'parameter_missing', param: 'webhook_endpoint' });
    t.equal((await fetch(`${stack.url}/v1/events/evt_nope/retry`, { method: 'POST', headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `webhook_endpoint=${ep.id}` })).status, 404, 'an unknown event is 404');
    const viaOps = (await ops('webhooks', 'resend', event.id, '--merchant', m.merchant_id, '--endpoint', ep.id)) as { delivery: string };
    t.match(viaOps.delivery, /^whd_/);
    await eventually(async () => rx.received[2], 15_000);
    t.equal(eventOf(rx.received[2]!).id, event.id, 'and through the ops CLI');
  });

  await t.test('live mode: https to public addresses only; test mode may use localhost', async (t) => {
    const m = (await stack.onboard({ name: 'Live Store' })) as Onboarded;
    const live = sdk(m.live_secret_key);
    const refused = async (url: string) => {
      const e = await live.webhookEndpoints.create({ url, enabled_events: ['*'] }).then(
        () => null,
        (err: unknown) => err as Stripe.errors.StripeError,
      );
      return e;
    };
    for (const url of ['http://203.0.113.10/hook', 'https://127.0.0.1/hook', 'https://localhost:8443/hook', 'https://10.1.2.3/hook', 'https://192.168.1.1/hook', 'https://169.254.169.254/latest', 'https://[::1]/hook', 'https://[fd00::1]/hook', 'https://[::ffff:127.0.0.1]/hook']) {
      const e = await refused(url);
      t.equal(e?.statusCode, 400, `${url} refused`);
      t.match(e, { type: 'StripeInvalidRequestError', param: 'url' });
    }
    const ok = await live.webhookEndpoints.create({ url: 'https://203.0.113.10/hook', enabled_events: ['*'] });
    t.equal(ok.livemode, true, 'https to a public address is fine');
    const upd = await live.webhookEndpoints.update(ok.id, { url: 'https://127.0.0.2/x' }).then(
      () => null,
      (err: unknown) => err as Stripe.errors.StripeError,
    );
    t.equal(upd?.statusCode, 400, 'and checked on update too');
    const test = await sdk(m.secret_key).webhookEndpoints.create({ url: 'http://localhost:9/hook', enabled_events: ['*'] });
    t.equal(test.livemode, false, 'test mode may use localhost over http');
  });

  await t.test('metrics: deliveries by outcome, failures, retries, DLQ depth, lag', async (t) => {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    t.ok(value(/^paynats_webhook_deliveries_total\{outcome="delivered"\} (\d+)/m) >= 5, 'delivered tries counted');
    t.ok(value(/^paynats_webhook_deliveries_total\{outcome="failed"\} (\d+)/m) >= 5, 'failed (retried) tries counted');
    t.ok(value(/^paynats_webhook_deliveries_total\{outcome="dead"\} (\d+)/m) >= 1, 'dead letters counted');
    t.ok(value(/^paynats_webhook_failures_total\{reason="http_5xx"\} (\d+)/m) >= 6, 'failures by cause');
    t.ok(value(/^paynats_webhook_retries_total (\d+)/m) >= 5, 'retries');
    t.ok(value(/^paynats_webhook_endpoints_disabled_total (\d+)/m) >= 1, 'endpoints disabled');
    t.match(text, /^paynats_webhook_dlq_depth \d+/m, 'DLQ depth');
    t.ok(value(/^paynats_webhook_delivery_lag_seconds_count (\d+)/m) >= 5, 'lag histogram');
    t.ok(value(/^paynats_webhook_request_duration_seconds_count\{outcome="failed"\} (\d+)/m) >= 5, 'POST durations');
  });
});
