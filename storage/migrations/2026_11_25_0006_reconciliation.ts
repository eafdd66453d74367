// Settlement reconciliation (issue 7): one row per run (with its checkpoint, so a run resumes after
// a crash) and one row per discrepancy between our records and the network's settlement file,
// kept across runs (its id is derived from what it is about) until it matches or an operator
// resolves it. Frozen like every migration: it imports nothing from the application.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('recon_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('settlement_date', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'completed', 'failed')`))
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('resumed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('checkpoint', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('total_rows', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('matched', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('missing_ours', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('missing_theirs', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('amount_mismatch', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status_mismatch', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('in_flight', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reversed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('recon_runs_started_idx').on('recon_runs').columns(['started_at desc']).execute();
  await db.schema.createIndex('recon_runs_running_idx').on('recon_runs').columns(['settlement_date', 'status']).execute();

  await db.schema
    .createTable('recon_discrepancies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('missing_ours', 'missing_theirs', 'amount_mismatch', 'status_mismatch')`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open', 'auto_resolved', 'resolved')`))
    .addColumn('settlement_date', 'text', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('intent_id', 'text')
    .addColumn('attempt_id', 'text')
    .addColumn('network_ref', 'text')
    .addColumn('currency', 'text')
    .addColumn('our_amount', 'int8')
    .addColumn('their_amount', 'int8')
    .addColumn('our_status', 'text')
    .addColumn('their_status', 'text')
    .addColumn('detail', 'text', (c) => c.notNull())
    .addColumn('action', 'text')
    .addColumn('first_run_id', 'text', (c) => c.notNull())
    .addColumn('last_run_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('resolved_by', 'text')
    .addColumn('resolution_reason', 'text')
    .addColumn('resolved_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('recon_discrepancies_status_idx').on('recon_discrepancies').columns(['status', 'created_at desc']).execute();
  await db.schema.createIndex('recon_discrepancies_network_ref_idx').on('recon_discrepancies').column('network_ref').execute();
  // The stuck-attempt sweep reads attempts by status and age.
  await db.schema.createIndex('payment_attempts_status_created_idx').on('payment_attempts').columns(['status', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('payment_attempts_status_created_idx').ifExists().execute();
  await db.schema.dropTable('recon_discrepancies').ifExists().execute();
  await db.schema.dropTable('recon_runs').ifExists().execute();
}
