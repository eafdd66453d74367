// Least privilege in Postgres: migrations run as one role (it owns the tables: DDL), the runtime as
// another with only SELECT/INSERT/UPDATE/DELETE on them. rolesSql() writes the statements an
// administrator runs once per database (scripts/db-roles.ts prints or applies them); default
// privileges make every table a later migration creates usable by the runtime role too.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { openDatabase, type Database } from '../storage/mod.ts';

export interface RolesOptions {
  database: string;
  /** Owns the schema's tables; used with DATABASE_MIGRATION_URL. */
  migrationRole: string;
  /** The runtime's role (DATABASE_URL): DML only. */
  runtimeRole: string;
  migrationPassword?: string;
  runtimePassword?: string;
  schema?: string;
}

const ident = (s: string) => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(s)) throw new Error(`not a plain SQL identifier: ${s}`);
  return `"${s}"`;
};
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export function rolesSql(o: RolesOptions): string {
  const db = ident(o.database);
  const mig = ident(o.migrationRole);
  const app = ident(o.runtimeRole);
  const schema = ident(o.schema ?? 'public');
  const pw = (p?: string) => (p ? ` PASSWORD ${literal(p)}` : '');
  return [
    `-- paynats: least-privilege roles for database ${o.database}`,
    `CREATE ROLE ${mig} LOGIN${pw(o.migrationPassword)};`,
    `CREATE ROLE ${app} LOGIN${pw(o.runtimePassword)};`,
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC;`,
    `GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${mig}, ${app};`,
    `REVOKE CREATE ON SCHEMA ${schema} FROM PUBLIC;`,
    `GRANT USAGE, CREATE ON SCHEMA ${schema} TO ${mig};`,
    `GRANT USAGE ON SCHEMA ${schema} TO ${app};`,
    `-- tables the migration role creates from now on: DML for the runtime role`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${mig} IN SCHEMA ${schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app};`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${mig} IN SCHEMA ${schema} GRANT USAGE, SELECT ON SEQUENCES TO ${app};`,
    `-- tables that exist already (a database migrated before the split)`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${app};`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${app};`,
    '',
  ].join('\n');
}

/**
 * At start: migrations with DATABASE_MIGRATION_URL when it is set (a short-lived connection as the
 * owning role), else with the runtime connection as before.
 */
export async function migrateWithRole(config: Config, runtimeDb: Kysely<Database>, log: Logger, migrate: (db: Kysely<Database>) => Promise<unknown>): Promise<void> {
  if (!config.databaseMigrationUrl || !config.databaseUrl || config.databaseMigrationUrl === config.databaseUrl) {
    await migrate(runtimeDb);
    return;
  }
  const m = await openDatabase({ databaseUrl: config.databaseMigrationUrl, dataDir: config.dataDir, logger: log });
  try {
    await migrate(m.db);
    log.info('migrations ran with DATABASE_MIGRATION_URL; the runtime connection has DML only');
  } finally {
    await m.close();
  }
}
