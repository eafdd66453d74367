// A migrated, empty PGlite database made once and copied into each test stack's DATA_DIR, so a test
// does not pay PGlite's first open (its initdb in WASM: ~6 s of CPU here) every time. The copy is
// the database a fresh open and the migrations would have made; the node opens it as its own.
// Cached per user, keyed by the PGlite version and the migrations' text, beside the pinned NATS tools.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateToLatest, openDatabase } from '../../storage/mod.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

async function templateKey(): Promise<string> {
  const pkg = path.join(here, '..', '..', 'node_modules', '@electric-sql', 'pglite', 'package.json');
  const { version } = JSON.parse(await fs.readFile(pkg, 'utf8')) as { version: string };
  const dir = path.join(here, '..', '..', 'storage', 'migrations');
  const h = createHash('sha256').update(`pglite ${version}\n`);
  for (const f of (await fs.readdir(dir)).sort()) h.update(`${f}\n`).update(await fs.readFile(path.join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'paynats', 'pglite-template');
}

let made: Promise<string> | undefined;

/** The template's directory, made (in a temp dir, then renamed into place) when missing. */
function template(): Promise<string> {
  made ??= (async () => {
    const dir = path.join(cacheRoot(), await templateKey());
    try {
      await fs.access(path.join(dir, 'PG_VERSION'));
      return dir;
    } catch {
      // not made yet
    }
    await fs.mkdir(cacheRoot(), { recursive: true });
    const work = await fs.mkdtemp(path.join(cacheRoot(), 'making-'));
    try {
      const opened = await openDatabase({ dataDir: work });
      await migrateToLatest(opened.db);
      await opened.close();
      // Another test process may have made it meanwhile: either copy is the same database.
      await fs.rename(path.join(work, 'pglite'), dir).catch(() => undefined);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
    return dir;
  })();
  return made;
}

/** Puts a migrated, empty PGlite database at `<dataDir>/pglite` (unless one is there). */
export async function seedPglite(dataDir: string): Promise<void> {
  const target = path.join(dataDir, 'pglite');
  try {
    await fs.access(target);
    return;
  } catch {
    // none yet
  }
  await fs.cp(await template(), target, { recursive: true });
}
