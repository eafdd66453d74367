// What every ops command gets: where the stack is (NATS, gateway, admin token) and how to print.
// NATS_URL / GATEWAY_URL / ADMIN_TOKEN win; otherwise the values `npm start` wrote to
// DATA_DIR/demo-merchant.json, so `npm run ops -- …` just works next to a running `npm start`.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../nats/mod.ts';

export interface OpsContext {
  natsUrl: string | undefined;
  gatewayUrl: string | undefined;
  adminToken: string | undefined;
  dataDir: string;
  json: boolean;
  /** Connects once, on first use; closed by the CLI after the command. */
  nats(): Promise<NatsConnection>;
  /** GET/POST the gateway's admin API with the admin token; throws on a non-2xx with the Stripe error message. */
  admin<T = unknown>(method: string, pathAndQuery: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  out(human: string | (() => string), data: unknown): void;
  close(): Promise<void>;
}

export class UsageError extends Error {}

export function createContext(env: Record<string, string | undefined>, json: boolean): OpsContext {
  const dataDir = path.resolve(env.DATA_DIR ?? '.data');
  const demoFile = path.join(dataDir, 'demo-merchant.json');
  const demo = existsSync(demoFile) ? (JSON.parse(readFileSync(demoFile, 'utf8')) as Record<string, string>) : {};
  const natsUrl = env.NATS_URL ?? demo.nats_url;
  const gatewayUrl = env.GATEWAY_URL ?? demo.url;
  const adminToken = env.ADMIN_TOKEN ?? demo.admin_token;
  let nc: NatsConnection | null = null;
  return {
    natsUrl,
    gatewayUrl,
    adminToken,
    dataDir,
    json,
    async nats() {
      if (!natsUrl) throw new UsageError('no NATS_URL (set it, or run next to `npm start`, which writes DATA_DIR/demo-merchant.json)');
      nc ??= await connectNats(natsUrl, 'paynats-ops');
      return nc;
    },
    async admin<T>(method: string, pathAndQuery: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
      if (!gatewayUrl) throw new UsageError('no GATEWAY_URL (set it, or run next to `npm start`)');
      if (!adminToken) throw new UsageError('no ADMIN_TOKEN (set it, or run next to `npm start`)');
      const res = await fetch(new URL(pathAndQuery, gatewayUrl), {
        method,
        headers: { ...headers, authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      const parsed = text ? (JSON.parse(text) as unknown) : null;
      if (!res.ok) {
        const msg = (parsed as { error?: { message?: string } } | null)?.error?.message ?? text;
        throw new Error(`${method} ${pathAndQuery}: HTTP ${res.status}: ${msg}`);
      }
      return parsed as T;
    },
    out(human, data) {
      if (json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
      else process.stdout.write((typeof human === 'function' ? human() : human) + '\n');
    },
    async close() {
      await nc?.drain().catch(() => {});
    },
  };
}

/** A plain text table for people: columns sized to their widest cell. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '(none)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}
