// PII erasure: when a customer's personal data was erased (customer.erased), so intents projected
// later keep their receipt_email null; and an index for the retention job's scan. Frozen like every migration.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('customers').addColumn('erased_at', 'timestamptz').execute();
  await db.schema.createIndex('payment_intents_customer_idx').on('payment_intents').columns(['merchant_id', 'customer']).where(sql.ref('customer'), 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('payment_intents_customer_idx').execute();
  await db.schema.alterTable('customers').dropColumn('erased_at').execute();
}
