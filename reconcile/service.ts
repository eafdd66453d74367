// The scheduled side of reconciliation, where a database is: every RECON_SETTLEMENT_INTERVAL_MS
// the stuck-attempt sweep, then the settlement run of the day (and the resumption of any run cut
// short). Both also run on demand (admin API, `npm run ops -- recon run-now`).
import type { Logger } from 'pino';
import type { EpnClient } from '../epn/client/mod.ts';
import type { CommandClient } from '../runtime/client.ts';
import { ApiError } from '../stripe/errors.ts';
import { AGE_BUCKETS, ageBucket, reconMetrics } from './metrics.ts';
import { runSettlement, type RunSummary } from './settlement.ts';
import { stuckAttempts, unsettledCounts, type ReconDb, type StuckAttempt } from './store.ts';
import { settleInDoubt } from './worker.ts';

export interface ReconciliationOptions {
  db: ReconDb;
  epn: Pick<EpnClient, 'settlement' | 'inquire' | 'inquireAll'>;
  commands: CommandClient;
  log: Logger;
  /** 0: no schedule (on demand only). */
  intervalMs: number;
  graceMs: number;
  stuckAfterMs: number;
  deadlineMs: number;
  clock?: () => number;
}

export interface SweepResult {
  stuck: StuckAttempt[];
  /** Pending attempts put in doubt (the reconcile consumer takes them over). */
  markedInDoubt: string[];
  /** In-doubt attempts past the deadline settled by the sweep itself. */
  settled: string[];
}

export interface ReconciliationService {
  runNow(date?: string, trigger?: 'schedule' | 'manual'): Promise<RunSummary>;
  sweep(): Promise<SweepResult>;
  stuck(olderThanMs?: number): Promise<StuckAttempt[]>;
  stop(): Promise<void>;
}

export function startReconciliation(o: ReconciliationOptions): ReconciliationService {
  const clock = o.clock ?? Date.now;
  let timer: NodeJS.Timeout | null = null;
  let busy: Promise<unknown> = Promise.resolve();
  let stopped = false;

  const stuck = (olderThanMs = o.stuckAfterMs) => stuckAttempts(o.db, clock() - olderThanMs, clock());

  async function sweep(): Promise<SweepResult> {
    const now = clock();
    const found = await stuck();
    const byAge = new Map<string, number>(AGE_BUCKETS.map((b) => [b, 0]));
    for (const a of found) byAge.set(ageBucket(a.age_ms), (byAge.get(ageBucket(a.age_ms)) ?? 0) + 1);
    for (const [age, n] of byAge) reconMetrics.stuck.set({ age }, n);
    const unsettled = await unsettledCounts(o.db);
    for (const [status, n] of Object.entries(unsettled)) reconMetrics.unsettled.set({ status }, n);
    const markedInDoubt: string[] = [];
    const settled: string[] = [];
    for (const a of found) {
      const ctx = { commandId: `sweep_${a.id}_${a.status}`, livemode: a.livemode, requestId: null, correlationId: null, now: Math.floor(now / 1000) };
      try {
        if (a.status === 'pending') {
          // A crash between attempt.started and the network's answer: in doubt, asked about by the consumer.
          await o.commands.send({ op: 'intent.reconcile', merchantId: a.merchant_id, intentId: a.intent_id, action: { kind: 'mark_unknown', attemptId: a.id }, ctx });
          markedInDoubt.push(a.id);
        } else if (a.age_ms > o.stuckAfterMs + o.deadlineMs) {
          // In doubt past its deadline and the consumer has not settled it: settle it here.
          const r = await settleInDoubt(o, { merchantId: a.merchant_id, intentId: a.intent_id, attemptId: a.id, livemode: a.livemode, correlationId: null }, true, now);
          if (r.kind === 'settled') settled.push(a.id);
        }
      } catch (err) {
        // Refused, or no owner for a moment: the next sweep tries again.
        o.log.warn({ err, attempt: a.id, refused: err instanceof ApiError && err.status < 500 }, 'sweep could not act on a stuck attempt');
      }
    }
    if (found.length) o.log.warn({ stuck: found.length, marked_in_doubt: markedInDoubt.length, settled: settled.length }, 'stuck attempts swept');
    return { stuck: found, markedInDoubt, settled };
  }

  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = busy.then(f, f);
    busy = p.catch(() => {});
    return p;
  };

  const runNow = (date?: string, trigger: 'schedule' | 'manual' = 'manual') =>
    serial(() =>
      runSettlement({ db: o.db, epn: o.epn, commands: o.commands, log: o.log, graceMs: o.graceMs, clock }, { ...(date ? { date } : {}), trigger }),
    );

  async function tick() {
    try {
      await serial(sweep);
      // Runs of other days cut short are finished first.
      const cut = await o.db.selectFrom('recon_runs').select('settlement_date').distinct().where('status', '=', 'running').execute();
      const today = new Date(clock()).toISOString().slice(0, 10);
      for (const r of cut) if (r.settlement_date !== today) await runNow(r.settlement_date, 'schedule');
      await runNow(undefined, 'schedule');
    } catch (err) {
      o.log.error({ err }, 'scheduled reconciliation failed; next interval retries');
    }
    if (!stopped && o.intervalMs > 0) timer = setTimeout(() => void tick(), o.intervalMs);
  }
  if (o.intervalMs > 0) timer = setTimeout(() => void tick(), o.intervalMs);

  return {
    runNow,
    sweep: () => serial(sweep),
    stuck,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await busy;
    },
  };
}
