// Rate limits per merchant and mode: the token bucket's arithmetic (given/when/then), one limit
// shared by two gateway processes through NATS KV (not a limit per process), Stripe's 429 with
// Retry-After, the per-merchant setting, and a noisy merchant not slowing a quiet one (measured).
import t from 'tap';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blockSize, refillAndTake } from '../gateway/rate-limit.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';

t.test('the token bucket', async (t) => {
  // given an empty bucket at rate 10/s, when 250 ms pass, then 2 tokens can be taken and half a token stays
  let b = refillAndTake({ t: 0, at: 1000 }, 1250, 10, 5);
  t.equal(b.granted, 2);
  t.ok(Math.abs(b.t - 0.5) < 1e-9);
  t.equal(b.at, 1250);
  // given a full bucket, when a block is asked for, then it is granted and the rest stays
  b = refillAndTake({ t: 10, at: 0 }, 0, 10, 3);
  t.same([b.granted, b.t], [3, 7]);
  // given a long idle time, then the bucket holds one second of burst, no more
  b = refillAndTake({ t: 0, at: 0 }, 60_000, 10, 100);
  t.same([b.granted, b.t], [10, 0]);
  // given a clock behind the bucket's (another gateway's), then nothing is refilled and time does not go back
  b = refillAndTake({ t: 1, at: 5000 }, 4000, 10, 5);
  t.same([b.granted, b.at], [1, 5000]);
  // given a capacity above the rate (a burst), then refill stops at the capacity
  b = refillAndTake({ t: 0, at: 0 }, 60_000, 5, 0, 50);
  t.same([b.granted, b.t], [0, 50]);
  t.equal(blockSize(100), 5, '100/s leases 5 at a time');
  t.equal(blockSize(10), 1, 'a small limit leases one token at a time (exact)');
});

interface Res {
  status: number;
  ms: number;
  retryAfter: string | null;
  body: string;
}

async function call(url: string, key: string): Promise<Res> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/payment_intents?limit=1`, { headers: { authorization: `Bearer ${key}` } });
  const body = await r.text();
  return { status: r.status, ms: performance.now() - t0, retryAfter: r.headers.get('retry-after'), body };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

t.test('one limit across two gateway processes; noisy merchants do not slow quiet ones', async (t) => {
  const stack = await startStack(t);
  const admin = async (p: string, body: unknown) =>
    fetch(`${stack.url}${p}`, { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const noisy = await stack.onboard({ name: 'Noisy' });
  const quiet = await stack.onboard({ name: 'Quiet' });
  const LIMIT = 10;
  t.equal((await admin(`/admin/merchants/${noisy.merchant_id}/security`, { rate_limit: { test: LIMIT } })).status, 200);

  // Two gateway-only processes on the same NATS, keys and master key as the stack.
  const masterKey = (await readFile(path.join(stack.dataDir, 'keys', 'master.key'), 'utf8')).trim();
  const dirs: string[] = [];
  const gateways: WorkerProcess[] = [];
  for (const id of ['gw_a', 'gw_b']) {
    const dir = await mkdtemp(path.join(os.tmpdir(), `paynats-${id}-`));
    dirs.push(dir);
    gateways.push(spawnWorker(id, { ROLES: 'gateway', NATS_URL: stack.nats.url, DATA_DIR: dir, MASTER_KEY: masterKey, PORT: '0', PARTITIONS: '4', LOG_LEVEL: 'info', RATE_LIMIT_TEST: '100000' }));
  }
  t.teardown(async () => {
    for (const g of gateways) g.kill('SIGKILL');
    await Promise.all(gateways.map((g) => g.exited));
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const urls = await Promise.all(
    gateways.map((g) =>
      eventually(async () => g.logs.find((l) => l.msg === 'gateway listening')?.url as string | undefined, 60_000, 100).catch((err: Error) => {
        throw new Error(`${g.id}: ${err.message}\n${g.raw.slice(-20).join('\n')}`);
      }),
    ),
  );
  // Both up and serving the quiet merchant (also warms their key caches).
  for (const u of urls) t.equal((await call(u, quiet.secret_key)).status, 200);

  t.test('a burst split over both gateways gets one shared allowance', async (t) => {
    // Start at the top of a fresh bucket: wait out anything spent before.
    await new Promise((r) => setTimeout(r, 1200));
    const N = 40;
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: N }, (_, i) => call(urls[i % 2]!, noisy.secret_key).then((r) => ({ ...r, gw: i % 2 }))));
    const elapsedS = (performance.now() - t0) / 1000;
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    t.equal(ok.length + limited.length, N, 'every answer is 200 or 429');
    // One bucket: a second of burst plus what refilled while the burst ran (+1 for rounding).
    const bound = LIMIT + Math.ceil(LIMIT * elapsedS) + 1;
    t.ok(ok.length <= bound, `${ok.length} accepted in ${elapsedS.toFixed(2)} s across both gateways (shared bound ${bound}; a limit per process would accept ${2 * LIMIT}+)`);
    t.ok(ok.length >= LIMIT / 2, 'the allowance is used, not lost');
    t.ok(limited.some((r) => r.gw === 0) && limited.some((r) => r.gw === 1), 'both gateways refuse once the shared bucket is empty');
    const e = JSON.parse(limited[0]!.body) as { error: { type: string; code: string; message: string } };
    t.equal(e.error.type, 'rate_limit_error');
    t.equal(e.error.code, 'rate_limit');
    t.ok(Number(limited[0]!.retryAfter) >= 1, `Retry-After: ${limited[0]!.retryAfter}`);
    // The quiet merchant is not affected by the noisy one's empty bucket.
    t.equal((await call(urls[0]!, quiet.secret_key)).status, 200);
    // Live mode has its own bucket.
    t.equal((await call(urls[1]!, (noisy as unknown as { live_secret_key: string }).live_secret_key)).status, 200, 'live mode is limited separately');
    // After Retry-After, requests pass again.
    await new Promise((r) => setTimeout(r, Number(limited[0]!.retryAfter) * 1000));
    t.equal((await call(urls[0]!, noisy.secret_key)).status, 200, 'accepted again after Retry-After');
  });

  t.test('a noisy merchant does not slow a quiet one (figures in the output)', async (t) => {
    const sample = async (n: number) => {
      const ms: number[] = [];
      let limited = 0;
      for (let i = 0; i < n; i++) {
        const r = await call(urls[0]!, quiet.secret_key);
        if (r.status === 429) limited++;
        ms.push(r.ms);
      }
      return { ms, limited };
    };
    await sample(20); // warm-up
    const base = await sample(100);
    // Noise: 16 concurrent loops hammering one merchant on the same gateway.
    const withNoise = async (key: string) => {
      let stop = false;
      let sent = 0;
      let refused = 0;
      const loops = Array.from({ length: 16 }, async () => {
        while (!stop) {
          const r = await call(urls[0]!, key);
          sent++;
          if (r.status === 429) refused++;
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      const run = await sample(100);
      stop = true;
      await Promise.all(loops);
      return { ...run, sent, refused };
    };
    // The same noise from a merchant without a limit, for comparison: what the limit saves.
    const unlimited = await stack.onboard({ name: 'Unlimited' });
    const unlimitedRun = await withNoise(unlimited.secret_key);
    const noisyRun = await withNoise(noisy.secret_key);
    const noiseSent = noisyRun.sent;
    const noise429 = noisyRun.refused;
    const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
    t.comment(`quiet merchant alone:                         ${fmt(base.ms)}`);
    t.comment(`quiet merchant beside an unlimited merchant:  ${fmt(unlimitedRun.ms)} (noise: ${unlimitedRun.sent} requests, all served)`);
    t.comment(`quiet merchant beside a limited (10/s) one:   ${fmt(noisyRun.ms)} (noise: ${noiseSent} requests, ${noise429} answered 429)`);
    t.equal(base.limited + noisyRun.limited + unlimitedRun.limited, 0, 'the quiet merchant is never limited');
    t.ok(noise429 > noiseSent / 2, 'the noisy merchant is held to its limit');
    // Generous (the machine is shared): the noise costs the quiet merchant no more than a few ms at the median.
    t.ok(pct(noisyRun.ms, 50) < pct(base.ms, 50) * 4 + 25, 'the quiet merchant keeps its latency');
  });
});
