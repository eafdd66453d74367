// Test and live mode: every object row says which mode it belongs to; reads filter by the key's mode.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['payment_intents', 'payment_attempts', 'events']) {
    await db.schema.alterTable(table).addColumn('livemode', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  }
  await db.schema.dropIndex('payment_intents_merchant_created_idx').execute();
  await db.schema
    .createIndex('payment_intents_merchant_mode_created_idx')
    .on('payment_intents')
    .columns(['merchant_id', 'livemode', 'created_at desc', 'id desc'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['payment_intents', 'payment_attempts', 'events']) {
    await db.schema.alterTable(table).dropColumn('livemode').execute();
  }
}
