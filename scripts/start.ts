// `npm start`: the whole stack with embedded defaults. Starts the pinned nats-server under DATA_DIR
// (unless NATS_URL is set), the EPN simulator and a node running every role (PGlite under DATA_DIR
// unless DATABASE_URL is set), creates a demo merchant on first start, and prints where everything
// listens. Ctrl-C or SIGTERM stops every child; the next start keeps the data.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from '../config/config.ts';
import { startNatsServer, type RunningNatsServer } from '../nats/server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = loadConfigOrExit();
mkdirSync(config.dataDir, { recursive: true });
const say = (s: string) => process.stderr.write(`[start] ${s}\n`);

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
  say('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
// If this process dies anyway, take the children with it.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
process.on('SIGTERM', () => void shutdown(0));

function launch(name: string, script: string, env: NodeJS.ProcessEnv, readyLine: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    // Own process group (detached): Ctrl-C reaches only this supervisor, which stops the children
    // in order (node, then simulator, then nats-server) so each can drain.
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    children.push(child);
    let buf = '';
    let ready = false;
    child.stdout!.on('data', (d: Buffer) => {
      process.stdout.write(d);
      if (ready) return;
      buf += d.toString();
      const m = buf.match(readyLine);
      if (m) {
        ready = true;
        resolve({ child, match: m });
      }
    });
    child.once('exit', (code, signal) => {
      if (!ready) reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      else if (!stopping) {
        say(`${name} exited unexpectedly (code ${code}, signal ${signal}); stopping everything`);
        void shutdown(1);
      }
    });
  });
}

try {
  let natsUrl = config.natsUrl;
  if (!natsUrl) {
    nats = await startNatsServer({ storeDir: path.join(config.dataDir, 'nats'), syncInterval: config.natsSync, logFile: path.join(config.dataDir, 'nats-server.log') });
    natsUrl = nats.url;
    say(`nats-server ${nats.bin} on ${natsUrl} (store ${path.join(config.dataDir, 'nats')}, sync_interval ${config.natsSync})`);
  }
  const epn = await launch(
    'epn simulator',
    'epn/sim/main.ts',
    { EPN_PORT: process.env.EPN_PORT ?? '0', DATA_DIR: config.dataDir, EPN_LATENCY_MS: String(config.epnLatencyMs) },
    /EPN_LISTENING (\S+)/,
  );
  const epnUrl = epn.match[1]!;
  const node = await launch(
    'node',
    'runtime/main.ts',
    { NATS_URL: natsUrl, EPN_URL: epnUrl, ADMIN_TOKEN: adminToken, DATA_DIR: config.dataDir, WORKER_ID: process.env.WORKER_ID ?? 'w_main' },
    /PAYNATS_LISTENING (\S+)/,
  );
  const url = node.match[1]!;

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
  demo = { url, admin_token: adminToken, ...demo, url_epn: epnUrl, nats_url: natsUrl, data_dir: config.dataDir };
  writeFileSync(demoFile, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });
  process.stderr.write(
    [
      '',
      '  paynats is running',
      `  API (Stripe-compatible):  ${url}/v1   health: ${url}/healthz`,
      `  EPN card network sim:     ${epnUrl}`,
      `  NATS:                     ${natsUrl}${nats ? ' (pinned nats-server, JetStream under DATA_DIR)' : ''}`,
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
