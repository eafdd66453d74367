// `npm start` as a user runs it: scripts/start.ts in a clean environment (nothing of the test
// runner's NODE_OPTIONS, NATS_URL… leaks in) on a temp DATA_DIR, its output in a log file. Waits
// for the demo merchant (the stack is up), reads processes.json, and at teardown stops the
// supervisor and SIGKILLs anything it left behind.
import { seedPglite } from './pglite-template.ts';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './worker-process.ts';

export interface Demo {
  url: string;
  admin_token: string;
  url_epn: string;
  nats_url: string;
  secret_key?: string;
}
export interface ProcessesFile {
  supervisor: number;
  processes: { name: string; pid: number; worker_id?: string; alive: boolean }[];
}

export const readJson = <T>(file: string): T | null => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
};

/** Polls `f` until it returns a truthy value; throws naming `what` after `ms`. */
export async function eventually<T>(what: string, f: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms: number, every = 100): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(every);
  }
}

export interface Launched {
  dataDir: string;
  /** The stack's output (stdout and stderr). */
  logFile: string;
  demo: Demo;
  processesFile: string;
  processes(): ProcessesFile;
  /** The last 40 lines of the stack's output. */
  tail(): string;
  exited(): boolean;
}

export async function launchStack(t: { teardown(f: () => unknown): void }, env: Record<string, string>, o: { prefix: string; startMs?: number }): Promise<Launched> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), o.prefix));
  // PGlite (no DATABASE_URL): a copy of a migrated empty database instead of a fresh initdb.
  if (!env.DATABASE_URL) await seedPglite(dataDir);
  const logFile = path.join(dataDir, 'stack.log');
  const fd = openSync(logFile, 'a');
  const sup = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      ...(process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {}),
      ...(process.env.NATS_SERVER_BIN ? { NATS_SERVER_BIN: process.env.NATS_SERVER_BIN } : {}),
      DATA_DIR: dataDir,
      PORT: '0',
      EPN_PORT: '0',
      STORE_PORT: '0',
      ...env,
    },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  let supExited = false;
  const supGone = new Promise<void>((r) =>
    sup.once('exit', () => {
      supExited = true;
      r();
    }),
  );
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '';
    }
  };
  const processesFile = path.join(dataDir, 'processes.json');
  t.teardown(async () => {
    const s0 = Date.now();
    if (!supExited) {
      sup.kill('SIGTERM');
      const ac = new AbortController();
      await Promise.race([supGone, sleep(30_000, undefined, { signal: ac.signal }).catch(() => {})]);
      ac.abort(); // a pending 30 s timer would keep the test process alive
    }
    // Anything left behind (the supervisor's children are detached).
    for (const p of readJson<ProcessesFile>(processesFile)?.processes ?? []) {
      try {
        if (p.alive && /runtime\/main\.ts|epn\/sim|nats-server/.test(readFileSync(`/proc/${p.pid}/cmdline`, 'utf8'))) process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (!supExited) sup.kill('SIGKILL');
    await fs.rm(dataDir, { recursive: true, force: true });
    process.stderr.write(`teardown ${Date.now() - s0} ms\n`);
  });
  const demoFile = path.join(dataDir, 'demo-merchant.json');
  const demo = await eventually(
    'the stack starts',
    () => {
      if (supExited) throw new Error(`start.ts exited while starting:\n${tail()}`);
      return existsSync(demoFile) ? readJson<Demo>(demoFile) : null;
    },
    o.startMs ?? 75_000,
    200,
  );
  return { dataDir, logFile, demo, processesFile, processes: () => readJson<ProcessesFile>(processesFile)!, tail, exited: () => supExited };
}
