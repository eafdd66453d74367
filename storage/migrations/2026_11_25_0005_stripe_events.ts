// Stripe events beside domain events: the events table also holds one row per Stripe event (the
// objects webhooks carry and GET /v1/events lists), told apart by `kind`. A Stripe row's `data` is
// the whole event JSON; its id is the Stripe event id derived from the domain event's id.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('events')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('domain').check(sql`kind in ('domain', 'stripe')`))
    .execute();
  await db.schema
    .createIndex('events_stripe_list_idx')
    .on('events')
    .columns(['merchant_id', 'livemode', 'created_at desc', 'stream_seq desc', 'position desc'])
    .where(sql.ref('kind'), '=', 'stripe')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('events_stripe_list_idx').execute();
  await db.deleteFrom('events').where('kind', '=', 'stripe').execute();
  await db.schema.alterTable('events').dropColumn('kind').execute();
}
