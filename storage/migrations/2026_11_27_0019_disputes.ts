// Disputes: one row per dispute (dp_…) of a charge of an intent, for GET /v1/disputes and the
// balance (what a chargeback withdrew, and what a won one gave back, fee included).
// Frozen like every migration: it imports nothing from the application.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('disputes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('intent_id', 'text', (c) => c.notNull())
    .addColumn('charge_id', 'text', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('amount', 'int8', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('withdrawn', 'int8', (c) => c.notNull().defaultTo(0))
    .addColumn('reinstated', 'int8', (c) => c.notNull().defaultTo(0))
    .addColumn('reinstated_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('disputes_merchant_mode_created_idx').on('disputes').columns(['merchant_id', 'livemode', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('disputes_charge_idx').on('disputes').column('charge_id').execute();
  await db.schema.createIndex('disputes_intent_idx').on('disputes').column('intent_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('disputes').ifExists().execute();
}
