// Products and prices: one row per product snapshot and one per price, for the lists (newest first
// per merchant and mode) and their filters (active, product, currency, type, lookup_key). Frozen like
// every migration.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('products')
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('active', 'boolean', (c) => c.notNull())
    .addColumn('shippable', 'boolean')
    .addColumn('url', 'text')
    .addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('products_pkey', ['merchant_id', 'id'])
    .execute();
  await db.schema.createIndex('products_merchant_mode_created_idx').on('products').columns(['merchant_id', 'livemode', 'created_at desc', 'id desc']).execute();
  await db.schema
    .createTable('prices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('product_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('active', 'boolean', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('recurring_interval', 'text')
    .addColumn('lookup_key', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('prices_merchant_mode_created_idx').on('prices').columns(['merchant_id', 'livemode', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('prices_product_idx').on('prices').columns(['merchant_id', 'product_id']).execute();
  await db.schema.createIndex('prices_lookup_key_idx').on('prices').columns(['merchant_id', 'livemode', 'lookup_key']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('prices').ifExists().execute();
  await db.schema.dropTable('products').ifExists().execute();
}
