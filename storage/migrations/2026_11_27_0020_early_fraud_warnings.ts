// Early fraud warnings: one row per warning (issfr_…) on a charge of an intent, for
// GET /v1/radar/early_fraud_warnings. The object is rendered from the intent (its actionable
// follows from the charge). Frozen like every migration: it imports nothing from the application.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('early_fraud_warnings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('intent_id', 'text', (c) => c.notNull())
    .addColumn('charge_id', 'text', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('early_fraud_warnings_merchant_mode_created_idx').on('early_fraud_warnings').columns(['merchant_id', 'livemode', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('early_fraud_warnings_charge_idx').on('early_fraud_warnings').column('charge_id').execute();
  await db.schema.createIndex('early_fraud_warnings_intent_idx').on('early_fraud_warnings').column('intent_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('early_fraud_warnings').ifExists().execute();
}
