// Webhook workers as real processes (ROLES=webhooks) sharing the webhook_delivery durable beside a
// stack that runs everything else: kill -9 one of two workers mid-delivery and every event still
// arrives (at least once, signatures verified with the official SDK); kill -9 the only worker while
// its deliveries wait out their backoff, start another, and nothing is lost.
import t, { type Test } from 'tap';
import Stripe from 'stripe';
import { startStack, eventually, type Stack } from './helpers/stack.ts';
import { startReceiver, type Received } from './helpers/webhook-receiver.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';

const verifier = new Stripe('sk_test_verifier');
const ACK_WAIT_MS = '3000';
type Onboarded = Awaited<ReturnType<Stack['onboard']>>;

function worker(t: Test, stack: Stack, id: string, env: Record<string, string> = {}): WorkerProcess {
  const w = spawnWorker(id, {
    NATS_URL: stack.nats.url,
    DATA_DIR: stack.dataDir, // the master key that opens the webhook secrets
    ROLES: 'webhooks',
    PARTITIONS: '4',
    LOG_LEVEL: 'info',
    WEBHOOK_TIMEOUT_MS: '5000',
    WEBHOOK_BACKOFF_MS: '200,400,800',
    WEBHOOK_ACK_WAIT_MS: ACK_WAIT_MS,
    ...env,
  });
  t.teardown(async () => {
    w.kill('SIGKILL');
    await w.exited;
  });
  return w;
}

const ready = (w: WorkerProcess) =>
  eventually(async () => {
    if (!w.isAlive()) throw new Error(`worker ${w.id} died: ${w.raw.join('\n')}`);
    return w.logs.some((l) => l.msg === 'connected to nats');
  }, 60_000);

/** Distinct event ids a receiver got, each verified with the endpoint's secret. */
function verifiedIds(rx: { received: Received[] }, secret: string): Set<string> {
  return new Set(rx.received.map((r) => verifier.webhooks.constructEvent(r.body, r.signature, secret).id));
}

t.test('two webhook workers share the durable; kill -9 one mid-delivery: every event delivered, none lost', async (t) => {
  const stack = await startStack(t, { ROLES: 'gateway,actors,projector,reconcile', WEBHOOK_ACK_WAIT_MS: ACK_WAIT_MS });
  const m: Onboarded = await stack.onboard({ name: 'Scale Store' });
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  // Slow: every POST is answered after 400 ms, so a worker always has some in flight.
  const rx = await startReceiver(t, { delayMs: 400 });
  const ep = await stripe.webhookEndpoints.create({ url: rx.url, enabled_events: ['customer.created'] });

  const a = worker(t, stack, 'wh_a');
  const b = worker(t, stack, 'wh_b');
  await Promise.all([ready(a), ready(b)]);

  const N = 30;
  // Created in a burst; the kill comes while deliveries are flowing (and POSTs hang on the slow receiver).
  const creating = Promise.all(Array.from({ length: N }, (_, i) => stripe.customers.create({ name: `c${i}` })));
  await eventually(async () => rx.tries() >= 4, 30_000, 10);
  const killedAt = rx.tries();
  a.kill('SIGKILL');
  const gone = await a.exited;
  t.equal(gone.signal, 'SIGKILL', 'worker a killed mid-delivery');
  const customers = await creating;

  const ids = await eventually(async () => {
    const s = verifiedIds(rx, ep.secret!);
    return s.size >= N ? s : null;
  }, 90_000);
  t.equal(ids.size, N, `all ${N} events delivered (and verified) after the kill`);
  const created = new Set(rx.received.map((r) => (JSON.parse(r.body) as Stripe.Event).data.object).map((o) => (o as { id: string }).id));
  t.strictSame([...created].sort(), customers.map((c) => c.id).sort(), 'exactly the customers created');
  t.ok(b.isAlive(), 'worker b carried on');
  t.comment(`POSTs: ${rx.tries()} for ${N} events (kill after ${killedAt}); duplicates (at-least-once): ${rx.received.length - ids.size}`);
  b.kill('SIGKILL');
  await b.exited;

  await t.test('kill -9 the only worker mid-backoff, start another: nothing lost', async (t) => {
    const m2: Onboarded = await stack.onboard({ name: 'Backoff Store' });
    const s2 = new Stripe(m2.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
    const K = 5;
    // The first K POSTs (one per event) fail; the tries after the backoff succeed.
    const rx2 = await startReceiver(t, { status: (n) => (n <= K ? 500 : 200) });
    const ep2 = await s2.webhookEndpoints.create({ url: rx2.url, enabled_events: ['customer.created'] });
    const c = worker(t, stack, 'wh_c', { WEBHOOK_BACKOFF_MS: '4000,4000' });
    await ready(c);
    for (let i = 0; i < K; i++) await s2.customers.create({ name: `b${i}` });
    await eventually(async () => rx2.tries() >= K, 30_000);
    // Every first try recorded as failed (receipted, so counted in KV and naked with its backoff) …
    await eventually(async () => {
      const res = await fetch(`${stack.url}/admin/webhook_deliveries?merchant=${m2.merchant_id}&status=failed`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
      return ((await res.json()) as { data: unknown[] }).data.length >= K;
    }, 30_000);
    c.kill('SIGKILL'); // … and now every delivery waits out its 4 s backoff on the server, its worker gone
    await c.exited;
    t.equal(rx2.received.length, 0, 'nothing delivered before the kill');
    const d = worker(t, stack, 'wh_d', { WEBHOOK_BACKOFF_MS: '4000,4000' });
    await ready(d);
    const ids2 = await eventually(async () => {
      const s = verifiedIds(rx2, ep2.secret!);
      return s.size >= K ? s : null;
    }, 60_000);
    t.equal(ids2.size, K, `all ${K} delivered by the new worker`);
    // The try count lived in KV, not in the dead process: the receipts say try 2.
    const rows = await eventually(async () => {
      const res = await fetch(`${stack.url}/admin/webhook_deliveries?merchant=${m2.merchant_id}&status=delivered`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
      const body = (await res.json()) as { data: { attempts: number }[] };
      return body.data.length >= K ? body.data : null;
    }, 30_000);
    t.strictSame(rows.map((r) => r.attempts), Array.from({ length: K }, () => 2), 'each delivered on its second try');
  });
});
