// The stack under test: started through scripts/start.ts (the supervisor) in a fresh temp DATA_DIR,
// or an already running one (--target DATA_DIR). The URL, keys and NATS URL come from
// DATA_DIR/demo-merchant.json; the processes (for CPU/RSS) from DATA_DIR/processes.json, or else
// from the supervisor's children in /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandOf, descendants, type Watched } from './procstat.ts';
import { sleep } from './stats.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Demo {
  url: string;
  admin_token: string;
  merchant_id: string;
  secret_key: string;
  webhook_secret: string;
  nats_url: string;
  url_epn: string;
  data_dir: string;
  workers?: string[];
}

export interface ProcessesFile {
  supervisor: number;
  workers: number;
  processes: { name: string; pid: number; worker_id?: string; alive: boolean }[];
}

export interface Stack {
  dataDir: string;
  demo: Demo;
  own: boolean;
  logFile: string | null;
  /** The processes to watch, named (node w_main, worker w_1, nats-server, epn, supervisor). */
  watched(): Watched[];
  stop(): Promise<void>;
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function assertLoopback(u: string, what: string) {
  const h = new URL(u).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(h)) throw new Error(`${what} ${u} is not loopback: the bench only runs against this machine`);
}

function watchedOf(dataDir: string): Watched[] {
  const pf = readJson<ProcessesFile>(path.join(dataDir, 'processes.json'));
  if (!pf) return [];
  const out: Watched[] = [{ name: 'supervisor', pid: pf.supervisor }];
  for (const p of pf.processes) if (p.alive) out.push({ name: p.worker_id ? `${p.name} ${p.worker_id}` : p.name, pid: p.pid });
  // Anything else the supervisor runs (e.g. an older start.ts without processes.json entries).
  const known = new Set(out.map((w) => w.pid));
  for (const pid of descendants(pf.supervisor, 1)) if (!known.has(pid)) out.push({ name: commandOf(pid).split(' ').slice(-1)[0] ?? String(pid), pid });
  return out;
}

export function targetStack(dataDir: string): Stack {
  const demo = readJson<Demo>(path.join(dataDir, 'demo-merchant.json'));
  if (!demo) throw new Error(`${dataDir}/demo-merchant.json not found or unreadable: is the stack running (npm start)?`);
  assertLoopback(demo.url, 'gateway');
  assertLoopback(demo.nats_url.replace(/^nats:/, 'http:'), 'NATS');
  return { dataDir, demo, own: false, logFile: null, watched: () => watchedOf(dataDir), stop: async () => {} };
}

export interface StartOptions {
  workers: number;
  /** NATS_SYNC: 'always' or a duration such as '2m'. */
  sync: string;
  logLevel: string;
  /** Extra environment for every process of the stack (e.g. NODE_OPTIONS=--cpu-prof). */
  env?: Record<string, string>;
  keep?: boolean;
  readyTimeoutMs?: number;
  say?: (s: string) => void;
}

export async function startStack(o: StartOptions): Promise<Stack> {
  const say = o.say ?? (() => {});
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paynats-bench-'));
  const logFile = path.join(dataDir, 'stack.log');
  const fd = openSync(logFile, 'a');
  // Only what the stack needs from our environment: none of an operator's NATS_URL, DATABASE_URL,
  // PORT, ROLES, ... may leak in and point the bench at something else.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    ...(process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {}),
    ...(process.env.NATS_SERVER_BIN ? { NATS_SERVER_BIN: process.env.NATS_SERVER_BIN } : {}),
    ...(process.env.PARTITIONS ? { PARTITIONS: process.env.PARTITIONS } : {}),
    ...(process.env.EPN_LATENCY_MS ? { EPN_LATENCY_MS: process.env.EPN_LATENCY_MS } : {}),
    ...(process.env.WEBHOOK_INLINE_TRIES ? { WEBHOOK_INLINE_TRIES: process.env.WEBHOOK_INLINE_TRIES } : {}),
    DATA_DIR: dataDir,
    PORT: '0',
    EPN_PORT: '0',
    STORE_PORT: '0',
    WORKERS: String(o.workers),
    NATS_SYNC: o.sync,
    LOG_LEVEL: o.logLevel,
    // The per-merchant rate limit stays on (its cost is part of what is measured) but far above any bench rate.
    RATE_LIMIT_LIVE: '1000000',
    RATE_LIMIT_TEST: '1000000',
    ...o.env,
  };
  const t0 = Date.now();
  // The supervisor itself (not through the tsx CLI, which would add a process in between).
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  let exited: { code: number | null; signal: string | null } | null = null;
  const gone = new Promise<void>((r) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  };
  const demoFile = path.join(dataDir, 'demo-merchant.json');
  const until = Date.now() + (o.readyTimeoutMs ?? 180_000);
  let demo: Demo | null = null;
  const fail = async (why: string): Promise<never> => {
    const log = tail();
    if (!exited) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
    }
    if (!o.keep) rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${why}; the stack's log:\n${log}`);
  };
  while (!demo) {
    if (exited) await fail(`the stack exited while starting (${JSON.stringify(exited)})`);
    if (Date.now() > until) await fail(`the stack did not start within ${o.readyTimeoutMs ?? 180_000} ms`);
    if (existsSync(demoFile)) demo = readJson<Demo>(demoFile);
    if (!demo) await sleep(200);
  }
  say(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${demo.url} (workers ${o.workers}, NATS_SYNC ${o.sync}, DATA_DIR ${dataDir})`);

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((r) => (timer = setTimeout(r, 45_000)))]);
      clearTimeout(timer);
    }
    // Whatever is still alive (a supervisor that was killed leaves its detached children).
    const pf = readJson<ProcessesFile>(path.join(dataDir, 'processes.json'));
    for (const p of [...(pf?.processes ?? [])].reverse()) {
      if (!p.alive || !/runtime\/main\.ts|epn\/sim\/main\.ts|nats-server/.test(commandOf(p.pid))) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (!exited) child.kill('SIGKILL');
    if (!o.keep) rmSync(dataDir, { recursive: true, force: true });
  };
  return { dataDir, demo, own: true, logFile, watched: () => watchedOf(dataDir), stop };
}
