// One typed configuration, read from the environment once at start-up and validated.
// A bad value is a ConfigError; entry points print it and exit with code 2.
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  host: string;
  port: number;
  /** Unset: the launcher starts the pinned nats-server under dataDir and sets it. */
  natsUrl: string | undefined;
  /** Unset: PGlite under dataDir/pglite. */
  databaseUrl: string | undefined;
  dataDir: string;
  adminToken: string | undefined;
  logLevel: LogLevel;
  /** Number of actor partitions; fixed for the life of a deployment (it shapes ownership keys). */
  partitions: number;
  /** Roles this process runs: gateway, actors, projector, webhooks, reconcile. */
  roles: Role[];
  epnUrl: string | undefined;
  epnPort: number;
  epnLatencyMs: number;
  /** Timeout for one call to the card network, in ms. */
  epnTimeoutMs: number;
  /** jetstream sync_interval for the nats-server we start: 'always' fsyncs every write. */
  natsSync: string;
  /** Event retention in the stream, in seconds (default 30 days). */
  eventMaxAgeS: number;
  /** Webhook POST timeout, ms. */
  webhookTimeoutMs: number;
  /** Webhook retry delays in ms (comma list); one try more than the list's length. */
  webhookBackoffMs: number[];
  /** Lease time of a partition owner, ms. */
  leaseMs: number;
  /** Delays between inquiries about an in-doubt attempt, ms (comma list; the last one repeats). */
  reconcileBackoffMs: number[];
  /** How long after an attempt went in doubt reconciliation keeps asking before settling it as a timeout, ms (RECON_DEADLINE_MS). */
  reconcileDeadlineMs: number;
  /** Delay before the first inquiry about an in-doubt attempt, ms (RECON_INQUIRY_AFTER_MS). */
  reconInquiryAfterMs: number;
  /** How often the reconcile role reads the network's chargeback feed, ms; 0: never (DISPUTE_POLL_MS). */
  disputePollMs: number;
  /** Interval of the scheduled settlement-file reconciliation, ms; 0: only on demand (RECON_SETTLEMENT_INTERVAL_MS). */
  reconSettlementIntervalMs: number;
  /** Settlement rows and attempts younger than this are left for the next run (still in flight), ms. */
  reconSettlementGraceMs: number;
  /** An attempt pending or in doubt longer than this is stuck: the sweep takes it over, ms (RECON_STUCK_AFTER_MS). */
  reconStuckAfterMs: number;
  workerId: string;
  /** The demo merchant store's port under `npm start` (`0` = any free port). */
  storePort: number;
  /** Port of GET /metrics in a process without the gateway role (0 = off); the gateway serves /metrics itself. */
  metricsPort: number;
  /** Disable a webhook endpoint that failed every try for this long, ms (0: never). */
  webhookDisableAfterMs: number;
  /** Ack wait of the webhook_delivery durable, ms: how soon a dead worker's tasks go to another. */
  webhookAckWaitMs: number;
  /** At most this many POSTs in flight to one endpoint, per worker. */
  webhookPerEndpoint: number;
  /** First tries the fan-out makes itself at once, per process (0: every delivery is stored as a task first). */
  webhookInlineTries: number;
  /** Requests per second per merchant in live mode (0 = unlimited); a merchant's own setting overrides it. */
  rateLimitLive: number;
  /** Requests per second per merchant in test mode (0 = unlimited). */
  rateLimitTest: number;
  /** TLS on the gateway: PEM certificate (chain) and key files, both or neither. HSTS is sent over TLS. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** Fastify trustProxy: false, true, a hop count, or a comma list of proxy addresses/CIDRs (X-Forwarded-For/-Proto). */
  trustProxy: boolean | number | string[];
  /** Archive (issue 9): where chunks go: 'jetstream' (object store pay_archive) or 'dir:<path>'. */
  archiveStore: string;
  /** Events per archive chunk at most. */
  archiveChunkEvents: number;
  /** A chunk is closed at most this long after its first event arrived, ms (well under the stream's max_age). */
  archiveChunkMs: number;
  /** Terminal intents, attempts and deliveries older than this move from the database to the archive, s. */
  archiveDbAfterS: number;
  /** How often the archive role looks for such rows, s. */
  archiveDbEveryS: number;
  /** What archives hold of e-mail addresses: kept, hashed (keyed), or encrypted with a per-merchant key (erasable). */
  archiveEmails: 'keep' | 'hash' | 'encrypt';
  /** Migrations' Postgres URL (a role allowed DDL); the runtime uses DATABASE_URL. Default: DATABASE_URL. */
  databaseMigrationUrl: string | undefined;
  /** PII retention in days (fractions allowed); personal data idle for longer is erased. 0 = keep. */
  piiRetentionDays: number;
  /** Days a captured charge's funds stay pending in GET /v1/balance before they count as available (BALANCE_PENDING_DAYS). */
  balancePendingDays: number;
  /** How often the projector role runs the retention job (ms). */
  piiRetentionIntervalMs: number;
  /** Replicas of every stream, KV bucket and object store we declare (NATS_REPLICAS, 1..5; 3 in a 3-node cluster). */
  natsReplicas: number;
  /** How long a list waits for the read model to hold the caller's own writes (LIST_WAIT_MS; storage/read-your-writes.ts). */
  listWaitMs: number;
  /** How often the projector role expires Checkout Sessions past their expires_at (CHECKOUT_EXPIRY_INTERVAL_MS). */
  checkoutExpiryIntervalMs: number;
}

export const ROLES = ['gateway', 'actors', 'projector', 'webhooks', 'reconcile', 'archive'] as const;
export type Role = (typeof ROLES)[number];

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got '${raw}'`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function checkUrl(name: string, raw: string, protocols: string[]): void {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, `is not a URL: '${raw}'`);
  }
  if (!protocols.includes(u.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got '${u.protocol}'`);
  }
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  checkUrl(name, raw, protocols);
  return raw;
}

/** A comma-separated list of URLs (NATS seed servers); each one is checked. */
function urlList(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new ConfigError(name, `has an empty entry: '${raw}'`);
  for (const p of parts) checkUrl(name, p, protocols);
  return parts.join(',');
}

function tlsFiles(env: Env): Config['tls'] {
  const cert = env.TLS_CERT_FILE || undefined;
  const key = env.TLS_KEY_FILE || undefined;
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new ConfigError(cert ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', 'TLS needs both TLS_CERT_FILE and TLS_KEY_FILE');
  return { certFile: path.resolve(cert), keyFile: path.resolve(key) };
}

function trustProxyOf(raw: string | undefined): Config['trustProxy'] {
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$|^(loopback|linklocal|uniquelocal)$/.test(p))) {
    throw new ConfigError('TRUST_PROXY', `must be true, false, a hop count, or a comma list of addresses/CIDRs, got '${raw}'`);
  }
  return parts;
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = (env.LOG_LEVEL ?? 'info') as LogLevel;
  if (!LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LEVELS.join(', ')}`);
  const rolesRaw = env.ROLES ?? ROLES.join(',');
  const roles = rolesRaw.split(',').map((r) => r.trim()).filter(Boolean) as Role[];
  for (const r of roles) {
    if (!ROLES.includes(r)) throw new ConfigError('ROLES', `unknown role '${r}' (known: ${ROLES.join(', ')})`);
  }
  if (roles.length === 0) throw new ConfigError('ROLES', `must name at least one role (known: ${ROLES.join(', ')})`);
  const adminToken = env.ADMIN_TOKEN === '' ? undefined : env.ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN', 'must be at least 16 characters');
  }
  const backoffRaw = env.WEBHOOK_BACKOFF_MS ?? '5000,30000,300000,1800000,7200000,18000000,36000000,86400000,86400000';
  const webhookBackoffMs = backoffRaw.split(',').map((s) => {
    if (!/^\d+$/.test(s.trim())) throw new ConfigError('WEBHOOK_BACKOFF_MS', `must be a comma list of ms, got '${backoffRaw}'`);
    return Number(s.trim());
  });
  // RECON_* are the reconciliation names; the older RECONCILE_* ones still work (RECON_* wins).
  const backoffVar = env.RECON_BACKOFF_MS !== undefined ? 'RECON_BACKOFF_MS' : 'RECONCILE_BACKOFF_MS';
  const reconcileRaw = env[backoffVar] ?? '1000,5000,30000,120000';
  const reconcileBackoffMs = reconcileRaw.split(',').map((s) => {
    if (!/^\d+$/.test(s.trim())) throw new ConfigError(backoffVar, `must be a comma list of ms, got '${reconcileRaw}'`);
    return Number(s.trim());
  });
  const host = env.HOST ?? '127.0.0.1';
  if (host === '') throw new ConfigError('HOST', 'must not be empty');
  const natsSync = env.NATS_SYNC ?? 'always';
  if (!/^(always|\d+(ms|s|m))$/.test(natsSync)) throw new ConfigError('NATS_SYNC', `must be 'always' or a duration like 2m, got '${natsSync}'`);
  return {
    host,
    port: int(env, 'PORT', 4010, 0, 65535),
    natsUrl: urlList(env, 'NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']),
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: path.resolve(env.DATA_DIR ?? '.data'),
    adminToken,
    logLevel,
    partitions: int(env, 'PARTITIONS', 16, 1, 1024),
    roles,
    epnUrl: url(env, 'EPN_URL', ['http:', 'https:']),
    epnPort: int(env, 'EPN_PORT', 4020, 0, 65535),
    epnLatencyMs: int(env, 'EPN_LATENCY_MS', 0, 0, 60_000),
    epnTimeoutMs: int(env, 'EPN_TIMEOUT_MS', 10_000, 1, 120_000),
    natsSync,
    eventMaxAgeS: int(env, 'EVENT_MAX_AGE_S', 30 * 24 * 3600, 1, 10 * 365 * 24 * 3600),
    webhookTimeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 1, 120_000),
    webhookBackoffMs,
    leaseMs: int(env, 'LEASE_MS', 5_000, 500, 600_000),
    reconcileBackoffMs,
    reconcileDeadlineMs: int(env, env.RECON_DEADLINE_MS !== undefined ? 'RECON_DEADLINE_MS' : 'RECONCILE_DEADLINE_MS', 10 * 60 * 1000, 1, 7 * 24 * 3600 * 1000),
    reconInquiryAfterMs: int(env, 'RECON_INQUIRY_AFTER_MS', 1_000, 0, 24 * 3600 * 1000),
    disputePollMs: int(env, 'DISPUTE_POLL_MS', 1000, 0, 3600 * 1000),
    reconSettlementIntervalMs: int(env, 'RECON_SETTLEMENT_INTERVAL_MS', 3600 * 1000, 0, 7 * 24 * 3600 * 1000),
    reconSettlementGraceMs: int(env, 'RECON_SETTLEMENT_GRACE_MS', 60 * 1000, 0, 24 * 3600 * 1000),
    reconStuckAfterMs: int(env, 'RECON_STUCK_AFTER_MS', 15 * 60 * 1000, 1, 7 * 24 * 3600 * 1000),
    workerId: env.WORKER_ID ?? `w_${randomBytes(4).toString('hex')}`,
    storePort: int(env, 'STORE_PORT', 4030, 0, 65535),
    metricsPort: int(env, 'METRICS_PORT', 0, 0, 65535),
    webhookDisableAfterMs: int(env, 'WEBHOOK_DISABLE_AFTER_MS', 3 * 24 * 3600 * 1000, 0, 30 * 24 * 3600 * 1000),
    webhookAckWaitMs: int(env, 'WEBHOOK_ACK_WAIT_MS', 60_000, 1_000, 3_600_000),
    webhookPerEndpoint: int(env, 'WEBHOOK_PER_ENDPOINT', 8, 1, 1_000),
    webhookInlineTries: int(env, 'WEBHOOK_INLINE_TRIES', 16, 0, 1_000),
    rateLimitLive: int(env, 'RATE_LIMIT_LIVE', 100, 0, 1_000_000),
    rateLimitTest: int(env, 'RATE_LIMIT_TEST', 25, 0, 1_000_000),
    tls: tlsFiles(env),
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    databaseMigrationUrl: url(env, 'DATABASE_MIGRATION_URL', ['postgres:', 'postgresql:']),
    piiRetentionDays: days(env, 'PII_RETENTION_DAYS'),
    balancePendingDays: days(env, 'BALANCE_PENDING_DAYS', 2),
    piiRetentionIntervalMs: int(env, 'PII_RETENTION_INTERVAL_MS', 3600 * 1000, 100, 7 * 24 * 3600 * 1000),
    natsReplicas: int(env, 'NATS_REPLICAS', 1, 1, 5),
    listWaitMs: int(env, 'LIST_WAIT_MS', 1000, 0, 60_000),
    checkoutExpiryIntervalMs: int(env, 'CHECKOUT_EXPIRY_INTERVAL_MS', 60_000, 100, 24 * 3600 * 1000),
    ...archiveConfig(env, int(env, 'EVENT_MAX_AGE_S', 30 * 24 * 3600, 1, 10 * 365 * 24 * 3600)),
  };
}

/** ARCHIVE_* (issue 9): chunks must close well before the stream drops their events. */
function archiveConfig(env: Env, eventMaxAgeS: number): Pick<Config, 'archiveStore' | 'archiveChunkEvents' | 'archiveChunkMs' | 'archiveDbAfterS' | 'archiveDbEveryS' | 'archiveEmails'> {
  const archiveStore = env.ARCHIVE_STORE || 'jetstream';
  if (archiveStore !== 'jetstream' && !/^dir:.+/.test(archiveStore)) throw new ConfigError('ARCHIVE_STORE', `must be 'jetstream' or 'dir:<path>', got '${archiveStore}'`);
  const archiveChunkMs = int(env, 'ARCHIVE_CHUNK_MS', Math.min(10 * 60 * 1000, Math.floor((eventMaxAgeS * 1000) / 4)), 10, 24 * 3600 * 1000);
  if (archiveChunkMs * 2 > eventMaxAgeS * 1000) {
    throw new ConfigError('ARCHIVE_CHUNK_MS', `must be at most half of EVENT_MAX_AGE_S (${eventMaxAgeS} s), or events could age out before they are archived; got ${archiveChunkMs}`);
  }
  const archiveEmails = (env.ARCHIVE_EMAILS || 'encrypt') as Config['archiveEmails'];
  if (!['keep', 'hash', 'encrypt'].includes(archiveEmails)) throw new ConfigError('ARCHIVE_EMAILS', `must be keep, hash or encrypt, got '${archiveEmails}'`);
  return {
    archiveStore: archiveStore === 'jetstream' ? archiveStore : `dir:${path.resolve(archiveStore.slice(4))}`,
    archiveChunkEvents: int(env, 'ARCHIVE_CHUNK_EVENTS', 10_000, 1, 50_000),
    archiveChunkMs,
    archiveDbAfterS: int(env, 'ARCHIVE_DB_AFTER_S', 365 * 24 * 3600, 1, 100 * 365 * 24 * 3600),
    archiveDbEveryS: int(env, 'ARCHIVE_DB_EVERY_S', 3600, 1, 30 * 24 * 3600),
    archiveEmails,
  };
}

/** A non-negative number of days (decimals allowed, so tests can use seconds); unset = 0. */
function days(env: Env, name: string, dflt = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new ConfigError(name, `must be a non-negative number of days, got '${raw}'`);
  const n = Number(raw);
  if (n > 36_500) throw new ConfigError(name, `must be at most 36500 days, got ${n}`);
  return n;
}

/** Entry points call this: a bad value prints a clear message and exits with 2. */
export function loadConfigOrExit(env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
