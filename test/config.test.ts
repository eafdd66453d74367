// config/config.ts: defaults, every kind of bad value (a ConfigError naming the variable), and a real
// process started with a bad value: it prints a clear message and exits with code 2.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigError, ROLES, loadConfig } from '../config/config.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

t.test('defaults', async (t) => {
  const c = loadConfig({});
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 4010);
  t.equal(c.natsUrl, undefined);
  t.equal(c.databaseUrl, undefined);
  t.equal(c.dataDir, path.resolve('.data'));
  t.ok(path.isAbsolute(c.dataDir), 'DATA_DIR is resolved to an absolute path');
  t.equal(c.adminToken, undefined);
  t.equal(c.logLevel, 'info');
  t.equal(c.partitions, 16);
  t.strictSame(c.roles, [...ROLES]);
  t.equal(c.epnUrl, undefined);
  t.equal(c.epnPort, 4020);
  t.equal(c.epnLatencyMs, 0);
  t.equal(c.epnTimeoutMs, 10_000);
  t.equal(c.natsSync, 'always');
  t.equal(c.eventMaxAgeS, 30 * 24 * 3600);
  t.equal(c.webhookTimeoutMs, 10_000);
  t.strictSame(c.webhookBackoffMs, [5_000, 30_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 86_400_000, 86_400_000]);
  t.equal(c.leaseMs, 5_000);
  t.match(c.workerId, /^w_[0-9a-f]{8}$/);
  t.not(loadConfig({}).workerId, c.workerId, 'a fresh worker id per process');
  t.equal(loadConfig({ PORT: '', ADMIN_TOKEN: '' }).port, 4010, 'an empty value means the default');
});

t.test('good values', async (t) => {
  const c = loadConfig({
    HOST: '0.0.0.0',
    PORT: '0',
    NATS_URL: 'nats://127.0.0.1:4222',
    DATABASE_URL: 'postgresql://u:p@db:5432/pay',
    DATA_DIR: 'some/dir',
    ADMIN_TOKEN: 'x'.repeat(16),
    LOG_LEVEL: 'silent',
    PARTITIONS: '4',
    ROLES: ' actors , webhooks ',
    EPN_URL: 'http://127.0.0.1:4020',
    NATS_SYNC: '2m',
    WEBHOOK_BACKOFF_MS: '100, 200',
    LEASE_MS: '500',
    WORKER_ID: 'w_test',
  });
  t.match(c, {
    host: '0.0.0.0',
    port: 0,
    natsUrl: 'nats://127.0.0.1:4222',
    databaseUrl: 'postgresql://u:p@db:5432/pay',
    dataDir: path.resolve('some/dir'),
    adminToken: 'x'.repeat(16),
    logLevel: 'silent',
    partitions: 4,
    roles: ['actors', 'webhooks'],
    epnUrl: 'http://127.0.0.1:4020',
    natsSync: '2m',
    leaseMs: 500,
    workerId: 'w_test',
  });
  t.strictSame(c.webhookBackoffMs, [100, 200]);
  t.equal(loadConfig({ PORT: '65535' }).port, 65535);
  // README: NATS_URL is "NATS server(s), comma-separated" (connectNats splits on commas).
  t.equal(loadConfig({ NATS_URL: 'nats://a:4222, nats://b:4222,tls://c:4222' }).natsUrl, 'nats://a:4222,nats://b:4222,tls://c:4222');
});

t.test('each bad value is a ConfigError naming its variable', async (t) => {
  const cases: [Record<string, string>, string, RegExp?][] = [
    [{ PORT: 'abc' }, 'PORT', /integer/],
    [{ PORT: '70000' }, 'PORT', /between 0 and 65535/],
    [{ PORT: '-1' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of/],
    [{ NATS_URL: 'http://x' }, 'NATS_URL', /nats:/],
    [{ NATS_URL: 'not a url' }, 'NATS_URL', /not a URL/],
    [{ NATS_URL: 'nats://a:4222,http://b' }, 'NATS_URL', /http:/],
    [{ NATS_URL: 'nats://a:4222,' }, 'NATS_URL', /empty/],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', /postgres:/],
    [{ EPN_URL: 'ftp://x' }, 'EPN_URL'],
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN', /16/],
    [{ ADMIN_TOKEN: 'x'.repeat(15) }, 'ADMIN_TOKEN'],
    [{ ROLES: 'unknown' }, 'ROLES', /unknown role 'unknown'/],
    [{ ROLES: 'gateway,unknown' }, 'ROLES'],
    [{ ROLES: ' , ' }, 'ROLES', /at least one/],
    [{ WEBHOOK_BACKOFF_MS: '1,x' }, 'WEBHOOK_BACKOFF_MS', /comma list/],
    [{ WEBHOOK_BACKOFF_MS: '-5' }, 'WEBHOOK_BACKOFF_MS'],
    [{ HOST: '' }, 'HOST'],
    [{ NATS_SYNC: 'sometimes' }, 'NATS_SYNC'],
    [{ PARTITIONS: '0' }, 'PARTITIONS'],
    [{ LEASE_MS: '100' }, 'LEASE_MS'],
    [{ RECON_DEADLINE_MS: '0' }, 'RECON_DEADLINE_MS'],
    [{ RECONCILE_DEADLINE_MS: 'soon' }, 'RECONCILE_DEADLINE_MS', /integer/],
    [{ RECON_INQUIRY_AFTER_MS: '-1' }, 'RECON_INQUIRY_AFTER_MS'],
    [{ RECON_SETTLEMENT_INTERVAL_MS: '1h' }, 'RECON_SETTLEMENT_INTERVAL_MS'],
    [{ RECON_SETTLEMENT_GRACE_MS: 'x' }, 'RECON_SETTLEMENT_GRACE_MS'],
    [{ RECON_STUCK_AFTER_MS: '0' }, 'RECON_STUCK_AFTER_MS'],
    [{ RECON_BACKOFF_MS: '1,,2' }, 'RECON_BACKOFF_MS', /comma list/],
    [{ RECONCILE_BACKOFF_MS: 'x' }, 'RECONCILE_BACKOFF_MS', /comma list/],
  ];
  for (const [env, variable, message] of cases) {
    const what = JSON.stringify(env);
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      caught = err;
    }
    t.type(caught, ConfigError, `${what} throws a ConfigError`);
    const e = caught as ConfigError;
    t.equal(e?.variable, variable, `${what} names ${variable}`);
    t.match(e?.message, new RegExp(`^${variable}: `), `${what}: the message starts with the variable`);
    if (message) t.match(e?.message, message, `${what}: ${String(message)}`);
  }
});

t.test('a process started with a bad value prints it and exits with code 2', async (t) => {
  // A clean environment: nothing of this machine's configuration leaks in, only the bad PORT.
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'XDG_CACHE_HOME', 'SYSTEMROOT']) if (process.env[k] !== undefined) env[k] = process.env[k];
  env.PORT = 'abc';
  const child = spawn(process.execPath, ['--import', 'tsx', 'runtime/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  t.equal(code, 2, `exit code (stderr: ${stderr.slice(0, 500)})`);
  t.match(stderr, /configuration error: PORT: must be an integer, got 'abc'/);
  t.notMatch(stderr, /at .*\.ts:\d+/, 'a message, not a stack trace');
  t.equal(stdout, '', 'nothing started');
});

t.test('reconciliation: defaults, RECON_* names, and the older RECONCILE_* ones as aliases', async (t) => {
  const d = loadConfig({});
  t.match(d, { reconcileDeadlineMs: 600_000, reconInquiryAfterMs: 1_000, reconSettlementIntervalMs: 3_600_000, reconSettlementGraceMs: 60_000, reconStuckAfterMs: 900_000 });
  t.strictSame(d.reconcileBackoffMs, [1_000, 5_000, 30_000, 120_000]);
  const c = loadConfig({ RECON_DEADLINE_MS: '3000', RECON_INQUIRY_AFTER_MS: '0', RECON_SETTLEMENT_INTERVAL_MS: '0', RECON_SETTLEMENT_GRACE_MS: '0', RECON_STUCK_AFTER_MS: '5000', RECON_BACKOFF_MS: '100,200' });
  t.match(c, { reconcileDeadlineMs: 3_000, reconInquiryAfterMs: 0, reconSettlementIntervalMs: 0, reconSettlementGraceMs: 0, reconStuckAfterMs: 5_000 });
  t.strictSame(c.reconcileBackoffMs, [100, 200]);
  const old = loadConfig({ RECONCILE_DEADLINE_MS: '4000', RECONCILE_BACKOFF_MS: '300' });
  t.equal(old.reconcileDeadlineMs, 4_000, 'RECONCILE_DEADLINE_MS still works');
  t.strictSame(old.reconcileBackoffMs, [300], 'RECONCILE_BACKOFF_MS still works');
  t.equal(loadConfig({ RECONCILE_DEADLINE_MS: '4000', RECON_DEADLINE_MS: '5000' }).reconcileDeadlineMs, 5_000, 'RECON_* wins over the alias');
});
