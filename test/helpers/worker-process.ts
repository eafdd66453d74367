// Test helper: a node as a real child process (`node --import ./scripts/loader.mjs runtime/main.ts`), so a test can
// SIGKILL (or SIGSTOP) it. Its pino JSON lines are parsed and kept; stderr is kept for diagnostics.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stackNodeArgs } from '../../scripts/node-args.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [k: string]: unknown;
}

export interface WorkerProcess {
  id: string;
  pid: number;
  child: ChildProcess;
  /** Every JSON line the process wrote on stdout, in order. */
  logs: LogLine[];
  /** stdout lines that were not JSON, and stderr lines. */
  raw: string[];
  /** Resolves when the process is gone, with the time (ms) it was seen to exit. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  isAlive(): boolean;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
let hook = false;

export function spawnWorker(id: string, env: Record<string, string>): WorkerProcess {
  if (!hook) {
    hook = true;
    // Never leave a worker behind if the test process dies.
    process.on('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
  }
  const child = spawn(process.execPath, stackNodeArgs('runtime/main.ts'), {
    cwd: REPO_ROOT,
    // A clean environment: nothing of the test runner's (NODE_OPTIONS loaders, NATS_URL, …) leaks in.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}), ...env, WORKER_ID: id },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn worker ${id}`);
  live.add(child);
  const logs: LogLine[] = [];
  const raw: string[] = [];
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      live.delete(child);
      resolve({ code, signal, at: Date.now() });
    });
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const j = JSON.parse(line) as LogLine;
      if (typeof j === 'object' && j !== null && typeof j.time === 'number') logs.push(j);
      else raw.push(line);
    } catch {
      raw.push(line);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => raw.push(`stderr: ${line}`));
  return {
    id,
    pid: child.pid,
    child,
    logs,
    raw,
    exited,
    isAlive: () => alive,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (alive) child.kill(signal);
    },
  };
}
