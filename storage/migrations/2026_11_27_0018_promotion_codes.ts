// Promotion codes: one row per code (from its coupon's snapshot), for the list and its filters
// (active, code, coupon); and an index for counting a code's redemptions. Frozen like every migration.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('promotion_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('coupon_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('active', 'boolean', (c) => c.notNull())
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('promotion_codes_merchant_mode_created_idx').on('promotion_codes').columns(['merchant_id', 'livemode', 'created_at desc', 'id desc']).execute();
  await sql`create index payment_intents_checkout_promotion_code_idx on payment_intents (merchant_id, (state #>> '{checkout,discount,promotion_code}')) where state #>> '{checkout,discount,promotion_code}' is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists payment_intents_checkout_promotion_code_idx`.execute(db);
  await db.schema.dropTable('promotion_codes').ifExists().execute();
}
