// Coupons: one row per coupon snapshot, for the list (newest first per merchant and mode); and an
// index for counting a coupon's redemptions (the completed Checkout Sessions that took it). Frozen like
// every migration.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('coupons')
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('coupons_pkey', ['merchant_id', 'id'])
    .execute();
  await db.schema.createIndex('coupons_merchant_mode_created_idx').on('coupons').columns(['merchant_id', 'livemode', 'created_at desc', 'id desc']).execute();
  await sql`create index payment_intents_checkout_coupon_idx on payment_intents (merchant_id, (state #>> '{checkout,discount,coupon}')) where state #>> '{checkout,discount,coupon}' is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists payment_intents_checkout_coupon_idx`.execute(db);
  await db.schema.dropTable('coupons').ifExists().execute();
}
