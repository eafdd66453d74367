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
  const ok = await eventually(async () => {
    const r = await send();
    t.comment(`retry: ${r.status} after ${Date.now() - t0} ms`);
    if (r.status === 200) return (await r.json()) as { id: string; status: string }; await r.text(); return null;
  }, 60_000, 2_000);
  t.equal(ok.status, 'succeeded');
  const again = await send();
  t.equal(again.status, 200);
  t.equal(((await again.json()) as { id: string }).id, ok.id, 'same intent on replay');
});
