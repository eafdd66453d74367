// The chaos harness (issue 12). Starts the whole system as separate processes — nats-server (one
// node, or a 3-node cluster at R3), a private Postgres, the EPN simulator, two gateways, two actor
// workers, a projector, a webhook worker and a reconcile worker — runs a steady stream of payments
// through them (chaos/load.ts), and meanwhile SIGKILLs each kind of process in turn at random moments
// and starts it again. Then it lets the system settle and runs the invariant checker
// (chaos/invariants.ts) until it passes or the settle time is up, and prints a table of the faults
// injected and the invariants checked. Loopback only; bounded in time.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import pg from 'pg';
import { pickFreePort, startNatsCluster, startNatsServer, type RunningNatsServer } from '../nats/server.ts';
import { buckets } from '../nats/topology.ts';
import { seededRandom } from '../epn/sim/faults.ts';
import type { WireTransaction } from '../epn/wire.ts';
import { round, sleep, summarize, table } from '../bench/stats.ts';
import { checkAggregateHistories } from './history.ts';
import { checkInvariants, type InvariantResult, type ProjectionRow } from './invariants.ts';
import { startLoad, startWebhookReceiver, type ChaosMerchant } from './load.ts';
import { privatePostgresUnavailable, startPrivatePostgres, type PrivatePostgres } from './postgres.ts';
import { Service } from './procs.ts';

export interface ChaosOptions {
  mode: 'single' | 'cluster';
  /** Seconds of load with faults. */
  durationS: number;
  /** At least this many faults (the run goes on past durationS until they are injected, up to 2×). */
  minFaults: number;
  concurrency: number;
  merchants: number;
  seed: number;
  /** Seconds to wait after the load for the invariants to hold. */
  settleS: number;
  dir?: string;
  keep?: boolean;
  say?: (s: string) => void;
}

export interface FaultRecord {
  kind: string;
  target: string;
  at: number;
  /** ms from SIGKILL to the process being ready again. */
  down_ms: number;
  /** Longest gap between two successful payments from the kill to 15 s after the restart, ms. */
  pause_ms: number;
}

export interface ChaosReport {
  mode: string;
  seed: number;
  payments: { started: number; acknowledged: number; succeeded: number; declined_then_retried: number; gave_up: number; requests: number; retries: number };
  errors_retried: Record<string, number>;
  unexpected: string[];
  faults: FaultRecord[];
  invariants: InvariantResult[];
  /** ms from the end of the load until every invariant held (or the settle time ran out). */
  settle_ms: number;
  webhooks: { delivered: number; bad_signatures: number };
  violations: number;
  dir: string;
}

/** The broker as the harness sees it: nodes it can kill and start again. */
interface Broker {
  url: string;
  nodes: number;
  kill(i: number): void;
  restart(i: number): Promise<void>;
  /** Index of the node leading a stream (cluster only). */
  leaderOf(stream: string): Promise<number>;
  stop(): Promise<void>;
}

async function singleBroker(dir: string): Promise<Broker> {
  const s: RunningNatsServer = await startNatsServer({ storeDir: path.join(dir, 'nats'), syncInterval: 'always', logFile: path.join(dir, 'logs', 'nats-server.log'), readyTimeoutMs: 30_000 });
  return { url: s.url, nodes: 1, kill: () => s.kill('SIGKILL'), restart: () => s.restart(), leaderOf: async () => 0, stop: () => s.stop() };
}

async function clusterBroker(dir: string): Promise<Broker> {
  const c = await startNatsCluster({ baseDir: path.join(dir, 'nats-cluster'), nodes: 3, syncInterval: 'always' });
  return { url: c.url, nodes: c.servers.length, kill: (i) => c.kill(i), restart: (i) => c.restart(i), leaderOf: (s) => c.leaderOf(s), stop: () => c.stop() };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const say = o.say ?? ((s: string) => process.stderr.write(`[chaos] ${s}\n`));
  const why = privatePostgresUnavailable();
  if (why) throw new Error(`chaos needs a private Postgres: ${why}`);
  const random = seededRandom(o.seed); // a run can be repeated with --seed
  const dir = o.dir ?? mkdtempSync(path.join(os.tmpdir(), `paynats-chaos-${o.mode}-`));
  const logDir = path.join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  say(`${o.mode}: run directory ${dir} (logs in ${logDir})`);

  const cleanups: (() => Promise<void>)[] = [];
  const services: Service[] = [];
  let nc: NatsConnection | null = null;
  try {
    const broker = o.mode === 'cluster' ? await clusterBroker(dir) : await singleBroker(dir);
    cleanups.push(() => broker.stop());
    say(`nats: ${broker.url} (${broker.nodes} node${broker.nodes > 1 ? 's, R3' : ''}, sync_interval always)`);
    const pgsql: PrivatePostgres = await startPrivatePostgres({ dir: path.join(dir, 'postgres') });
    cleanups.push(() => pgsql.stop());
    say(`postgres: ${pgsql.url}`);
    const receiver = await startWebhookReceiver(() => merchants.map((m) => m.webhook_secret));
    cleanups.push(() => receiver.close());

    const [epnPort, gw1, gw2] = [await pickFreePort(), await pickFreePort(), await pickFreePort()];
    const adminToken = `adm_chaos_${randomBytes(12).toString('hex')}`;
    const env: Record<string, string> = {
      NATS_URL: broker.url,
      DATABASE_URL: pgsql.url,
      EPN_URL: `http://127.0.0.1:${epnPort}`,
      DATA_DIR: path.join(dir, 'data'),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'info',
      PARTITIONS: '8',
      LEASE_MS: '2000',
      RATE_LIMIT_LIVE: '1000000',
      RATE_LIMIT_TEST: '1000000',
      EPN_TIMEOUT_MS: '3000',
      EPN_LATENCY_MS: '5',
      WEBHOOK_TIMEOUT_MS: '3000',
      WEBHOOK_BACKOFF_MS: '300,1000,2000,4000,8000',
      WEBHOOK_ACK_WAIT_MS: '5000',
      RECON_INQUIRY_AFTER_MS: '500',
      RECON_BACKOFF_MS: '500,1000,2000',
      RECON_DEADLINE_MS: '8000',
      ...(broker.nodes > 1 ? { NATS_REPLICAS: '3' } : {}),
    };
    const node = (name: string, kind: string, extra: Record<string, string>) =>
      new Service({ name, kind, entry: 'runtime/main.ts', env: { ...env, ...extra }, ready: 'ipc' }, logDir);
    const epn = new Service({ name: 'epn', kind: 'epn', entry: 'epn/sim/main.ts', env: { ...env, EPN_PORT: String(epnPort) }, ready: /EPN_LISTENING/ }, logDir);
    const gateways = [node('gateway-1', 'gateway', { ROLES: 'gateway', PORT: String(gw1), WORKER_ID: 'g_1' }), node('gateway-2', 'gateway', { ROLES: 'gateway', PORT: String(gw2), WORKER_ID: 'g_2' })];
    const actors = [node('actors-w_1', 'actors', { ROLES: 'actors', WORKER_ID: 'w_1' }), node('actors-w_2', 'actors', { ROLES: 'actors', WORKER_ID: 'w_2' })];
    const rest = [node('projector', 'projector', { ROLES: 'projector', WORKER_ID: 'p_1' }), node('webhooks', 'webhooks', { ROLES: 'webhooks', WORKER_ID: 'h_1' }), node('reconcile', 'reconcile', { ROLES: 'reconcile', WORKER_ID: 'r_1' })];
    services.push(epn, ...gateways, ...actors, ...rest);
    // The first gateway alone: it migrates the database, declares the topology and makes the master key the others share.
    await epn.start();
    await gateways[0]!.start();
    await Promise.all([gateways[1]!, ...actors, ...rest].map((s) => s.start()));
    cleanups.push(async () => {
      await Promise.all(services.map((s) => s.stop()));
      services.forEach((s) => s.close());
    });
    const gatewayUrls = [gw1, gw2].map((p) => `http://127.0.0.1:${p}`);
    say(`up: ${services.map((s) => s.name).join(', ')}; gateways ${gatewayUrls.join(' ')}`);

    const merchants: ChaosMerchant[] = [];
    for (let i = 0; i < o.merchants; i++) {
      const res = await fetch(`${gatewayUrls[0]}/admin/merchants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': `chaos-merchant-${i}` },
        body: JSON.stringify({ name: `Chaos Store ${i}`, address: `${i} Fault Lane`, gst_id: '29ABCDE1234F1Z5', call_back_url: receiver.url, events: ['*'] }),
      });
      if (res.status !== 201) throw new Error(`onboarding failed: ${res.status} ${await res.text()}`);
      merchants.push((await res.json()) as ChaosMerchant);
    }

    nc = await connect({ servers: broker.url.split(','), name: 'paynats-chaos', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const owners = await new Kvm(nc).open(buckets.owners);

    const load = startLoad({ gateways: gatewayUrls, merchants, concurrency: o.concurrency, declineShare: 0.15, giveUpMs: 120_000, random });
    const loadStarted = Date.now();
    await sleep(3_000);

    // Faults: every kind in a shuffled round, one at a time, until the time is up and enough were injected.
    const kinds = ['gateway', 'actors', 'projector', 'webhooks', 'reconcile', 'epn', 'nats', 'postgres', ...(broker.nodes > 1 ? ['stream-leader', 'partition-owner'] : [])];
    const faults: FaultRecord[] = [];
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const deadline = loadStarted + o.durationS * 1000;
    // Restarts take seconds on a busy machine: room for the minimum number of faults, bounded all the same.
    const hardDeadline = loadStarted + o.durationS * 1000 + o.minFaults * 30_000;
    while ((Date.now() < deadline || faults.length < o.minFaults) && Date.now() < hardDeadline) {
      const round = [...kinds].sort(() => random() - 0.5);
      for (const kind of round) {
        if ((Date.now() >= deadline && faults.length >= o.minFaults) || Date.now() >= hardDeadline) break;
        await sleep(1_000 + random() * 2_500);
        const downFor = 300 + random() * 1_700;
        const at = Date.now();
        let target: string;
        if (kind === 'nats' || kind === 'stream-leader') {
          const i = kind === 'stream-leader' ? await broker.leaderOf('PAY_EVENTS').catch(() => Math.floor(random() * broker.nodes)) : Math.floor(random() * broker.nodes);
          target = `nats-${i}`;
          broker.kill(i);
          await sleep(downFor);
          await broker.restart(i);
        } else if (kind === 'postgres') {
          target = 'postgres';
          pgsql.kill('SIGKILL');
          await sleep(downFor);
          await pgsql.start();
        } else {
          let s: Service;
          if (kind === 'partition-owner') {
            const p = Math.floor(random() * 8);
            const lease = await owners.get(`partition.${p}`).catch(() => null);
            const owner = lease?.string() ?? '';
            s = actors.find((a) => owner.includes(a.spec.env.WORKER_ID!)) ?? pick(actors);
            target = `${s.name} (owner of partition ${p})`;
          } else {
            s = pick(services.filter((x) => x.kind === kind));
            target = s.name;
          }
          s.kill('SIGKILL');
          await sleep(downFor);
          await s.start();
        }
        const down = Date.now() - at;
        faults.push({ kind, target, at, down_ms: down, pause_ms: 0 });
        say(`fault ${faults.length}: SIGKILL ${target} (${kind}); back after ${down} ms; ${load.completions.length} payments succeeded so far`);
      }
    }
    await sleep(2_000);
    say(`load: stopping (${load.records.length} payments started)`);
    await load.stop();
    const loadEnded = Date.now();
    for (const f of faults) {
      const xs = [f.at, ...load.completions.filter((c) => c > f.at && c < f.at + f.down_ms + 15_000)].sort((a, b) => a - b);
      let gap = 0;
      for (let i = 1; i < xs.length; i++) gap = Math.max(gap, xs[i]! - xs[i - 1]!);
      f.pause_ms = xs.length > 1 ? gap : f.down_ms + 15_000;
    }

    // Settle: the invariants hold once every consumer caught up; check until they do or time is up.
    const db = new pg.Pool({ connectionString: pgsql.url, max: 2 });
    db.on('error', () => {});
    cleanups.unshift(() => db.end());
    const projection = async () =>
      (await db.query<ProjectionRow>('select id, merchant_id, status, amount, amount_received, currency, last_seq from payment_intents where merchant_id = any($1)', [merchants.map((m) => m.merchant_id)])).rows;
    const ledger = async () => {
      const all: WireTransaction[] = [];
      for (const m of merchants) {
        const res = await fetch(`${env.EPN_URL}/v1/ledger?merchant_id=${encodeURIComponent(m.merchant_id)}`);
        const body = (await res.json()) as { data?: WireTransaction[] } | WireTransaction[];
        all.push(...(Array.isArray(body) ? body : (body.data ?? [])));
      }
      return all;
    };
    let invariants: InvariantResult[] = [];
    const settleUntil = Date.now() + o.settleS * 1000;
    for (;;) {
      try {
        invariants = await checkInvariants({ nc, merchants: merchants.map((m) => m.merchant_id), records: load.records, projection, ledger, delivered: new Set(receiver.received.keys()) });
        const history = await checkAggregateHistories(nc);
        invariants.push({ name: 'each aggregate history linear (no gaps, no duplicates)', checked: history.aggregates, violations: history.violations.slice(0, 20) });
      } catch (err) {
        invariants = [{ name: 'checker ran', checked: 0, violations: [(err as Error).message] }];
      }
      // A process that ended on its own is a bug even when its restart hid the damage.
      const crashes = services.flatMap((s) => s.crashes);
      invariants.push({ name: 'no process ended on its own (only the harness kills)', checked: services.length, violations: crashes.slice(0, 20) });
      const bad = invariants.reduce((n, r) => n + r.violations.length, 0);
      if (bad === 0 || Date.now() > settleUntil) break;
      say(`settling: ${bad} violation(s) so far (${invariants.filter((r) => r.violations.length).map((r) => r.name).join('; ')}); checking again`);
      await sleep(3_000);
    }
    const settleMs = Date.now() - loadEnded;

    const acked = load.records.filter((r) => r.acked_status);
    const report: ChaosReport = {
      mode: o.mode,
      seed: o.seed,
      payments: {
        started: load.records.length,
        acknowledged: acked.length,
        succeeded: acked.filter((r) => r.acked_status === 'succeeded').length,
        declined_then_retried: load.records.filter((r) => r.declined_first).length,
        gave_up: load.records.filter((r) => r.gave_up).length,
        requests: load.records.reduce((n, r) => n + r.requests, 0),
        retries: load.records.reduce((n, r) => n + r.retries, 0),
      },
      errors_retried: Object.fromEntries(load.errors),
      unexpected: load.unexpected.slice(0, 20),
      faults,
      invariants,
      settle_ms: settleMs,
      webhooks: { delivered: receiver.received.size, bad_signatures: receiver.badSignatures() },
      violations: invariants.reduce((n, r) => n + r.violations.length, 0) + load.unexpected.length,
      dir,
    };
    writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    await nc?.close().catch(() => {});
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
    if (!o.keep && !o.dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** The report as tables: faults by kind, then invariants. */
export function formatReport(r: ChaosReport): string {
  const byKind = new Map<string, FaultRecord[]>();
  for (const f of r.faults) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  const faultRows: (string | number)[][] = [['fault (SIGKILL)', 'count', 'down p50 ms', 'down max ms', 'pause p50 ms', 'pause max ms']];
  for (const [kind, fs] of byKind) {
    const d = summarize(fs.map((f) => f.down_ms));
    const p = summarize(fs.map((f) => f.pause_ms));
    faultRows.push([kind, fs.length, round(d.p50, 0), round(d.max, 0), round(p.p50, 0), round(p.max, 0)]);
  }
  const invRows: (string | number)[][] = [['invariant', 'checked', 'violations']];
  for (const i of r.invariants) invRows.push([i.name, i.checked, i.violations.length]);
  invRows.push(['no unexpected answers (4xx/5xx that are bugs)', r.payments.requests, r.unexpected.length]);
  const p = r.payments;
  return [
    `chaos ${r.mode} (seed ${r.seed}): ${p.started} payments started, ${p.acknowledged} acknowledged, ${p.succeeded} succeeded, ${p.gave_up} gave up; ${p.requests} requests (${p.retries} retries); ${r.webhooks.delivered} webhook events received`,
    '',
    table(faultRows),
    '',
    table(invRows),
    '',
    `retried errors: ${Object.entries(r.errors_retried).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}`,
    `settled ${round(r.settle_ms / 1000, 1)} s after the load stopped; ${r.faults.length} faults, ${r.violations} violation(s)`,
    ...r.invariants.flatMap((i) => i.violations.map((v) => `  ✗ ${i.name}: ${v}`)),
    ...r.unexpected.map((u) => `  ✗ unexpected: ${u}`),
  ].join('\n');
}
