// The processes a chaos run owns: each a real child (`node --import ./scripts/loader.mjs <entry>`) with a fixed
// environment, so it can be SIGKILLed at any moment and started again exactly as it was (same port,
// same WORKER_ID, same data dir). Output goes to one log file per process under the run directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackNodeArgs } from '../scripts/node-args.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface ServiceSpec {
  /** e.g. gateway-1, actors-w_1, epn */
  name: string;
  /** Fault kind this process belongs to (gateway, actors, projector, webhooks, reconcile, epn). */
  kind: string;
  /** Script relative to the repository root. */
  entry: string;
  env: Record<string, string>;
  /** 'ipc': the child sends { ready: true }; a RegExp: a line on stdout. */
  ready: 'ipc' | RegExp;
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
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

export class Service {
  child: ChildProcess | null = null;
  starts = 0;
  /** Processes that ended without the harness killing or stopping them (each restarted, as a process manager with restart-always would). */
  readonly crashes: string[] = [];
  private log: WriteStream;
  /** Children the harness signalled itself: their exit is expected. */
  private readonly signalled = new WeakSet<ChildProcess>();
  private stopping = false;

  constructor(
    readonly spec: ServiceSpec,
    logDir: string,
  ) {
    this.log = createWriteStream(path.join(logDir, `${spec.name}.log`), { flags: 'a' });
  }

  get name() {
    return this.spec.name;
  }
  get kind() {
    return this.spec.kind;
  }
  alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Start and wait until ready; a process that dies first is started again, until the deadline. */
  async start(timeoutMs = 90_000): Promise<void> {
    this.stopping = false;
    const until = Date.now() + timeoutMs;
    let lastErr: Error | null = null;
    while (Date.now() < until && !this.stopping) {
      try {
        await this.startOnce(Math.max(1_000, until - Date.now()));
        return;
      } catch (err) {
        lastErr = err as Error;
        this.log.write(`[chaos] start failed: ${lastErr.message}; again in 1 s\n`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    throw new Error(`${this.name} did not start within ${timeoutMs} ms: ${lastErr?.message ?? 'timeout'}`);
  }

  private startOnce(timeoutMs: number): Promise<void> {
    hookExit();
    this.starts++;
    const ipc = this.spec.ready === 'ipc';
    const child = spawn(process.execPath, stackNodeArgs(this.spec.entry), {
      cwd: REPO_ROOT,
      // A clean environment: nothing of the caller's (NODE_OPTIONS loaders, NATS_URL, …) leaks in.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}), ...this.spec.env },
      stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    live.add(child);
    this.log.write(`[chaos] ${new Date().toISOString()} start #${this.starts} pid ${child.pid}\n`);
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let buf = '';
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          if (this.alive()) child.kill('SIGKILL');
          reject(err);
        } else {
          // From now on an exit nobody asked for is a crash: recorded (a violation in the report),
          // and the process started again as a process manager with restart-always would, so one
          // crash does not also stall a consumer for the rest of the run and hide what else broke.
          // (scripts/start.ts does not restart: a critical process ending stops the whole stack.)
          child.once('exit', (code, signal) => {
            if (this.signalled.has(child) || this.stopping || this.child !== child) return;
            this.crashes.push(`${this.name} (pid ${child.pid}) ended on its own: code ${code}, signal ${signal}`);
            this.log.write(`[chaos] ${new Date().toISOString()} crash: not killed by the harness; starting again\n`);
            this.start().catch((err: Error) => this.log.write(`[chaos] restart after crash failed: ${err.message}\n`));
          });
          resolve();
        }
      };
      const timer = setTimeout(() => finish(new Error('not ready in time')), timeoutMs);
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.log.write(`[chaos] ${new Date().toISOString()} exit pid ${child.pid} code ${code} signal ${signal}\n`);
        finish(new Error(`exited before ready (code ${code}, signal ${signal})`));
      });
      if (ipc) {
        child.on('message', (m: unknown) => {
          if (typeof m === 'object' && m !== null && (m as { ready?: unknown }).ready) {
            child.disconnect();
            finish();
          }
        });
      } else {
        const re = this.spec.ready as RegExp;
        child.stdout!.on('data', (d: Buffer) => {
          if (done) return;
          buf = (buf + d.toString()).slice(-8192);
          if (re.test(buf)) finish();
        });
      }
    });
  }

  /** SIGKILL (or another signal) without waiting for anything. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): number | null {
    const pid = this.child?.pid ?? null;
    if (this.alive()) {
      this.signalled.add(this.child!);
      this.child!.kill(signal);
    }
    return pid;
  }

  /** SIGTERM and wait (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (!c || !this.alive()) return;
    this.signalled.add(c);
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => this.alive() && c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }

  close() {
    this.log.end();
  }
}
