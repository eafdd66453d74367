// What the gateway tells operators about each request: its log lines carry the caller's
// X-Correlation-Id (beside fastify's `request_id`), the response echoes it, and every answer is
// measured by route pattern (never the raw URL: ids would explode the label set) and status.
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

const CORRELATION = /^[\w.:-]{1,128}$/;

/** The caller's correlation id (X-Correlation-Id, else X-Request-Id) when well-formed. */
export function callerCorrelationId(req: FastifyRequest): string | null {
  const c = req.headers['x-correlation-id'] ?? req.headers['x-request-id'];
  const v = Array.isArray(c) ? c[0] : c;
  return v && CORRELATION.test(v) ? v : null;
}

export function registerObservability(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    const correlationId = callerCorrelationId(req);
    if (correlationId) {
      req.log = req.log.child({ correlation_id: correlationId });
      reply.header('X-Correlation-Id', correlationId);
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = String(reply.statusCode);
    httpSeconds.observe({ method: req.method, route, status }, reply.elapsedTime / 1000);
    if (req.headers['idempotency-key'] !== undefined) {
      const result = reply.getHeader('idempotent-replayed') === 'true' ? 'replayed' : reply.statusCode === 409 ? 'in_flight' : 'first';
      idempotentRequests.inc({ route, result });
    }
  });
}
