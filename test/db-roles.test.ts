// Least-privilege Postgres (issue #11 item 8) against the real Postgres at 127.0.0.1:5432: a fresh
// database and two roles from rolesSql(); migrations run as the migration role through
// DATABASE_MIGRATION_URL (migrateWithRole); the runtime role then projects commits (including an
// erasure), reads customers and events, and runs the retention query, but cannot create, alter
// or drop tables. Everything is dropped afterwards.
import t from 'tap';
import pg from 'pg';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { customerDecider, fold, type CustomerCommand, type CustomerState } from '../actors/mod.ts';
import { loadConfig } from '../config/config.ts';
import { decodeCommit, encodeCommit } from '../streams/codec.ts';
import type { CustomerCommit, StoredCommit } from '../streams/envelope.ts';
import { subjects } from '../streams/subjects.ts';
import { getCustomer, listCustomers, listEvents, migrateToLatest, openDatabase, projectCommits } from '../storage/mod.ts';
import { migrateWithRole, rolesSql } from '../privacy/db-roles.ts';
import { idleCustomers } from '../privacy/retention.ts';

t.setTimeout(180_000);

const PG = 'postgres://postgres@127.0.0.1:5432';

t.test('runtime role: DML only; migrations with the migration role', async (t) => {
  const admin = new pg.Client({ connectionString: `${PG}/postgres` });
  try {
    await admin.connect();
  } catch (err) {
    t.fail(`no Postgres at 127.0.0.1:5432: ${String(err)}`);
    return;
  }
  const tag = randomBytes(5).toString('hex');
  const dbName = `paynats_roles_${tag}`;
  const mig = `paynats_mig_${tag}`;
  const app = `paynats_app_${tag}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  t.teardown(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS ${app}`);
    await admin.query(`DROP ROLE IF EXISTS ${mig}`);
    await admin.end();
  });
  const inDb = new pg.Client({ connectionString: `${PG}/${dbName}` });
  await inDb.connect();
  await inDb.query(rolesSql({ database: dbName, migrationRole: mig, runtimeRole: app }));
  await inDb.end();

  const runtimeUrl = `postgres://${app}@127.0.0.1:5432/${dbName}`;
  const migrationUrl = `postgres://${mig}@127.0.0.1:5432/${dbName}`;
  const config = loadConfig({ DATABASE_URL: runtimeUrl, DATABASE_MIGRATION_URL: migrationUrl });
  t.equal(config.databaseMigrationUrl, migrationUrl);
  const runtime = await openDatabase({ databaseUrl: runtimeUrl, dataDir: '/nonexistent' });
  t.teardown(() => runtime.close());
  const db = runtime.db;

  await t.test('the runtime role cannot migrate a fresh database itself', async (t) => {
    await t.rejects(migrateToLatest(db), 'no CREATE on the schema');
  });

  await migrateWithRole(config, db, pino({ level: 'silent' }), migrateToLatest);
  const owner = await sql<{ tableowner: string }>`select tableowner from pg_tables where tablename = 'customers'`.execute(db);
  t.equal(owner.rows[0]?.tableowner, mig, 'the tables belong to the migration role');

  await t.test('the runtime role projects and reads', async (t) => {
    let seq = 0;
    let state: CustomerState = null;
    const commit = (cmd: CustomerCommand): StoredCommit<CustomerCommit> => {
      const events = customerDecider.decide(cmd, state).map((e, i) => ({ ...e, id: `evt_${tag}_${seq}_${i}`, v: 1 }));
      state = fold(customerDecider, events, state);
      const c: CustomerCommit = {
        v: 1, id: `cmd_${seq + 1}`, aggregate: 'customer', aggregate_id: 'cus_r1', merchant_id: 'acct_r', command: cmd.type,
        request_id: null, correlation_id: null, at: cmd.now, events: events as CustomerCommit['events'], state: state!,
      };
      return { commit: decodeCommit(encodeCommit(c)) as CustomerCommit, seq: ++seq, subject: subjects.customer('acct_r', 'cus_r1'), time: cmd.now * 1000 };
    };
    const T0 = 1_800_000_000;
    await projectCommits(db, [commit({ type: 'Create', customerId: 'cus_r1', merchantId: 'acct_r', livemode: false, email: 'r@example.com', name: 'R One', description: null, phone: null, metadata: {}, now: T0 })]);
    t.equal((await getCustomer(db, 'acct_r', 'cus_r1'))?.email, 'r@example.com');
    t.equal((await idleCustomers(db, new Date((T0 + 10) * 1000), 10)).length, 1, 'the retention query runs');
    await projectCommits(db, [commit({ type: 'Erase', reason: 'request', now: T0 + 5 })]);
    t.equal((await getCustomer(db, 'acct_r', 'cus_r1'))?.email, null, 'erased through the runtime role');
    const page = await listCustomers(db, { merchantId: 'acct_r', livemode: false, limit: 10 });
    t.equal(page.data.length, 1);
    const events = await listEvents(db, { merchantId: 'acct_r', limit: 10 });
    t.notOk(JSON.stringify(events).includes('r@example.com'), 'stored events scrubbed');
  });

  await t.test('the runtime role has no DDL', async (t) => {
    await t.rejects(sql`create table evil (a int)`.execute(db), /permission denied/);
    await t.rejects(sql`drop table customers`.execute(db), /must be owner/);
    await t.rejects(sql`alter table customers add column evil int`.execute(db), /must be owner/);
    await t.rejects(sql`truncate customers`.execute(db), /permission denied/);
  });
});
