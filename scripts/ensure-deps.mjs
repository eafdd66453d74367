#!/usr/bin/env node
// prestart/pretest hook (plain Node, builtins only; runs before node_modules exists).
//  1. `npm ci` when node_modules is missing or package-lock.json is newer than
//     node_modules/.package-lock.json (npm's record of the last install).
//  2. Ensure the pinned tools (nats-server, nats CLI) via `tsx scripts/tools.ts ensure`.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const isWin = process.platform === 'win32';

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: isWin && !cmd.endsWith('.js') });
  if (r.error) {
    console.error(`[ensure-deps] ${what} could not start: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`[ensure-deps] ${what} failed (${r.signal ?? `exit ${r.status}`})`);
    process.exit(r.status ?? 1);
  }
}

function npm(args) {
  // inside an npm lifecycle hook, reuse the npm that is running us
  const npmCli = process.env.npm_execpath;
  if (npmCli && /npm-cli\.c?js$/.test(npmCli)) run(process.execPath, [npmCli, ...args], `npm ${args[0]}`);
  else run(isWin ? 'npm.cmd' : 'npm', args, `npm ${args[0]}`);
}

const lock = path.join(root, 'package-lock.json');
const nodeModules = path.join(root, 'node_modules');
const hiddenLock = path.join(nodeModules, '.package-lock.json');

const lockTime = mtime(lock);
const installedTime = mtime(hiddenLock);
let reason;
if (!existsSync(nodeModules)) reason = 'node_modules is missing';
else if (installedTime === undefined) reason = 'node_modules/.package-lock.json is missing';
else if (lockTime !== undefined && lockTime > installedTime) reason = 'package-lock.json changed since the last install';

if (reason) {
  if (lockTime !== undefined) {
    console.error(`[ensure-deps] ${reason}: npm ci`);
    npm(['ci', '--no-audit', '--no-fund']);
  } else {
    console.error(`[ensure-deps] ${reason} and there is no package-lock.json: npm install`);
    npm(['install', '--no-audit', '--no-fund']);
  }
}

// pinned nats-server / nats CLI (installs with `go install` when missing)
const tsx = path.join(root, 'node_modules', '.bin', isWin ? 'tsx.cmd' : 'tsx');
if (!existsSync(tsx)) {
  console.error(`[ensure-deps] ${tsx} not found after install; is tsx in package.json?`);
  process.exit(1);
}
run(tsx, [path.join('scripts', 'tools.ts'), 'ensure'], 'tools.ts ensure');

// Chromium for the browser tests (test/checkout-browser.test.ts drives Debian's /usr/bin/chromium
// through playwright-core): `apt-get install -y chromium` when missing (scripts/chromium.mjs).
// Not fatal: `npm start` needs no browser; the browser tests then fail with the printed reason.
if (process.env.PAYNATS_SKIP_CHROMIUM !== '1') {
  const { ensureChromium } = await import('./chromium.mjs');
  ensureChromium();
}
