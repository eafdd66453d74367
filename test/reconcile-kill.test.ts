// The reconcile worker as a separate process (ROLES=reconcile), SIGKILLed mid-run: attempts left
// in doubt with no reconciler, a first worker settles some and is killed, a second one resumes from
// the durable consumer and settles the rest, one to one with the network's ledger.
import t from 'tap';
import Stripe from 'stripe';
import { json, putFaults } from './helpers/epn.ts';
import { startStack, eventually, pool } from './helpers/stack.ts';
import { spawnWorker } from './helpers/worker-process.ts';

// Messages the killed worker held come back after the durable's ack_wait (60 s).
t.setTimeout(300_000);

const GOOD = '4242424242424242';

interface LedgerTx {
  network_ref: string;
  reference: string;
  status: string;
}




async function pay(stripe: Stripe): Promise<string> {
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const pi = await stripe.paymentIntents.create({ amount: 1000 + Math.floor(Math.random() * 9000), currency: 'usd' });
  await stripe.paymentIntents.confirm(pi.id, { payment_method: pm.id });
  return pi.id;
}

t.test('the reconcile worker killed mid-run: a new one resumes from the durable consumer and settles everything', { timeout: 300_000 }, async (t) => {
  // No reconcile role in the stack: reconciliation runs only in the worker processes below.
  const stack = await startStack(t, { EPN_TIMEOUT_MS: '500', ROLES: 'gateway,actors,projector,webhooks', LOG_LEVEL: 'info', LEASE_MS: '15000' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 3 });
  // Every authorization hangs; half are executed (some late), half never.
  await putFaults(stack, { timeout: 1, late_ms: 1_000, seed: 7 });
  const env = {
    ROLES: 'reconcile',
    NATS_URL: stack.nats.url,
    EPN_URL: stack.epnUrl,
    DATA_DIR: stack.dataDir,
    PARTITIONS: String(stack.config.partitions),
    EPN_TIMEOUT_MS: '1000',
    RECON_INQUIRY_AFTER_MS: '0',
    RECONCILE_BACKOFF_MS: '500',
    // Long enough that the never-executed half is still waiting when the first worker is killed.
    RECON_DEADLINE_MS: '10000',
    LOG_LEVEL: 'info',
  };
  const ids: string[] = [];
  await pool(Array.from({ length: 40 }, () => false), 8, async () => void ids.push(await pay(stripe)));
  const all = async () => Promise.all(ids.map((id) => stripe.paymentIntents.retrieve(id)));
  t.ok((await all()).every((p) => p.status === 'processing'), 'no reconciler yet: every attempt is in doubt, every intent processing');

  const w1 = spawnWorker('rec_1', env);
  t.teardown(() => w1.kill());
  const verdicts = (w: typeof w1) => w.logs.filter((l) => l.msg === 'reconciled in-doubt attempt');
  await eventually(async () => verdicts(w1).length >= 5, 60_000, 100);
  w1.kill('SIGKILL');
  const died = await w1.exited;
  t.equal(died.signal, 'SIGKILL');
  const beforeKill = verdicts(w1).length;
  const left = (await all()).filter((p) => p.status === 'processing').length;
  t.ok(left > 0, `killed mid-run: ${beforeKill} settled, ${left} still processing`);
  await new Promise((r) => setTimeout(r, 1_000));
  t.equal((await all()).filter((p) => p.status === 'processing').length, left, 'nothing is settled while no reconciler runs');

  const resumedAt = Date.now();
  const w2 = spawnWorker('rec_2', env);
  t.teardown(() => w2.kill());
  const final = await eventually(async () => {
    const ps = await all();
    return ps.every((p) => p.status !== 'processing') ? ps : null;
  }, 120_000, 500);
  // Messages the killed worker held unacknowledged come back after the durable's ack_wait (60 s).
  t.comment(`the second worker settled the remaining ${left} in ${Date.now() - resumedAt} ms`);
  t.ok(verdicts(w2).length >= left, `the second worker settled what was left (${verdicts(w2).length} verdicts)`);

  // One to one with the network: executed → succeeded with its reference; never seen → payment_timeout.
  for (const p of final) {
    const charge = (await stripe.charges.list({ payment_intent: p.id })).data[0];
    const tx = (await json<{ data: LedgerTx[] }>(`${stack.epnUrl}/v1/transactions?reference=${charge?.id ?? p.latest_charge}`)).data;
    const executed = tx.length > 0 && tx[0]!.status === 'captured';
    if (p.status === 'succeeded') t.ok(executed, `${p.id}: succeeded and captured at the network`);
    else {
      t.equal(p.last_payment_error?.code, 'payment_timeout', `${p.id}: timed out`);
      t.ok(!tx.some((x) => x.status === 'captured'), `${p.id}: no money held at the network for a timed-out attempt`);
    }
  }
});
