// `npm start`: the whole stack with embedded defaults. Starts the pinned nats-server under DATA_DIR
// (unless NATS_URL is set), the EPN simulator and a node running every role (PGlite under DATA_DIR
// unless DATABASE_URL is set), creates a demo merchant on first start, and prints where everything
// listens. Ctrl-C or SIGTERM stops every child; the next start keeps the data.
//
// Scale-out: `WORKERS=W` (or `--workers W`) also starts W-1 actor workers (`ROLES=actors`
// runtime/main.ts, WORKER_ID=w_1…w_<W-1>) that share DATA_DIR/keys/master.key and the partitions
// (runtime/partitions.ts rebalances to partitions ÷ live workers). An extra worker that dies does not
// stop the stack: its partitions move to the survivors within one lease (LEASE_MS).
// Every child's pid is kept in DATA_DIR/processes.json (for `npm run bench` and operators).
//
// Clustered: `NATS_CLUSTER=3` (or `--cluster`, `--cluster=N`) starts a JetStream cluster of N nodes on
// this machine under DATA_DIR/nats-cluster instead of one server (unless NATS_URL is set), and runs
// every stream, KV bucket and object store at NATS_REPLICAS (default: N, at most 5).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackNodeArgs } from './node-args.ts';
import { loadConfigOrExit } from '../config/config.ts';
import { startNatsServer, type RunningNatsServer } from '../nats/server.ts';
import { startNatsCluster, type RunningNatsCluster } from '../nats/server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = loadConfigOrExit();
const say = (s: string) => process.stderr.write(`[start] ${s}\n`);

/** WORKERS=W or --workers W (or --workers=W): actor worker processes in all, the main node included. */
function workerCount(): number {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === '--workers' || a.startsWith('--workers='));
  const raw = i < 0 ? process.env.WORKERS : argv[i]!.includes('=') ? argv[i]!.slice('--workers='.length) : argv[i + 1];
  if (raw === undefined || raw === '') return 1;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 64) {
    process.stderr.write(`configuration error: WORKERS: must be an integer between 1 and 64, got '${raw}'\n`);
    process.exit(2);
  }
  return Number(raw);
}
const workers = workerCount();
/** NATS_CLUSTER=N or --cluster (3) / --cluster=N: nodes of the local JetStream cluster; 0 = one plain server. */
function clusterNodes(): number {
  const arg = process.argv.slice(2).find((a) => a === '--cluster' || a.startsWith('--cluster='));
  const raw = arg ? (arg.includes('=') ? arg.slice('--cluster='.length) : '3') : process.env.NATS_CLUSTER;
  if (raw === undefined || raw === '' || raw === '0') return 0;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 9) {
    process.stderr.write(`configuration error: NATS_CLUSTER: must be an integer between 1 and 9, got '${raw}'\n`);
    process.exit(2);
  }
  return Number(raw);
}
const clusterSize = config.natsUrl ? 0 : clusterNodes();
// The children (node, workers) declare the topology: at R<N> unless NATS_REPLICAS says otherwise.
if (clusterSize > 0) process.env.NATS_REPLICAS ??= String(Math.min(clusterSize, 5));
/**
 * SPLIT=1 (or --split): two node processes instead of one, so the two event loops use two cores.
 * With PGlite (one process only) the main node keeps the roles that need the database (gateway,
 * projector) and a second node, `services` (WORKER_ID w_0), runs actors, webhooks and reconcile.
 * With DATABASE_URL the main node keeps the request path (gateway, actors: commands run in process)
 * and `services` the consumers (projector, webhooks, reconcile).
 */
const split = process.argv.includes('--split') || /^(1|true|yes)$/i.test(process.env.SPLIT ?? '');
const mainSide: readonly string[] = config.databaseUrl ? ['gateway', 'actors'] : ['gateway', 'projector'];
const dbRoles = config.roles.filter((r) => mainSide.includes(r));
const serviceRoles = config.roles.filter((r) => !mainSide.includes(r));
const splitting = split && dbRoles.length > 0 && serviceRoles.length > 0;
const serviceWorkerId = serviceRoles.includes('actors') ? 'w_0' : 'w_services';
mkdirSync(config.dataDir, { recursive: true });
if (workers > config.partitions) say(`WORKERS=${workers} is more than PARTITIONS=${config.partitions}: ${workers - config.partitions} worker(s) will own nothing`);

/** DATA_DIR/processes.json: who runs where, for the bench's CPU/RSS sampling and for operators. */
interface ProcessEntry {
  name: string;
  pid: number;
  worker_id?: string;
  roles?: string;
  alive: boolean;
}
const processes: ProcessEntry[] = [];
const processesFile = path.join(config.dataDir, 'processes.json');
function writeAtomic(file: string, text: string) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
function saveProcesses() {
  try {
    writeAtomic(processesFile, JSON.stringify({ supervisor: process.pid, workers, processes }, null, 2) + '\n');
  } catch (err) {
    say(`could not write ${processesFile}: ${(err as Error).message}`);
  }
}

function persistentSecret(file: string, make: () => string): string {
  const p = path.join(config.dataDir, file);
  if (existsSync(p)) return readFileSync(p, 'utf8').trim();
  const v = make();
  writeFileSync(p, v + '\n', { mode: 0o600 });
  return v;
}

const adminToken = config.adminToken ?? persistentSecret('admin-token', () => `adm_${randomBytes(24).toString('hex')}`);
const children: ChildProcess[] = [];
let nats: RunningNatsServer | null = null;
let natsCluster: RunningNatsCluster | null = null;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say('stopping…');
  for (const c of [...children].reverse()) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 10_000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }
  await nats?.stop().catch(() => {});
  await natsCluster?.stop().catch(() => {});
  for (const p of processes) p.alive = false;
  saveProcesses();
  say('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
// If this process dies anyway, take the children with it.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
process.on('SIGTERM', () => void shutdown(0));

interface LaunchOptions {
  /**
   * A critical child that cannot be restarted (it keeps exiting) stops everything; an extra worker
   * that cannot is left stopped (the others hold its partitions).
   */
  critical: boolean;
  entry: Omit<ProcessEntry, 'pid' | 'alive'>;
  /** The environment a restart adds: what the first start chose (its port), so nothing else has to change. */
  pin?: (url: string | null) => NodeJS.ProcessEnv;
}

/** A child that exits this often within RESTART_WINDOW_MS is not started again. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** Recent restarts per child, for the backoff and the give-up. */
const restartsOf = new Map<string, number[]>();
/** The port of a ready child's URL, as an environment variable for the restart. */
const portOf = (name: string) => (url: string | null) => (url ? { [name]: new URL(url).port } : {});

/**
 * Starts a node child and resolves once it says it is ready, with the URL it listens on: over an IPC
 * channel (`process.send({ ready: true, url })`), closed right after. Its stdout and stderr are this
 * process's own: its log lines are not copied through this process (under load that copying cost the
 * supervisor a few percent of a core).
 */
function launch(script: string, env: NodeJS.ProcessEnv, o: LaunchOptions): Promise<{ child: ChildProcess; url: string | null }> {
  const name = o.entry.worker_id ? `${o.entry.name} ${o.entry.worker_id}` : o.entry.name;
  return new Promise((resolve, reject) => {
    // Own process group (detached): Ctrl-C reaches only this supervisor, which stops the children
    // in order (extra workers, node, then simulator, then nats-server) so each can drain.
    const child = spawn(process.execPath, stackNodeArgs(script), {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    children.push(child);
    const entry: ProcessEntry = { ...o.entry, pid: child.pid ?? -1, alive: true };
    processes.push(entry);
    saveProcesses();
    let ready = false;
    let readyUrl: string | null = null;
    child.on('message', (msg: unknown) => {
      const m = msg as { ready?: unknown; url?: unknown } | null;
      if (ready || typeof m !== 'object' || m === null || !m.ready) return;
      // The channel was only for this: close it so nothing else depends on it.
      child.disconnect();
      ready = true;
      readyUrl = typeof m.url === 'string' ? m.url : null;
      resolve({ child, url: readyUrl });
    });
    child.once('exit', (code, signal) => {
      entry.alive = false;
      if (!stopping) saveProcesses();
      if (!ready) reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      else if (!stopping) {
        const again = () => launch(script, { ...env, ...o.pin?.(readyUrl) }, o).then(({ child }) => child.pid ?? -1);
        startAgain(name, o.critical, `code ${code}, signal ${signal}`, again, o.critical ? '' : ' (its partitions move to the other workers within one lease)');
      }
    });
  });
}

/**
 * A process that ended on its own is started again, as a restart-always process manager would: after
 * 0.5 s, doubling up to 15 s while it keeps ending. Every process starts again from the streams and
 * its durables (an actor worker's partitions move to the others meanwhile and come back, within a
 * lease each); nats-server from its store, on its port (clients reconnect). One that ends
 * MAX_RESTARTS times within a minute is left stopped: a critical one then stops the stack (exit
 * status 1), since it would only keep failing. `again` starts it and resolves with its pid once ready.
 */
function startAgain(name: string, critical: boolean, how: string, again: () => Promise<number>, note = ''): void {
  const now = Date.now();
  const recent = (restartsOf.get(name) ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
  if (recent.length >= MAX_RESTARTS) {
    say(`${name} exited again (${how}): ${recent.length} restarts within ${RESTART_WINDOW_MS / 1000} s, not starting it again`);
    if (critical) void shutdown(1);
    return;
  }
  recent.push(now);
  restartsOf.set(name, recent);
  const delay = Math.min(500 * 2 ** (recent.length - 1), 15_000);
  say(`${name} exited unexpectedly (${how}); starting it again in ${delay} ms${note}`);
  setTimeout(() => {
    if (stopping) return;
    again().then(
      (pid) => say(`${name} started again (pid ${pid})`),
      (err: Error) => {
        say(`${name} did not start again: ${err.message}`);
        if (!stopping) startAgain(name, critical, 'failed to start', again, note);
      },
    );
  }, delay);
}

/**
 * A nats-server of ours that ends on its own is started again from its store on its ports (clients
 * reconnect). The single server is critical; a cluster node is not (the others keep the quorum).
 */
function restartOnExit(server: RunningNatsServer, entry: ProcessEntry, critical: boolean): void {
  let current = entry;
  server.onUnexpectedExit(({ code, signal }) => {
    current.alive = false;
    if (stopping) return;
    saveProcesses();
    const name = entry.worker_id ? `nats-server ${entry.worker_id}` : 'nats-server';
    startAgain(name, critical, `code ${code}, signal ${signal}`, async () => {
      await server.restart();
      current = { ...entry, pid: server.pid, alive: true };
      processes.push(current);
      saveProcesses();
      return server.pid;
    });
  });
}

try {
  let natsUrl = config.natsUrl;
  if (!natsUrl && clusterSize > 0) {
    const baseDir = path.join(config.dataDir, 'nats-cluster');
    natsCluster = await startNatsCluster({ baseDir, nodes: clusterSize, syncInterval: config.natsSync });
    natsUrl = natsCluster.url;
    for (const s of natsCluster.servers) {
      const entry: ProcessEntry = { name: 'nats-server', pid: s.pid, worker_id: s.name, alive: true };
      processes.push(entry);
      restartOnExit(s, entry, false);
    }
    saveProcesses();
    say(`nats cluster of ${clusterSize} (${natsCluster.servers.map((s) => s.name).join(', ')}) on ${natsUrl} (stores under ${baseDir}, sync_interval ${config.natsSync}, NATS_REPLICAS=${process.env.NATS_REPLICAS})`);
  }
  if (!natsUrl) {
    nats = await startNatsServer({ storeDir: path.join(config.dataDir, 'nats'), syncInterval: config.natsSync, logFile: path.join(config.dataDir, 'nats-server.log') });
    natsUrl = nats.url;
    const natsEntry: ProcessEntry = { name: 'nats-server', pid: nats.pid, alive: true };
    processes.push(natsEntry);
    saveProcesses();
    restartOnExit(nats, natsEntry, true);
    say(`nats-server ${nats.bin} on ${natsUrl} (store ${path.join(config.dataDir, 'nats')}, sync_interval ${config.natsSync})`);
  }
  const epn = await launch(
    'epn/sim/main.ts',
    { EPN_PORT: process.env.EPN_PORT ?? '0', DATA_DIR: config.dataDir, EPN_LATENCY_MS: String(config.epnLatencyMs), ...(process.env.EPN_FAULTS ? { EPN_FAULTS: process.env.EPN_FAULTS } : {}) },
    { critical: true, entry: { name: 'epn' }, pin: portOf('EPN_PORT') },
  );
  const epnUrl = epn.url!;
  const mainWorkerId = process.env.WORKER_ID ?? 'w_main';
  const node = await launch(
    'runtime/main.ts',
    { NATS_URL: natsUrl, EPN_URL: epnUrl, ADMIN_TOKEN: adminToken, DATA_DIR: config.dataDir, WORKER_ID: mainWorkerId, ...(splitting ? { ROLES: dbRoles.join(',') } : {}) },
    { critical: true, entry: { name: 'node', worker_id: mainWorkerId, roles: (splitting ? dbRoles : config.roles).join(',') }, pin: portOf('PORT') },
  );
  if (splitting) {
    await launch(
      'runtime/main.ts',
      { ROLES: serviceRoles.join(','), NATS_URL: natsUrl, EPN_URL: epnUrl, DATA_DIR: config.dataDir, WORKER_ID: serviceWorkerId, LOG_LEVEL: config.logLevel },
      { critical: true, entry: { name: 'services', worker_id: serviceWorkerId, roles: serviceRoles.join(',') } },
    );
    say(`split: node ${mainWorkerId} runs ${dbRoles.join(',')}; services ${serviceWorkerId} runs ${serviceRoles.join(',')}`);
  }
  const url = node.url!;
  // Extra actor workers, after the node has declared the topology (and created the master key
  // they share). They start side by side; each is ready once connected and through its first
  // partition round.
  const workerIds = Array.from({ length: workers - 1 }, (_, i) => `w_${i + 1}`);
  await Promise.all(
    workerIds.map((id, i) =>
      launch(
        'runtime/main.ts',
        // ops: worker w_<i+1> serves GET /metrics on METRICS_PORT + i (when METRICS_PORT is set)
        { ROLES: 'actors', NATS_URL: natsUrl, EPN_URL: epnUrl, DATA_DIR: config.dataDir, WORKER_ID: id, LOG_LEVEL: config.logLevel, METRICS_PORT: config.metricsPort > 0 ? String(config.metricsPort + i) : '0' },
        { critical: false, entry: { name: 'worker', worker_id: id, roles: 'actors' } },
      ),
    ),
  );
  for (const p of processes) if (p.name === 'worker') say(`worker ${p.worker_id} pid ${p.pid} (ROLES=actors)`);

  const demoFile = path.join(config.dataDir, 'demo-merchant.json');
  let demo: Record<string, unknown>;
  if (existsSync(demoFile)) {
    demo = JSON.parse(readFileSync(demoFile, 'utf8')) as Record<string, unknown>;
  } else {
    const res = await fetch(`${url}/admin/merchants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': 'demo-merchant' },
      body: JSON.stringify({ name: 'Demo Store', address: '1 Demo Street, Bengaluru', gst_id: '29ABCDE1234F1Z5', call_back_url: null, events: ['*'] }),
    });
    if (res.status !== 201) throw new Error(`creating the demo merchant failed: ${res.status} ${await res.text()}`);
    const m = (await res.json()) as Record<string, unknown>;
    demo = { merchant_id: m.merchant_id, secret_key: m.secret_key, publishable_key: m.publishable_key, webhook_secret: m.webhook_secret };
  }
  // What was saved first, then where everything listens now (ports may differ from the last start).
  demo = { ...demo, url, admin_token: adminToken, url_epn: epnUrl, nats_url: natsUrl, data_dir: config.dataDir, workers: [mainWorkerId, ...workerIds] };
  // The demo merchant store (store/): own port (STORE_PORT), own database under DATA_DIR/store; it
  // registers its webhook endpoint through /v1/webhook_endpoints with the demo merchant's secret key.
  const store = await launch(
    'store/main.ts',
    { PAYNATS_URL: url, STORE_SECRET_KEY: String(demo.secret_key), STORE_PUBLISHABLE_KEY: String(demo.publishable_key), DATA_DIR: config.dataDir, STORE_PORT: String(config.storePort) },
    { critical: true, entry: { name: 'store' }, pin: portOf('STORE_PORT') },
  );
  demo.store_url = store.url!;
  // A product and a payment link for it, made once: a URL to pay in a browser right away.
  if (!demo.payment_link) demo.payment_link = await demoPaymentLink(url, String(demo.secret_key));
  // Atomically: a watcher (npm run bench) reads it as soon as it appears.
  writeAtomic(demoFile, JSON.stringify(demo, null, 2) + '\n');
  process.stderr.write(
    [
      '',
      '  paynats is running',
      `  API (Stripe-compatible):  ${url}/v1   health: ${url}/healthz`,
      `  EPN card network sim:     ${epnUrl}`,
      `  Demo store (open me):     ${String(demo.store_url)}   (pay with 4242 4242 4242 4242)`,
      `  Demo payment link:        ${url}/b/${String(demo.payment_link)}`,
      `  NATS:                     ${natsUrl}${nats ? ' (pinned nats-server, JetStream under DATA_DIR)' : ''}${natsCluster ? ` (${clusterSize}-node JetStream cluster under DATA_DIR/nats-cluster, R${process.env.NATS_REPLICAS})` : ''}`,
      `  Actor workers:            ${[mainWorkerId, ...workerIds].join(', ')} (${config.partitions} partitions)`,
      `  Database:                 ${config.databaseUrl ? 'DATABASE_URL' : `PGlite at ${path.join(config.dataDir, 'pglite')}`}`,
      `  Admin token:              ${adminToken}`,
      `  Demo merchant:            ${String(demo.merchant_id)}`,
      `    secret key:             ${String(demo.secret_key)}`,
      `    publishable key:        ${String(demo.publishable_key)}`,
      `    webhook secret:         ${String(demo.webhook_secret)}`,
      `  Written to ${demoFile}`,
      `  Try: curl ${url}/v1/payment_intents -u ${String(demo.secret_key)}: -d amount=2000 -d currency=usd -d confirm=true -d payment_method=pm_card_visa`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  await shutdown(1);
}

/** The demo merchant's first product, its price and a payment link selling it (idempotent: safe to retry). */
async function demoPaymentLink(api: string, secretKey: string): Promise<string> {
  const post = async (p: string, body: Record<string, string>, key: string) => {
    const res = await fetch(`${api}${p}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
      body: new URLSearchParams(body).toString(),
    });
    if (res.status !== 200) throw new Error(`demo ${p} failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const product = await post('/v1/products', { name: 'Demo poster', description: 'A1 print', 'default_price_data[currency]': 'usd', 'default_price_data[unit_amount]': '2500' }, 'demo-product');
  const link = await post(
    '/v1/payment_links',
    { 'line_items[0][price]': String(product.default_price), 'line_items[0][quantity]': '1', 'after_completion[type]': 'hosted_confirmation', 'after_completion[hosted_confirmation][custom_message]': 'Thanks for trying paynats.' },
    'demo-payment-link',
  );
  return String(link.id);
}
