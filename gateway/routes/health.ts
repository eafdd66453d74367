import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../app.ts';

export function registerHealth(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/healthz', async (_req, reply) => {
    const checks = await deps.health();
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', ...checks });
  });
}
