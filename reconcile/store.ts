// Reconciliation's tables (migration 0006) and the read-model queries it needs. The tables are
// reconciliation's own, so their types live here rather than in storage/database.ts.
import { sql, type Generated, type Kysely, type Selectable } from 'kysely';
import type { AttemptStatus, IntentStatus } from '../actors/mod.ts';
import type { Database } from '../storage/database.ts';
import type { Int8, Timestamp } from '../storage/columns.ts';
import type { DiscrepancyKind, OurAttempt } from './match.ts';

export interface ReconRunsTable {
  id: string;
  settlement_date: string;
  status: 'running' | 'completed' | 'failed';
  trigger: string;
  started_at: Timestamp;
  heartbeat_at: Timestamp;
  finished_at: Timestamp | null;
  resumed: Generated<number>;
  checkpoint: Generated<number>;
  total_rows: Generated<number>;
  matched: Generated<number>;
  missing_ours: Generated<number>;
  missing_theirs: Generated<number>;
  amount_mismatch: Generated<number>;
  status_mismatch: Generated<number>;
  in_flight: Generated<number>;
  reversed: Generated<number>;
  error: string | null;
}

export type DiscrepancyStatus = 'open' | 'auto_resolved' | 'resolved';

export interface ReconDiscrepanciesTable {
  id: string;
  kind: DiscrepancyKind;
  status: DiscrepancyStatus;
  settlement_date: string;
  merchant_id: string;
  intent_id: string | null;
  attempt_id: string | null;
  network_ref: string | null;
  currency: string | null;
  our_amount: Int8 | null;
  their_amount: Int8 | null;
  our_status: string | null;
  their_status: string | null;
  detail: string;
  action: string | null;
  first_run_id: string;
  last_run_id: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  resolved_by: string | null;
  resolution_reason: string | null;
  resolved_at: Timestamp | null;
}

export interface ReconDatabase extends Database {
  recon_runs: ReconRunsTable;
  recon_discrepancies: ReconDiscrepanciesTable;
}

export type ReconDb = Kysely<ReconDatabase>;
export type RunRow = Selectable<ReconRunsTable>;
export type DiscrepancyRow = Selectable<ReconDiscrepanciesTable>;

export const asReconDb = (db: Kysely<Database>): ReconDb => db as unknown as ReconDb;

const unix = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);

/** Our attempts by id, and those created in [from, to) (unix seconds), with their intent's status. */
export async function loadOurAttempts(db: ReconDb, ids: string[], from: number, to: number): Promise<OurAttempt[]> {
  const q = () =>
    db
      .selectFrom('payment_attempts as a')
      .innerJoin('payment_intents as i', 'i.id', 'a.intent_id')
      .select(['a.id', 'a.intent_id', 'a.merchant_id', 'a.amount', 'a.currency', 'a.status', 'a.network_ref', 'a.created_at', 'i.status as intent_status']);
  const rows = [...(await q().where('a.created_at', '>=', new Date(from * 1000)).where('a.created_at', '<', new Date(to * 1000)).execute())];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    if (chunk.length) rows.push(...(await q().where('a.id', 'in', chunk).execute()));
  }
  const byId = new Map<string, OurAttempt>();
  for (const r of rows) {
    byId.set(r.id, {
      id: r.id,
      intent_id: r.intent_id,
      merchant_id: r.merchant_id,
      amount: Number(r.amount),
      currency: r.currency,
      status: r.status as AttemptStatus,
      network_ref: r.network_ref,
      intent_status: r.intent_status as IntentStatus,
      created_at: unix(r.created_at),
    });
  }
  return [...byId.values()];
}

export interface StuckAttempt {
  id: string;
  intent_id: string;
  merchant_id: string;
  livemode: boolean;
  status: AttemptStatus;
  amount: number;
  currency: string;
  created_at: number;
  age_ms: number;
}

/** Attempts pending or in doubt created before `olderThan` (ms since epoch), oldest first. */
export async function stuckAttempts(db: ReconDb, olderThan: number, now: number, limit = 500): Promise<StuckAttempt[]> {
  const rows = await db
    .selectFrom('payment_attempts')
    .select(['id', 'intent_id', 'merchant_id', 'livemode', 'status', 'amount', 'currency', 'created_at'])
    .where('status', 'in', ['pending', 'in_doubt'])
    .where('created_at', '<', new Date(olderThan))
    .orderBy('created_at', 'asc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    intent_id: r.intent_id,
    merchant_id: r.merchant_id,
    livemode: r.livemode,
    status: r.status,
    amount: Number(r.amount),
    currency: r.currency,
    created_at: unix(r.created_at),
    age_ms: now - new Date(r.created_at).getTime(),
  }));
}

export async function listRuns(db: ReconDb, limit = 20): Promise<RunRow[]> {
  return db.selectFrom('recon_runs').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

export interface DiscrepancyQuery {
  status?: DiscrepancyStatus | 'all';
  kind?: DiscrepancyKind;
  merchantId?: string;
  limit?: number;
}

export async function listDiscrepancies(db: ReconDb, q: DiscrepancyQuery = {}): Promise<DiscrepancyRow[]> {
  let s = db.selectFrom('recon_discrepancies').selectAll();
  const status = q.status ?? 'open';
  if (status !== 'all') s = s.where('status', '=', status);
  if (q.kind) s = s.where('kind', '=', q.kind);
  if (q.merchantId) s = s.where('merchant_id', '=', q.merchantId);
  return s.orderBy('created_at', 'desc').orderBy('id').limit(q.limit ?? 100).execute();
}

export async function getDiscrepancy(db: ReconDb, id: string): Promise<DiscrepancyRow | undefined> {
  return db.selectFrom('recon_discrepancies').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countOpenDiscrepancies(db: ReconDb): Promise<number> {
  const r = await db.selectFrom('recon_discrepancies').select(sql<string>`count(*)`.as('n')).where('status', '=', 'open').executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Attempts waiting on the network, by status (the reconciliation backlog as the read model sees it). */
export async function unsettledCounts(db: ReconDb): Promise<{ pending: number; in_doubt: number }> {
  const rows = await db
    .selectFrom('payment_attempts')
    .select(['status', sql<string>`count(*)`.as('n')])
    .where('status', 'in', ['pending', 'in_doubt'])
    .groupBy('status')
    .execute();
  const n = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { pending: n('pending'), in_doubt: n('in_doubt') };
}
