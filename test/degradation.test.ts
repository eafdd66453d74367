// Graceful degradation (issue 12 item 3): what the gateway answers while a dependency is down,
// and that the same request retried with the same Idempotency-Key completes exactly once after.
import t from 'tap';
import Stripe from 'stripe';
import { startNatsServer } from '../nats/server.ts';
import { startStack, eventually } from './helpers/stack.ts';

const GOOD_PAN = '4242424242424242';

t.test('nats down: 503 api_error with Stripe-Should-Retry, within the command timeout', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const pk = new Stripe(m.publishable_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });
  const pm = await pk.paymentMethods.create({ type: 'card', card: { number: GOOD_PAN, exp_month: 12, exp_year: 2034, cvc: '123' } });

  const { port, storeDir } = stack.nats.server;
  await stack.nats.server.stop();

  const key = `idem_degrade_${Date.now()}`;
  const body = new URLSearchParams({ amount: '2500', currency: 'inr', payment_method: pm.id, confirm: 'true' });
  const started = Date.now();
  const res = await fetch(`${stack.url}/v1/payment_intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
    body,
  });
  const took = Date.now() - started;
  const errBody = (await res.json()) as { error: { type: string; code?: string } };
  t.equal(res.status, 503, 'nats down answers 503');
  t.equal(res.headers.get('stripe-should-retry'), 'true');
  t.equal(errBody.error.type, 'api_error');
  t.equal(errBody.error.code, 'service_unavailable');
  t.comment(`nats down: 503 after ${took} ms`);
  t.ok(took < 30_000, `answered within the command timeout (${took} ms)`);
  // Fail fast: the gateway knows the connection is down and does not wait out a timeout.
  t.ok(took < 2_000, `answered quickly while nats is down (${took} ms)`);
  // Health answers too, quickly, and says which dependency is down.
  const h0 = Date.now();
  const health = await fetch(`${stack.url}/healthz`);
  const hb = (await health.json()) as { nats: boolean; database: boolean };
  t.equal(health.status, 503, '/healthz: 503 while nats is down');
  t.equal(hb.nats, false);
  t.equal(hb.database, true);
  t.ok(Date.now() - h0 < 5_000, `/healthz answered in ${Date.now() - h0} ms`);
  // A read needs the stream as well: 503 too, not a hang.
  const r0 = Date.now();
  const read = await fetch(`${stack.url}/v1/payment_intents/pi_123`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  t.equal(read.status, 503, `GET answers 503 while nats is down (${Date.now() - r0} ms)`);
  t.equal(read.headers.get('stripe-should-retry'), 'true');
  // Back on the same port and store so the node can stop cleanly (nats/server.ts SIGKILLs it at exit).
  await startNatsServer({ port, storeDir });
});

// After nats-server comes back (same port and store), the node re-declares its memory-storage buckets
// (runtime/node.ts, on reconnect); the same request retried with the same key completes once.
t.test('nats back: the retry with the same Idempotency-Key completes exactly once', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const pk = new Stripe(m.publishable_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });
  const pm = await pk.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
  const { port, storeDir } = stack.nats.server;
  await stack.nats.server.stop();
  const key = `idem_recover_${Date.now()}`;
  const send = () => fetch(`${stack.url}/v1/payment_intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
    body: new URLSearchParams({ amount: '2500', currency: 'inr', payment_method: pm.id, confirm: 'true' }),
  });
  const down = await send();
  t.equal(down.status, 503);
  await startNatsServer({ port, storeDir });
  const t0 = Date.now();
  const statuses: number[] = [];
  const ok = await eventually(async () => {
    const r = await send();
    statuses.push(r.status);
    t.comment(`retry: ${r.status} after ${Date.now() - t0} ms`);
    if (r.status === 200) return (await r.json()) as { id: string; status: string }; await r.text(); return null;
  }, 60_000, 250);
  t.equal(ok.status, 'succeeded');
  t.ok(statuses.every((s) => s === 503 || s === 200), `only 503s before the success, never a 500 (${statuses.join(', ')})`);
  t.comment(`nats back: the retried payment completed ${Date.now() - t0} ms after nats-server restarted`);
  const again = await send();
  t.equal(again.status, 200);
  t.equal(((await again.json()) as { id: string }).id, ok.id, 'same intent on replay');
});
