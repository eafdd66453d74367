// Operator API for reconciliation (ADMIN_TOKEN): runs, open discrepancies, stuck attempts, and
// manual resolution. A resolution is an event on the intent (reconciliation.resolved: operator,
// reason, action), so the intent's own history is the audit trail; the report row is closed too.
import type { FastifyInstance } from 'fastify';
import type { CommandClient } from '../runtime/client.ts';
import { requireAdmin } from '../gateway/routes/admin.ts';
import { ApiError, noSuch } from '../stripe/errors.ts';
import type { DiscrepancyKind } from './match.ts';
import type { ReconciliationService } from './service.ts';
import { getDiscrepancy, listDiscrepancies, listRuns, type DiscrepancyRow, type DiscrepancyStatus, type ReconDb } from './store.ts';

export interface ReconAdminDeps {
  adminToken: string | undefined;
  db: ReconDb;
  service: ReconciliationService;
  commands: CommandClient;
}

const KINDS = ['missing_ours', 'missing_theirs', 'amount_mismatch', 'status_mismatch'] as const;
const STATUSES = ['open', 'auto_resolved', 'resolved', 'all'] as const;

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function renderDiscrepancy(r: DiscrepancyRow) {
  return {
    ...r,
    object: 'reconciliation.discrepancy',
    our_amount: r.our_amount === null ? null : Number(r.our_amount),
    their_amount: r.their_amount === null ? null : Number(r.their_amount),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    resolved_at: iso(r.resolved_at),
  };
}

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: STATUSES },
    kind: { type: 'string', enum: KINDS },
    merchant: { type: 'string', minLength: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
  },
} as const;

export function registerReconciliationAdmin(app: FastifyInstance, deps: ReconAdminDeps): void {
  const admin = { onRequest: async (req: Parameters<typeof requireAdmin>[0]) => requireAdmin(req, deps.adminToken) };

  app.get<{ Querystring: { limit?: number } }>(
    '/admin/reconciliation/runs',
    { ...admin, schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } } } } },
    async (req) => {
      const runs = await listRuns(deps.db, req.query.limit ?? 20);
      return { object: 'list', data: runs.map((r) => ({ ...r, object: 'reconciliation.run', started_at: iso(r.started_at), heartbeat_at: iso(r.heartbeat_at), finished_at: iso(r.finished_at) })) };
    },
  );

  // Run the settlement reconciliation of a day now (default today, UTC); answers with the run.
  app.post<{ Body: { date?: string } | undefined }>(
    '/admin/reconciliation/runs',
    { ...admin, schema: { body: { type: ['object', 'null'], additionalProperties: false, properties: { date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } } } } },
    async (req, reply) => {
      const r = await deps.service.runNow(req.body?.date, 'manual');
      reply.code(r.status === 'completed' ? 200 : 202);
      return { ...r, object: 'reconciliation.run', started_at: iso(r.started_at), heartbeat_at: iso(r.heartbeat_at), finished_at: iso(r.finished_at) };
    },
  );

  app.get<{ Querystring: { status?: DiscrepancyStatus | 'all'; kind?: DiscrepancyKind; merchant?: string; limit?: number } }>(
    '/admin/reconciliation/discrepancies',
    { ...admin, schema: { querystring: listQuery } },
    async (req) => {
      const q = req.query;
      const rows = await listDiscrepancies(deps.db, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.kind ? { kind: q.kind } : {}),
        ...(q.merchant ? { merchantId: q.merchant } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
      });
      return { object: 'list', data: rows.map(renderDiscrepancy) };
    },
  );

  app.get<{ Params: { id: string } }>('/admin/reconciliation/discrepancies/:id', admin, async (req) => {
    const r = await getDiscrepancy(deps.db, req.params.id);
    if (!r) throw noSuch('discrepancy', req.params.id);
    return renderDiscrepancy(r);
  });

  // Close a discrepancy by hand: who, why, and optionally reverse the network transaction first.
  app.post<{ Params: { id: string }; Body: { operator: string; reason: string; action?: 'none' | 'reverse' } }>(
    '/admin/reconciliation/discrepancies/:id/resolve',
    {
      ...admin,
      schema: {
        body: {
          type: 'object',
          required: ['operator', 'reason'],
          additionalProperties: false,
          properties: { operator: { type: 'string', minLength: 1, maxLength: 200 }, reason: { type: 'string', minLength: 1, maxLength: 2000 }, action: { type: 'string', enum: ['none', 'reverse'] } },
        },
      },
    },
    async (req) => {
      const d = await getDiscrepancy(deps.db, req.params.id);
      if (!d) throw noSuch('discrepancy', req.params.id);
      const { operator, reason } = req.body;
      const action = req.body.action ?? 'none';
      if (d.status === 'resolved') return renderDiscrepancy(d);
      const now = Math.floor(Date.now() / 1000);
      const ctx = (name: string) => ({ commandId: `resolve_${d.id}_${name}`, livemode: false, requestId: req.id, correlationId: d.id, now });
      if (action === 'reverse') {
        if (!d.intent_id || !d.attempt_id || !d.network_ref) {
          throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'This discrepancy names no intent, attempt and network reference to reverse.', 'action');
        }
        await deps.commands.send({ op: 'intent.reconcile', merchantId: d.merchant_id, intentId: d.intent_id, action: { kind: 'reverse_manual', attemptId: d.attempt_id, networkRef: d.network_ref }, ctx: ctx('reverse') });
      }
      if (d.intent_id) {
        await deps.commands.send({
          op: 'intent.reconcile',
          merchantId: d.merchant_id,
          intentId: d.intent_id,
          action: { kind: 'resolve', discrepancyId: d.id, discrepancy: d.kind, operator, reason, action: action === 'reverse' ? 'reversed at the network' : 'none' },
          ctx: ctx('event'),
        });
      }
      const r = await deps.db
        .updateTable('recon_discrepancies')
        .set({ status: 'resolved', resolved_by: operator, resolution_reason: reason, resolved_at: new Date(), updated_at: new Date(), ...(action === 'reverse' ? { action: 'reversed by operator' } : {}) })
        .where('id', '=', d.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      req.log.info({ discrepancy: d.id, operator, action }, 'discrepancy resolved by hand');
      return renderDiscrepancy(r);
    },
  );

  app.get<{ Querystring: { older_than_ms?: number } }>(
    '/admin/reconciliation/stuck',
    { ...admin, schema: { querystring: { type: 'object', properties: { older_than_ms: { type: 'integer', minimum: 0 } } } } },
    async (req) => {
      const rows = await deps.service.stuck(req.query.older_than_ms);
      return { object: 'list', data: rows.map((a) => ({ object: 'reconciliation.stuck_attempt', ...a })) };
    },
  );

  // The sweep now: pending attempts go in doubt, in-doubt ones past their deadline are settled.
  app.post('/admin/reconciliation/sweep', admin, async () => {
    const r = await deps.service.sweep();
    return { object: 'reconciliation.sweep', stuck: r.stuck.length, marked_in_doubt: r.markedInDoubt, settled: r.settled };
  });
}
