// What the gateway tells operators about each request: its log lines carry the caller's
// X-Correlation-Id (beside fastify's `request_id`), the response echoes it, and every answer is
// measured by route pattern (never the raw URL: ids would explode the label set) and status.
import type { FastifyInstance } from 'fastify';
import { natsReading } from '../metrics/nats.ts';
import { correlationOf, type GatewayDeps } from './app.ts';
import { counter, histogram } from '../metrics/registry.ts';

export const httpSeconds = histogram(
  'paynats_http_request_duration_seconds',
  'Gateway requests by method, route pattern and status code',
  ['method', 'route', 'status'],
);

export const idempotentRequests = counter(
  'paynats_idempotency_requests_total',
  'Mutating requests by whether they carried an Idempotency-Key and whether the stored answer was replayed (result: replayed, first, in_flight)',
  ['route', 'result'],
);

/** /readyz fails while a durable is more than this many messages behind. */
export const READY_MAX_LAG = 10_000;

export function registerObservability(app: FastifyInstance, deps: Pick<GatewayDeps, 'health'>): void {
  // Readiness for a load balancer: NATS and the database answer, every partition has an owner (else
  // some merchants' commands get 503), and no durable is more than READY_MAX_LAG behind.
  // /healthz stays the liveness check. The NATS reading is the metrics' (cached 5 s).
  app.get('/readyz', async (_req, reply) => {
    const checks = await deps.health();
    const n = checks.nats ? await natsReading() : null;
    const lag = Object.fromEntries((n?.consumers ?? []).map((c) => [c.durable, c.pending]));
    const partitionsOk = !!n && n.partitions.withOwner >= n.partitions.total;
    const lagOk = !!n && Object.values(lag).every((p) => p <= READY_MAX_LAG);
    const ready = Object.values(checks).every(Boolean) && partitionsOk && lagOk;
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not_ready',
      ...checks,
      partitions: n ? { total: n.partitions.total, with_owner: n.partitions.withOwner, ok: partitionsOk } : null,
      consumer_lag: { max: READY_MAX_LAG, ok: lagOk, pending: lag },
    });
  });

  // Callback-style hooks: no promise per request (see app.ts).
  app.addHook('onRequest', (req, reply, done) => {
    if (req.headers['x-correlation-id'] !== undefined || req.headers['x-request-id'] !== undefined) {
      const { correlationId } = correlationOf(req);
      if (correlationId) {
        req.log = req.log.child({ correlation_id: correlationId });
        reply.header('X-Correlation-Id', correlationId);
      }
    }
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = String(reply.statusCode);
    httpSeconds.observe({ method: req.method, route, status }, reply.elapsedTime / 1000);
    if (req.headers['idempotency-key'] !== undefined) {
      const result = reply.getHeader('idempotent-replayed') === 'true' ? 'replayed' : reply.statusCode === 409 ? 'in_flight' : 'first';
      idempotentRequests.inc({ route, result });
    }
    done();
  });
}
