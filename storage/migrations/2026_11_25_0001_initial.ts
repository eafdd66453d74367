// The initial schema of the read model. Frozen: a migration describes the database as it was on its
// date, so it imports nothing from the application and is never edited once released; a change is a
// new dated file.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('merchants')
    .addColumn('merchant_id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('gst_id', 'text', (c) => c.notNull())
    .addColumn('call_back_url', 'text')
    .addColumn('events', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('allowed_origins', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('payment_intents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'int8', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('capture_method', 'text', (c) => c.notNull())
    .addColumn('user_email', 'text')
    .addColumn('product_id', 'text')
    .addColumn('customer', 'text')
    .addColumn('description', 'text')
    .addColumn('receipt_email', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('payment_method', 'text')
    .addColumn('latest_attempt_id', 'text')
    .addColumn('attempt_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('amount_received', 'int8', (c) => c.notNull().defaultTo(0))
    .addColumn('amount_capturable', 'int8', (c) => c.notNull().defaultTo(0))
    .addColumn('last_payment_error', 'jsonb')
    .addColumn('canceled_at', 'timestamptz')
    .addColumn('cancellation_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('payment_intents_merchant_created_idx')
    .on('payment_intents')
    .columns(['merchant_id', 'created_at desc', 'id desc'])
    .execute();
  await db.schema.createIndex('payment_intents_customer_idx').on('payment_intents').column('customer').execute();

  await db.schema
    .createTable('payment_attempts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('intent_id', 'text', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('seq_no', 'integer', (c) => c.notNull())
    .addColumn('amount', 'int8', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('payment_method', 'text', (c) => c.notNull())
    .addColumn('card_brand', 'text')
    .addColumn('card_last4', 'text')
    .addColumn('network_ref', 'text')
    .addColumn('failure_code', 'text')
    .addColumn('decline_code', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('captured', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('amount_captured', 'int8', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('settled_at', 'timestamptz')
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_attempts_intent_idx').on('payment_attempts').column('intent_id').execute();
  await db.schema
    .createIndex('payment_attempts_merchant_created_idx')
    .on('payment_attempts')
    .columns(['merchant_id', 'created_at desc'])
    .execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('aggregate_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('stream_seq', 'int8', (c) => c.notNull())
    // Position of the event within its commit: several events share one stream sequence.
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('events_merchant_created_idx')
    .on('events')
    .columns(['merchant_id', 'created_at desc', 'stream_seq desc', 'position desc'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'delivered', 'failed', 'dead')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('next_retry_at', 'timestamptz')
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_merchant_event_idx')
    .on('webhook_deliveries')
    .columns(['merchant_id', 'event_id'])
    .execute();

  await db.schema
    .createTable('projection_checkpoints')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('last_seq', 'int8', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['projection_checkpoints', 'webhook_deliveries', 'events', 'payment_attempts', 'payment_intents', 'merchants']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
