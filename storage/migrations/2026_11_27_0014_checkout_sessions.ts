// Checkout Sessions live in their PaymentIntent's snapshot (state.checkout): a partial index finds a
// merchant's sessions newest first (GET /v1/checkout/sessions) and the open ones past their expiry
// (reconcile/checkout-expiry.ts) without reading every intent.
// Frozen like every migration: it imports nothing from the application.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index payment_intents_checkout_idx on payment_intents (merchant_id, livemode, created_at desc, id desc) where state ? 'checkout'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists payment_intents_checkout_idx`.execute(db);
}
