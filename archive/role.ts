// The `archive` role (ROLES): one archiver per stream, and the yearly database archive on a timer.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { buckets, durables } from '../nats/topology.ts';
import type { Database } from '../storage/mod.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import type { KeyRing } from '../vault/mod.ts';
import { latestSnapshots, saveSnapshots } from '../runtime/snapshots.ts';
import { startArchiver, type Archiver } from './archiver.ts';
import { archivedSnapshots } from './metrics.ts';
import { archiveDatabase } from './db-archive.ts';
import { createPrivacy, type Privacy } from './privacy.ts';
import type { StreamRecord } from './manifest.ts';
import { openArchiveStore, type ArchiveStore } from './store.ts';

export interface OpenedArchive {
  store: ArchiveStore;
  privacy: Privacy;
}

/** The archive store and e-mail policy of this configuration. */
export async function openArchive(config: Pick<Config, 'archiveStore' | 'archiveEmails'>, nc: NatsConnection, ring: KeyRing): Promise<OpenedArchive> {
  const store = await openArchiveStore(config.archiveStore, nc);
  const keys = await new Kvm(nc).open(buckets.archiveKeys);
  return { store, privacy: createPrivacy(config.archiveEmails, ring, keys) };
}

export interface ArchiveRole {
  archivers: Archiver[];
  /** Runs the database archive now (also run every ARCHIVE_DB_EVERY_S). */
  archiveDatabaseNow(now?: Date): ReturnType<typeof archiveDatabase>;
  stop(): Promise<void>;
  done: Promise<void>;
}

export function startArchiveRole(o: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  archive: OpenedArchive;
  config: Pick<Config, 'archiveChunkEvents' | 'archiveChunkMs' | 'archiveDbAfterS' | 'archiveDbEveryS'>;
  db: Kysely<Database> | null;
  log: Logger;
}): ArchiveRole {
  const log = o.log.child({ component: 'archive' });
  const common = { js: o.js, jsm: o.jsm, store: o.archive.store, privacy: o.archive.privacy, chunkEvents: o.config.archiveChunkEvents, chunkMs: o.config.archiveChunkMs, log };
  // Every PAY_EVENTS chunk first refreshes the snapshot of each aggregate it touches: chunks close
  // within half the retention, so a snapshot is always written before its events can age out.
  const snapshots = new Kvm(o.js).open(buckets.snapshots);
  snapshots.catch(() => {});
  const writeSnapshots = async (records: readonly StreamRecord[]) => {
    const written = await saveSnapshots(await snapshots, latestSnapshots(records), { js: o.js, jsm: o.jsm, bucket: buckets.snapshots });
    archivedSnapshots.inc(written);
  };
  const archivers = [
    startArchiver({ ...common, stream: EVENTS_STREAM, durable: durables.archiveEvents, beforeStore: writeSnapshots }),
    startArchiver({ ...common, stream: WEBHOOKS_STREAM, durable: durables.archiveWebhooks }),
  ];
  let running: Promise<unknown> = Promise.resolve();
  const archiveDatabaseNow = (now = new Date()) => {
    if (!o.db) throw new Error('the database archive needs a database (this process has none)');
    const run = running.then(async () => archiveDatabase({ db: o.db!, store: o.archive.store, privacy: o.archive.privacy, olderThanS: o.config.archiveDbAfterS, now, log, snapshots: await snapshots }));
    running = run.catch(() => {});
    return run;
  };
  const timer = o.db
    ? setInterval(() => {
        archiveDatabaseNow().catch((err: unknown) => log.error({ err }, 'db archive run failed; the next run retries'));
      }, o.config.archiveDbEveryS * 1000)
    : null;
  timer?.unref();
  const done = Promise.all(archivers.map((a) => a.done)).then(() => {});
  return {
    archivers,
    archiveDatabaseNow,
    done,
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.allSettled(archivers.map((a) => a.stop()));
      await running;
    },
  };
}
