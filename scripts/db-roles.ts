// Prints (or, with --apply ADMIN_URL, runs) the SQL that creates paynats' least-privilege Postgres
// roles: a migration role owning the tables and a runtime role with DML only. See README "Security".
//   npx tsx scripts/db-roles.ts --database paynats --migration-role paynats_migrator --runtime-role paynats_app [--apply postgres://admin@host/paynats]
// Passwords come from PAYNATS_MIGRATION_PASSWORD and PAYNATS_RUNTIME_PASSWORD (never from argv).
import { parseArgs } from 'node:util';
import pg from 'pg';
import { rolesSql } from '../privacy/db-roles.ts';

const { values } = parseArgs({
  options: {
    database: { type: 'string', default: 'paynats' },
    'migration-role': { type: 'string', default: 'paynats_migrator' },
    'runtime-role': { type: 'string', default: 'paynats_app' },
    apply: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('usage: scripts/db-roles.ts [--database NAME] [--migration-role NAME] [--runtime-role NAME] [--apply ADMIN_URL]\n');
  process.exit(0);
}
const text = rolesSql({
  database: values.database!,
  migrationRole: values['migration-role']!,
  runtimeRole: values['runtime-role']!,
  ...(process.env.PAYNATS_MIGRATION_PASSWORD ? { migrationPassword: process.env.PAYNATS_MIGRATION_PASSWORD } : {}),
  ...(process.env.PAYNATS_RUNTIME_PASSWORD ? { runtimePassword: process.env.PAYNATS_RUNTIME_PASSWORD } : {}),
});
if (!values.apply) {
  process.stdout.write(text);
} else {
  const c = new pg.Client({ connectionString: values.apply });
  await c.connect();
  try {
    await c.query(text);
    process.stdout.write(`roles ${values['migration-role']} and ${values['runtime-role']} created on ${values.database}\n`);
  } finally {
    await c.end();
  }
}
