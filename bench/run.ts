// `npm run bench`: the load generator (its own process). Starts the stack through scripts/start.ts
// in a fresh temp DATA_DIR (or targets a running one with --target DATA_DIR), measures the raw
// JetStream append rate on the same server as a baseline, onboards merchants whose webhooks come
// back to this process, runs the full payment path at a concurrency, and reports payments/s (only
// payments that succeeded AND whose payment_intent.succeeded webhook arrived), latency per endpoint,
// webhook lag, projector lag, errors, durable appends and HTTP requests per payment, CPU and RSS per
// process. Results go to bench/results/<timestamp>-<label>.json; bench/chart.ts draws them.
// Loopback only; every loop is bounded in count and time. `--help` lists the options.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { renderChart } from './chart.ts';
import { httpClient, onboard, runLoad, sdkClient, spreadMerchantIds, type LoadResult } from './load.ts';
import { summarizeProfiles, type ProfileSummary } from './profile.ts';
import { startSampler, waitQuiet, type ProcessUsage, type MachineUsage } from './procstat.ts';
import { startMemorySampler, type MemoryReport } from './memory.ts';
import { rawAppendRate, type RawResult } from './raw.ts';
import { createBenchDatabase, DEFAULT_ADMIN_URL, type BenchDatabase } from './database.ts';
import { monitorUrl, perPayment, readVarz } from './varz.ts';
import { ROOT, startStack, targetStack, type Stack } from './stack.ts';
import { round, sleep, summarize, table, type Summary } from './stats.ts';
import { startReceiver } from './webhooks.ts';

const HELP = `npm run bench -- [options]
  --payments N         payments per run (default 2000; 500 per point with --sweep)
  --concurrency C      payments in flight (default 32)
  --workers W          actor worker processes: the main node + W-1 ROLES=actors workers (default 1)
  --merchants M        merchants, spread over partitions (default 16)
  --sync S             NATS_SYNC of the nats-server: always (default) | periodic (= 2m) | a duration
  --compare-sync       run with sync always and with 2m, report both
  --sweep              grid: concurrency 8,32,64 × workers 1,2 (override with --sweep-concurrency, --sweep-workers)
  --target DATA_DIR    use a running stack (npm start) instead of starting one
  --json               the last line printed is one JSON object
  --time-cap S         max seconds of load per run (default 180)
  --drain S            max seconds to wait for webhooks and the projector after the load (default 30)
  --decline-every K    every K-th payment is declined first, then retried (default 10; 0 = none)
  --events LIST        webhook events the merchants subscribe to (default payment_intent.succeeded,payment_intent.payment_failed; '*' = all)
  --client http|sdk    node:http keep-alive (default) or the stripe SDK on a keep-alive agent
  --log-level L        LOG_LEVEL of the stack (default warn; info logs every request)
  --raw-messages N     messages for the raw append baseline (default 20000)
  --cpu-prof           profile the stack's node processes (V8 sampling profiler); summarize top self time per process
  --wait-quiet S       before each run, wait up to S seconds for the machine to be < 25 % busy (shared machines)
  --label TEXT         added to the result file name
  --no-save            do not write bench/results/
  --keep               keep the stack's temp DATA_DIR
  --database D         pglite (default, like npm start) | postgres: a fresh database on BENCH_DATABASE_URL
                       (default ${DEFAULT_ADMIN_URL}), dropped afterwards
  --split              SPLIT=1: gateway + projector in the main node, actors + webhooks + reconcile in a second process
  --duration S         run for S seconds instead of a payment count (payments unbounded; --time-cap, if given, still
                       bounds it; without it the cap is S + 60); memory is reported after the warm-up
  --warmup S           memory: seconds of load before the start sample (default 20 % of the load, at most 60)
  --memory-every S     memory: seconds between RSS / heap samples (default 5)
  --heap-snapshots     node processes get --heapsnapshot-signal=SIGUSR2; the bench takes a heap snapshot of each at the
                       end of the warm-up and at the end of the load (kept in a temp dir; diff with bench/heapdiff.ts)`;

type Opts = ReturnType<typeof parseArgs>;

function databaseOf(v: string): 'pglite' | 'postgres' {
  if (v !== 'pglite' && v !== 'postgres') throw new Error(`--database must be pglite or postgres, got '${v}'`);
  return v;
}

function parseArgs(argv: string[]) {
  const flags = new Set<string>();
  const vals = new Map<string, string>();
  const boolean = new Set(['json', 'compare-sync', 'sweep', 'cpu-prof', 'no-save', 'keep', 'help', 'split', 'no-split', 'heap-snapshots']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}' (see --help)`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (boolean.has(k)) flags.add(k);
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${k} needs a value`);
      vals.set(k, v);
    }
  }
  const known = new Set(['database', 'payments', 'concurrency', 'workers', 'merchants', 'sync', 'sweep-concurrency', 'sweep-workers', 'target', 'time-cap', 'drain', 'decline-every', 'events', 'client', 'log-level', 'raw-messages', 'label', 'wait-quiet', 'duration', 'warmup', 'memory-every']);
  for (const k of vals.keys()) if (!known.has(k)) throw new Error(`unknown option --${k} (see --help)`);
  const int = (k: string, d: number, min: number, max: number) => {
    const v = vals.get(k);
    if (v === undefined) return d;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`--${k} must be an integer in ${min}..${max}, got '${v}'`);
    return Number(v);
  };
  const list = (k: string, d: number[], max: number) =>
    (vals.get(k) ?? d.join(',')).split(',').map((s) => {
      if (!/^\d+$/.test(s.trim()) || Number(s) < 1 || Number(s) > max) throw new Error(`--${k}: '${s}' is not an integer in 1..${max}`);
      return Number(s);
    });
  const syncOf = (s: string) => (s === 'periodic' ? '2m' : s);
  const sync = syncOf(vals.get('sync') ?? 'always');
  if (!/^(always|\d+(ms|s|m))$/.test(sync)) throw new Error(`--sync must be always, periodic or a duration like 2m, got '${sync}'`);
  const client = vals.get('client') ?? 'http';
  if (client !== 'http' && client !== 'sdk') throw new Error(`--client must be http or sdk`);
  const sweep = flags.has('sweep');
  const durationS = int('duration', 0, 0, 86_400);
  return {
    durationMs: durationS * 1000,
    warmupMs: vals.has('warmup') ? int('warmup', 0, 0, 86_400) * 1000 : null,
    memoryEveryMs: int('memory-every', 5, 1, 600) * 1000,
    heapSnapshots: flags.has('heap-snapshots'),
    payments: int('payments', sweep ? 500 : 2000, 1, 1_000_000),
    concurrency: int('concurrency', 32, 1, 1024),
    workers: int('workers', 1, 1, 16),
    merchants: int('merchants', 16, 1, 1000),
    sync,
    compareSync: flags.has('compare-sync'),
    sweep,
    sweepConcurrency: list('sweep-concurrency', [8, 32, 64], 1024),
    sweepWorkers: list('sweep-workers', [1, 2], 16),
    target: vals.get('target'),
    json: flags.has('json'),
    timeCapMs: int('time-cap', durationS > 0 ? Math.min(86_400, durationS + 60) : 180, 1, 86_400) * 1000,
    drainMs: int('drain', 30, 0, 600) * 1000,
    declineEvery: int('decline-every', 10, 0, 1_000_000),
    events: (vals.get('events') ?? 'payment_intent.succeeded,payment_intent.payment_failed').split(',').map((s) => s.trim()).filter(Boolean),
    client: client as 'http' | 'sdk',
    logLevel: vals.get('log-level') ?? 'warn',
    rawMessages: int('raw-messages', 20_000, 100, 1_000_000),
    cpuProf: flags.has('cpu-prof'),
    label: vals.get('label'),
    waitQuietMs: int('wait-quiet', 0, 0, 3600) * 1000,
    save: !flags.has('no-save'),
    keep: flags.has('keep'),
    help: flags.has('help'),
    split: flags.has('split') && !flags.has('no-split'),
    database: databaseOf(vals.get('database') ?? 'pglite'),
  };
}

function cpuPerPayment(processes: ProcessUsage[], perS: number): RunResult['cpu_ms_per_payment'] {
  const by: Record<string, number> = {};
  const threads: Record<string, { main: number; other_threads: number }> = {};
  let stack = 0;
  const perPayment = (pct: number) => (perS > 0 ? (pct * 10) / perS : 0);
  for (const p of processes) {
    if (p.name === 'supervisor' || p.name.startsWith('bench')) continue;
    const ms = perPayment(p.cpu_avg_pct);
    by[p.name] = round(ms, 2);
    stack += ms;
    if (p.name.startsWith('node')) {
      const main = perPayment(p.main_thread_cpu_avg_pct);
      threads[p.name] = { main: round(main, 2), other_threads: round(Math.max(0, ms - main), 2) };
    }
  }
  return { stack: round(stack, 2), by_process: by, node_threads: threads };
}

const say = (s: string) => process.stderr.write(`[bench] ${s}\n`);

interface StreamCounts {
  [stream: string]: { messages: number; last_seq: number; memory: boolean };
}

async function streamCounts(jsm: JetStreamManager): Promise<StreamCounts> {
  const out: StreamCounts = {};
  for await (const si of jsm.streams.list()) {
    if (si.config.name === 'BENCH_RAW') continue;
    out[si.config.name] = { messages: si.state.messages, last_seq: si.state.last_seq, memory: si.config.storage === 'memory' };
  }
  return out;
}

async function pending(jsm: JetStreamManager, stream: string, consumer: string): Promise<number | null> {
  try {
    const ci = await jsm.consumers.info(stream, consumer);
    return ci.num_pending + ci.num_ack_pending;
  } catch {
    return null;
  }
}

export interface RunResult {
  label: string;
  timestamp: string;
  payments_per_s: number;
  p99_confirm_ms: number;
  webhook_lag_p99_ms: number;
  errors: number;
  raw_append_per_s: number;
  ratio: number;
  confirmed_per_s: number;
  payments_counted: number;
  payments_succeeded: number;
  payments_attempted: number;
  window_s: number;
  latency_ms: Record<string, Summary>;
  /** Confirm answer → payment_intent.succeeded received (negative: the webhook came first). */
  webhook_lag_ms: Summary;
  /** Confirm sent → payment_intent.succeeded received (always ≥ 0; includes the confirm itself). */
  webhook_lag_from_confirm_sent_ms: Summary;
  webhooks: { deliveries: number; per_payment: number; by_type: Record<string, number>; missing: number; duplicates: number; signatures_verified: number; signatures_failed: number };
  projector: { pending_max: number | null; pending_at_load_end: number | null; catch_up_ms: number | null; webhook_delivery_pending_max: number | null };
  errors_by_type: Record<string, number>;
  /** Payments the time cap kept from starting (not errors). */
  payments_not_run_time_cap: number;
  declines_intended: number;
  appends_per_payment: number;
  appends_by_stream_per_payment: Record<string, number>;
  memory_appends_per_payment: number;
  memory_appends_by_stream_per_payment: Record<string, number>;
  background_appends: Record<string, number>;
  http_requests_per_payment: number;
  /**
   * CPU time the stack spends on one payment (ms, from the average CPU % during the load ÷
   * payments/s), per process and in all (the bench and the supervisor left out; a Postgres server
   * is not watched). Less sensitive to a busy machine than payments/s.
   */
  cpu_ms_per_payment: {
    stack: number;
    by_process: Record<string, number>;
    /**
     * Each node process's share split into its main thread (the event loop) and its other threads
     * (the read model's PGlite worker thread, V8's GC helpers): what a faster event loop can save.
     */
    node_threads: Record<string, { main: number; other_threads: number }>;
  };
  /** Messages through nats-server per succeeded payment (its /varz in + out), drain included. */
  nats_msgs_per_payment: ReturnType<typeof perPayment>;
  processes: ProcessUsage[];
  machine: MachineUsage;
  raw: RawResult;
  config: Record<string, unknown>;
  timed_out: boolean;
  cpu_profile?: ProfileSummary[];
  /**
   * RSS of every watched process, and V8 heap used / external memory of the node that serves
   * /metrics, sampled every --memory-every s; start = median of the 15 s after the warm-up, end =
   * median of the last 15 s of the load (bench/memory.ts).
   */
  memory: MemoryReport;
  /** --heap-snapshots: where the snapshots went. */
  heap_snapshots?: { dir: string; taken: { at: string; pid: number; name: string }[] };
  file?: string;
}

/** Node processes of the stack (not nats-server, epn, the supervisor or the bench). */
const isStackNode = (name: string) => /^(node|worker|services)\b/.test(name);

async function runOne(stack: Stack, nc: NatsConnection, raw: RawResult, o: Opts, point: { concurrency: number; workers: number; sync: string }, heapDir: string | null): Promise<RunResult> {
  const jsm = await jetstreamManager(nc);
  const tag = randomBytes(3).toString('hex');
  if (o.waitQuietMs > 0) await waitQuiet(25, o.waitQuietMs, say);
  const receiver = await startReceiver();
  try {
    const partitions = Number(process.env.PARTITIONS ?? 16) || 16;
    const ids = spreadMerchantIds(tag, o.merchants, partitions);
    const merchants = await onboard(stack.demo.url, stack.demo.admin_token, ids, receiver.url, o.events);
    for (const m of merchants) receiver.secrets[m.index] = m.webhook_secret;
    const payments = o.durationMs > 0 ? 1_000_000_000 : o.payments;
    say(`run c=${point.concurrency} w=${point.workers} sync=${point.sync}: ${merchants.length} merchants onboarded; ${o.durationMs > 0 ? `for ${o.durationMs / 1000} s` : `${o.payments} payments`}…`);
    await sleep(300);
    const before = await streamCounts(jsm);
    const monitor = monitorUrl(stack.dataDir);
    const varzBefore = await readVarz(monitor);
    const deliveriesBefore = receiver.deliveries();

    // Projector / webhook backlog during the load.
    const projPending: number[] = [];
    const deliveryPending: number[] = [];
    let sampling = true;
    const lagLoop = (async () => {
      for (let i = 0; sampling && i < 100_000; i++) {
        const p = await pending(jsm, 'PAY_EVENTS', 'projector');
        if (p !== null) projPending.push(p);
        const d = await pending(jsm, 'PAY_WEBHOOKS', 'webhook_delivery');
        if (d !== null) deliveryPending.push(d);
        await sleep(500);
      }
    })();
    const self = { name: 'bench (load generator)', pid: process.pid };
    const sampler = startSampler(() => [...stack.watched(), self], 1000);
    const memory = startMemorySampler({
      watched: () => [...stack.watched(), self],
      // Only the gateway's node serves /metrics on the stack's URL (other processes have it only with METRICS_PORT).
      metricsUrl: (w) => (/^node\b/.test(w.name) ? `${stack.demo.url}/metrics` : null),
      everyMs: o.memoryEveryMs,
      natsMonitor: monitorUrl(stack.dataDir),
    });
    // Warm-up before the memory start sample: --warmup, or 20 % of the planned load (at most 60 s).
    const plannedMs = o.durationMs > 0 ? Math.min(o.durationMs, o.timeCapMs) : null;
    const warmupMs = o.warmupMs ?? (plannedMs !== null ? Math.min(60_000, plannedMs * 0.2) : null);
    const snapshots: { at: string; pid: number; name: string }[] = [];
    const heapSnapshot = (at: string) => {
      if (!heapDir) return;
      for (const w of stack.watched()) {
        if (!isStackNode(w.name)) continue;
        try {
          process.kill(w.pid, 'SIGUSR2');
          snapshots.push({ at, pid: w.pid, name: w.name });
          say(`heap snapshot (${at}) of ${w.name} pid ${w.pid} → ${heapDir}`);
        } catch {
          /* gone */
        }
      }
    };
    const warmTimer = heapDir ? setTimeout(() => heapSnapshot('warm'), warmupMs ?? 30_000) : null;
    const client = o.client === 'sdk' ? sdkClient(stack.demo.url, point.concurrency) : httpClient(stack.demo.url, point.concurrency);
    const hrStart = process.hrtime.bigint();
    let load: LoadResult;
    try {
      load = await runLoad({
        client,
        merchants,
        payments,
        concurrency: point.concurrency,
        declineEvery: o.declineEvery,
        timeCapMs: o.timeCapMs,
        runTag: tag,
        ...(o.durationMs > 0 ? { durationMs: o.durationMs } : {}),
        onProgress: (d) => (o.durationMs > 0 ? d % 2500 === 0 && say(`  ${d} payments, ${round(memory.elapsedMs() / 1000, 0)} s`) : say(`  ${d}/${o.payments}`)),
      });
    } finally {
      client.close();
      if (warmTimer) clearTimeout(warmTimer);
    }
    const hrEnd = process.hrtime.bigint();
    const usage = sampler.stop();
    const loadMs = load.ended_at - load.started_at;
    const memoryReport = await memory.stop(warmupMs ?? Math.min(60_000, loadMs * 0.2));
    heapSnapshot('end');
    const pendingAtEnd = await pending(jsm, 'PAY_EVENTS', 'projector');
    sampling = false;
    await lagLoop;

    // Drain: webhooks of the succeeded payments, then the projector.
    const succeeded = load.payments.filter((p) => p.succeeded && p.intentId);
    const drainUntil = performance.now() + o.drainMs;
    await receiver.waitForAll(
      succeeded.map((p) => p.intentId!),
      drainUntil,
    );
    let catchUp: number | null = null;
    for (let i = 0; i < 10_000; i++) {
      const p = await pending(jsm, 'PAY_EVENTS', 'projector');
      if (p === 0) {
        catchUp = round(Math.max(0, performance.now() - load.ended_at), 0);
        break;
      }
      if (performance.now() > drainUntil) break;
      await sleep(100);
    }
    await sleep(500); // receipts of the last webhook tries
    const varzAfter = await readVarz(monitor);
    const after = await streamCounts(jsm);

    const counted = succeeded.filter((p) => receiver.succeeded.has(p.intentId!));
    let end = load.started_at;
    const lags: number[] = [];
    const lagsFromSent: number[] = [];
    for (const p of counted) {
      const first = receiver.succeeded.get(p.intentId!)![0]!;
      end = Math.max(end, p.confirmedAt, first);
      lags.push(first - p.confirmedAt);
      lagsFromSent.push(first - p.confirmSentAt);
    }
    const windowS = (end - load.started_at) / 1000;
    const loadS = (load.ended_at - load.started_at) / 1000;
    const paymentsPerS = windowS > 0 ? counted.length / windowS : 0;
    const duplicates = succeeded.filter((p) => (receiver.succeeded.get(p.intentId!)?.length ?? 0) > 1).length;
    const errorsByType: Record<string, number> = { ...load.errors };
    const missing = succeeded.length - counted.length;
    if (missing > 0) errorsByType['webhook:missing'] = missing;
    const incomplete = load.payments.length - succeeded.length;
    if (incomplete > 0) errorsByType['payment:not_succeeded'] = incomplete;
    // Payments the time cap kept from starting are not failures: reported apart, not in `errors`.
    const notRun = o.durationMs > 0 ? 0 : o.payments - load.payments.length;
    const ver = receiver.verified();
    if (ver.failed > 0) errorsByType['webhook:bad_signature'] = ver.failed;
    if (duplicates > 0) errorsByType['webhook:duplicate_succeeded'] = duplicates;

    // Durable appends: stream sequence deltas (a KV with history 1 replaces, so last_seq, not messages).
    const n = Math.max(1, succeeded.length);
    const appendsBy: Record<string, number> = {};
    const memoryBy: Record<string, number> = {};
    const background: Record<string, number> = {};
    let appends = 0;
    let memoryAppends = 0;
    for (const [name, a] of Object.entries(after)) {
      const d = a.last_seq - (before[name]?.last_seq ?? 0);
      if (d <= 0) continue;
      // Lease renewals happen on a clock, not per payment.
      if (name === 'KV_pay_owners') {
        background[name] = d;
        continue;
      }
      // Memory-storage streams are not durable (no disk, no fsync): counted apart.
      if (a.memory) {
        memoryBy[name] = round(d / n, 2);
        memoryAppends += d;
        continue;
      }
      appendsBy[name] = round(d / n, 2);
      appends += d;
    }
    const deliveries = receiver.deliveries() - deliveriesBefore;
    const confirm = load.latency.confirm;
    const stamp = new Date().toISOString();
    const label = `c${point.concurrency}-w${point.workers}-${point.sync === 'always' ? 'always' : `sync${point.sync}`}${o.split ? '-split' : ''}${o.database === 'postgres' ? '-pg' : ''}${o.durationMs > 0 ? `-d${o.durationMs / 1000}s` : ''}${o.label ? `-${o.label}` : ''}`;
    return {
      label,
      timestamp: stamp,
      payments_per_s: round(paymentsPerS, 1),
      p99_confirm_ms: confirm.p99,
      webhook_lag_p99_ms: summarize(lags).p99,
      errors: Object.values(errorsByType).reduce((a, b) => a + b, 0),
      raw_append_per_s: raw.raw_append_per_s,
      ratio: raw.raw_append_per_s > 0 ? round(paymentsPerS / raw.raw_append_per_s, 4) : 0,
      confirmed_per_s: round(loadS > 0 ? succeeded.length / loadS : 0, 1),
      payments_counted: counted.length,
      payments_succeeded: succeeded.length,
      payments_attempted: load.payments.length,
      window_s: round(windowS, 2),
      latency_ms: { ...load.latency },
      webhook_lag_ms: summarize(lags),
      webhook_lag_from_confirm_sent_ms: summarize(lagsFromSent),
      webhooks: {
        deliveries,
        per_payment: round(deliveries / n, 2),
        by_type: Object.fromEntries(receiver.byType),
        missing,
        duplicates,
        signatures_verified: ver.ok,
        signatures_failed: ver.failed,
      },
      projector: {
        pending_max: projPending.length ? Math.max(...projPending) : null,
        pending_at_load_end: pendingAtEnd,
        catch_up_ms: catchUp,
        webhook_delivery_pending_max: deliveryPending.length ? Math.max(...deliveryPending) : null,
      },
      errors_by_type: errorsByType,
      payments_not_run_time_cap: notRun,
      declines_intended: load.declines_intended,
      appends_per_payment: round(appends / n, 2),
      appends_by_stream_per_payment: appendsBy,
      memory_appends_per_payment: round(memoryAppends / n, 2),
      memory_appends_by_stream_per_payment: memoryBy,
      background_appends: background,
      http_requests_per_payment: round(load.http_requests / n, 2),
      cpu_ms_per_payment: cpuPerPayment(usage.processes, paymentsPerS),
      nats_msgs_per_payment: perPayment(varzBefore, varzAfter, n),
      processes: usage.processes,
      machine: usage.machine,
      raw,
      memory: memoryReport,
      ...(heapDir ? { heap_snapshots: { dir: heapDir, taken: snapshots } } : {}),
      config: {
        payments: o.durationMs > 0 ? null : o.payments,
        duration_s: o.durationMs > 0 ? o.durationMs / 1000 : null,
        concurrency: point.concurrency,
        workers: point.workers,
        sync: point.sync,
        merchants: merchants.length,
        partitions,
        decline_every: o.declineEvery,
        events: o.events,
        client: o.client,
        log_level: stack.own ? o.logLevel : '(target)',
        target: stack.own ? null : stack.dataDir,
        node: process.version,
        cpus: os.cpus().length,
        mem_gib: round(os.totalmem() / 2 ** 30, 1),
        hr_window_us: [Number(hrStart / 1000n), Number(hrEnd / 1000n)],
        cpu_prof: o.cpuProf,
        split: o.split,
        database: o.target ? null : o.database,
      },
      timed_out: load.timed_out,
    };
  } finally {
    await receiver.close();
  }
}

function printRun(r: RunResult) {
  const out: string[] = [];
  out.push(`\n== ${r.label}  (${r.config.payments} payments, concurrency ${r.config.concurrency}, workers ${r.config.workers}, NATS_SYNC ${r.config.sync}, client ${r.config.client})`);
  out.push(
    table([
      ['metric', 'value'],
      ['payments/s (succeeded + webhook)', r.payments_per_s],
      ['stack CPU ms per payment', r.cpu_ms_per_payment.stack],
      ...Object.entries(r.cpu_ms_per_payment.node_threads).map(([name, t]): [string, string] => [`  ${name}: main thread / other threads`, `${t.main} / ${t.other_threads} ms`]),
      ['NATS messages per payment (server in + out)', r.nats_msgs_per_payment ? `${r.nats_msgs_per_payment.total} (${r.nats_msgs_per_payment.in} in, ${r.nats_msgs_per_payment.out} out)` : 'n/a'],
      ['confirmed/s (HTTP only)', r.confirmed_per_s],
      ['payments counted / succeeded / run', `${r.payments_counted} / ${r.payments_succeeded} / ${r.payments_attempted}`],
      ['raw JetStream appends/s (256 in flight)', r.raw_append_per_s],
      ['raw appends/s, each awaited', r.raw.raw_serial_append_per_s],
      ['ratio payments/s ÷ raw', r.ratio],
      ['durable appends per payment (file streams)', r.appends_per_payment],
      ['memory-stream appends per payment', r.memory_appends_per_payment],
      ['HTTP requests per payment', r.http_requests_per_payment],
      ['webhook deliveries per payment', r.webhooks.per_payment],
      ['webhook lag p50 / p99 ms (from confirm answer)', `${r.webhook_lag_ms.p50} / ${r.webhook_lag_ms.p99}`],
      ['webhook lag p50 / p99 ms (from confirm sent)', `${r.webhook_lag_from_confirm_sent_ms.p50} / ${r.webhook_lag_from_confirm_sent_ms.p99}`],
      ['projector pending max / at end, catch-up ms', `${r.projector.pending_max} / ${r.projector.pending_at_load_end}, ${r.projector.catch_up_ms}`],
      ['errors (declines intended)', `${r.errors} (${r.declines_intended})`],
    ]),
  );
  out.push('\nlatency per endpoint (ms)');
  out.push(table([['endpoint', 'n', 'p50', 'p95', 'p99', 'max'], ...Object.entries(r.latency_ms).map(([k, s]) => [k, s.n, s.p50, s.p95, s.p99, s.max])]));
  out.push(
    '\ndurable appends per payment by stream: ' +
      Object.entries(r.appends_by_stream_per_payment).map(([k, v]) => `${k} ${v}`).join(', ') +
      `; memory streams: ${Object.entries(r.memory_appends_by_stream_per_payment).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; background: ${JSON.stringify(r.background_appends)}`,
  );
  if (r.errors > 0) out.push('errors: ' + JSON.stringify(r.errors_by_type));
  out.push(`\nprocesses (CPU % of one core; machine: ${r.machine.cores} cores, busy avg ${r.machine.busy_avg_pct} %, max ${r.machine.busy_max_pct} %; CPU outside the watched processes (kernel IO threads, other work) ${r.machine.others_avg_pct} % of a core)`);
  out.push(table([['process', 'pid', 'cpu avg %', 'cpu max %', 'rss start MB', 'rss max MB', 'rss end MB'], ...r.processes.map((p) => [p.name, p.pid, p.cpu_avg_pct, p.cpu_max_pct, p.rss_start_mb, p.rss_max_mb, p.rss_end_mb])]));
  out.push(memoryText(r.memory));
  if (r.heap_snapshots) out.push(`\nheap snapshots in ${r.heap_snapshots.dir} (bench/heapdiff.ts A B compares two)`);
  if (r.cpu_profile?.length) out.push(profileText(r.cpu_profile));
  process.stdout.write(out.join('\n') + '\n');
}

function memoryText(m: MemoryReport): string {
  const f = (s: { start: number; end: number; growth_pct: number; second_half_growth_pct: number; slope_mb_per_min: number } | null) => (s ? [s.start, s.end, `${s.growth_pct} % (2nd half ${s.second_half_growth_pct} %)`, s.slope_mb_per_min] : ['', '', '', '']);
  return (
    `\nmemory after a ${m.warmup_s} s warm-up (${m.measured_s} s measured, a sample every ${m.every_ms / 1000} s; start/end = median of ${m.window_s} s; MB)\n` +
    table([
      ['process', 'rss start', 'rss end', 'rss growth', 'rss MB/min', 'heap start', 'heap end', 'heap growth', 'heap MB/min', 'external start', 'external end', 'js memory-storage start', 'end'],
      ...m.processes.map((p) => [p.name, ...f(p.rss), ...f(p.heap_used), p.external?.start ?? '', p.external?.end ?? '', p.js_memory?.start ?? '', p.js_memory?.end ?? '']),
    ])
  );
}

function profileText(ps: ProfileSummary[]): string {
  const out: string[] = ['\nCPU profile (self time during the load)'];
  for (const p of ps) {
    if (p.sampled_ms === 0) continue;
    out.push(`\n${p.process} (pid ${p.pid}): busy ${p.busy_pct} % of ${p.sampled_ms} ms sampled; by area: ${p.by_area.map((a) => `${a.area} ${a.pct}%`).join(', ')}`);
    out.push(table([['function', 'where', 'self ms', '% busy'], ...p.top.slice(0, 12).map((t) => [t.fn, t.where, t.self_ms, t.pct])]));
    out.push('charged to the nearest project file up the stack: ' + p.by_project_file.slice(0, 10).map((f) => `${f.file} ${f.pct}%`).join(', '));
  }
  return out.join('\n');
}

function printSummary(rs: RunResult[]) {
  process.stdout.write(
    '\n== summary\n' +
      table([
        ['run', 'payments/s', 'p99 confirm ms', 'webhook lag p99 ms', 'errors', 'raw appends/s', 'ratio', 'appends/payment', 'http/payment', 'other load % core'],
        ...rs.map((r) => [r.label, r.payments_per_s, r.p99_confirm_ms, r.webhook_lag_p99_ms, r.errors, r.raw_append_per_s, r.ratio, r.appends_per_payment, r.http_requests_per_payment, r.machine.others_avg_pct]),
      ]) +
      '\n',
  );
}

function save(r: RunResult): string {
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.timestamp.replace(/[:.]/g, '-')}-${r.label}.json`);
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}

let current: Stack | null = null;
async function main() {
  let o: Opts;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  if (o.help) {
    process.stdout.write(HELP + '\n');
    return;
  }
  const stop = async (sig: string) => {
    say(`${sig}: stopping the stack`);
    await current?.stop().catch(() => {});
    process.exit(130);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  const syncs = o.target ? ['(target)'] : o.compareSync ? ['always', '2m'] : [o.sync];
  const workersList = o.target ? [0] : o.sweep ? o.sweepWorkers : [o.workers];
  const concList = o.sweep ? o.sweepConcurrency : [o.concurrency];
  if (o.target && (o.compareSync || o.sweep || o.workers !== 1)) say('--target: the running stack decides workers and sync; only the concurrency varies');
  const results: RunResult[] = [];
  for (const sync of syncs) {
    for (const workers of workersList) {
      const profDir = o.cpuProf ? mkdtempSync(path.join(os.tmpdir(), 'paynats-prof-')) : null;
      const heapDir = o.heapSnapshots && !o.target ? mkdtempSync(path.join(os.tmpdir(), 'paynats-heap-')) : null;
      const nodeOptions = [
        ...(profDir ? [`--import ${path.join(ROOT, 'bench', 'cpu-prof-preload.mjs')}`] : []),
        ...(heapDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`] : []),
      ].join(' ');
      const database: BenchDatabase | null = !o.target && o.database === 'postgres' ? await createBenchDatabase() : null;
      const stack = o.target
        ? targetStack(path.resolve(o.target))
        : await startStack({
            workers,
            sync,
            logLevel: o.logLevel,
            keep: o.keep,
            say,
            env: {
              ...(o.split ? { SPLIT: '1' } : {}),
              ...(database ? { DATABASE_URL: database.url } : {}),
              ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
              ...(profDir ? { PAYNATS_CPU_PROF_DIR: profDir } : {}),
            },
          });
      current = stack;
      const names = new Map<number, string>();
      const stackRuns: RunResult[] = [];
      let nc: NatsConnection | null = null;
      try {
        nc = await connect({ servers: stack.demo.nats_url, name: 'paynats-bench' });
        const w = stack.own ? workers : (stack.demo.workers?.length ?? 1);
        const s = stack.own ? sync : 'target';
        if (o.waitQuietMs > 0) await waitQuiet(25, o.waitQuietMs, say);
        say(`raw JetStream baseline: ${o.rawMessages} appends, 256 in flight…`);
        const raw = await rawAppendRate(stack.demo.nats_url, { messages: o.rawMessages, window: 256 });
        say(`raw: ${raw.raw_append_per_s} appends/s pipelined, ${raw.raw_serial_append_per_s}/s awaited one by one`);
        for (const concurrency of concList) {
          const r = await runOne(stack, nc, raw, o, { concurrency, workers: w, sync: s }, heapDir);
          for (const p of stack.watched()) names.set(p.pid, p.name);
          stackRuns.push(r);
          say(`${r.label}: ${r.payments_per_s} payments/s, p99 confirm ${r.p99_confirm_ms} ms, webhook lag p99 ${r.webhook_lag_p99_ms} ms, errors ${r.errors}, ratio ${r.ratio}, stack CPU ${r.cpu_ms_per_payment.stack} ms/payment`);
        }
      } finally {
        await nc?.close().catch(() => {});
        await stack.stop();
        current = null;
        if (database && !o.keep) await database.drop().catch((err: unknown) => say(`dropping the bench database: ${(err as Error).message}`));
      }
      if (profDir) {
        // The profiles are written when the processes exit; summarize each run's window.
        for (const r of stackRuns) {
          const [fromUs, toUs] = r.config.hr_window_us as [number, number];
          r.cpu_profile = summarizeProfiles(profDir, names, ROOT, { fromUs, toUs });
        }
        say(`CPU profiles kept in ${profDir}`);
      }
      for (const r of stackRuns) {
        if (o.save) r.file = path.relative(ROOT, save(r));
        if (!o.json) printRun(r);
        results.push(r);
      }
    }
  }
  if (o.save && results.length) {
    try {
      const chart = renderChart(path.join(ROOT, 'bench', 'results'));
      say(`results in bench/results/; chart ${path.relative(ROOT, chart)}`);
    } catch (err) {
      say(`chart: ${(err as Error).message}`);
    }
  }
  if (!o.json && results.length > 1) printSummary(results);
  if (o.json) {
    const first = results[0];
    const line = first
      ? { ...first, ...(results.length > 1 ? { runs: results } : {}) }
      : { payments_per_s: 0, p99_confirm_ms: null, webhook_lag_p99_ms: null, errors: 1, raw_append_per_s: 0, ratio: 0 };
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    say(`failed: ${(err as Error).stack ?? String(err)}`);
    await current?.stop().catch(() => {});
    process.exit(1);
  },
);
