// `--database postgres`: the stack's read model in a real Postgres instead of PGlite, in a fresh
// database the bench creates (and drops afterwards unless --keep), so a run never sees old rows.
// The server is BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test (loopback only).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchDatabase {
  /** DATABASE_URL for the stack. */
  url: string;
  drop(): Promise<void>;
}

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';

export async function createBenchDatabase(adminUrl = process.env.BENCH_DATABASE_URL ?? DEFAULT_ADMIN_URL): Promise<BenchDatabase> {
  const u = new URL(adminUrl);
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(u.hostname)) throw new Error(`BENCH_DATABASE_URL ${u.hostname} is not loopback: the bench only runs against this machine`);
  const name = `paynats_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
