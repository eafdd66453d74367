// The archiver against a real nats-server: chunks by count and by time with correct manifests and
// hash chain; a crash between storing a chunk and acknowledging it, and a killed connection,
// leave no gap and no duplicate; events that aged out before archiving are a named gap; a
// tampered, missing or edited object fails `verifyArchive` naming it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Kvm } from '@nats-io/kv';
import pino from 'pino';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { declareTopology, durables } from '../nats/mod.ts';
import { EVENTS_STREAM } from '../streams/subjects.ts';
import { keyRing } from '../vault/mod.ts';
import {
  checkChain,
  createPrivacy,
  decodeChunk,
  encodeChunk,
  directoryArchiveStore,
  jetstreamArchiveStore,
  readChain,
  startArchiver,
  streamRecords,
  verifyArchive,
  GENESIS,
  manifestHash,
  type ArchiveStore,
  type StreamRecord,
} from '../archive/mod.ts';
import { withNats } from './helpers/nats.ts';
import { eventually } from './helpers/stack.ts';

const log = pino({ level: 'silent' });
const ring = keyRing(Buffer.alloc(32, 7));
const keep = createPrivacy('keep', ring, null);

async function setup(t: Test, eventMaxAgeS = 3600) {
  const nats = await withNats(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const publish = async (n: number, from = 0) => {
    for (let i = 0; i < n; i++) await js.publish(`pay.evt.merchant.m_${(from + i) % 3}`, JSON.stringify({ n: from + i, merchant_id: `m_${(from + i) % 3}`, note: `user${from + i}@example.com` }));
  };
  return { nats, nc, js, jsm, publish };
}

async function tempStore(t: Test): Promise<ArchiveStore> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-archive-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return directoryArchiveStore(dir);
}

async function allRecords(store: ArchiveStore, chain = EVENTS_STREAM): Promise<StreamRecord[]> {
  const { manifests } = await readChain(store, chain);
  const out: StreamRecord[] = [];
  for (const m of manifests) out.push(...decodeChunk<StreamRecord>((await store.get(m.chunk))!));
  return out;
}

t.test('chunks by count and by time, with manifests and a hash chain', async (t) => {
  const { js, jsm, nc, publish } = await setup(t);
  const store = await jetstreamArchiveStore(nc);
  await publish(250);
  const a = startArchiver({ js, jsm, store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 100, chunkMs: 1_500, privacy: keep, log });
  t.teardown(() => a.stop());
  const report = await a.ready;
  t.equal(report.head, null, 'a fresh archive has no head');
  t.equal(report.gap, null);
  // 2 chunks by count at once; the last 50 close by time while the archiver still runs.
  await eventually(async () => a.archivedSeq() === 250, 20_000);
  const { manifests } = await readChain(store, EVENTS_STREAM);
  t.same(manifests.map((m) => [m.index, m.first_seq, m.last_seq, m.count]), [[0, 1, 100, 100], [1, 101, 200, 100], [2, 201, 250, 50]]);
  t.equal(manifests[0]!.prev_hash, GENESIS);
  t.equal(manifests[1]!.prev_hash, manifests[0]!.hash, 'each manifest carries the previous one\'s hash');
  t.equal(manifests[2]!.prev_hash, manifests[1]!.hash);
  for (const m of manifests) {
    t.equal(manifestHash(m), m.hash);
    t.equal(m.stream, EVENTS_STREAM);
    t.ok(m.first_time <= m.last_time);
  }
  t.same(checkChain(EVENTS_STREAM, manifests), []);
  const records = await allRecords(store);
  t.same(records.map((r) => r.seq), Array.from({ length: 250 }, (_, i) => i + 1));
  t.same(records[7]!.data, { n: 7, merchant_id: 'm_1', note: 'user7@example.com' }, 'the message body, as it was (policy keep)');
  const v = await verifyArchive(store, jsm, { chains: [EVENTS_STREAM] });
  t.ok(v.ok, JSON.stringify(v.chains[0]?.problems));
  const ci = await jsm.consumers.info(EVENTS_STREAM, durables.archiveEvents);
  t.equal(ci.ack_floor.stream_seq, 250, 'acknowledged only what is stored');
});

t.test('a crash after storing a chunk but before its ack, and a killed connection: no gap, no duplicate', async (t) => {
  const { nats, jsm: jsm0, publish } = await setup(t);
  await publish(600);
  const store = await tempStore(t);
  // The first archiver's connection dies right after its third manifest is stored (before the ack).
  const nc1 = await connect({ servers: nats.url });
  let manifestsStored = 0;
  const crashing: ArchiveStore = {
    ...store,
    where: store.where,
    async put(name, bytes) {
      await store.put(name, bytes);
      if (name.includes('/manifests/') && ++manifestsStored === 3) {
        await nc1.close();
        throw new Error('crash');
      }
    },
  };
  const a = startArchiver({ js: jetstream(nc1), jsm: await jetstreamManager(nc1), store: crashing, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 70, chunkMs: 60_000, privacy: keep, log });
  await a.ready;
  await eventually(async () => nc1.isClosed(), 20_000);
  await a.stop();
  const mid = await readChain(store, EVENTS_STREAM);
  t.ok(mid.manifests.length >= 3, 'three chunks stored before the crash');
  const ackFloor = (await jsm0.consumers.info(EVENTS_STREAM, durables.archiveEvents)).ack_floor.stream_seq;
  t.ok(ackFloor < mid.manifests[mid.manifests.length - 1]!.last_seq!, 'the last stored chunk was never acknowledged');

  // More events arrive while no archiver runs; then a new one starts and catches up.
  await publish(100, 600);
  const nc2 = await connect({ servers: nats.url });
  t.teardown(() => nc2.close());
  const b = startArchiver({ js: jetstream(nc2), jsm: await jetstreamManager(nc2), store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 70, chunkMs: 1_000, privacy: keep, log });
  t.teardown(() => b.stop());
  const r = await b.ready;
  t.equal(r.head?.last_seq, mid.manifests[mid.manifests.length - 1]!.last_seq, 'resumes from the chain head in the store');
  await eventually(async () => b.archivedSeq() === 700, 30_000);
  const { manifests } = await readChain(store, EVENTS_STREAM);
  t.same(checkChain(EVENTS_STREAM, manifests), [], 'no gap, no overlap');
  t.same((await allRecords(store)).map((x) => x.seq), Array.from({ length: 700 }, (_, i) => i + 1), 'every sequence exactly once');
});

t.test('the durable acknowledged past the archive (store reset): read back by direct get', async (t) => {
  const { js, jsm, publish } = await setup(t);
  await publish(40);
  const first = await tempStore(t);
  const a = startArchiver({ js, jsm, store: first, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 20, chunkMs: 60_000, privacy: keep, log });
  await eventually(async () => a.archivedSeq() === 40, 20_000);
  await a.stop();
  // A new, empty store: the durable's ack floor is at 40, the archive at 0.
  const second = await tempStore(t);
  const b = startArchiver({ js, jsm, store: second, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 20, chunkMs: 60_000, privacy: keep, log });
  t.teardown(() => b.stop());
  const r = await b.ready;
  t.equal(r.backfilled, 40);
  await eventually(async () => b.archivedSeq() === 40, 20_000);
  t.same((await allRecords(second)).map((x) => x.seq), Array.from({ length: 40 }, (_, i) => i + 1));
});

t.test('events that aged out before archiving are a gap, found on start and by verify', async (t) => {
  const { js, jsm, publish } = await setup(t, 2);
  await publish(10);
  await eventually(async () => (await jsm.streams.info(EVENTS_STREAM)).state.messages === 0, 20_000, 200);
  await publish(5, 10);
  const store = await tempStore(t);
  const a = startArchiver({ js, jsm, store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 100, chunkMs: 500, privacy: keep, log });
  t.teardown(() => a.stop());
  const r = await a.ready;
  t.same(r.gap, { from: 1, to: 10 }, 'the start-up gap check names the lost sequences');
  await eventually(async () => a.archivedSeq() === 15, 20_000);
  const { manifests } = await readChain(store, EVENTS_STREAM);
  t.same(manifests[0]!.gap_before, { from: 1, to: 10 }, 'the gap is written into the next manifest');
  const v = await verifyArchive(store, null, { chains: [EVENTS_STREAM] });
  t.notOk(v.ok);
  t.match(v.chains[0]!.problems, [{ kind: 'gap', message: /1–10/ }]);
});

t.test('tampering: an altered chunk, a missing chunk, an edited manifest are each found and named', async (t) => {
  const { js, jsm, nc, publish } = await setup(t);
  await publish(30);
  const store = await tempStore(t);
  const enc = createPrivacy('encrypt', ring, await new Kvm(nc).open('pay_archive_keys'));
  const a = startArchiver({ js, jsm, store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 10, chunkMs: 60_000, privacy: enc, log });
  await eventually(async () => a.archivedSeq() === 30, 20_000);
  await a.stop();
  t.ok((await verifyArchive(store, jsm, { chains: [EVENTS_STREAM] })).ok, 'intact to begin with');
  // Privacy: e-mails are sealed in the chunk, and revealed with the merchant's key.
  const recs = await allRecords(store);
  t.notOk(JSON.stringify(recs).includes('@example.com'), 'no e-mail address in clear in the archive');
  t.same(await enc.reveal(recs[4]!.data), { n: 4, merchant_id: 'm_1', note: 'user4@example.com' });
  t.ok(await enc.forget('m_1'), 'erasure destroys the merchant key');
  const erased = createPrivacy('encrypt', ring, await new Kvm(nc).open('pay_archive_keys'));
  t.match(((await erased.reveal(recs[4]!.data)) as { note: string }).note, /^enc:v1:m_1:/, 'after erasure the address cannot be read');

  const { manifests } = await readChain(store, EVENTS_STREAM);
  const bytes = (await store.get(manifests[1]!.chunk))!;
  const altered = decodeChunk<StreamRecord>(bytes);
  (altered[0]!.data as { n: number }).n = 999;
  await store.put(manifests[1]!.chunk, await encodeChunk(altered));
  await store.delete(manifests[2]!.chunk);
  let v = await verifyArchive(store, jsm, { chains: [EVENTS_STREAM] });
  t.notOk(v.ok);
  t.match(v.chains[0]!.problems, [
    { kind: 'chunk_hash', object: manifests[1]!.chunk },
    { kind: 'missing_chunk', object: manifests[2]!.chunk },
  ]);
  // Editing a manifest to match the altered chunk breaks its hash, or (re-hashed) the chain.
  const edited = { ...manifests[0]!, count: 9 };
  await store.put(`${EVENTS_STREAM}/manifests/0000000000.json`, new TextEncoder().encode(JSON.stringify(edited)));
  v = await verifyArchive(store, jsm, { chains: [EVENTS_STREAM] });
  t.ok(v.chains[0]!.problems.some((p) => p.kind === 'manifest_hash' && p.index === 0));
  const rehashed = { ...edited, hash: manifestHash(edited) };
  await store.put(`${EVENTS_STREAM}/manifests/0000000000.json`, new TextEncoder().encode(JSON.stringify(rehashed)));
  v = await verifyArchive(store, jsm, { chains: [EVENTS_STREAM] });
  t.ok(v.chains[0]!.problems.some((p) => p.kind === 'chain' && p.index === 1), 'the next manifest no longer links to it');
});

t.test('e-mail policies: keep, keyed hash, and card data never present', async (t) => {
  const hash = createPrivacy('hash', ring, null);
  const v = { a: 'to a@b.co now', nested: [{ json: JSON.stringify({ email: 'c.d+x@example.org' }) }], n: 5, nil: null };
  const out = await hash.protect('m_1', v);
  t.match(out.a, /^to hmac:[0-9a-f]{32} now$/);
  t.notOk(JSON.stringify(out).includes('@'), 'no address left, JSON inside strings included');
  t.equal((await hash.protect('m_2', { a: 'to A@B.CO now' })).a, out.a, 'the same address hashes the same (case-insensitive), whoever the merchant');
  t.not((await createPrivacy('hash', keyRing(Buffer.alloc(32, 8)), null).protect('m_1', v)).a, out.a, 'keyed: another master key, another hash');
  t.same(await createPrivacy('keep', ring, null).protect('m_1', v), v);
  t.same(v.a, 'to a@b.co now', 'the input is not changed');
});

t.test('a restart while a chunk was buffered: the held messages are read back from the stream, not taken for a gap', async (t) => {
  const { nats, jsm, publish } = await setup(t);
  await publish(130);
  const nc1 = await connect({ servers: nats.url });
  // The store shares the dying connection, so the buffered chunk cannot be stored on the way down.
  const a = startArchiver({ js: jetstream(nc1), jsm: await jetstreamManager(nc1), store: await jetstreamArchiveStore(nc1), stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 100, chunkMs: 600_000, privacy: keep, log });
  await eventually(async () => a.archivedSeq() === 100, 20_000);
  const ci = await eventually(async () => {
    const i = await jsm.consumers.info(EVENTS_STREAM, durables.archiveEvents);
    return i.delivered.stream_seq === 130 && i;
  }, 20_000);
  t.equal(ci.ack_floor.stream_seq, 100, '101–130 delivered and held, not acknowledged');
  await nc1.close();
  await a.stop();
  await publish(20, 130);
  const nc2 = await connect({ servers: nats.url });
  t.teardown(() => nc2.close());
  const store = await jetstreamArchiveStore(nc2);
  const b = startArchiver({ js: jetstream(nc2), jsm: await jetstreamManager(nc2), store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 100, chunkMs: 1_000, privacy: keep, log });
  t.teardown(() => b.stop());
  t.equal((await b.ready).head?.last_seq, 100);
  // 101–130 stay pending on the server for ack_wait (15 min); the archiver must not wait for them.
  await eventually(async () => b.archivedSeq() === 150, 20_000);
  const { manifests } = await readChain(store, EVENTS_STREAM);
  t.same(checkChain(EVENTS_STREAM, manifests), [], 'no gap');
  t.notOk(manifests.some((m) => m.gap_before), 'no gap recorded');
  t.same((await allRecords(store)).map((x) => x.seq), Array.from({ length: 150 }, (_, i) => i + 1));
});

t.test('reading a stream from archive and stream together, in order, with the source of each record', async (t) => {
  const { js, jsm, publish } = await setup(t);
  await publish(20);
  const store = await tempStore(t);
  const a = startArchiver({ js, jsm, store, stream: EVENTS_STREAM, durable: durables.archiveEvents, chunkEvents: 10, chunkMs: 60_000, privacy: keep, log });
  await eventually(async () => a.archivedSeq() === 20, 20_000);
  await a.stop();
  await publish(10, 20);
  const counts = { archived: 0, live: 0 };
  const seen: [number, string][] = [];
  for await (const r of streamRecords({ store, jsm, privacy: keep }, EVENTS_STREAM, 25, counts)) seen.push([r.seq, r.source]);
  t.same(seen.map(([s]) => s), Array.from({ length: 25 }, (_, i) => i + 1), 'up to `until`, each once');
  t.same(seen.filter(([, src]) => src === 'archive').map(([s]) => s), Array.from({ length: 20 }, (_, i) => i + 1));
  t.same(counts, { archived: 20, live: 5 });
});

t.test('configuration of the archive', async (t) => {
  const { loadConfig, ConfigError, ROLES } = await import('../config/config.ts');
  t.ok(ROLES.includes('archive'), 'a role, on by default');
  const d = loadConfig({});
  t.match(d, { archiveStore: 'jetstream', archiveChunkEvents: 10_000, archiveChunkMs: 600_000, archiveDbAfterS: 365 * 24 * 3600, archiveEmails: 'encrypt' });
  t.equal(loadConfig({ EVENT_MAX_AGE_S: '4' }).archiveChunkMs, 1_000, 'a retention of seconds shortens the default chunk time');
  t.throws(() => loadConfig({ EVENT_MAX_AGE_S: '4', ARCHIVE_CHUNK_MS: '3000' }), new ConfigError('ARCHIVE_CHUNK_MS', 'x').constructor, 'a chunk may not outlive half the retention');
  t.throws(() => loadConfig({ ARCHIVE_STORE: 's3' }), /ARCHIVE_STORE/);
  t.throws(() => loadConfig({ ARCHIVE_EMAILS: 'clear' }), /ARCHIVE_EMAILS/);
  t.match(loadConfig({ ARCHIVE_STORE: 'dir:rel/archive' }).archiveStore, /^dir:\/.+rel\/archive$/, 'a directory is made absolute');
});
