// Chaos: 500+ card payments through the real stack (stripe SDK → gateway → actors → EPN simulator)
// while the network times out (executed or not), answers late, books twice and fails with 5xx.
// After reconciliation settles, our records and the network's ledger must agree one to one, no
// intent may hold two successful charges, and every merchant webhook must match the final states.
// Timeouts, backoff and the deadline are compressed so the run stays within a few minutes on a
// loaded 2-core box.
import t from 'tap';
import Stripe from 'stripe';
import { json, putFaults } from './helpers/epn.ts';
import { startStack, eventually, pool, type Stack } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

// 500 payments on a loaded 2-core box: more than the suite's 180 s per file.
t.setTimeout(420_000);

const GOOD = '4242424242424242';
const DECLINE = '4000000000000002';
const PAYMENTS = Number(process.env.CHAOS_PAYMENTS ?? 500);
const CONCURRENCY = 16;
const DEADLINE_MS = 3_000;

interface LedgerTx {
  network_ref: string;
  reference: string;
  intent_id?: string | null;
  status: string;
  amount: number;
  amount_captured: number;
  amount_refunded: number;
}
interface FaultRec {
  reference: string;
  kind: string;
  executed: boolean;
}


const admin = <T>(stack: Stack, method: string, p: string, body?: unknown) =>
  json<T>(`${stack.url}${p}`, { method, headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });


/** Creates and confirms one payment; the answer (succeeded, processing, declined) is not judged here. */
async function pay(stripe: Stripe, declined: boolean): Promise<string> {
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: declined ? DECLINE : GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const pi = await stripe.paymentIntents.create({ amount: 1000 + Math.floor(Math.random() * 9000), currency: 'usd' });
  try {
    await stripe.paymentIntents.confirm(pi.id, { payment_method: pm.id });
  } catch (err) {
    if (!(err instanceof Stripe.errors.StripeCardError)) throw err;
  }
  return pi.id;
}

t.test(`chaos: ${PAYMENTS} payments under timeout=0.2,late_success=0.05,duplicate=0.02,error=0.05 settle one to one with the network`, { timeout: 600_000 }, async (t) => {
  const stack = await startStack(t, {
    EPN_TIMEOUT_MS: '1000',
    RECON_INQUIRY_AFTER_MS: '300',
    RECONCILE_BACKOFF_MS: '300,600,1000',
    RECON_DEADLINE_MS: String(DEADLINE_MS),
    RECON_SETTLEMENT_INTERVAL_MS: '3000',
    RECON_SETTLEMENT_GRACE_MS: '2000',
    RECON_STUCK_AFTER_MS: '20000',
    // The box is shared and loaded: a starved event loop must not cost a partition lease mid-test.
    LEASE_MS: '15000',
    LOG_LEVEL: 'info',
  });
  const rx = await startReceiver(t);
  const m = await stack.onboard({ call_back_url: rx.url, events: ['*'] });
  // Retries as a merchant's integration does: a 503 is retried with the same Idempotency-Key.
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 3, timeout: 120_000 });

  // late_ms 6000: some timed-out requests are executed after the deadline, when we already called them failed.
  await putFaults(stack, { timeout: 0.2, late_success: 0.05, duplicate: 0.02, error: 0.05, late_ms: 6_000, seed: 20261125 });
  const t0 = Date.now();
  const ids: string[] = [];
  await pool(
    Array.from({ length: PAYMENTS }, (_, i) => i % 10 === 9),
    CONCURRENCY,
    async (declined) => void ids.push(await pay(stripe, declined)),
  );
  const loadMs = Date.now() - t0;
  t.equal(ids.length, PAYMENTS, 'every payment was created and confirmed');

  // Intents whose attempt timed out are confirmed once more (with the faults still on): a late
  // execution of the first attempt must then not become a second charge.
  // Lists read the projection, which trails the commits by a batch or two: wait for all of them.
  await eventually(async () => {
    const all = await stripe.paymentIntents.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 });
    return all.length >= PAYMENTS && all.filter((p) => p.status === 'processing').length === 0;
  }, 120_000, 1_000);
  const timedOut = (await stripe.paymentIntents.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 })).filter((p) => p.last_payment_error?.code === 'payment_timeout');
  await pool(timedOut.slice(0, 40), 8, async (p) => {
    const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
    try {
      await stripe.paymentIntents.confirm(p.id, { payment_method: pm.id });
    } catch (err) {
      if (!(err instanceof Stripe.errors.StripeCardError)) throw err;
    }
  });
  const retriedMs = Date.now() - t0;

  // Reconciliation settles: no intent processing, no charge pending, and the late executions are in.
  await eventually(async () => {
    const all = await stripe.paymentIntents.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 });
    return all.length === PAYMENTS && all.every((p) => p.status !== 'processing');
  }, 120_000, 1_000);
  const settledMs = Date.now() - t0;
  // Every late execution has happened (late_ms after its request); no new faults from here on.
  await new Promise((r) => setTimeout(r, 6_500));
  await putFaults(stack, { timeout: 0, late_success: 0, duplicate: 0, error: 0 });

  // A settlement run gives back what the network holds but we do not keep; the next one matches all.
  const first = await admin<{ status: string; reversed: number; total_rows: number }>(stack, 'POST', '/admin/reconciliation/runs', {});
  t.equal(first.status, 'completed');
  await new Promise((r) => setTimeout(r, 2_500)); // past the grace period for anything just booked
  const last = await eventually(async () => {
    const r = await admin<Record<string, number | string>>(stack, 'POST', '/admin/reconciliation/runs', {});
    return r.status === 'completed' && r.status_mismatch === 0 && r.missing_ours === 0 && r.in_flight === 0 ? r : null;
  }, 60_000, 2_000);
  const reconciledMs = Date.now() - t0;
  t.equal(last.missing_theirs, 0, 'nothing we call succeeded is missing at the network');
  t.equal(last.amount_mismatch, 0);
  t.equal(last.matched, last.total_rows, 'every settlement row matched');
  const open = await admin<{ data: unknown[] }>(stack, 'GET', '/admin/reconciliation/discrepancies?status=open');
  t.same(open.data, [], 'no discrepancy left open');

  // ── Our records ↔ the network's ledger, one to one ──
  const intents = await stripe.paymentIntents.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 });
  const charges = await eventually(async () => {
    const cs = await stripe.charges.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 });
    return cs.every((c) => c.status !== 'pending') ? cs : null;
  }, 60_000, 1_000);
  const ledger = (await json<{ data: LedgerTx[] }>(`${stack.epnUrl}/v1/ledger?merchant_id=${m.merchant_id}`)).data;
  const faults = (await json<{ data: FaultRec[] }>(`${stack.epnUrl}/admin/faults/log`)).data;
  const faultOf = new Map(faults.map((f) => [f.reference, f]));
  const byRef = new Map(ledger.map((x) => [x.network_ref, x]));
  const netRef = (c: Stripe.Charge) => (c as unknown as { network_reference: string | null }).network_reference;

  t.ok(intents.every((p) => p.status !== 'processing'), 'every intent settled (none processing)');
  t.ok(charges.every((c) => c.status === 'succeeded' || c.status === 'failed'), 'every attempt ended terminal');
  const succeededBy = new Map<string, Stripe.Charge[]>();
  for (const c of charges.filter((x) => x.status === 'succeeded')) {
    const pi = String(c.payment_intent);
    succeededBy.set(pi, [...(succeededBy.get(pi) ?? []), c]);
  }
  t.ok([...succeededBy.values()].every((cs) => cs.length === 1), 'no intent has two successful charges');
  for (const p of intents) t.equal(succeededBy.has(p.id), p.status === 'succeeded', `${p.id}: a successful charge exactly when succeeded`);

  const ours = new Set(charges.filter((c) => c.status === 'succeeded').map(netRef));
  const strayMoney = ledger.filter((x) => (x.status === 'captured' || x.status === 'authorized' || x.status === 'partially_refunded') && !ours.has(x.network_ref));
  t.same(strayMoney, [], 'the network holds no money we call failed (or never heard of)');
  const lacking = charges.filter((c) => c.status === 'succeeded' && byRef.get(netRef(c) ?? '')?.status !== 'captured');
  t.same(lacking.map((c) => c.id), [], 'the network has every charge we call succeeded, captured');
  const giveBacks = ledger.filter((x) => x.status === 'refunded' || x.status === 'voided');
  const dupFaults = faults.filter((f) => f.kind === 'duplicate').length;
  t.ok(giveBacks.length >= dupFaults && (dupFaults > 0 || PAYMENTS < 200), `reversed at the network: ${giveBacks.length} (duplicates booked: ${dupFaults})`);

  // payment_timeout only where the deadline passed unanswered: the network never saw the request in time.
  const timeoutCharges = charges.filter((c) => c.failure_code === 'payment_timeout');
  t.ok(timeoutCharges.length > 0, `${timeoutCharges.length} attempts timed out`);
  for (const c of timeoutCharges) {
    const f = faultOf.get(c.id);
    t.ok(f && (f.kind === 'error' || f.kind === 'timeout'), `${c.id}: timed out only after a fault the network did not answer (${f?.kind})`);
  }

  // ── Webhooks: exactly the events of the final states ──
  const expected = new Map<string, { succeeded: number; failed: number; timeout: number }>();
  for (const p of intents) expected.set(p.id, { succeeded: p.status === 'succeeded' ? 1 : 0, failed: 0, timeout: 0 });
  for (const c of charges) {
    const e = expected.get(String(c.payment_intent));
    if (!e || c.status !== 'failed' || c.failure_code === 'duplicate_success') continue;
    e.failed++;
    if (c.failure_code === 'payment_timeout') e.timeout++;
  }
  const want = [...expected.values()].reduce((n, e) => n + e.succeeded + e.failed + e.timeout, 0);
  const count = () => {
    const got = new Map<string, { succeeded: number; failed: number; timeout: number }>();
    // Webhooks are at least once (a slow 2xx is retried): a merchant counts events by id.
    const seen = new Set<string>();
    for (const r of rx.received) {
      const ev = JSON.parse(r.body) as { id: string; type: string; data: { object: { id: string } } };
      if (seen.has(ev.id)) continue;
      seen.add(ev.id);
      const k = ev.type === 'payment_intent.succeeded' ? 'succeeded' : ev.type === 'payment_intent.payment_failed' ? 'failed' : ev.type === 'payment_intent.payment_timeout' ? 'timeout' : null;
      if (!k) continue;
      const g = got.get(ev.data.object.id) ?? { succeeded: 0, failed: 0, timeout: 0 };
      g[k]++;
      got.set(ev.data.object.id, g);
    }
    return got;
  };
  await eventually(async () => [...count().values()].reduce((n, e) => n + e.succeeded + e.failed + e.timeout, 0) >= want, 120_000, 1_000);
  await new Promise((r) => setTimeout(r, 1_000)); // anything extra would show up now
  const got = count();
  const wrong = [...expected].filter(([id, e]) => JSON.stringify(got.get(id) ?? { succeeded: 0, failed: 0, timeout: 0 }) !== JSON.stringify(e));
  t.same(
    wrong.map(([id, e]) => ({
      id,
      expected: e,
      got: got.get(id),
      events: rx.received.map((r) => JSON.parse(r.body) as { id: string; type: string; created: number; data: { object: { id: string; latest_charge?: string } } }).filter((ev) => ev.data.object.id === id).map((ev) => `${ev.type} ${ev.id} ${ev.data.object.latest_charge ?? ''}`),
    })),
    [],
    'every merchant received exactly the events of its final state',
  );

  const summary = {
    payments: PAYMENTS,
    retried_after_timeout: Math.min(timedOut.length, 40),
    succeeded: intents.filter((p) => p.status === 'succeeded').length,
    timed_out_attempts: timeoutCharges.length,
    reversed_at_network: giveBacks.length,
    faults: Object.fromEntries(['timeout', 'late_success', 'duplicate', 'error'].map((k) => [k, faults.filter((f) => f.kind === k).length])),
    load_ms: loadMs,
    retries_done_ms: retriedMs,
    all_settled_ms: settledMs,
    reconciled_ms: reconciledMs,
    reconciliation_after_load_ms: reconciledMs - retriedMs,
  };
  t.comment(`chaos summary ${JSON.stringify(summary)}`);
  process.stderr.write(`chaos summary ${JSON.stringify(summary)}\n`);
});
