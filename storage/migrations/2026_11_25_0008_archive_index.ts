// The yearly archive's index (issue 9): which archive chunk holds a row that left the hot tables, so
// a lookup by id still finds it. Frozen like every migration: it imports nothing from the application.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('archived_objects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('payment_intent', 'payment_attempt', 'webhook_delivery')`))
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('chunk_index', 'integer', (c) => c.notNull())
    .addColumn('archived_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('archived_objects_chunk_idx').on('archived_objects').column('chunk_index').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('archived_objects').ifExists().execute();
}
