// TLS options, and the response headers every answer carries: no MIME sniffing, no framing (but the 3-D Secure page,
// which a checkout may show in an iframe), no referrer, no caching of API answers, and a CSP that
// allows nothing to run in a JSON response.
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';

/** Fastify options for TLS (TLS_CERT_FILE/TLS_KEY_FILE) and a TLS-terminating proxy in front (TRUST_PROXY). */
export function tlsOptions(c: Partial<Pick<Config, 'tls' | 'trustProxy'>>): {
  https?: { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' };
  trustProxy?: boolean | string[] | ((addr: string, hop: number) => boolean);
} {
  const tp = c.trustProxy;
  return {
    ...(c.tls ? { https: { cert: readFileSync(c.tls.certFile), key: readFileSync(c.tls.keyFile), minVersion: 'TLSv1.2' as const } } : {}),
    // A hop count trusts that many proxies in front (proxy-addr's semantics).
    ...(tp ? { trustProxy: typeof tp === 'number' ? (_addr: string, hop: number) => hop < tp : tp } : {}),
  };
}

/** An onSend hook, callback-style (no promise per response). */
export function securityHeaders(req: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'no-referrer');
  // HSTS over TLS: ours, or a trusted proxy's (X-Forwarded-Proto with TRUST_PROXY).
  if (req.protocol === 'https') reply.header('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
  const url = req.routeOptions.url ?? '';
  if (!url.startsWith('/3ds/')) {
    reply.header('X-Frame-Options', 'DENY');
    if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  }
  if ((url.startsWith('/v1/') || url.startsWith('/admin') || url.startsWith('/stripe/')) && !reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
  done(null, payload);
}
