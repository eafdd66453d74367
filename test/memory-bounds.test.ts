// Memory bounds (issue 5: memory flat over a 5-minute run):
//  1. pure: the Lru stays at its cap after many distinct keys and evicts the least recently used;
//  2. real nats-server: the aggregate store's state cache stays at its cap after 3× as many
//     aggregates, and an evicted aggregate is read back from the stream correctly;
//  3. real nats-server: the archiver stores a chunk of more than FLUSH_SLICE records whole and in
//     order, but hands them to beforeStore in slices of at most FLUSH_SLICE (it no longer parses a
//     whole 10k-record chunk at once), and acknowledges the chunk.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import pino from 'pino';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { customerDecider, type CustomerCommand } from '../actors/mod.ts';
import { createPrivacy, decodeChunk, directoryArchiveStore, readChain, startArchiver, type StreamRecord } from '../archive/mod.ts';
import { FLUSH_SLICE } from '../archive/archiver.ts';
import { declareTopology, durables } from '../nats/mod.ts';
import { createAggregateStore } from '../runtime/aggregates.ts';
import { Lru } from '../runtime/lru.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { keyRing } from '../vault/mod.ts';
import { withNats } from './helpers/nats.ts';
import { eventually } from './helpers/stack.ts';

const hex = (n = 8) => randomBytes(n).toString('hex');
const nowS = () => Math.floor(Date.now() / 1000);

t.test('Lru: bounded after many distinct keys, least recently used goes first', async (t) => {
  const lru = new Lru<string, number>(100);
  for (let i = 0; i < 10_000; i++) {
    lru.set(`k${i}`, i);
    if (i % 10 === 0) lru.get('k0'); // kept alive by use
  }
  t.equal(lru.size, 100, 'at the cap after 10,000 distinct keys');
  t.equal(lru.get('k0'), 0, 'a key in use is not evicted');
  t.equal(lru.get('k9999'), 9999, 'the newest is there');
  t.equal(lru.has('k9900'), false, 'the least recently used is gone');
  lru.set('k9999', -1);
  t.equal(lru.size, 100, 'replacing a value does not grow it');
  t.equal(lru.delete('k9999'), true);
  t.equal(lru.size, 99);
  t.throws(() => new Lru(0));
});

t.test('aggregate store: the state cache stays at its cap; an evicted aggregate still loads', { timeout: 120_000 }, async (t) => {
  const nats = await withNats(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const cap = 20;
  const store = createAggregateStore(js, jsm, 'w_bounds', { cacheMax: cap });
  const merchantId = `acct_${hex()}`;
  const refs = [];
  for (let i = 0; i < cap * 3; i++) {
    const customerId = `cus_${hex()}`;
    const ref = { aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId };
    const create: CustomerCommand = { type: 'Create', customerId, merchantId, livemode: false, email: `c${i}@example.com`, name: `C ${i}`, description: null, phone: null, metadata: {}, now: nowS() };
    const r = await store.execute(customerDecider, ref, create, { commandId: `cmd_${hex(6)}`, requestId: null, correlationId: null, now: nowS() }, { assumeNew: true });
    t.equal(r.appended[0]?.type, 'customer.created');
    refs.push(ref);
    t.ok(store.cacheSize() <= cap, `cache ${store.cacheSize()} ≤ ${cap} after ${i + 1} aggregates`);
  }
  t.equal(store.cacheSize(), cap, 'full, not over');
  const first = await store.load<{ email: string }>(refs[0]!.subject);
  t.equal(first.state?.email, 'c0@example.com', 'the evicted first aggregate is read back from the stream');
  t.ok(first.seq > 0);
  t.equal(store.cacheSize(), cap, 'and caching it again evicts another');
});

t.test(`archiver: a chunk of more than ${FLUSH_SLICE} records, beforeStore in slices, stored whole`, { timeout: 120_000 }, async (t) => {
  const nats = await withNats(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-bounds-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const store = directoryArchiveStore(dir);
  const n = FLUSH_SLICE * 2 + 37;
  for (let i = 0; i < n; i++) await js.publish(`pay.evt.merchant.m_${i % 3}`, JSON.stringify({ n: i, merchant_id: `m_${i % 3}`, note: 'é ünïcode' }));
  const slices: number[][] = [];
  const a = startArchiver({
    js,
    jsm,
    store,
    stream: EVENTS_STREAM,
    durable: durables.archiveEvents,
    chunkEvents: n,
    chunkMs: 60_000,
    privacy: createPrivacy('keep', keyRing(Buffer.alloc(32, 7)), null),
    log: pino({ level: 'silent' }),
    beforeStore: async (records) => {
      slices.push(records.map((r) => (r.data as { n: number }).n));
    },
  });
  t.teardown(() => a.stop());
  await a.ready;
  await eventually(async () => a.archivedSeq() === n, 60_000);
  t.same(
    slices.map((s) => s.length),
    [FLUSH_SLICE, FLUSH_SLICE, 37],
    'beforeStore saw the chunk in slices',
  );
  t.same(slices.flat(), Array.from({ length: n }, (_, i) => i), 'every record, in order, parsed');
  const { manifests } = await readChain(store, EVENTS_STREAM);
  t.equal(manifests.length, 1, 'one chunk');
  t.equal(manifests[0]!.count, n);
  const records = decodeChunk<StreamRecord>((await store.get(manifests[0]!.chunk))!);
  t.same(records.map((r) => r.seq), Array.from({ length: n }, (_, i) => i + 1));
  t.same(records[5]!.data, { n: 5, merchant_id: 'm_2', note: 'é ünïcode' }, 'the body as it was');
  await eventually(async () => (await jsm.consumers.info(EVENTS_STREAM, durables.archiveEvents)).ack_floor.stream_seq === n, 10_000);
  t.pass('the chunk is acknowledged (ack-all on the newest message)');
});
