// A private Postgres server for chaos and degradation tests: the machine's binaries
// (/usr/lib/postgresql/<ver>/bin), a data directory of its own, trust auth, 127.0.0.1 on a free
// port, fsync on (a SIGKILL must lose nothing committed). Postgres refuses to run as root, so when
// we are root it runs as the `postgres` OS user (spawned with that uid/gid, so the child we hold IS
// the postmaster and kill() hits it, not a wrapper). A process 'exit' hook takes down any server
// left running.
//
//   const pg = await startPrivatePostgres({ dir });   // dir: created if missing; data in <dir>/data
//   pg.kill();          // SIGKILL the postmaster (backends and shared memory are left behind)
//   await pg.start();   // the same dir and port again, retried until it accepts connections
//   await pg.stop();    // fast shutdown
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** The postmaster's pid while it runs, null otherwise. */
  pid(): number | null;
  /** Signals the postmaster (default SIGKILL): no shutdown, backends and shared memory left behind. */
  kill(signal?: NodeJS.Signals): void;
  /** (Re)starts on the same dir and port; copes with a SIGKILLed postmaster's leftovers (retries up to ~30 s). */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT), SIGKILL after 15 s. Idempotent. */
  stop(): Promise<void>;
}

interface Binaries {
  bin: string;
  version: number;
}

function findBinaries(): Binaries | null {
  const root = '/usr/lib/postgresql';
  let versions: number[];
  try {
    versions = fs.readdirSync(root).map((v) => Number(v)).filter((v) => Number.isFinite(v) && v > 0);
  } catch {
    return null;
  }
  for (const v of versions.sort((a, b) => b - a)) {
    const bin = path.join(root, String(v), 'bin');
    if (['initdb', 'postgres'].every((b) => fs.existsSync(path.join(bin, b)))) return { bin, version: v };
  }
  return null;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Whom the server runs as: ourselves, or the `postgres` user when we are root. */
function runAs(): RunAs | null | 'missing' {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) return 'missing';
    return { uid, gid };
  } catch {
    return 'missing';
  }
}

/** null when a private Postgres can run here; otherwise why not (for a tap `skip`). */
export function privatePostgresUnavailable(): string | null {
  if (!findBinaries()) return 'no Postgres binaries (initdb, postgres) under /usr/lib/postgresql/<version>/bin';
  if (runAs() === 'missing') return 'running as root and there is no `postgres` OS user to run the server as';
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const running = new Set<ChildProcess>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    // SIGQUIT: immediate shutdown, the postmaster takes its backends down with it.
    for (const c of running) c.kill('SIGQUIT');
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ancestors of `dir` must be traversable by the server's user (mkdtemp makes 0700 dirs). */
async function makeTraversable(dir: string, as: RunAs): Promise<void> {
  let p = path.dirname(path.resolve(dir));
  for (;;) {
    const st = await fsp.stat(p);
    if ((st.mode & 0o001) === 0 && st.uid !== as.uid) await fsp.chmod(p, st.mode | 0o001);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
}

function run(bin: string, args: string[], as: RunAs | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(as ? { uid: as.uid, gid: as.gid } : {}), env: { ...process.env, LC_ALL: 'C' }, cwd: '/' });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} exited ${code}: ${out.slice(-2000)}`))));
  });
}

async function accepts(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

export async function startPrivatePostgres(o: { dir: string; port?: number; log?: (s: string) => void }): Promise<PrivatePostgres> {
  const why = privatePostgresUnavailable();
  if (why) throw new Error(`private Postgres unavailable: ${why}`);
  const { bin } = findBinaries()!;
  const as = runAs() as RunAs | null;
  const log = o.log ?? (() => {});
  const dir = path.resolve(o.dir);
  const data = path.join(dir, 'data');
  await fsp.mkdir(dir, { recursive: true });
  if (as) {
    await fsp.chown(dir, as.uid, as.gid);
    await makeTraversable(dir, as);
  }
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    const t0 = Date.now();
    await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], as);
    log(`initdb ${data} in ${Date.now() - t0} ms`);
  }
  const port = o.port ?? (await freePort());
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const logFile = path.join(dir, 'postgres.log');
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  installExitHook();

  const spawnOnce = (): { child: ChildProcess; exited: Promise<void>; isDead: () => boolean } => {
    const out = fs.openSync(logFile, 'a');
    const c = spawn(
      path.join(bin, 'postgres'),
      ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${data}`, '-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'max_connections=100', '-c', 'shared_buffers=16MB'],
      { stdio: ['ignore', out, out], ...(as ? { uid: as.uid, gid: as.gid } : {}), env: { ...process.env, LC_ALL: 'C' }, cwd: '/' },
    );
    fs.closeSync(out);
    running.add(c);
    let dead = false;
    const ex = new Promise<void>((resolve) => {
      c.once('exit', (code, signal) => {
        dead = true;
        running.delete(c);
        log(`postgres ${c.pid} exited (code ${code}, signal ${signal})`);
        resolve();
      });
      c.once('error', (err) => {
        dead = true;
        running.delete(c);
        log(`postgres spawn failed: ${err.message}`);
        resolve();
      });
    });
    return { child: c, exited: ex, isDead: () => dead };
  };

  const self: PrivatePostgres = {
    url,
    port,
    pid() {
      if (child && child.exitCode === null && child.signalCode === null && child.pid) return child.pid;
      return null;
    },
    kill(signal = 'SIGKILL') {
      const pid = self.pid();
      if (pid) process.kill(pid, signal);
    },
    async start() {
      if (self.pid() && (await accepts(url))) return;
      const until = Date.now() + 30_000;
      const t0 = Date.now();
      for (let i = 1; ; i++) {
        // A postmaster still running from before (ours, not yet reaped) is waited for, not doubled.
        if (!self.pid()) {
          const s = spawnOnce();
          child = s.child;
          exited = s.exited;
          while (!s.isDead() && Date.now() < until) {
            if (await accepts(url)) {
              log(`postgres ${s.child.pid} accepting on ${port} after ${Date.now() - t0} ms (try ${i})`);
              return;
            }
            await sleep(100);
          }
          if (!s.isDead()) {
            s.child.kill('SIGKILL');
            await s.exited;
            break;
          }
          // Typically "pre-existing shared memory block is still in use" while the killed
          // postmaster's backends are exiting: try again shortly.
        } else await sleep(100);
        if (Date.now() >= until) break;
        await sleep(200);
      }
      let tail = '';
      try {
        tail = fs.readFileSync(logFile, 'utf8').slice(-2000);
      } catch {}
      throw new Error(`private postgres did not accept connections on ${port} within 30 s; log tail:\n${tail}`);
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) {
        await exited;
        return;
      }
      c.kill('SIGINT');
      const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await self.start();
  return self;
}
