// chaos/postgres.ts: a private Postgres that survives SIGKILL of its postmaster with nothing
// committed lost (fsync on), restarted on the same dir and port.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import pg from 'pg';
import { privatePostgresUnavailable, startPrivatePostgres } from '../chaos/postgres.ts';
import { queryOnce } from './helpers/postgres.ts';

const why = privatePostgresUnavailable();

const query = queryOnce;

t.test('private postgres: start, write, SIGKILL, start again, the row is still there', { skip: why ?? false }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-pg-'));
  const lines: string[] = [];
  const db = await startPrivatePostgres({ dir: path.join(dir, 'pg'), log: (s) => lines.push(s) });
  t.teardown(async () => {
    await db.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  t.match(db.url, new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${db.port}/postgres$`));
  const pid = db.pid();
  t.ok(pid && pid > 0, 'the postmaster runs');
  const user = await query<{ u: string; fsync: string }>(db.url, "select current_user as u, current_setting('fsync') as fsync");
  t.equal(user[0]!.fsync, 'on', 'fsync on');

  await query(db.url, 'create table t (id int primary key, v text)');
  await query(db.url, "insert into t values (1, 'before the kill')");
  // A second connection held open across the kill: its backend outlives the postmaster for a moment.
  const held = new pg.Client({ connectionString: db.url });
  held.on('error', () => {});
  await held.connect();
  await held.query('select 1');

  db.kill();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(db.pid(), null, 'the postmaster is gone');
  await t.rejects(query(db.url, 'select 1'), 'nothing answers while it is down');

  const t0 = Date.now();
  await db.start();
  t.comment(`restart after SIGKILL: ${Date.now() - t0} ms`);
  t.not(db.pid(), pid, 'a new postmaster');
  const rows = await query<{ v: string }>(db.url, 'select v from t where id = 1');
  t.same(rows, [{ v: 'before the kill' }], 'the committed row survived');
  await held.end().catch(() => {});

  // stop → start, and stop twice is fine.
  await db.stop();
  await db.stop();
  t.equal(db.pid(), null);
  await db.start();
  t.same(await query(db.url, 'select count(*)::int as n from t'), [{ n: 1 }]);
  t.ok(lines.some((l) => /accepting/.test(l)), 'log callback used');
});
