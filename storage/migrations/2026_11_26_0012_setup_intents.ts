// SetupIntents: one row per SetupIntent snapshot, for the list (newest first per merchant and mode)
// and its customer and payment_method filters. Frozen like every migration.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('setup_intents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('customer', 'text')
    .addColumn('payment_method', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('setup_intents_merchant_mode_created_idx')
    .on('setup_intents')
    .columns(['merchant_id', 'livemode', 'created_at desc', 'id desc'])
    .execute();
  await db.schema.createIndex('setup_intents_customer_idx').on('setup_intents').columns(['merchant_id', 'customer']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('setup_intents').ifExists().execute();
}
