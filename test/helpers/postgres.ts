// The machine's Postgres (127.0.0.1:5432, trust auth, database `test`) for tests that need a real
// server: whether it answers, and a fresh uniquely named database dropped by the caller.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** null when Postgres answers; otherwise why not (for a tap `skip`). */
export async function postgresUnreachable(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('select 1');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

/** A new empty database; call drop() after closing every connection to it. */
export async function freshDatabase(prefix = 'paynats_t'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/**
 * The stack environment for a test run on one database: PGlite (npm start's default: nothing to
 * set), or a fresh Postgres database (DATABASE_URL) dropped at teardown. null: Postgres does not
 * answer, and the test is skipped with a comment saying why.
 */
export async function databaseEnv(t: { comment(m: string): void; teardown(f: () => Promise<void>): void }, database: 'pglite' | 'postgres', prefix: string): Promise<Record<string, string> | null> {
  if (database === 'pglite') return {};
  const why = await postgresUnreachable();
  if (why) {
    t.comment(`skipped: Postgres is unreachable (${why})`);
    return null;
  }
  const db = await freshDatabase(prefix);
  t.teardown(() => db.drop());
  return { DATABASE_URL: db.url };
}

/** One query on a short-lived connection (a server that may be down or restarting between calls). */
export async function queryOnce<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}
