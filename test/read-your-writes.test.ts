// Lists see the caller's own writes (storage/read-your-writes.ts):
//  1. against a real PGlite read model: a list for a merchant with a noted commit waits until the
//     projector's checkpoint reaches it, and not longer; a projector that never gets there delays
//     the list by maxWaitMs at most; a merchant with nothing noted does not wait at all;
//  2. over HTTP: intents created in a burst are all in the list read right after the last answer.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { advanceCheckpoint, checkpointNames, migrateToLatest, openDatabase } from '../storage/mod.ts';
import { createReadYourWrites } from '../storage/read-your-writes.ts';
import { EVENTS_STREAM } from '../streams/subjects.ts';
import { eventually, startStack } from './helpers/stack.ts';

t.test('a list waits for the projection to reach the noted commit, bounded', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-ryw-'));
  const store = await openDatabase({ dataDir: dir });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await migrateToLatest(store.db);
  const ryw = createReadYourWrites(store.db, { maxWaitMs: 800, pollMs: 5 });

  // given a commit at 10 noted for acct_a, and the projection at 5
  await advanceCheckpoint(store.db, { name: checkpointNames.commits, stream: EVENTS_STREAM, seq: 5 });
  ryw.wrote('acct_a', 10);
  // when the projector reaches 10 after 150 ms
  const started = Date.now();
  let advancedAt = 0;
  setTimeout(() => void advanceCheckpoint(store.db, { name: checkpointNames.commits, stream: EVENTS_STREAM, seq: 12 }).then(() => (advancedAt = Date.now())), 150);
  await ryw.caughtUp('acct_a');
  // then the list went on only after that, and well before the bound
  t.ok(advancedAt > 0 && Date.now() >= advancedAt, 'waited for the checkpoint');
  t.ok(Date.now() - started < 700, `not held to the bound (${Date.now() - started} ms)`);

  const t1 = Date.now();
  await ryw.caughtUp('acct_b');
  t.ok(Date.now() - t1 < 50, 'a merchant with no noted write does not wait');
  ryw.wrote('acct_a', 11);
  const t2 = Date.now();
  await ryw.caughtUp('acct_a');
  t.ok(Date.now() - t2 < 50, 'a write the projection already holds: no wait');

  ryw.wrote('acct_c', 1_000);
  const t3 = Date.now();
  await ryw.caughtUp('acct_c');
  const held = Date.now() - t3;
  t.ok(held >= 750 && held < 1_500, `a projection that never gets there holds the list maxWaitMs, no more (${held} ms)`);
});

t.test('HTTP: a burst of creates, then a list: every intent is in it', async (t) => {
  // A list waits for its own writes up to LIST_WAIT_MS: 1 s by default, 10 s here, so a slow machine
  // (the fresh-clone CI, two test files at once) tests the waiting, not the machine's speed.
  const stack = await startStack(t, { LIST_WAIT_MS: '10000' });
  const m = await stack.onboard();
  const auth = { authorization: `Bearer ${m.secret_key}` };
  const list = async () => ((await (await fetch(`${stack.url}/v1/payment_intents?limit=100`, { headers: auth })).json()) as { data: { id: string }[] }).data.map((i) => i.id);
  // Warm-up, not measured: the projector's first batch after a cold start (PGlite's first statements);
  // the rounds below are the steady state.
  const warm = (await (await fetch(`${stack.url}/v1/payment_intents`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=1000&currency=usd' })).json()) as { id: string };
  await eventually(async () => (await list()).includes(warm.id), 30_000, 100);
  for (let round = 0; round < 3; round++) {
    const created = await Promise.all(
      Array.from({ length: 30 }, () =>
        fetch(`${stack.url}/v1/payment_intents`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=1000&currency=usd' }).then(
          (r) => r.json() as Promise<{ id: string }>,
        ),
      ),
    );
    const listed = new Set(await list());
    t.ok(
      created.every((c) => listed.has(c.id)),
      `round ${round}: all 30 listed at once`,
    );
  }
});
