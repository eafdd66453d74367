import type { FastifyInstance } from 'fastify';
import { metricsText } from '../../metrics/registry.ts';
import type { GatewayDeps } from '../app.ts';

export function registerHealth(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/healthz', async (_req, reply) => {
    const checks = await deps.health();
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', ...checks });
  });
  // Prometheus text exposition of this process's registry (metrics/registry.ts).
  app.get('/metrics', async (_req, reply) => {
    const m = await metricsText();
    return reply.type(m.contentType).send(m.body);
  });
}
