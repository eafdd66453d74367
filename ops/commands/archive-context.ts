// What the replay and audit commands share: this deployment's archive (store and e-mail policy,
// from the same ARCHIVE_* variables as the node) and its databases.
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { loadConfig, type Config } from '../../config/config.ts';
import { openArchive, type OpenedArchive } from '../../archive/mod.ts';
import { openDatabase, type OpenedDatabase } from '../../storage/mod.ts';
import { Kvm } from '@nats-io/kv';
import { buckets } from '../../nats/mod.ts';
import { loadMasterKey } from '../../vault/mod.ts';
import { loadKeyRingFromKv } from '../../vault/kek.ts';
import { UsageError, type OpsContext } from '../context.ts';

export interface ArchiveContext extends OpenedArchive {
  config: Config;
  jsm: JetStreamManager;
}

export async function archiveContext(ctx: OpsContext): Promise<ArchiveContext> {
  const config = loadConfig({ ...process.env, DATA_DIR: ctx.dataDir });
  if (!process.env.MASTER_KEY && !existsSync(path.join(ctx.dataDir, 'keys', 'master.key'))) {
    throw new UsageError(`no master key (MASTER_KEY, or ${path.join(ctx.dataDir, 'keys', 'master.key')}): set DATA_DIR to the deployment's`);
  }
  const nc = await ctx.nats();
  // The keyring root lives in KV sealed under the KEK (vault/kek.ts), as the node opens it.
  const ring = await loadKeyRingFromKv(await new Kvm(nc).open(buckets.security), loadMasterKey(ctx.dataDir), async () => true);
  const archive = await openArchive(config, nc, ring);
  return { ...archive, config, jsm: await jetstreamManager(nc) };
}

/** A database named on the command line: postgres://… or a directory for PGlite (`<dir>/pglite`). */
export async function openNamedDatabase(spec: string | undefined, fallback: { databaseUrl: string | undefined; dataDir: string }): Promise<OpenedDatabase> {
  if (spec === undefined) return openDatabase(fallback);
  if (/^postgres(ql)?:\/\//.test(spec)) return openDatabase({ databaseUrl: spec, dataDir: fallback.dataDir });
  return openDatabase({ dataDir: path.resolve(spec) });
}

export const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'paynats-replay-'));
