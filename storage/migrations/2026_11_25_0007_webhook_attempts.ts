// Webhook receipts: one row per try (webhook_attempts), beside the folded row per delivery; and the
// indexes the admin queries and pending_webhooks use.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_attempts')
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('delivered', 'failed')`))
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('response_body', 'text')
    .addColumn('request_id', 'text')
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('stream_seq', 'int8', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_attempts_pkey', ['delivery_id', 'attempt'])
    .execute();
  await db.schema.createIndex('webhook_attempts_merchant_at_idx').on('webhook_attempts').columns(['merchant_id', 'at desc']).execute();
  await db.schema.createIndex('webhook_deliveries_event_endpoint_idx').on('webhook_deliveries').columns(['event_id', 'endpoint_id']).execute();
  await db.schema.createIndex('webhook_deliveries_merchant_status_idx').on('webhook_deliveries').columns(['merchant_id', 'status']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_merchant_status_idx').execute();
  await db.schema.dropIndex('webhook_deliveries_event_endpoint_idx').execute();
  await db.schema.dropTable('webhook_attempts').execute();
}
