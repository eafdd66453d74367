// The whole stack in one test: a private pinned nats-server, the EPN simulator, and a node running
// every role against its own database (PGlite in a temp dir, or a fresh Postgres database).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig, type Config } from '../../config/config.ts';
import { buildEpnServer } from '../../epn/sim/server.ts';
import { startNode, type RunningNode } from '../../runtime/node.ts';
import { seedPglite } from './pglite-template.ts';
import { withNats, type Teardownable, type WithNats } from './nats.ts';

export interface Stack {
  url: string;
  port: number;
  adminToken: string;
  epnUrl: string;
  nats: WithNats;
  node: RunningNode;
  config: Config;
  dataDir: string;
  /** Every log line the node wrote (JSON strings). */
  logs: string[];
  /** Headers of every request the EPN simulator received (what the network saw of our correlation ids). */
  epnRequests: { method: string; url: string; headers: Record<string, string | string[] | undefined> }[];
  onboard(body?: Record<string, unknown>): Promise<Onboarded>;
}

export interface Onboarded {
  merchant_id: string;
  secret_key: string;
  publishable_key: string;
  webhook_secret: string;
  webhook_endpoint_id: string;
}

export async function startStack(t: Teardownable, env: Record<string, string> = {}): Promise<Stack> {
  const nats = await withNats(t);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-stack-'));
  const logs: string[] = [];
  const epnLogs: string[] = [];
  const sink = (into: string[]) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) into.push(line);
        cb();
      },
    });
  const decisionMs = env.EPN_CHARGEBACK_DECISION_MS;
  const epn = buildEpnServer({
    latencyMs: 0,
    ledgerPath: path.join(dataDir, 'epn', 'ledger.jsonl'),
    logger: pino({ level: 'info' }, sink(epnLogs)),
    ...(decisionMs !== undefined ? { chargebackDecisionMs: Number(decisionMs) } : {}),
  });
  const epnRequests: Stack['epnRequests'] = [];
  epn.addHook('onRequest', async (req) => void epnRequests.push({ method: req.method, url: req.url, headers: { ...req.headers } }));
  const epnUrl = await epn.listen({ host: '127.0.0.1', port: 0 });
  const adminToken = 'adm_test_0123456789abcdef';
  const config = loadConfig({
    NATS_URL: nats.url,
    EPN_URL: epnUrl,
    DATA_DIR: dataDir,
    ADMIN_TOKEN: adminToken,
    PORT: '0',
    LOG_LEVEL: 'debug',
    PARTITIONS: '4',
    WEBHOOK_BACKOFF_MS: '200,400,800',
    WEBHOOK_TIMEOUT_MS: '2000',
    EPN_TIMEOUT_MS: '3000',
    // Rate limits out of the way of functional tests (test/rate-limit.test.ts sets its own).
    RATE_LIMIT_LIVE: '100000',
    RATE_LIMIT_TEST: '100000',
    ...env,
  });
  const log = pino({ level: 'debug', redact: { paths: ['*.card.number', '*.card.cvc'], censor: '[redacted]' } }, sink(logs));
  // PGlite (no DATABASE_URL): start from a copy of a migrated empty database instead of a fresh initdb.
  if (!config.databaseUrl) await seedPglite(dataDir);
  const node = await startNode(config, log);
  t.teardown(async () => {
    await node.stop();
    await epn.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  const url = node.url!;
  logs.push(...epnLogs);
  return {
    url,
    port: Number(new URL(url).port),
    adminToken,
    epnUrl,
    nats,
    node,
    config,
    dataDir,
    logs,
    epnRequests,
    async onboard(body = {}) {
      const res = await fetch(`${url}/admin/merchants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Test Store', address: '1 Test Road', gst_id: '29ABCDE1234F1Z5', events: ['*'], ...body }),
      });
      if (res.status !== 201) throw new Error(`onboard: ${res.status} ${await res.text()}`);
      return (await res.json()) as Onboarded;
    },
  };
}

/** Polls until `f` returns a truthy value or the time is up. */
export async function eventually<T>(f: () => Promise<T | null | undefined | false>, ms = 10_000, every = 50): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Runs f over items, n at a time. */
export async function pool<T>(items: T[], n: number, f: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await f(items[i]!, i);
      }
    }),
  );
}
