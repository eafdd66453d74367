// The yearly database archive on a real PGlite: only terminal, old rows move; they move exactly once
// even when the process dies between storing the chunk and the transaction; lookups find them.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { migrateToLatest, openDatabase, projectCommits } from '../storage/mod.ts';
import { keyRing } from '../vault/mod.ts';
import { archiveDatabase, createArchiveReader, createPrivacy, directoryArchiveStore, readChain, readIntentWithArchive, verifyArchive, archivedFrom, type ArchiveStore } from '../archive/mod.ts';
import { syntheticPayment } from '../archive/synthetic.ts';
import type { Intent } from '../actors/mod.ts';

t.test('terminal old rows move exactly once, across a crash, and are still found by id', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-archive-db-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const { db, close } = await openDatabase({ dataDir: path.join(dir, 'db') });
  t.teardown(close);
  await migrateToLatest(db);
  // Payment 1 and 2 succeed; payment 3 stays processing (not terminal).
  const commits = [...syntheticPayment(1, 'acct_a'), ...syntheticPayment(2, 'acct_a'), ...syntheticPayment(3, 'acct_a', 2)];
  await projectCommits(db, commits.map((c, i) => ({ commit: c, seq: i + 1, subject: `pay.evt.intent.acct_a.${c.aggregate_id}`, time: 0 })));
  const store = directoryArchiveStore(path.join(dir, 'archive'));
  const privacy = createPrivacy('hash', keyRing(Buffer.alloc(32, 3)), null);
  const now = new Date('2031-01-01T00:00:00Z');

  // Nothing is old enough yet.
  t.equal((await archiveDatabase({ db, store, privacy, olderThanS: 100 * 365 * 24 * 3600, now })).chunks, 0);

  // The process dies after the chunk and manifest are stored, before the transaction.
  const dying: ArchiveStore = {
    ...store,
    where: store.where,
    async put(name, bytes) {
      await store.put(name, bytes);
      if (name.includes('/manifests/')) throw new Error('killed');
    },
  };
  await t.rejects(archiveDatabase({ db, store: dying, privacy, olderThanS: 3600, now }), /killed/);
  t.equal((await db.selectFrom('payment_intents').select('id').execute()).length, 3, 'rows still hot after the crash');

  const r = await archiveDatabase({ db, store, privacy, olderThanS: 3600, now });
  t.equal(r.recovered, true, 'the next run finishes the stored chunk');
  t.equal(r.chunks, 0, 'and writes no second copy');
  const { manifests } = await readChain(store, 'db');
  t.equal(manifests.length, 1);
  t.same(manifests[0]!.tables, { payment_intents: 2, payment_attempts: 2 });
  t.same((await db.selectFrom('payment_intents').select('id').execute()).map((x) => x.id), ['pi_bench0000000003'], 'only the processing intent stays');
  t.equal((await db.selectFrom('payment_attempts').select('id').execute()).length, 1);
  t.ok((await verifyArchive(store, null, { chains: ['db'] })).ok);

  // Lookups: stream (none here) → projection → archive, marked.
  const read = readIntentWithArchive(async () => null, db, createArchiveReader(db, store, privacy));
  const archived = (await read('acct_a', 'pi_bench0000000001')) as Intent;
  t.equal(archived.status, 'succeeded');
  t.equal(archived.attempts[0]!.id, 'ch_bench1');
  t.match(archived.receipt_email, /^hmac:[0-9a-f]{32}$/, 'hashed per the policy');
  t.match(archivedFrom(archived), { chain: 'db', chunk: 'db/chunks/0000000000.jsonl.gz' });
  const hot = (await read('acct_a', 'pi_bench0000000003')) as Intent;
  t.equal(hot.status, 'processing');
  t.equal(archivedFrom(hot), undefined, 'a hot row is not marked');
  t.equal(await read('acct_other', 'pi_bench0000000001'), null, 'another merchant does not find it');
  t.equal(await read('acct_a', 'pi_nope'), null);
});
