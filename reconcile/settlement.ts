// Settlement reconciliation: fetch the network's settlement file of a day, match every row against
// our attempts (match.ts), act on what must not stay (money we do not keep is given back through
// the intent's owner), raise an event on the intent for every discrepancy, and write the report
// (recon_runs, recon_discrepancies). The run's checkpoint (rows done, counts) is written with each
// chunk, so a run cut short by a crash is resumed where it stopped by the next one; every step is
// idempotent (deterministic discrepancy ids and command ids), so a chunk done twice changes nothing.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { EpnClient } from '../epn/client/mod.ts';
import type { WireSettlementRow } from '../epn/wire.ts';
import type { CommandClient } from '../runtime/client.ts';
import type { Ctx } from '../runtime/protocol.ts';
import { ApiError } from '../stripe/errors.ts';
import { discrepancyId, matchRow, missingTheirs, type DiscrepancyKind, type MatchResult, type OurAttempt } from './match.ts';
import { reconMetrics } from './metrics.ts';
import { countOpenDiscrepancies, loadOurAttempts, type ReconDb, type RunRow } from './store.ts';

export interface SettlementDeps {
  db: ReconDb;
  epn: Pick<EpnClient, 'settlement'>;
  commands: CommandClient;
  log: Logger;
  /** Rows and attempts younger than this are still in flight: left for the next run. */
  graceMs: number;
  /** A running run whose heartbeat is older than this was cut short: it is resumed. */
  staleMs?: number;
  clock?: () => number;
  /** Tests: called after each chunk is checkpointed (throw to simulate a crash). */
  afterChunk?: (checkpoint: number) => void;
}

export const CHUNK = 50;

export type RunSummary = RunRow;

const today = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const counted = ['matched', 'missing_ours', 'missing_theirs', 'amount_mismatch', 'status_mismatch', 'in_flight'] as const;
type Counts = Record<(typeof counted)[number] | 'reversed', number>;

/** Runs (or resumes) the reconciliation of one settlement day (default: today, UTC). */
export async function runSettlement(d: SettlementDeps, o: { date?: string; trigger: 'schedule' | 'manual' }): Promise<RunSummary> {
  const clock = d.clock ?? Date.now;
  const started = clock();
  const date = o.date ?? today(started);
  const staleMs = d.staleMs ?? 60_000;
  const db = d.db;

  // A run of the day still marked running: resume it when its runner is gone, else leave it be.
  const running = await db.selectFrom('recon_runs').selectAll().where('settlement_date', '=', date).where('status', '=', 'running').orderBy('started_at', 'desc').executeTakeFirst();
  let run: RunRow;
  if (running && new Date(running.heartbeat_at).getTime() > started - staleMs) {
    d.log.info({ run: running.id, date }, 'settlement run already in progress');
    return running;
  }
  if (running) {
    run = await db
      .updateTable('recon_runs')
      .set({ resumed: running.resumed + 1, heartbeat_at: new Date(started) })
      .where('id', '=', running.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    d.log.warn({ run: run.id, date, checkpoint: run.checkpoint }, 'resuming settlement run cut short');
  } else {
    run = await db
      .insertInto('recon_runs')
      .values({ id: `rr_${randomBytes(8).toString('hex')}`, settlement_date: date, status: 'running', trigger: o.trigger, started_at: new Date(started), heartbeat_at: new Date(started), finished_at: null, error: null })
      .returningAll()
      .executeTakeFirstOrThrow();
    d.log.info({ run: run.id, date, trigger: o.trigger }, 'settlement run started');
  }

  try {
    const rows: WireSettlementRow[] = await d.epn.settlement(date);
    const cutoff = Math.floor((started - d.graceMs) / 1000);
    const dayStart = Math.floor(Date.parse(`${date}T00:00:00Z`) / 1000);
    const ours = await loadOurAttempts(db, [...new Set(rows.map((r) => r.attempt_id))], dayStart, dayStart + 86_400);
    const byId = new Map(ours.map((a) => [a.id, a]));
    const counts: Counts = {
      matched: run.matched,
      missing_ours: run.missing_ours,
      missing_theirs: run.missing_theirs,
      amount_mismatch: run.amount_mismatch,
      status_mismatch: run.status_mismatch,
      in_flight: run.in_flight,
      reversed: run.reversed,
    };

    for (let i = run.checkpoint; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      const matched: string[] = [];
      for (const row of chunk) {
        const res: MatchResult = row.created_at > cutoff ? { ...matchRow(row, byId.get(row.attempt_id)), kind: 'in_flight' } : matchRow(row, byId.get(row.attempt_id));
        counts[res.kind]++;
        if (res.kind === 'matched') matched.push(row.network_ref);
        else if (res.kind !== 'in_flight') {
          if (await recordDiscrepancy(d, run, date, res, clock())) counts.reversed++;
        }
      }
      const checkpoint = Math.min(i + CHUNK, rows.length);
      await db.transaction().execute(async (trx) => {
        if (matched.length) {
          await trx
            .updateTable('recon_discrepancies')
            .set({ status: 'auto_resolved', action: sqlCoalesceMatched, updated_at: new Date(clock()) })
            .where('status', '=', 'open')
            .where('network_ref', 'in', matched)
            .execute();
        }
        await trx
          .updateTable('recon_runs')
          .set({ ...pick(counts), checkpoint, total_rows: rows.length, heartbeat_at: new Date(clock()) })
          .where('id', '=', run.id)
          .execute();
      });
      d.afterChunk?.(checkpoint);
    }

    // Money we hold as taken that the network's file does not have.
    const eligible = ours.filter((a) => a.created_at >= dayStart && a.created_at < dayStart + 86_400 && a.created_at <= cutoff);
    const missing = missingTheirs(eligible, rows);
    counts.missing_theirs = missing.length;
    for (const res of missing) await recordDiscrepancy(d, run, date, res, clock());

    const done = await db
      .updateTable('recon_runs')
      .set({ ...pick(counts), status: 'completed', total_rows: rows.length, checkpoint: rows.length, heartbeat_at: new Date(clock()), finished_at: new Date(clock()) })
      .where('id', '=', run.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const compared = rows.length - counts.in_flight;
    const bad = compared - counts.matched;
    reconMetrics.mismatchRate.set(compared > 0 ? Math.max(0, bad) / compared : 0);
    reconMetrics.openDiscrepancies.set(await countOpenDiscrepancies(db));
    reconMetrics.runs.inc({ result: 'completed' });
    reconMetrics.runSeconds.observe((clock() - started) / 1000);
    d.log.info({ run: run.id, date, ...counts, rows: rows.length, ms: clock() - started }, 'settlement run completed');
    return done;
  } catch (err) {
    reconMetrics.runs.inc({ result: 'interrupted' });
    // Left `running`: the next run resumes from the checkpoint once the heartbeat is stale.
    d.log.error({ err, run: run.id, date }, 'settlement run interrupted; it resumes from its checkpoint');
    throw err;
  }
}

// A discrepancy that now matches keeps its earlier action, if any.
const sqlCoalesceMatched = sql<string>`coalesce(action, 'matched by a later run')`;

function pick(c: Counts) {
  return { matched: c.matched, missing_ours: c.missing_ours, missing_theirs: c.missing_theirs, amount_mismatch: c.amount_mismatch, status_mismatch: c.status_mismatch, in_flight: c.in_flight, reversed: c.reversed };
}

/** Acts on one discrepancy (reversal, event on the intent) and upserts its row. true: money was given back. */
async function recordDiscrepancy(d: SettlementDeps, run: RunRow, date: string, res: MatchResult, nowMs: number): Promise<boolean> {
  const kind = res.kind as DiscrepancyKind;
  const id = discrepancyId(kind, res.attempt_id, res.network_ref);
  const ctx = (name: string): Ctx => ({ commandId: `recon_${id}_${name}`, livemode: false, requestId: null, correlationId: run.id, now: Math.floor(nowMs / 1000) });
  let action: string | null = null;
  let reversed = false;
  if (res.reverse && res.intent_id && res.attempt_id) {
    try {
      await d.commands.send({ op: 'intent.reconcile', merchantId: res.merchant_id, intentId: res.intent_id, action: { kind: 'reverse_stray', attemptId: res.attempt_id }, ctx: ctx('reverse') });
      action = 'reversed at the network';
      reversed = true;
    } catch (err) {
      action = `reversal failed: ${(err as Error).message}`;
      d.log.error({ err, discrepancy: id, attempt: res.attempt_id }, 'automatic reversal failed; left open');
    }
  }
  if (res.intent_id) {
    try {
      await d.commands.send({
        op: 'intent.reconcile',
        merchantId: res.merchant_id,
        intentId: res.intent_id,
        action: { kind: 'flag', discrepancyId: id, discrepancy: kind, attemptId: res.attempt_id, networkRef: res.network_ref, detail: res.detail },
        ctx: ctx('flag'),
      });
    } catch (err) {
      // An intent we do not know (missing_ours with a foreign reference): the row is the record.
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  const now = new Date(nowMs);
  const status = reversed ? 'auto_resolved' : 'open';
  await d.db
    .insertInto('recon_discrepancies')
    .values({
      id,
      kind,
      status,
      settlement_date: date,
      merchant_id: res.merchant_id,
      intent_id: res.intent_id,
      attempt_id: res.attempt_id,
      network_ref: res.network_ref,
      currency: res.currency,
      our_amount: res.our_amount,
      their_amount: res.their_amount,
      our_status: res.our_status,
      their_status: res.their_status,
      detail: res.detail,
      action,
      first_run_id: run.id,
      last_run_id: run.id,
      created_at: now,
      updated_at: now,
      resolved_by: null,
      resolution_reason: null,
      resolved_at: null,
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        last_run_id: eb.ref('excluded.last_run_id'),
        updated_at: eb.ref('excluded.updated_at'),
        detail: eb.ref('excluded.detail'),
        our_status: eb.ref('excluded.our_status'),
        their_status: eb.ref('excluded.their_status'),
        action: sql<string | null>`coalesce(excluded.action, recon_discrepancies.action)`,
        // An operator's resolution stands; an automatic one too unless it failed again.
        status: sql<'open' | 'auto_resolved' | 'resolved'>`case when recon_discrepancies.status = 'resolved' then 'resolved' when recon_discrepancies.status = 'auto_resolved' then 'auto_resolved' else excluded.status end`,
      })),
    )
    .execute();
  reconMetrics.mismatches.inc({ kind });
  return reversed;
}

export type { OurAttempt };
