// The ops web page (/ops): a static shell (HTML, our own script and stylesheet; strict CSP, no inline
// script, no third-party resources) that asks for the admin token, keeps it in sessionStorage and
// reads everything through GET /admin/ops/summary (Authorization: Bearer <ADMIN_TOKEN>). The page
// itself holds no data, so serving it without the token gives nothing away.
//
// The summary reuses the readers that already exist: metrics/nats.ts (streams, consumers, dead
// letters, partition coverage), the webhook receipts projection, reconciliation's stuck attempts and
// discrepancies; plus one read of its own: the latest failed payment attempts across merchants.
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import type { Merchant } from '../../actors/mod.ts';
import { requireAdmin } from '../../gateway/routes/admin.ts';
import { natsReading } from '../../metrics/nats.ts';
import type { ReconciliationService } from '../../reconcile/service.ts';
import { listDiscrepancies, asReconDb } from '../../reconcile/store.ts';
import type { Database } from '../../storage/database.ts';

export interface OpsWebDeps {
  adminToken: string | undefined;
  db: Kysely<Database>;
  /** Absent where this process runs no reconciliation: the summary says so (null). */
  recon: ReconciliationService | null;
  /** The merchant actor's state: a failing endpoint's current status (enabled, disabled). */
  readMerchant(merchantId: string): Promise<Merchant | null>;
}

const dir = new URL('./', import.meta.url);
const FILES: Record<string, { body: string; type: string }> = {
  'index.html': { body: readFileSync(new URL('index.html', dir), 'utf8'), type: 'text/html; charset=utf-8' },
  'ops.js': { body: readFileSync(new URL('ops.js', dir), 'utf8'), type: 'application/javascript; charset=utf-8' },
  'ops.css': { body: readFileSync(new URL('ops.css', dir), 'utf8'), type: 'text/css; charset=utf-8' },
  'favicon.svg': { body: readFileSync(new URL('favicon.svg', dir), 'utf8'), type: 'image/svg+xml' },
};

/** Only our own script and stylesheet; data only from this origin; no framing, no forms, no base. */
export const OPS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const FAILED_LIMIT = 25;
const ENDPOINT_LIMIT = 25;

function serve(reply: FastifyReply, name: string) {
  const f = FILES[name]!;
  return reply.header('Content-Security-Policy', OPS_CSP).header('Cache-Control', 'no-store').type(f.type).send(f.body);
}

export function registerOpsWeb(app: FastifyInstance, deps: OpsWebDeps): void {
  app.get('/ops', async (_req, reply) => reply.redirect('/ops/', 302));
  app.get('/ops/', async (_req, reply) => serve(reply, 'index.html'));
  app.get('/ops/ops.js', async (_req, reply) => serve(reply, 'ops.js'));
  app.get('/ops/ops.css', async (_req, reply) => serve(reply, 'ops.css'));
  app.get('/ops/favicon.svg', async (_req, reply) => serve(reply, 'favicon.svg'));

  app.get('/admin/ops/summary', async (req) => {
    requireAdmin(req, deps.adminToken);
    return opsSummary(deps);
  });
}

const n = (v: unknown) => Number(v ?? 0);

/** Everything the page shows, in one answer (also what a script would poll). */
export async function opsSummary(deps: OpsWebDeps) {
  const { db } = deps;
  const nats = await natsReading();
  const byStatus = await db.selectFrom('webhook_deliveries').select(['status', db.fn.countAll<string>().as('n')]).groupBy('status').execute();
  const byOutcome = await db.selectFrom('webhook_attempts').select(['outcome', db.fn.countAll<string>().as('n')]).groupBy('outcome').execute();
  const failing = await db
    .selectFrom('webhook_deliveries')
    .select(['merchant_id', 'endpoint_id', 'url', db.fn.countAll<string>().as('n'), db.fn.max('last_attempt_at').as('last_attempt_at'), db.fn.max('last_status_code').as('last_status_code')])
    .where('status', 'in', ['failed', 'dead'])
    .groupBy(['merchant_id', 'endpoint_id', 'url'])
    .orderBy('n', 'desc')
    .limit(ENDPOINT_LIMIT)
    .execute();
  const attempts = await db.selectFrom('payment_attempts').select(['status', db.fn.countAll<string>().as('n')]).groupBy('status').execute();
  const failed = await db
    .selectFrom('payment_attempts')
    .select(['id', 'intent_id', 'merchant_id', 'livemode', 'amount', 'currency', 'failure_code', 'decline_code', 'failure_message', 'created_at'])
    .where('status', '=', 'failed')
    .orderBy('created_at', 'desc')
    .limit(FAILED_LIMIT)
    .execute();
  // Each failing endpoint's status now (the merchant's state; the onboarding callback URL is no endpoint object: null).
  const merchants = new Map<string, Merchant | null>();
  for (const id of new Set(failing.map((r) => r.merchant_id))) merchants.set(id, await deps.readMerchant(id).catch(() => null));
  const endpointStatus = (m: string, e: string) => merchants.get(m)?.webhook_endpoints?.find((w) => w.id === e)?.status ?? null;
  const stuck = deps.recon ? await deps.recon.stuck() : null;
  const open = deps.recon ? await listDiscrepancies(asReconDb(db), { status: 'open', limit: 50 }) : null;
  const unix = (d: Date | string | null) => (d === null ? null : Math.floor(new Date(d).getTime() / 1000));
  return {
    object: 'ops.summary',
    generated_at: Math.floor(Date.now() / 1000),
    nats: nats && {
      streams: nats.streams.map((s) => ({ stream: s.stream, messages: s.messages, bytes: s.bytes, first_ts: s.messages > 0 && s.firstTs > 0 ? Math.floor(s.firstTs / 1000) : null })),
      consumers: nats.consumers.map((c) => ({ stream: c.stream, durable: c.durable, pending: c.pending, ack_pending: c.ackPending, redelivered: c.redelivered, waiting: c.waiting })),
      dead_letters: nats.deadLetters,
      partitions: { total: nats.partitions.total, with_owner: nats.partitions.withOwner },
    },
    webhooks: {
      deliveries_by_status: Object.fromEntries(byStatus.map((r) => [r.status, n(r.n)])),
      tries_by_outcome: Object.fromEntries(byOutcome.map((r) => [r.outcome, n(r.n)])),
      dead_letters: nats?.deadLetters ?? null,
      failing_endpoints: failing.map((r) => ({ merchant: r.merchant_id, endpoint: r.endpoint_id, url: r.url, status: endpointStatus(r.merchant_id, r.endpoint_id), failing_deliveries: n(r.n), last_status_code: r.last_status_code ?? null, last_attempt_at: unix(r.last_attempt_at as Date | null) })),
    },
    reconciliation: deps.recon
      ? {
          stuck_attempts: stuck!.map((a) => ({ id: a.id, intent: a.intent_id, merchant: a.merchant_id, status: a.status, amount: a.amount, currency: a.currency, age_ms: a.age_ms })),
          open_discrepancies: open!.map((d) => ({ id: d.id, kind: d.kind, merchant: d.merchant_id, intent: d.intent_id, network_ref: d.network_ref, created_at: unix(d.created_at) })),
        }
      : null,
    payments: {
      attempts_by_status: Object.fromEntries(attempts.map((r) => [r.status, n(r.n)])),
      recent_failed: failed.map((a) => ({
        charge: a.id,
        intent: a.intent_id,
        merchant: a.merchant_id,
        livemode: a.livemode,
        amount: n(a.amount),
        currency: a.currency,
        failure_code: a.failure_code,
        decline_code: a.decline_code,
        failure_message: a.failure_message,
        created: unix(a.created_at as Date),
      })),
    },
  };
}
