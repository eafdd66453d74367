// Refunds, and what the charges list needs: one row per refund (re_…) of a charge of an intent;
// payment_attempts (Stripe's charges) gain amount_refunded and an index for the mode-scoped list.
// Frozen like every migration: it imports nothing from the application.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('intent_id', 'text', (c) => c.notNull())
    .addColumn('charge_id', 'text', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('livemode', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('amount', 'int8', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('refunds_merchant_mode_created_idx')
    .on('refunds')
    .columns(['merchant_id', 'livemode', 'created_at desc', 'id desc'])
    .execute();
  await db.schema.createIndex('refunds_charge_idx').on('refunds').column('charge_id').execute();
  await db.schema.createIndex('refunds_intent_idx').on('refunds').column('intent_id').execute();

  await db.schema.alterTable('payment_attempts').addColumn('amount_refunded', 'int8', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema
    .createIndex('payment_attempts_merchant_mode_created_idx')
    .on('payment_attempts')
    .columns(['merchant_id', 'livemode', 'created_at desc', 'id desc'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('payment_attempts_merchant_mode_created_idx').ifExists().execute();
  await db.schema.alterTable('payment_attempts').dropColumn('amount_refunded').execute();
  await db.schema.dropTable('refunds').ifExists().execute();
}
