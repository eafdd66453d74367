// The EPN simulator's fault injection (EPN_FAULTS, /admin/faults), its ledger API and the daily
// settlement file, over real HTTP with the real client.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { buildEpnServer, createEpnClient, EpnUnavailableError, type AuthorizeParams } from '../epn/mod.ts';
import { createFaults, NO_FAULTS, parseFaults, FaultConfigError, type FaultConfig } from '../epn/sim/faults.ts';
import type { WireSettlementRow } from '../epn/wire.ts';

const GOOD = '4242424242424242';
const FUTURE = { expMonth: 12, expYear: new Date().getUTCFullYear() + 3, cvc: '123' };
let n = 0;
const params = (over: Partial<AuthorizeParams> = {}): AuthorizeParams => ({
  reference: `ch_${process.pid}_${++n}`,
  intentId: `pi_${process.pid}_${n}`,
  merchantId: 'acct_a',
  amount: 1000,
  currency: 'usd',
  capture: true,
  card: { number: GOOD, ...FUTURE },
  ...over,
});

async function start(t: Test, faults: FaultConfig = NO_FAULTS, timeoutMs = 5_000) {
  const dir = mkdtempSync(path.join(tmpdir(), 'epn-faults-'));
  const ledgerPath = path.join(dir, 'ledger.jsonl');
  const app = buildEpnServer({ latencyMs: 0, ledgerPath, faults });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = async (body: unknown) => {
    const res = await fetch(`${url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const faultLog = async (reference: string) => ((await (await fetch(`${url}/admin/faults/log?reference=${reference}`)).json()) as { data: { kind: string; executed: boolean; network_ref: string | null }[] }).data;
  return { url, ledgerPath, put, faultLog, client: createEpnClient({ baseUrl: url, timeoutMs }) };
}

async function unavailable(p: Promise<unknown>): Promise<EpnUnavailableError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EpnUnavailableError) return err;
    throw err;
  }
  throw new Error('expected EpnUnavailableError');
}

t.test('EPN_FAULTS parsing', async (t) => {
  const f = parseFaults('timeout=0.2,late_success=0.05,duplicate=0.01,error=0.05,latency_ms=20,seed=7');
  t.match(f, { timeout: 0.2, late_success: 0.05, duplicate: 0.01, error: 0.05, latency_ms: 20, seed: 7, outage: false });
  t.equal(parseFaults('outage').outage, true);
  t.same(parseFaults(''), NO_FAULTS);
  t.throws(() => parseFaults('timeout=2'), FaultConfigError);
  t.throws(() => parseFaults('timeout=0.6,error=0.6'), /add up to 1\.200/);
  t.throws(() => parseFaults('flood=0.1'), /unknown fault 'flood'/);
  t.throws(() => parseFaults('latency_ms=-1'), FaultConfigError);
});

t.test('a seed makes the draws reproducible', async (t) => {
  const cfg = parseFaults('timeout=0.3,late_success=0.1,duplicate=0.1,error=0.1,seed=42');
  const a = createFaults(cfg);
  const b = createFaults(cfg);
  const draws = (f: ReturnType<typeof createFaults>) => Array.from({ length: 200 }, () => f.draw());
  const da = draws(a);
  t.same(da, draws(b));
  const kinds = new Set(da.map((d) => d.kind));
  for (const k of ['timeout', 'late_success', 'duplicate', 'error', null]) t.ok(kinds.has(k as never), `drew ${String(k)}`);
  const timeouts = da.filter((d) => d.kind === 'timeout');
  t.ok(timeouts.some((d) => d.executed) && timeouts.some((d) => !d.executed), 'a timeout is executed or not, at random');
});

t.test('admin API: GET and PUT /admin/faults; bad values are 400', async (t) => {
  const s = await start(t);
  t.match(await (await fetch(`${s.url}/admin/faults`)).json(), { timeout: 0, outage: false });
  const ok = await s.put({ timeout: 0.1, latency_ms: 5 });
  t.equal(ok.status, 200);
  t.match(ok.body, { timeout: 0.1, latency_ms: 5, error: 0 });
  const bad = await s.put({ timeout: 0.9, error: 0.5 });
  t.equal(bad.status, 400);
  t.match(bad.body, { error: { code: 'invalid_request' } });
  t.match(await (await fetch(`${s.url}/admin/faults`)).json(), { timeout: 0.1, error: 0 }, 'a refused change changes nothing');
});

t.test('outage: every /v1 call refused (503), nothing booked; off again, all is normal', async (t) => {
  const s = await start(t);
  await s.put({ outage: true });
  const p = params();
  const e = await unavailable(s.client.authorize(p));
  t.equal(e.kind, 'server_error');
  await unavailable(s.client.inquire(p.reference));
  await s.put({ outage: false });
  t.equal(await s.client.inquire(p.reference), null, 'nothing was executed');
  t.equal((await s.client.authorize(p)).status, 'approved');
});

t.test('error: a 5xx, not executed, written to the fault log', async (t) => {
  const s = await start(t, parseFaults('error=1'));
  const p = params();
  t.equal((await unavailable(s.client.authorize(p))).kind, 'server_error');
  t.equal(await s.client.inquire(p.reference), null);
  t.match(await s.faultLog(p.reference), [{ kind: 'error', executed: false }]);
});

t.test('duplicate: executed twice, two network references for one request', async (t) => {
  const s = await start(t, parseFaults('duplicate=1'));
  const p = params();
  const r = await s.client.authorize(p);
  t.equal(r.status, 'approved');
  const all = await s.client.inquireAll(p.reference);
  t.equal(all.length, 2, 'two bookings');
  t.equal(all[0]?.networkRef, r.networkRef, 'the first is the answer the caller got');
  t.not(all[1]?.networkRef, r.networkRef);
  t.ok(all.every((x) => x.status === 'captured' && x.intentId === p.intentId));
  t.equal((await s.client.inquire(p.reference))?.networkRef, r.networkRef, 'inquire answers the first');
  t.match(await s.faultLog(p.reference), [{ kind: 'duplicate', executed: true, network_ref: all[1]?.networkRef }]);
  // A repeat of the request is an inquiry: no new fault, no third booking.
  await s.client.authorize(p);
  t.equal((await s.client.inquireAll(p.reference)).length, 2);
});

t.test('late_success: executed at once, answered after the caller gave up', async (t) => {
  const s = await start(t, parseFaults('late_success=1,late_ms=600'), 150);
  const p = params();
  t.equal((await unavailable(s.client.authorize(p))).kind, 'timeout');
  const tx = await s.client.inquire(p.reference);
  t.equal(tx?.status, 'captured', 'the network did authorize');
  t.match(await s.faultLog(p.reference), [{ kind: 'late_success', executed: true, network_ref: tx?.networkRef }]);
});

t.test('timeout: hangs past the caller; executed (late) or not, as the ledger says', async (t) => {
  const s = await start(t, parseFaults('timeout=1,late_ms=300,seed=3'), 100);
  const refs: string[] = [];
  for (let i = 0; i < 8; i++) {
    const p = params();
    refs.push(p.reference);
    t.equal((await unavailable(s.client.authorize(p))).kind, 'timeout');
  }
  await new Promise((r) => setTimeout(r, 500));
  let executed = 0;
  for (const ref of refs) {
    const [f] = await s.faultLog(ref);
    const tx = await s.client.inquire(ref);
    t.equal(f?.kind, 'timeout');
    t.equal(tx !== null, f?.executed, `${ref}: booked exactly when the fault log says executed`);
    if (tx) executed++;
  }
  t.ok(executed > 0 && executed < refs.length, `some executed (${executed} of ${refs.length}), some not`);
  // The fault log survives in the ledger file.
  t.ok(readFileSync(s.ledgerPath, 'utf8').split('\n').some((l) => l.includes('"fault"') && l.includes('"timeout"')));
});

t.test('ledger API and the daily settlement file', async (t) => {
  const s = await start(t);
  const a = params({ merchantId: 'acct_a', capture: true, amount: 2000 });
  const b = params({ merchantId: 'acct_b', capture: false, amount: 500 });
  const ra = await s.client.authorize(a);
  await s.client.authorize(b);
  await s.client.authorize(params({ merchantId: 'acct_a', card: { number: '4000000000000002', ...FUTURE } }));
  const today = new Date().toISOString().slice(0, 10);

  const ledger = (await (await fetch(`${s.url}/v1/ledger?merchant_id=acct_a&date=${today}`)).json()) as { data: { merchant_id: string }[] };
  t.equal(ledger.data.length, 2);
  t.ok(ledger.data.every((x) => x.merchant_id === 'acct_a'));
  t.equal(((await (await fetch(`${s.url}/v1/ledger?date=2001-01-01`)).json()) as { data: unknown[] }).data.length, 0);

  const res = await fetch(`${s.url}/v1/settlements/${today}`);
  t.match(res.headers.get('content-type'), /ndjson/);
  const rows = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as WireSettlementRow);
  t.equal(rows.length, 3);
  const rowA = rows.find((r) => r.network_ref === ra.networkRef);
  t.same(Object.keys(rowA ?? {}).sort(), ['amount', 'amount_captured', 'amount_refunded', 'attempt_id', 'created_at', 'currency', 'fee', 'intent_id', 'merchant_id', 'network_ref', 'status', 'updated_at']);
  t.match(rowA, { merchant_id: 'acct_a', intent_id: a.intentId, attempt_id: a.reference, amount: 2000, currency: 'usd', status: 'captured', fee: Math.round(2000 * 0.029) + 30 });
  t.match(rows.find((r) => r.attempt_id === b.reference), { status: 'authorized', fee: 0 });
  t.match(rows.find((r) => r.status === 'declined'), { fee: 0 });
  // Through the client, one merchant's.
  t.equal((await s.client.settlement(today, 'acct_b')).length, 1);
  t.equal((await fetch(`${s.url}/v1/settlements/not-a-date`)).status, 400);
});

t.test('EPN_FAULTS at start: the simulator process reads it; a bad value exits with code 2', async (t) => {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const root = path.resolve(import.meta.dirname, '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'epn-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (faults: string) =>
    spawn(process.execPath, ['--import', 'tsx', 'epn/sim/main.ts'], { cwd: root, env: { PATH: process.env.PATH ?? '', EPN_PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'silent', EPN_FAULTS: faults }, stdio: ['ignore', 'pipe', 'pipe'] });

  const bad = run('timeout=7');
  let stderr = '';
  bad.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => bad.once('exit', r));
  t.equal(code, 2);
  t.match(stderr, /EPN_FAULTS: timeout: a probability between 0 and 1/);

  const ok = run('outage,latency_ms=5,seed=9');
  t.teardown(() => void ok.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: ok.stdout }).on('line', (l) => {
      const m = /EPN_LISTENING (\S+)/.exec(l);
      if (m) resolve(m[1]!);
    });
    ok.once('exit', (c) => reject(new Error(`exited ${String(c)}`)));
  });
  t.match(await (await fetch(`${url}/admin/faults`)).json(), { outage: true, latency_ms: 5, seed: 9 });
  t.equal((await fetch(`${url}/v1/transactions?reference=x`)).status, 503, 'outage from the start');
  ok.kill('SIGTERM');
});
