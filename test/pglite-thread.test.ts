// The read model's PGlite on its own thread (storage/pglite-dialect.ts PGliteThread), through kysely:
//  1. rows come back as from node-postgres: int8 as text, timestamptz as Date, jsonb as objects;
//     errors keep PGlite's fields (code, constraint), so callers tell a conflict from a bug;
//  2. a transaction holds the one connection: a statement issued meanwhile waits for the commit;
//  3. a long statement does not stop the event loop (the point of the thread);
//  4. the thread ending (a crash) fails what waits as an unavailable database (57P02), and the next
//     statement opens the database again with everything committed before.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Kysely, sql } from 'kysely';
import { PGliteThread, pgliteDialect } from '../storage/pglite-dialect.ts';
import { isDatabaseUnavailable } from '../storage/unavailable.ts';

async function open(t: { teardown(f: () => unknown): void }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-pglite-thread-'));
  const thread = await PGliteThread.open(dir);
  const db = new Kysely<Record<string, never>>({ dialect: pgliteDialect(thread) });
  t.teardown(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  return { db, thread, dir };
}

t.test('rows as node-postgres gives them; errors keep their SQLSTATE and constraint', async (t) => {
  const { db } = await open(t);
  await sql`create table t (id text primary key, n int8 not null, at timestamptz not null, doc jsonb not null)`.execute(db);
  const at = new Date('2026-11-26T10:00:00.123Z');
  const ins = await sql`insert into t values (${'a'}, ${'9007199254740993'}, ${at}, ${JSON.stringify({ k: [1, 'x'] })})`.execute(db);
  t.equal(ins.numAffectedRows, 1n);
  const { rows } = await sql<{ id: string; n: string; at: Date; doc: unknown }>`select * from t`.execute(db);
  t.same(rows, [{ id: 'a', n: '9007199254740993', at, doc: { k: [1, 'x'] } }]);
  t.ok(rows[0]!.at instanceof Date, 'a Date, not a string');
  const dup = await sql`insert into t values (${'a'}, ${1}, now(), '{}')`.execute(db).catch((e: unknown) => e);
  t.match(dup, { code: '23505', constraint: 't_pkey' }, 'unique violation as PGlite reported it');
  t.ok(dup instanceof Error);
  t.notOk(isDatabaseUnavailable(dup), 'a conflict is not an outage');
  t.match(await sql`selec 1`.execute(db).catch((e: unknown) => e), { code: '42601' }, 'syntax error');
});

t.test('a transaction holds the connection: a statement issued meanwhile runs after the commit', async (t) => {
  const { db } = await open(t);
  await sql`create table c (v int not null)`.execute(db);
  const seen: number[] = [];
  let inside!: () => void;
  const started = new Promise<void>((r) => (inside = r));
  const trx = db.transaction().execute(async (trx) => {
    await sql`insert into c values (1)`.execute(trx);
    inside();
    await new Promise((r) => setTimeout(r, 200));
    await sql`insert into c values (2)`.execute(trx);
  });
  await started;
  const read = sql<{ n: number }>`select count(*)::int as n from c`.execute(db).then((r) => seen.push(r.rows[0]!.n));
  await Promise.all([trx, read]);
  t.same(seen, [2], 'the outside read saw the whole transaction, not half of it');
});

t.test('a long statement runs beside the event loop', async (t) => {
  const { db } = await open(t);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  const started = Date.now();
  await sql`select count(*) from generate_series(1, 4000000)`.execute(db);
  const ms = Date.now() - started;
  clearInterval(timer);
  t.ok(ms > 100, `the statement took a while (${ms} ms)`);
  t.ok(ticks >= Math.floor(ms / 20 / 3), `timers kept firing while it ran (${ticks} ticks in ${ms} ms)`);
});

t.test('the thread ending: what waits fails as unavailable, the next statement reopens with committed data', async (t) => {
  const { db, thread } = await open(t);
  await sql`create table k (v int not null)`.execute(db);
  await sql`insert into k values (7)`.execute(db);
  const waiting = sql`select pg_sleep(2)`.execute(db).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 100));
  await thread.kill();
  const err = await waiting;
  t.match(err, { code: '57P02' });
  t.ok(isDatabaseUnavailable(err), 'the gateway answers 503, the projector retries');
  const { rows } = await sql<{ v: number }>`select v from k`.execute(db);
  t.same(rows, [{ v: 7 }], 'reopened, nothing committed lost');
});

t.test('a database that cannot be opened again is unavailable (503), not a bug (500)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-pglite-thread-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'pglite');
  const thread = await PGliteThread.open(dataDir);
  t.teardown(() => thread.close());
  t.same((await thread.query<{ one: number }>('select 1 as one')).rows, [{ one: 1 }]);
  await thread.kill();
  // Its directory gone and a file in its place: the reopen fails.
  await rm(dataDir, { recursive: true, force: true });
  await writeFile(dataDir, 'not a directory');
  const err = await thread.query('select 1').catch((e: unknown) => e);
  t.ok(err instanceof Error, 'the statement fails');
  t.ok(isDatabaseUnavailable(err), `reported as unavailable (code ${(err as { code?: string }).code})`);
});
