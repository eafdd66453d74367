// Settlement reconciliation: the pure matcher, a run resumed from its checkpoint after a crash
// (real PGlite, real simulator), and the whole stack: a second booking and a late execution after a
// timeout reversed automatically, a foreign booking resolved by hand through the admin API and the
// ops CLI, every step an event on the intent.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import Stripe from 'stripe';
import pino from 'pino';
import { fold } from '../actors/decider.ts';
import { intentDecider, type IntentEvent } from '../actors/mod.ts';
import { buildEpnServer, createEpnClient } from '../epn/mod.ts';
import type { WireSettlementRow } from '../epn/wire.ts';
import { discrepancyId, matchRow, missingTheirs, type OurAttempt } from '../reconcile/match.ts';
import { runSettlement } from '../reconcile/settlement.ts';
import { asReconDb } from '../reconcile/store.ts';
import type { CommandClient } from '../runtime/client.ts';
import { migrateToLatest, openDatabase } from '../storage/mod.ts';
import { upsertAttempts, attemptRowsFromState } from '../storage/payment-attempts.ts';
import { upsertIntents, intentRowFromState } from '../storage/payment-intents.ts';
import { subjects } from '../streams/subjects.ts';
import { commitsOf } from './helpers/epn.ts';
import { startStack, eventually, type Stack } from './helpers/stack.ts';
import { REPO_ROOT } from './helpers/worker-process.ts';

const GOOD = '4242424242424242';

const row = (over: Partial<WireSettlementRow> = {}): WireSettlementRow => ({
  network_ref: 'epn_1',
  merchant_id: 'acct_1',
  intent_id: 'pi_1',
  attempt_id: 'ch_1',
  amount: 1000,
  amount_captured: 1000,
  amount_refunded: 0,
  currency: 'usd',
  status: 'captured',
  fee: 59,
  created_at: 1_800_000_000,
  updated_at: 1_800_000_000,
  ...over,
});
const ours = (over: Partial<OurAttempt> = {}): OurAttempt => ({
  id: 'ch_1',
  intent_id: 'pi_1',
  merchant_id: 'acct_1',
  amount: 1000,
  currency: 'usd',
  status: 'succeeded',
  network_ref: 'epn_1',
  intent_status: 'succeeded',
  created_at: 1_800_000_000,
  ...over,
});

t.test('matching, pure: every kind, deterministic ids', async (t) => {
  t.match(matchRow(row(), ours()), { kind: 'matched', reverse: false });
  t.match(matchRow(row(), undefined), { kind: 'missing_ours', reverse: false, intent_id: 'pi_1' });
  t.match(matchRow(row({ network_ref: 'epn_2' }), ours()), { kind: 'missing_ours', reverse: true }, 'a second booking of a succeeded attempt is reversed');
  t.match(matchRow(row({ network_ref: 'epn_2', status: 'refunded' }), ours()), { kind: 'matched' }, '…and matches once given back');
  t.match(matchRow(row({ amount: 999 }), ours()), { kind: 'amount_mismatch' });
  t.match(matchRow(row({ currency: 'eur' }), ours()), { kind: 'amount_mismatch' });
  t.match(matchRow(row(), ours({ status: 'failed', network_ref: null, intent_status: 'requires_payment_method' })), { kind: 'status_mismatch', reverse: true }, 'money held for an attempt we call failed');
  t.match(matchRow(row({ status: 'voided' }), ours({ status: 'failed' })), { kind: 'matched' });
  t.match(matchRow(row({ status: 'declined' }), ours({ status: 'failed' })), { kind: 'matched' });
  t.match(matchRow(row({ status: 'declined' }), ours()), { kind: 'status_mismatch', reverse: false });
  t.match(matchRow(row({ status: 'voided' }), ours({ intent_status: 'canceled' })), { kind: 'matched' }, 'a canceled authorization is voided');
  t.match(matchRow(row(), ours({ status: 'in_doubt' })), { kind: 'in_flight' });
  t.match(missingTheirs([ours(), ours({ id: 'ch_2', network_ref: 'epn_9' }), ours({ id: 'ch_3', status: 'failed' })], [row()]), [{ kind: 'missing_theirs', attempt_id: 'ch_2', network_ref: 'epn_9' }]);
  t.equal(discrepancyId('status_mismatch', 'ch_1', 'epn_1'), discrepancyId('status_mismatch', 'ch_1', 'epn_1'));
  t.not(discrepancyId('status_mismatch', 'ch_1', 'epn_1'), discrepancyId('missing_ours', 'ch_1', 'epn_1'));
});

t.test('a run cut short by a crash resumes from its checkpoint (real PGlite, real simulator)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'recon-resume-'));
  const opened = await openDatabase({ dataDir: dir });
  await migrateToLatest(opened.db);
  const epn = buildEpnServer({ latencyMs: 0 });
  const url = await epn.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(async () => {
    await epn.close();
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = createEpnClient({ baseUrl: url, timeoutMs: 5_000 });
  const now = Math.floor(Date.now() / 1000);
  const N = 120;
  for (let i = 0; i < N; i++) {
    const pi = `pi_r${i}`;
    const ch = `ch_r${i}`;
    const auth = await client.authorize({ reference: ch, intentId: pi, merchantId: 'acct_r', amount: 500 + i, currency: 'usd', capture: true, card: { number: GOOD, expMonth: 12, expYear: 2034 } });
    const card = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, fingerprint: 'fp', funding: 'credit', country: 'US' };
    const events: IntentEvent[] = [
      { type: 'intent.created', at: now, data: { id: pi, merchant_id: 'acct_r', livemode: false, amount: 500 + i, currency: 'usd', status: 'requires_payment_method', capture_method: 'automatic', client_secret: 's', created: now, description: null, metadata: {}, receipt_email: null, customer: null, user_email: null, product_id: null, payment_method: null } },
      { type: 'attempt.started', at: now, data: { attempt_id: ch, payment_method: 'pm_1', card, amount: 500 + i } },
      { type: 'attempt.succeeded', at: now, data: { attempt_id: ch, network_ref: auth.networkRef, amount: 500 + i, captured: true } },
    ];
    const s = fold(intentDecider, events)!;
    await upsertIntents(opened.db, [intentRowFromState(s, 3, now)]);
    await upsertAttempts(opened.db, attemptRowsFromState(s, 3));
  }
  // Every row matches, so no command is needed: one would be a bug.
  const commands: CommandClient = { send: async () => Promise.reject(new Error('no command expected')) };
  let clock = Date.now();
  const deps = { db: asReconDb(opened.db), epn: client, commands, log: pino({ level: 'silent' }), graceMs: 0, staleMs: 10_000, clock: () => clock };
  await t.rejects(runSettlement({ ...deps, afterChunk: (cp) => { if (cp >= 50) throw new Error('crash'); } }, { trigger: 'schedule' }), /crash/);
  const cut = await asReconDb(opened.db).selectFrom('recon_runs').selectAll().executeTakeFirstOrThrow();
  t.match(cut, { status: 'running', checkpoint: 50, matched: 50 }, 'the checkpoint of the cut run');

  t.match(await runSettlement(deps, { trigger: 'schedule' }), { id: cut.id, status: 'running', checkpoint: 50 }, 'a fresh heartbeat: another runner may still be on it, left alone');
  clock += 11_000;
  const seen: number[] = [];
  const done = await runSettlement({ ...deps, afterChunk: (cp) => void seen.push(cp) }, { trigger: 'schedule' });
  t.match(done, { id: cut.id, status: 'completed', resumed: 1, checkpoint: N, total_rows: N, matched: N, missing_ours: 0, missing_theirs: 0, status_mismatch: 0 });
  t.same(seen, [100, N], 'resumed from row 50, not from the start');
});


const eventTypes = async (stack: Stack, merchant: string, pi: string) => (await commitsOf(stack.nats.url, subjects.intent(merchant, pi))).flatMap((c) => (c.events as { type: string; data: Record<string, unknown> }[]));

t.test('the whole stack: reversals, discrepancies, manual resolution (API and CLI), all on the intent', async (t) => {
  const stack = await startStack(t, {
    EPN_TIMEOUT_MS: '400',
    RECON_INQUIRY_AFTER_MS: '100',
    RECONCILE_BACKOFF_MS: '200',
    RECON_DEADLINE_MS: '1000',
    RECON_SETTLEMENT_INTERVAL_MS: '0',
    RECON_SETTLEMENT_GRACE_MS: '0',
  });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const faults = (body: unknown) => fetch(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const admin = async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${stack.url}${p}`, { method, headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as T };
  };
  const pay = async () => {
    const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
    const pi = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd' });
    return stripe.paymentIntents.confirm(pi.id, { payment_method: pm.id });
  };
  const client = createEpnClient({ baseUrl: stack.epnUrl, timeoutMs: 5_000 });

  // 1. The network books one request twice.
  await faults({ duplicate: 1 });
  const dup = await pay();
  t.equal(dup.status, 'succeeded');
  // 2. A 5xx leaves the attempt in doubt; the network never saw it: timed out at the deadline…
  await faults({ duplicate: 0, error: 1 });
  const late = await pay();
  t.equal(late.status, 'processing');
  await faults({ error: 0 });
  const timedOut = await eventually(async () => {
    const x = await stripe.paymentIntents.retrieve(late.id);
    return x.status === 'requires_payment_method' ? x : null;
  }, 20_000, 200);
  t.equal(timedOut.last_payment_error?.code, 'payment_timeout');
  // …then the network executes it after all (a late execution).
  const lateAttempt = String(timedOut.latest_charge);
  await client.authorize({ reference: lateAttempt, intentId: late.id, merchantId: m.merchant_id, amount: 2500, currency: 'usd', capture: true, card: { number: GOOD, expMonth: 12, expYear: 2034 } });
  // 3. A booking under a reference we never issued.
  await client.authorize({ reference: 'ch_foreign', merchantId: m.merchant_id, amount: 700, currency: 'usd', capture: true, card: { number: GOOD, expMonth: 12, expYear: 2034 } });

  // The projection has everything before the run looks.
  await eventually(async () => (await stripe.charges.list({ limit: 10 })).data.filter((c) => c.status !== 'pending').length === 2, 10_000, 100);
  const run = await admin<Record<string, unknown>>('POST', '/admin/reconciliation/runs', {});
  t.equal(run.status, 200);
  t.match(run.body, { status: 'completed', total_rows: 4, matched: 1, missing_ours: 2, status_mismatch: 1, reversed: 2 });

  // The network gave the money back; our records did not move.
  const ledger = (await (await fetch(`${stack.epnUrl}/v1/ledger?merchant_id=${m.merchant_id}`)).json()) as { data: { reference: string; network_ref: string; status: string }[] };
  const dupTxs = ledger.data.filter((x) => x.reference === dup.latest_charge);
  t.same(dupTxs.map((x) => x.status).sort(), ['captured', 'refunded'], 'the second booking refunded, ours kept');
  t.equal(ledger.data.find((x) => x.reference === lateAttempt)?.status, 'refunded', 'the late execution refunded');
  t.equal((await stripe.paymentIntents.retrieve(dup.id)).status, 'succeeded');
  t.equal((await stripe.paymentIntents.retrieve(late.id)).status, 'requires_payment_method');
  const dupEvents = await eventTypes(stack, m.merchant_id, dup.id);
  t.match(dupEvents.find((e) => e.type === 'attempt.reversed'), { data: { reason: 'duplicate_authorization', method: 'refund', amount: 2500 } });
  t.match(dupEvents.find((e) => e.type === 'reconciliation.flagged'), { data: { kind: 'missing_ours' } });
  const lateEvents = await eventTypes(stack, m.merchant_id, late.id);
  t.match(lateEvents.find((e) => e.type === 'attempt.reversed'), { data: { reason: 'late_success_after_failure', method: 'refund' } });
  t.match(lateEvents.find((e) => e.type === 'reconciliation.flagged'), { data: { kind: 'status_mismatch', attempt_id: lateAttempt } });

  // Only the foreign booking is left open; a second run matches the reversed ones.
  const open = await admin<{ data: { id: string; kind: string; attempt_id: string; status: string }[] }>('GET', '/admin/reconciliation/discrepancies');
  t.match(open.body.data, [{ kind: 'missing_ours', attempt_id: 'ch_foreign', status: 'open' }]);
  t.equal(open.body.data.length, 1);
  const again = await admin<Record<string, unknown>>('POST', '/admin/reconciliation/runs', {});
  t.match(again.body, { status: 'completed', matched: 3, missing_ours: 1, status_mismatch: 0, reversed: 0 });
  t.equal((await admin<{ data: unknown[] }>('GET', '/admin/reconciliation/discrepancies')).body.data.length, 1, 'found again, not duplicated');

  // Admin API needs the token; resolution needs operator and reason.
  t.equal((await fetch(`${stack.url}/admin/reconciliation/discrepancies`)).status, 401);
  const bad = await admin<{ error: { type: string } }>('POST', `/admin/reconciliation/discrepancies/${open.body.data[0]!.id}/resolve`, { operator: 'alice' });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.type, 'invalid_request_error');
  t.equal((await admin('POST', '/admin/reconciliation/discrepancies/dsc_nope/resolve', { operator: 'a', reason: 'b' })).status, 404);

  // The ops CLI resolves it (and can list, as JSON).
  const run2 = promisify(execFile);
  const env = { ...process.env, GATEWAY_URL: stack.url, ADMIN_TOKEN: stack.adminToken, NATS_URL: stack.nats.url, DATA_DIR: stack.dataDir };
  const cli = (...args: string[]) => run2(process.execPath, ['--import', 'tsx', 'ops/cli.ts', 'recon', ...args], { cwd: REPO_ROOT, env });
  const listed = JSON.parse((await cli('discrepancies', '--json')).stdout) as { id: string }[];
  t.same(listed.map((d) => d.id), [open.body.data[0]!.id]);
  t.match((await cli('--help')).stdout, /usage: npm run ops -- recon/);
  const resolved = JSON.parse((await cli('resolve', open.body.data[0]!.id, '--operator', 'alice', '--reason', 'test booking by the acquirer', '--json')).stdout) as Record<string, unknown>;
  t.match(resolved, { status: 'resolved', resolved_by: 'alice', resolution_reason: 'test booking by the acquirer' });
  t.same((await admin<{ data: unknown[] }>('GET', '/admin/reconciliation/discrepancies')).body.data, [], 'nothing open');
  t.match((await cli('runs')).stdout, /completed/);

  // A resolution on an intent's discrepancy is an event on the intent: the audit trail.
  const lateDsc = (await admin<{ data: { id: string; intent_id: string }[] }>('GET', '/admin/reconciliation/discrepancies?status=auto_resolved&kind=status_mismatch')).body.data[0];
  t.equal(lateDsc?.intent_id, late.id);
  const r = await admin<Record<string, unknown>>('POST', `/admin/reconciliation/discrepancies/${lateDsc!.id}/resolve`, { operator: 'bob', reason: 'checked the refund with the acquirer' });
  t.match(r.body, { status: 'resolved', resolved_by: 'bob' });
  t.match((await eventTypes(stack, m.merchant_id, late.id)).find((e) => e.type === 'reconciliation.resolved'), { data: { discrepancy_id: lateDsc!.id, operator: 'bob', reason: 'checked the refund with the acquirer' } });

  // Stuck attempts: none (every attempt settled).
  t.same((await admin<{ data: unknown[] }>('GET', '/admin/reconciliation/stuck?older_than_ms=0')).body.data, []);
  // Metrics are served with the rest.
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  t.match(metrics, /paynats_reconcile_mismatches_total\{kind="missing_ours"\}/);
  t.match(metrics, /paynats_reconcile_reversals_total\{reason="duplicate_authorization",method="refund"\} 1/);
  t.match(metrics, /paynats_reconcile_time_to_reconcile_seconds_bucket/);
});

t.test('stuck attempts: listed by the admin API, settled by the sweep when no consumer did', async (t) => {
  // No reconcile role: nothing settles the in-doubt attempt but the sweep (served by the gateway).
  const stack = await startStack(t, { ROLES: 'gateway,actors,projector,webhooks', EPN_TIMEOUT_MS: '400', RECON_STUCK_AFTER_MS: '500', RECON_DEADLINE_MS: '500', RECON_SETTLEMENT_INTERVAL_MS: '0', LEASE_MS: '15000' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const admin = async <T>(method: string, p: string): Promise<T> => (await (await fetch(`${stack.url}${p}`, { method, headers: { authorization: `Bearer ${stack.adminToken}` } })).json()) as T;
  await fetch(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 1 }) });
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const pi = await stripe.paymentIntents.confirm((await stripe.paymentIntents.create({ amount: 1500, currency: 'usd' })).id, { payment_method: pm.id });
  t.equal(pi.status, 'processing');
  const stuck = await eventually(async () => {
    const r = await admin<{ data: { id: string; status: string; intent_id: string; age_ms: number }[] }>('GET', '/admin/reconciliation/stuck');
    // The projection may still show the attempt's start (pending) for a moment on a loaded machine.
    return r.data.some((x) => x.status === 'in_doubt') ? r.data : null;
  }, 20_000, 200);
  t.match(stuck, [{ id: pi.latest_charge, status: 'in_doubt', intent_id: pi.id }]);
  await new Promise((r) => setTimeout(r, 600)); // past stuck + deadline
  // (Under load an owner may answer 503 for a moment: the sweep leaves the attempt for its next pass.)
  const swept = await eventually(async () => {
    const r = await admin<{ stuck: number; settled: string[] }>('POST', '/admin/reconciliation/sweep');
    return r.settled.length ? r : null;
  }, 20_000, 500);
  t.match(swept, { stuck: 1, settled: [pi.latest_charge] });
  const after = await stripe.paymentIntents.retrieve(pi.id);
  t.equal(after.status, 'requires_payment_method');
  t.equal(after.last_payment_error?.code, 'payment_timeout');
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  t.match(metrics, /paynats_reconcile_stuck_attempts\{age="lt_5m"\} 1/);
  t.match(metrics, /paynats_reconcile_unsettled_attempts\{status="in_doubt"\} 1/, 'the backlog as the sweep saw it');
});

t.test('a refund the network did not answer stays pending, then reconciliation settles it (once)', async (t) => {
  const stack = await startStack(t, { EPN_TIMEOUT_MS: '400', RECON_INQUIRY_AFTER_MS: '100', RECONCILE_BACKOFF_MS: '300', RECON_SETTLEMENT_INTERVAL_MS: '0' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const faults = (body: unknown) => fetch(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const pi = await stripe.paymentIntents.confirm((await stripe.paymentIntents.create({ amount: 3000, currency: 'usd' })).id, { payment_method: pm.id });
  t.equal(pi.status, 'succeeded');
  await faults({ outage: true });
  const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 1000 });
  t.equal(refund.status, 'pending', 'no answer from the network: pending');
  await new Promise((r) => setTimeout(r, 1_500));
  await faults({ outage: false });
  const done = await eventually(async () => {
    const r = await stripe.refunds.retrieve(refund.id);
    return r.status === 'succeeded' ? r : null;
  }, 20_000, 200);
  t.equal(done.amount, 1000);
  const tx = ((await (await fetch(`${stack.epnUrl}/v1/transactions?reference=${pi.latest_charge}`)).json()) as { data: { amount_refunded: number; refunds: unknown[] }[] }).data[0];
  t.equal(tx?.amount_refunded, 1000, 'refunded once at the network');
  t.equal(tx?.refunds.length, 1);
  t.ok(stack.logs.some((l) => l.includes('reconciled pending refund') && l.includes(refund.id)));
});
