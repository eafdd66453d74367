// The yearly archive moves finished SetupIntents too: archived_objects.kind may be 'setup_intent'.
// Frozen like every migration: it imports nothing from the application.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table archived_objects drop constraint archived_objects_kind_check`.execute(db);
  await sql`alter table archived_objects add constraint archived_objects_kind_check check (kind in ('payment_intent', 'payment_attempt', 'setup_intent', 'webhook_delivery'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from archived_objects where kind = 'setup_intent'`.execute(db);
  await sql`alter table archived_objects drop constraint archived_objects_kind_check`.execute(db);
  await sql`alter table archived_objects add constraint archived_objects_kind_check check (kind in ('payment_intent', 'payment_attempt', 'webhook_delivery'))`.execute(db);
}
