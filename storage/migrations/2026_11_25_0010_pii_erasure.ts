// PII erasure: when a customer's personal data was erased (customer.erased), so intents projected
// later keep their receipt_email null (payment_intents_customer_idx from 0001 serves the lookups);
// and events by aggregate, for scrubbing an erased customer's stored events and the retention scan.
// Frozen like every migration.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('customers').addColumn('erased_at', 'timestamptz').execute();
  await db.schema.createIndex('events_aggregate_idx').on('events').columns(['aggregate_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('events_aggregate_idx').execute();
  await db.schema.alterTable('customers').dropColumn('erased_at').execute();
}
