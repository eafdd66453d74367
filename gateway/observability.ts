// What the gateway tells operators about each request: its log lines carry the caller's
// X-Correlation-Id (beside fastify's `request_id`), the response echoes it, and every answer is
// measured by route pattern (never the raw URL: ids would explode the label set) and status.
import type { FastifyInstance } from 'fastify';
import { correlationOf } from './app.ts';
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

export function registerObservability(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    const { correlationId } = correlationOf(req);
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
