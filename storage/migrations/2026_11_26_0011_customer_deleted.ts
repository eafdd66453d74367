// Deleted customers (DELETE /v1/customers/:id): the row stays (its last_seq keeps a redelivered
// older commit from bringing it back), marked, and lists leave it out. Frozen like every migration.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('customers').addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('customers').dropColumn('deleted').execute();
}
