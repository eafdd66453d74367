// Debian's Chromium for the browser tests (plain Node, builtins only: ensure-deps.mjs runs it before
// node_modules exists). Never a downloaded browser: `apt-get install -y chromium`, and
// `apt-get update` first when the install fails. Returns the path, or null (with the reason printed).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

export function ensureChromium(log = (s) => console.error(`[ensure-deps] ${s}`)) {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.platform !== 'linux') {
    log(`${CHROMIUM} is missing; install Chromium yourself (the browser tests need it)`);
    return null;
  }
  const apt = (args) => {
    log(`${CHROMIUM} is missing: running apt-get ${args.join(' ')}`);
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return !r.error && r.status === 0;
  };
  const ok = apt(['install', '-y', 'chromium']) || (apt(['update']) && apt(['install', '-y', 'chromium']));
  if (ok && existsSync(CHROMIUM)) {
    log(`installed ${CHROMIUM}`);
    return CHROMIUM;
  }
  log(`could not install chromium (needs root and apt); the browser tests will fail. Install it with: apt-get install -y chromium`);
  return null;
}
