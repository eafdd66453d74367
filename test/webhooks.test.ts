// Webhook delivery against a real nats-server (the real PAY_WEBHOOKS stream and webhook_delivery
// durable, driven by the real consumer loop) and real HTTP receivers: retries with backoff, receipts
// of every try, the dead-letter subject, redirects and timeouts as failures, and Stripe-compatible
// signatures checked with the official stripe package.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import Stripe from 'stripe';
import pino from 'pino';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { buckets, connectNats, declareTopology, durables, runConsumer } from '../nats/mod.ts';
import { WEBHOOKS_STREAM, subjects } from '../streams/subjects.ts';
import { createDelivery, maxTries, signatureHeader, type DeadLetter, type DeliveryReceipt, type DeliveryTask } from '../webhooks/mod.ts';
import { withNats } from './helpers/nats.ts';
import { isBlockedAddress, urlProblem } from '../webhooks/safety.ts';
import { listenOnLoopback, startReceiver } from './helpers/webhook-receiver.ts';

const log = pino({ level: 'silent' });
const stripe = new Stripe('sk_test_x');
const BACKOFF_MS = [100, 200];
const TRIES = maxTries(BACKOFF_MS);
const SECRET = 'whsec_test_0123456789abcdef';
/** Matched by shape: the package's ESM and CJS builds have distinct error classes. */
const SIG_ERROR = { type: 'StripeSignatureVerificationError', message: /No signatures found matching/ };
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Pipeline {
  nc: NatsConnection;
  js: JetStreamClient;
  /** Receipts and dead letters published for `merchant`, in order. */
  watch(merchant: string): { receipts: DeliveryReceipt[]; dead: DeadLetter[] };
  publish(task: DeliveryTask): Promise<void>;
  /** Until the delivery consumer has nothing pending or unacked (and the predicate holds). */
  settled(until: () => boolean, ms?: number): Promise<void>;
}

/** A nats-server with the real topology and the delivery worker running on the real durable. */
async function pipeline(t: Test, opts: { timeoutMs?: number; resolve?: (host: string) => Promise<string[]>; ackWaitMs?: number; heartbeatMs?: number } = {}): Promise<Pipeline> {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'webhooks-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000, ...(opts.ackWaitMs ? { webhookAckWaitMs: opts.ackWaitMs } : {}) });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const tries = await new Kvm(nc).open(buckets.deliveryTries);
  const { handle } = createDelivery(js, { tries, timeoutMs: opts.timeoutMs ?? 2_000, backoffMs: BACKOFF_MS, ...(opts.resolve ? { resolve: opts.resolve } : {}), ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}), endpointFor: async (_m, endpoint) => (endpoint === 'we_1' ? { enabled: true, secrets: [SECRET] } : null) }, log);
  const loop = runConsumer(js, WEBHOOKS_STREAM, durables.webhookDelivery, handle, log);
  t.teardown(() => loop.stop());
  return {
    nc,
    js,
    watch(merchant) {
      const out = { receipts: [] as DeliveryReceipt[], dead: [] as DeadLetter[] };
      nc.subscribe(subjects.webhookReceipt(merchant), {
        callback: (err, m) => {
          if (!err) out.receipts.push(JSON.parse(dec.decode(m.data)) as DeliveryReceipt);
        },
      });
      nc.subscribe(subjects.webhookDlq(merchant), {
        callback: (err, m) => {
          if (!err) out.dead.push(JSON.parse(dec.decode(m.data)) as DeadLetter);
        },
      });
      return out;
    },
    async publish(task) {
      await nc.flush(); // the watchers' subscriptions are on the server first
      await js.publish(subjects.webhookDeliver(task.merchant_id), JSON.stringify(task), { msgID: task.id });
    },
    async settled(until, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const info = await jsm.consumers.info(WEBHOOKS_STREAM, durables.webhookDelivery);
        if (info.num_pending === 0 && info.num_ack_pending === 0 && until()) return;
        if (Date.now() > deadline) throw new Error(`not settled: pending ${info.num_pending}, unacked ${info.num_ack_pending}`);
        await sleep(25);
      }
    },
  };
}

let n = 0;
function task(merchant: string, url: string): DeliveryTask {
  const eventId = `evt_test_${++n}`;
  const payload = JSON.stringify({
    id: eventId,
    object: 'event',
    api_version: '2024-06-20',
    created: Math.floor(Date.now() / 1000),
    type: 'payment_intent.succeeded',
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object: { id: 'pi_1', object: 'payment_intent', amount: 5000, currency: 'inr', status: 'succeeded' } },
  });
  return {
    v: 1,
    id: `whd_test_${n}`,
    merchant_id: merchant,
    endpoint_id: 'we_1',
    url,
    event_id: eventId,
    event_type: 'payment_intent.succeeded',
    payload,
    commit_seq: n,
    created: Math.floor(Date.now() / 1000),
  };
}

/** A server that answers nothing (or as told), for redirects and timeouts. */
async function rawServer(t: Test, onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    onRequest(req, res);
  });
  return { url: `http://127.0.0.1:${await listenOnLoopback(t, server)}/hook`, requests: () => requests };
}

t.test('500, 500, then 200: delivered on the third try, every try receipted, signed as Stripe signs', async (t) => {
  const p = await pipeline(t);
  const M = 'acct_retry';
  const rx = await startReceiver(t, { status: (i) => (i <= 2 ? 500 : 200) });
  const seen = p.watch(M);
  const tk = task(M, rx.url);
  await p.publish(tk);
  await p.settled(() => seen.receipts.length >= 3);

  t.equal(rx.tries(), 3, 'three POSTs');
  t.equal(rx.received.length, 1, 'one of them answered 2xx');
  t.strictSame(
    seen.receipts.map((r) => [r.attempt, r.outcome, r.status_code]),
    [
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'delivered', 200],
    ],
  );
  t.match(seen.receipts[0], { v: 1, delivery_id: tk.id, merchant_id: M, endpoint_id: 'we_1', event_id: tk.event_id, event_type: tk.event_type, url: rx.url, error: 'HTTP 500' });
  t.ok(seen.receipts[0]?.next_retry_at, 'a failed try says when the next one is');
  t.match(seen.receipts[2], { error: null, next_retry_at: null });
  t.strictSame(seen.dead, [], 'nothing dead-lettered');

  const got = rx.received[0]!;
  t.equal(got.body, tk.payload, 'the body is the payload, byte for byte');
  t.match(got.headers['content-type'], /^application\/json/);
  t.match(got.signature, /^t=\d+,v1=[0-9a-f]{64}$/);
  const event = stripe.webhooks.constructEvent(got.body, got.signature, SECRET);
  t.match(event, { id: tk.event_id, object: 'event', type: 'payment_intent.succeeded', data: { object: { id: 'pi_1' } } }, 'the stripe package verifies the signature');
  t.throws(() => stripe.webhooks.constructEvent(got.body, got.signature, 'whsec_other'), SIG_ERROR, 'and refuses another secret');
  t.throws(() => stripe.webhooks.constructEvent(got.body.replace('5000', '5001'), got.signature, SECRET), SIG_ERROR, 'and a changed body');

});

t.test('always 500: dead-lettered after the last try', async (t) => {
  const p = await pipeline(t);
  const M = 'acct_dead';
  const rx = await startReceiver(t, { status: () => 500 });
  const seen = p.watch(M);
  const tk = task(M, rx.url);
  await p.publish(tk);
  await p.settled(() => seen.dead.length >= 1);
  await sleep(BACKOFF_MS[1]! * 2); // long enough for a try too many to show

  t.equal(TRIES, 3);
  t.equal(rx.tries(), TRIES, `${TRIES} POSTs, no more`);
  t.strictSame(seen.receipts.map((r) => [r.attempt, r.outcome]), [
    [1, 'failed'],
    [2, 'failed'],
    [3, 'failed'],
  ]);
  t.equal(seen.receipts[2]?.next_retry_at, null, 'the last failure promises no retry');
  t.equal(seen.dead.length, 1);
  t.match(seen.dead[0], { v: 1, delivery_id: tk.id, merchant_id: M, endpoint_id: 'we_1', event_id: tk.event_id, url: rx.url, attempts: TRIES, last_error: 'HTTP 500' });
});

t.test('a redirect is a failure and is not followed', async (t) => {
  const p = await pipeline(t);
  const M = 'acct_redirect';
  const target = await startReceiver(t);
  const redirector = await rawServer(t, (_req, res) => res.writeHead(302, { location: target.url }).end());
  const seen = p.watch(M);
  await p.publish(task(M, redirector.url));
  await p.settled(() => seen.dead.length >= 1);

  t.equal(redirector.requests(), TRIES);
  t.equal(target.tries(), 0, 'the Location was never fetched');
  t.strictSame(seen.receipts.map((r) => [r.outcome, r.status_code, r.error]), Array.from({ length: TRIES }, () => ['failed', 302, 'HTTP 302']));
  t.match(seen.dead[0], { attempts: TRIES, last_error: 'HTTP 302' });
});

t.test('a timeout is a failure', async (t) => {
  const p = await pipeline(t, { timeoutMs: 300 });
  const M = 'acct_timeout';
  const silent = await rawServer(t, () => {}); // never answers
  const seen = p.watch(M);
  const started = Date.now();
  await p.publish(task(M, silent.url));
  await p.settled(() => seen.dead.length >= 1);

  t.equal(silent.requests(), TRIES);
  t.ok(Date.now() - started >= TRIES * 300, 'each try waited for its timeout');
  for (const r of seen.receipts) {
    t.match(r, { outcome: 'failed', status_code: null, error: 'timed out after 300 ms' });
    t.ok(r.duration_ms >= 250 && r.duration_ms < 5_000, `try ${r.attempt} took about the timeout (${r.duration_ms} ms)`);
  }
  t.match(seen.dead[0], { attempts: TRIES, last_error: 'timed out after 300 ms' });
});

t.test('signatureHeader: several secrets during a rotation, each verifies', async (t) => {
  const payload = JSON.stringify({ id: 'evt_rot', object: 'event', type: 'payment_intent.created', data: { object: {} } });
  const now = Math.floor(Date.now() / 1000);
  const oldSecret = 'whsec_old_secret';
  const newSecret = 'whsec_new_secret';
  const header = signatureHeader(payload, [newSecret, oldSecret], now);
  t.match(header, new RegExp(`^t=${now},v1=[0-9a-f]{64},v1=[0-9a-f]{64}$`));
  for (const s of [newSecret, oldSecret]) {
    t.match(stripe.webhooks.constructEvent(payload, header, s), { id: 'evt_rot' }, `verifies with ${s}`);
  }
  t.throws(() => stripe.webhooks.constructEvent(payload, header, 'whsec_neither'), SIG_ERROR);
  t.equal(signatureHeader(payload, [newSecret], now), header.split(',').slice(0, 2).join(','), 'one secret: one v1');
  t.equal(signatureHeader(payload, [newSecret], now), stripe.webhooks.generateTestHeaderString({ payload, secret: newSecret, timestamp: now }), 'the same header stripe generates');
  const stale = signatureHeader(payload, [newSecret], now - 600);
  t.throws(() => stripe.webhooks.constructEvent(payload, stale, newSecret), /tolerance/, 'an old timestamp is refused by the receiver (replay protection)');
});

t.test('live mode: a task whose URL resolves to a private address is not POSTed (checked at delivery time)', async (t) => {
  const p = await pipeline(t);
  const M = 'acct_live_private';
  const rx = await startReceiver(t);
  const seen = p.watch(M);
  const tk = { ...task(M, rx.url), livemode: true };
  await p.publish(tk);
  await p.settled(() => seen.dead.length >= 1);
  t.equal(rx.tries(), 0, 'nothing reached the local receiver');
  t.equal(seen.receipts.length, TRIES);
  for (const r of seen.receipts) t.match(r, { outcome: 'failed', status_code: null, error: /^blocked: Live mode webhook endpoints must use https/ });
  t.match(seen.dead[0], { last_error: /^blocked:/, reason: 'exhausted', payload: tk.payload, livemode: true });
  t.equal(seen.dead[0]?.history?.length, TRIES, 'the dead letter keeps every try');
});

t.test('a large answer is read no further than 1 KB into the receipt', async (t) => {
  const p = await pipeline(t);
  const M = 'acct_big_answer';
  const rx = await startReceiver(t, { body: 'y'.repeat(64 * 1024) });
  const seen = p.watch(M);
  await p.publish(task(M, rx.url));
  await p.settled(() => seen.receipts.length >= 1);
  t.equal(seen.receipts[0]?.outcome, 'delivered');
  t.equal(seen.receipts[0]?.response_body, 'y'.repeat(1024));
});

t.test('safety: which addresses and URLs a live webhook may use', async (t) => {
  for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd12::1', '::ffff:10.0.0.1', 'not-an-ip']) {
    t.ok(isBlockedAddress(a), `${a} blocked`);
  }
  for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) t.notOk(isBlockedAddress(a), `${a} allowed`);
  const dns = (map: Record<string, string[]>) => async (h: string) => {
    const a = map[h];
    if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return a;
  };
  const resolve = dns({ 'hooks.example.com': ['93.184.216.34'], 'rebind.example.com': ['93.184.216.34', '10.0.0.7'], 'inside.example.com': ['192.168.1.10'] });
  t.equal(await urlProblem('https://hooks.example.com/x', true, resolve), null);
  t.match(await urlProblem('https://rebind.example.com/x', true, resolve), /resolves to 10\.0\.0\.7/, 'one private address among public ones is enough to refuse');
  t.match(await urlProblem('https://inside.example.com/x', true, resolve), /resolves to 192\.168\.1\.10/);
  t.match(await urlProblem('https://nowhere.example.com/x', true, resolve), /does not resolve \(ENOTFOUND\)/);
  t.match(await urlProblem('http://hooks.example.com/x', true, resolve), /must use https/);
  t.equal(await urlProblem('http://localhost:3000/x', false, resolve), null, 'test mode: anything http(s)');
  t.match(await urlProblem('ftp://hooks.example.com/x', false, resolve), /http or https/);
});

t.test('config: the webhook settings are validated', async (t) => {
  const { loadConfig, ConfigError } = await import('../config/config.ts');
  const c = loadConfig({});
  t.equal(c.webhookDisableAfterMs, 3 * 24 * 3600 * 1000, 'disable after 3 days by default');
  t.equal(c.webhookAckWaitMs, 60_000);
  t.equal(c.webhookPerEndpoint, 8);
  t.equal(loadConfig({ WEBHOOK_DISABLE_AFTER_MS: '0' }).webhookDisableAfterMs, 0, '0: never');
  t.throws(() => loadConfig({ WEBHOOK_DISABLE_AFTER_MS: 'soon' }), ConfigError);
  t.throws(() => loadConfig({ WEBHOOK_ACK_WAIT_MS: '10' }), ConfigError, 'an ack wait under 1 s is refused');
  t.throws(() => loadConfig({ WEBHOOK_PER_ENDPOINT: '0' }), ConfigError);
});

t.test('live mode: the address connected to is checked too (a name re-pointed after the check is refused)', async (t) => {
  // The pre-check's resolver says the name is public; the connection's own lookup finds loopback.
  const p = await pipeline(t, { resolve: async () => ['93.184.216.34'] });
  const M = 'acct_live_rebind';
  const rx = await startReceiver(t);
  const seen = p.watch(M);
  const port = new URL(rx.url).port;
  await p.publish({ ...task(M, `https://localhost:${port}/webhooks`), livemode: true });
  await p.settled(() => seen.dead.length >= 1);
  t.equal(rx.tries(), 0, 'no connection was made');
  for (const r of seen.receipts) t.match(r, { outcome: 'failed', status_code: null, error: /^blocked: The URL's host localhost resolves to (127\.0\.0\.1|::1)/ });
});

t.test('deliveries to one endpoint reuse a kept-alive connection; another merchant gets its own', async (t) => {
  const p = await pipeline(t);
  let connections = 0;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end('{}'));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const a = p.watch('acct_keep_a');
  const b = p.watch('acct_keep_b');
  for (let i = 1; i <= 4; i++) {
    await p.publish(task('acct_keep_a', url));
    await p.settled(() => a.receipts.length >= i);
  }
  t.equal(connections, 1, 'four deliveries, one connection');
  await p.publish(task('acct_keep_b', url));
  await p.settled(() => b.receipts.length >= 1);
  t.equal(connections, 2, 'not shared across merchants');
  t.ok([...a.receipts, ...b.receipts].every((r) => r.outcome === 'delivered'));
});

t.test('a POST longer than the ack wait: the heartbeat keeps the task ours (one POST, not a redelivery)', async (t) => {
  const p = await pipeline(t, { timeoutMs: 5_000, ackWaitMs: 1_000, heartbeatMs: 300 });
  const M = 'acct_slow_answer';
  const rx = await startReceiver(t, { delayMs: 2_500 });
  const seen = p.watch(M);
  await p.publish(task(M, rx.url));
  await p.publish(task(M, rx.url));
  await p.settled(() => seen.receipts.length >= 2, 15_000);
  await sleep(300);
  t.equal(rx.tries(), 2, 'each task POSTed once');
  t.ok(seen.receipts.every((r) => r.outcome === 'delivered' && r.attempt === 1));
});
