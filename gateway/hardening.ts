// Response headers every answer carries: no MIME sniffing, no framing (but the 3-D Secure page,
// which a checkout may show in an iframe), no referrer, no caching of API answers, and a CSP that
// allows nothing to run in a JSON response.
import type { FastifyReply, FastifyRequest } from 'fastify';

export async function securityHeaders(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'no-referrer');
  const url = req.routeOptions.url ?? '';
  if (!url.startsWith('/3ds/')) {
    reply.header('X-Frame-Options', 'DENY');
    if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  }
  if ((url.startsWith('/v1/') || url.startsWith('/admin') || url.startsWith('/stripe/')) && !reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
  return payload;
}
