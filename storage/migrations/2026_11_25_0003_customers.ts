// Customers: one row per customer snapshot, for the list (newest first per merchant and mode) and
// its email filter. Frozen like every migration.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('customers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('email', 'text')
    .addColumn('name', 'text')
    .addColumn('description', 'text')
    .addColumn('phone', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('customers_merchant_mode_created_idx')
    .on('customers')
    .columns(['merchant_id', 'livemode', 'created_at desc', 'id desc'])
    .execute();
  await db.schema.createIndex('customers_merchant_mode_email_idx').on('customers').columns(['merchant_id', 'livemode', 'email']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('customers').ifExists().execute();
}
