/**
 * Pinned external tools (nats-server, nats CLI).
 *
 * The machine-wide nats-server (Debian 2.9.x) is too old for the JetStream
 * features paynats relies on, so we build pinned versions with `go install`
 * into a per-user cache keyed by version:
 *
 *   ${XDG_CACHE_HOME:-~/.cache}/paynats/tools/nats-server-<version>/nats-server
 *   ${XDG_CACHE_HOME:-~/.cache}/paynats/tools/nats-<version>/nats
 *
 * Installs are race-safe: each installer builds into its own temp dir (same
 * filesystem) and atomically renames the binary into place.
 *
 * CLI:
 *   tsx scripts/tools.ts [ensure]            ensure both tools, print paths
 *   tsx scripts/tools.ts path nats-server    print (ensured) nats-server path
 *   tsx scripts/tools.ts path nats           print (ensured) nats CLI path
 *   tsx scripts/tools.ts --help
 *
 * Env: NATS_SERVER_BIN overrides the nats-server binary path.
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants as fsConstants, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PINNED = {
  natsServer: 'v2.15.2',
  natsServerFallback: 'v2.14.9',
  natsCli: 'v0.5.0',
} as const;

const NATS_SERVER_PKG = 'github.com/nats-io/nats-server/v2';
const NATS_CLI_PKG = 'github.com/nats-io/natscli/nats';
/** How long a failed primary nats-server build makes us prefer an installed fallback. */
const PRIMARY_FAILURE_TTL_MS = 24 * 60 * 60 * 1000;

const EXE = process.platform === 'win32' ? '.exe' : '';

export function toolsDir(): string {
  const cache = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME)
    ? process.env.XDG_CACHE_HOME
    : path.join(os.homedir(), '.cache');
  return path.join(cache, 'paynats', 'tools');
}

/** Where a given tool/version lives (whether or not it is installed). */
export function toolPath(binName: 'nats-server' | 'nats', version: string): string {
  return path.join(toolsDir(), `${binName}-${version}`, binName + EXE);
}

function log(msg: string): void {
  process.stderr.write(`[paynats tools] ${msg}\n`);
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let goChecked: string | undefined;
function requireGo(what: string): string {
  if (goChecked) return goChecked;
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `Go is needed to install ${what}, but the 'go' command was not found or failed ` +
        `(${r.error?.message ?? `exit ${r.status}`}). Install Go (https://go.dev/dl/) and ` +
        `make sure 'go' is on PATH, or set NATS_SERVER_BIN to an existing nats-server >= 2.14 binary.`,
    );
  }
  goChecked = r.stdout.trim();
  return goChecked;
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    // child's stdout and stderr both go to our stderr: progress must not pollute stdout
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/**
 * `go install pkg@version` into a private temp dir, then atomically rename the
 * binary to its final location. Safe against concurrent installers: both
 * produce a complete binary, and rename(2) replaces atomically.
 */
async function goInstall(binName: 'nats-server' | 'nats', pkg: string, version: string): Promise<string> {
  const finalPath = toolPath(binName, version);
  if (await isExecutable(finalPath)) return finalPath;

  const goVersion = requireGo(`${binName} ${version}`);
  const root = toolsDir();
  await fs.mkdir(root, { recursive: true });
  const tmp = await fs.mkdtemp(path.join(root, `.tmp-${binName}-${version}-`));
  try {
    log(`installing ${binName} ${version} (go install ${pkg}@${version}) with ${goVersion} ...`);
    const started = Date.now();
    await run('go', ['install', `${pkg}@${version}`], {
      cwd: tmp, // outside any go.mod / go.work
      env: { ...process.env, GOBIN: tmp, GOWORK: 'off', GO111MODULE: 'on' },
    });
    const built = path.join(tmp, binName + EXE);
    if (!(await isExecutable(built))) throw new Error(`go install did not produce ${built}`);
    const check = spawnSync(built, ['--version'], { encoding: 'utf8' });
    if (check.error || check.status !== 0) {
      throw new Error(`built ${binName} does not run: ${check.error?.message ?? check.stderr}`);
    }
    await fs.mkdir(path.dirname(finalPath), { recursive: true });
    await fs.rename(built, finalPath);
    log(`installed ${binName} ${version} -> ${finalPath} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
    return finalPath;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

function failureMarker(version: string): string {
  return path.join(toolsDir(), `nats-server-${version}.install-failed`);
}

async function recentFailure(version: string): Promise<boolean> {
  try {
    const st = await fs.stat(failureMarker(version));
    return Date.now() - st.mtimeMs < PRIMARY_FAILURE_TTL_MS;
  } catch {
    return false;
  }
}

async function ensureNatsServerUncached(): Promise<string> {
  const override = process.env.NATS_SERVER_BIN;
  if (override) {
    if (!(await isExecutable(override))) {
      throw new Error(`NATS_SERVER_BIN=${override} is not an executable file`);
    }
    return override;
  }
  const primary = toolPath('nats-server', PINNED.natsServer);
  if (await isExecutable(primary)) return primary;

  const fallback = toolPath('nats-server', PINNED.natsServerFallback);
  if ((await recentFailure(PINNED.natsServer)) && (await isExecutable(fallback))) return fallback;

  try {
    const p = await goInstall('nats-server', NATS_SERVER_PKG, PINNED.natsServer);
    await fs.rm(failureMarker(PINNED.natsServer), { force: true }).catch(() => {});
    return p;
  } catch (err) {
    const msg = (err as Error).message;
    if (msg.startsWith('Go is needed')) throw err;
    log(`nats-server ${PINNED.natsServer} install failed: ${msg}`);
    log(`falling back to nats-server ${PINNED.natsServerFallback}`);
    await fs.mkdir(toolsDir(), { recursive: true }).catch(() => {});
    await fs.writeFile(failureMarker(PINNED.natsServer), `${new Date().toISOString()} ${msg}\n`).catch(() => {});
    try {
      return await goInstall('nats-server', NATS_SERVER_PKG, PINNED.natsServerFallback);
    } catch (err2) {
      throw new Error(
        `could not install nats-server ${PINNED.natsServer} (${msg}) nor fallback ` +
          `${PINNED.natsServerFallback} (${(err2 as Error).message})`,
      );
    }
  }
}

// memoized per process so concurrent callers share one install
let serverPromise: Promise<string> | undefined;
let cliPromise: Promise<string> | undefined;

/** Path to the pinned nats-server binary (or NATS_SERVER_BIN); installs it if missing. */
export async function ensureNatsServer(): Promise<string> {
  serverPromise ??= ensureNatsServerUncached();
  try {
    return await serverPromise;
  } catch (err) {
    serverPromise = undefined; // allow a retry later
    throw err;
  }
}

/** Path to the pinned nats CLI binary; installs it if missing. */
export async function ensureNatsCli(): Promise<string> {
  cliPromise ??= goInstall('nats', NATS_CLI_PKG, PINNED.natsCli);
  try {
    return await cliPromise;
  } catch (err) {
    cliPromise = undefined;
    throw err;
  }
}

const USAGE = `usage: tsx scripts/tools.ts <command>

commands:
  ensure              install (if missing) and print paths of the pinned tools (default)
  path nats-server    print the path of the pinned nats-server (installing it if missing)
  path nats           print the path of the pinned nats CLI (installing it if missing)
  --help, -h          show this help

pinned: nats-server ${PINNED.natsServer} (fallback ${PINNED.natsServerFallback}), nats CLI ${PINNED.natsCli}
cache:  ${toolsDir()}
env:    NATS_SERVER_BIN overrides the nats-server path; XDG_CACHE_HOME moves the cache
`;

async function main(argv: string[]): Promise<number> {
  const [cmd = 'ensure', arg] = argv;
  switch (cmd) {
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'ensure': {
      const server = await ensureNatsServer();
      const cli = await ensureNatsCli();
      process.stdout.write(`nats-server: ${server}\nnats: ${cli}\n`);
      return 0;
    }
    case 'path':
      if (arg === 'nats-server') {
        process.stdout.write((await ensureNatsServer()) + '\n');
        return 0;
      }
      if (arg === 'nats') {
        process.stdout.write((await ensureNatsCli()) + '\n');
        return 0;
      }
      process.stderr.write(`unknown tool '${arg ?? ''}' (expected nats-server or nats)\n\n${USAGE}`);
      return 2;
    default:
      process.stderr.write(`unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const self = fileURLToPath(import.meta.url);
  try {
    return path.resolve(entry) === self || realpathSync(path.resolve(entry)) === realpathSync(self);
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`[paynats tools] error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
