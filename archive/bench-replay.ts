// Replay speed: `tsx archive/bench-replay.ts [--events N] [--archived 0.9] [--postgres <admin url>] [--writers W] [--batch B] [--json]`
// Starts its own nats-server, appends N intent commits (create, attempt started, attempt
// succeeded: 3 per payment, valid against the catalogue), archives the first share of them with
// the real archiver, then replays archive + stream into a fresh database (PGlite in a temp dir,
// or an empty Postgres database) and reports the rates.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { declareTopology, durables } from '../nats/mod.ts';
import { startNatsServer } from '../nats/server.ts';
import { openDatabase } from '../storage/mod.ts';
import { encodeCommit } from '../streams/codec.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { keyRing } from '../vault/mod.ts';
import { startArchiver } from './archiver.ts';
import { createPrivacy } from './privacy.ts';
import { progress } from './progress.ts';
import { replay } from './replay.ts';
import { directoryArchiveStore } from './store.ts';
import { syntheticPayment } from './synthetic.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const events = Number(arg('events', '100000'));
const share = Number(arg('archived', '0.9'));
const json = process.argv.includes('--json');

async function runSql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-bench-replay-'));
const server = await startNatsServer({ storeDir: path.join(tmp, 'nats'), syncInterval: '2m' });
const nc = await connect({ servers: server.url });
try {
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const log = pino({ level: 'warn' });
  const payments = Math.ceil(events / 3);
  const publish = async (from: number, to: number) => {
    const p = progress('append');
    p.total((to - from) * 3);
    const inflight = new Set<Promise<unknown>>();
    for (let n = from; n < to; n++) {
      for (const c of syntheticPayment(n, `acct_bench${n % 50}`)) {
        const pr: Promise<unknown> = js.publish(subjects.intent(c.merchant_id, c.aggregate_id), encodeCommit(c)).then(() => {
          inflight.delete(pr);
          p.tick();
        });
        inflight.add(pr);
        if (inflight.size >= 512) await Promise.race(inflight);
      }
    }
    await Promise.all(inflight);
    p.done();
  };
  const split = Math.floor(payments * share);
  await publish(0, split);
  const store = directoryArchiveStore(path.join(tmp, 'archive'));
  const privacy = createPrivacy('keep', keyRing(Buffer.alloc(32, 1)), null);
  const archiveStarted = Date.now();
  const archiver = startArchiver({ js, jsm, store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 10_000, chunkMs: 2_000, privacy, log });
  const target = split * 3;
  while (archiver.archivedSeq() < target) await new Promise((r) => setTimeout(r, 200));
  await archiver.stop();
  const archiveMs = Date.now() - archiveStarted;
  await publish(split, payments);
  // --postgres <admin url>: a fresh database on that server (dropped after); else PGlite in the temp dir.
  const admin = process.argv.includes('--postgres') ? arg('postgres', 'postgres://postgres@127.0.0.1:5432/postgres') : null;
  const dbName = `paynats_replay_bench_${process.pid}`;
  if (admin) await runSql(admin, `create database ${dbName}`);
  const dbUrl = admin ? Object.assign(new URL(admin), { pathname: `/${dbName}` }).toString() : undefined;
  const db = await openDatabase(dbUrl ? { databaseUrl: dbUrl, dataDir: tmp } : { dataDir: path.join(tmp, 'db') });
  const lastSeq = (await jsm.streams.info(EVENTS_STREAM)).state.last_seq;
  const r = await replay({ store, jsm, privacy, target: db.db, until: { events: lastSeq, webhooks: 0 }, progress: progress('replay'), batch: process.argv.includes('--batch') ? Number(arg('batch', '5000')) : undefined, writers: Number(arg('writers', db.kind === 'postgres' ? '4' : '1')) });
  await db.close();
  if (admin) await runSql(admin, `drop database ${dbName}`);
  const out = {
    events: lastSeq,
    archived: r.events.archived,
    from_stream: r.events.live,
    archive_ms: archiveMs,
    archive_rate: Math.round(target / (archiveMs / 1000)),
    replay_ms: r.ms,
    replay_rate: r.rate,
    replay_write_ms: r.writeMs,
    database: db.kind,
    writers: Number(arg('writers', db.kind === 'postgres' ? '4' : '1')),
    projected_1m_in_s: Math.round(1_000_000 / r.rate),
  };
  process.stdout.write(json ? JSON.stringify(out) + '\n' : Object.entries(out).map(([k, v]) => `${k.padEnd(18)} ${v}`).join('\n') + '\n');
} finally {
  await nc.close();
  await server.stop();
  await fs.rm(tmp, { recursive: true, force: true });
}
