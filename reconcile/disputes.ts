// The chargeback feed: how disputes reach us. The card network keeps a feed of its chargeback cases
// (epn/wire.ts WireChargebackFeed), each listed once in its newest state after the position we last
// read. Every DISPUTE_POLL_MS this reads on from the cursor and sends each case to the intent that
// holds the disputed charge: a new case opens a dispute there (dispute id derived from the case, so a
// case read twice opens one dispute), a changed one records the network's status (under review, won,
// lost). The cursor moves only past cases that were recorded or refused for good, so a broker or
// owner outage replays the rest, which the intent's single writer makes harmless. The network's
// fraud reports (Stripe's early fraud warnings) come the same way, from their own feed and cursor.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Intent } from '../actors/mod.ts';
import type { EpnChargeback, EpnClient, EpnFraudReport } from '../epn/client/mod.ts';
import type { IndexEntry } from '../gateway/pay-index.ts';
import { intentIdOfCharge } from '../gateway/ids.ts';
import { counter } from '../metrics/registry.ts';
import type { CommandClient } from '../runtime/client.ts';
import type { Ctx } from '../runtime/protocol.ts';
import { ApiError } from '../stripe/errors.ts';
import { every } from '../runtime/periodic.ts';

const warningCases = counter('paynats_fraud_report_feed_total', 'Fraud reports read from the network feed, by what was done with them', ['result']);
const feedCases = counter('paynats_dispute_feed_cases_total', 'Chargeback cases read from the network feed, by what was done with them', ['result']);

/** The early fraud warning id of a network fraud report: the same on every read and in every process. */
export const fraudWarningIdOf = (reportRef: string): string => `issfr_${createHash('sha256').update(`efw:${reportRef}`).digest('hex').slice(0, 24)}`;

/** The dispute id of a network case: the same on every read and in every process. */
export const disputeIdOf = (chargebackRef: string): string => `dp_${createHash('sha256').update(`dispute:${chargebackRef}`).digest('hex').slice(0, 24)}`;

/** The pay_index key holding the feed's cursor (not an id: ids have a prefix and an underscore first). */
export const CHARGEBACK_FEED_CURSOR = 'cursor-epn-chargebacks';
export const FRAUD_REPORT_FEED_CURSOR = 'cursor-epn-fraud-reports';

/** Where the feed was read up to (kept in the pay_index bucket, so every reconcile process shares it). */
export interface FeedCursor {
  read(): Promise<number>;
  /** Never moves back (a slower reader's write is ignored). */
  advance(seq: number): Promise<void>;
}

export interface DisputeFeedOptions {
  epn: Pick<EpnClient, 'chargebacks' | 'fraudReports'>;
  commands: CommandClient;
  index: { read(id: string): Promise<IndexEntry | null>; write(id: string, e: IndexEntry): Promise<void> };
  cursor: FeedCursor;
  /** Where the fraud report feed was read up to. */
  fraudCursor: FeedCursor;
  log: Logger;
  /** 0: no schedule (pollNow only). */
  intervalMs: number;
  /** Cases per feed read. */
  batch?: number;
  clock?: () => number;
}

export interface PollResult {
  read: number;
  /** Fraud reports recorded as early fraud warnings. */
  warnings: number;
  opened: number;
  updated: number;
  refused: number;
  skipped: number;
  cursor: number;
}

export interface DisputeFeed {
  /** Read the feed to its end now (what the schedule does); serialized with the schedule. */
  pollNow(): Promise<PollResult>;
  stop(): Promise<void>;
}

export function startDisputeFeed(o: DisputeFeedOptions): DisputeFeed {
  const clock = o.clock ?? Date.now;
  const batch = o.batch ?? 100;

  async function intentOf(c: Pick<EpnChargeback, 'intentId' | 'reference' | 'merchantId'>): Promise<{ merchantId: string; intentId: string } | null> {
    const intentId = c.intentId ?? intentIdOfCharge(c.reference) ?? (await o.index.read(c.reference))?.intent_id ?? null;
    return intentId ? { merchantId: c.merchantId, intentId } : null;
  }

  /** One case: 'opened' | 'updated' | 'skipped'; throws when it should be read again (broker, owner, network out). */
  async function apply(c: EpnChargeback): Promise<'opened' | 'updated' | 'skipped' | 'refused'> {
    const at = await intentOf(c);
    if (!at) {
      o.log.error({ chargeback: c.chargebackRef, network_ref: c.networkRef }, 'chargeback for a charge we do not know: not recorded');
      return 'skipped';
    }
    const disputeId = disputeIdOf(c.chargebackRef);
    const ctx = (name: string): Ctx => ({ commandId: `chargeback_${c.chargebackRef}_${name}`, livemode: false, requestId: null, correlationId: null, now: Math.floor(clock() / 1000) });
    try {
      const state = (await o.commands.send({
        op: 'intent.dispute_record',
        ...at,
        command: { type: 'OpenDispute', disputeId, attemptId: c.reference, chargebackRef: c.chargebackRef, amount: c.amount, reason: c.reason, inquiry: c.inquiry, dueBy: c.dueBy, now: Math.floor(clock() / 1000) },
        ctx: ctx('open'),
      })) as Intent;
      // After the command, so the entry carries the intent's mode; a crash between the two reads the case again.
      await o.index.write(disputeId, { merchant_id: at.merchantId, intent_id: at.intentId, livemode: state.livemode });
      const d = (state.disputes ?? []).find((x) => x.id === disputeId);
      if (c.status === 'open' || !d) return 'opened';
      await o.commands.send({
        op: 'intent.dispute_record',
        ...at,
        command: { type: 'RecordDisputeStatus', disputeId, networkStatus: c.status, now: Math.floor(clock() / 1000) },
        ctx: ctx(`status_${c.seq}`),
      });
      return 'updated';
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) {
        // Refused for good (a charge we never captured, a verdict contrary to one recorded): an operator's matter.
        o.log.error({ err, chargeback: c.chargebackRef, intent: at.intentId, charge: c.reference }, 'chargeback refused by the intent: not recorded');
        return 'refused';
      }
      throw err;
    }
  }

  /** One fraud report: recorded as an early fraud warning on the intent holding the charge. */
  async function warn(f: EpnFraudReport): Promise<'opened' | 'skipped' | 'refused'> {
    const at = await intentOf(f);
    if (!at) {
      o.log.error({ report: f.reportRef, network_ref: f.networkRef }, 'fraud report for a charge we do not know: not recorded');
      return 'skipped';
    }
    const warningId = fraudWarningIdOf(f.reportRef);
    try {
      const state = (await o.commands.send({
        op: 'intent.dispute_record',
        ...at,
        command: { type: 'RecordFraudWarning', warningId, attemptId: f.reference, reportRef: f.reportRef, fraudType: f.fraudType, now: Math.floor(clock() / 1000) },
        ctx: { commandId: `fraud_report_${f.reportRef}`, livemode: false, requestId: null, correlationId: null, now: Math.floor(clock() / 1000) },
      })) as Intent;
      await o.index.write(warningId, { merchant_id: at.merchantId, intent_id: at.intentId, livemode: state.livemode });
      return 'opened';
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) {
        o.log.error({ err, report: f.reportRef, intent: at.intentId, charge: f.reference }, 'fraud report refused by the intent: not recorded');
        return 'refused';
      }
      throw err;
    }
  }

  async function poll(): Promise<PollResult> {
    const r: PollResult = { read: 0, warnings: 0, opened: 0, updated: 0, refused: 0, skipped: 0, cursor: await o.cursor.read() };
    // Fraud reports first: Stripe's early fraud warning comes before the fraud dispute it warns of.
    for (let after = await o.fraudCursor.read(); ; ) {
      const feed = await o.epn.fraudReports(after, batch);
      for (const f of feed.data) {
        const result = await warn(f);
        warningCases.inc({ result });
        if (result === 'opened') r.warnings++;
        await o.fraudCursor.advance(f.seq);
        after = f.seq;
      }
      if (feed.data.length < batch) break;
    }
    for (;;) {
      const feed = await o.epn.chargebacks(r.cursor, batch);
      for (const c of feed.data) {
        const result = await apply(c);
        feedCases.inc({ result });
        r.read++;
        r[result]++;
        await o.cursor.advance(c.seq);
        r.cursor = c.seq;
      }
      if (feed.data.length < batch) break;
    }
    if (r.read > 0 || r.warnings > 0) o.log.info(r, 'chargeback and fraud report feeds read');
    return r;
  }

  let running: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = running.then(f, f);
    running = p.catch(() => {});
    return p;
  };
  const schedule = o.intervalMs > 0 ? every(o.intervalMs, () => serial(poll), (err) => o.log.warn({ err }, 'chargeback feed not read; the next interval retries')) : null;
  return {
    pollNow: () => serial(poll),
    async stop() {
      await schedule?.stop();
      await running;
    },
  };
}

/** The feed's cursor as one key of a KV bucket: compare-and-set, never backwards. */
export function kvFeedCursor(kv: { get(k: string): Promise<{ operation: string; revision: number; string(): string } | null>; create(k: string, v: string): Promise<number>; update(k: string, v: string, rev: number): Promise<number> }, key: string): FeedCursor {
  return {
    async read() {
      const e = await kv.get(key);
      return e && e.operation === 'PUT' ? Number(e.string()) || 0 : 0;
    },
    async advance(seq) {
      for (let i = 0; i < 5; i++) {
        const e = await kv.get(key);
        const cur = e && e.operation === 'PUT' ? Number(e.string()) || 0 : 0;
        if (cur >= seq) return;
        try {
          if (e) await kv.update(key, String(seq), e.revision);
          else await kv.create(key, String(seq));
          return;
        } catch {
          // another reader moved it: read again
        }
      }
    },
  };
}
