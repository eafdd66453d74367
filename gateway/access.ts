// The access guard: one preHandler for every authenticated route (/v1, /stripe). It authenticates
// (the principal is kept on the request for the handler: one key lookup, usually from cache) and
// applies the merchant's rate limit. The common case costs no awaited KV round trip: the key comes
// from the in-process cache and the limiter spends tokens leased earlier (gateway/rate-limit.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../stripe/errors.ts';
import { authenticate, type KeyIndex } from './auth.ts';
import { refillAndTake } from './rate-limit.ts';
import { counter } from '../metrics/registry.ts';
import type { MerchantSecuritySettings } from './merchant-security.ts';
import type { RateLimiter } from './rate-limit.ts';
import { carriesCardNumber, plainCardRefused, type EncryptionKeys } from './jwe.ts';

/** What the security features need from the process (built in runtime/node.ts). */
export interface SecurityDeps {
  limiter: RateLimiter;
  settings: MerchantSecuritySettings;
  encryption?: EncryptionKeys;
}

/** Authenticated routes that are nevertheless public (no key): our JWE public keys. */
export const PUBLIC_ROUTES = new Set(['/v1/encryption_keys']);

export function isAuthenticatedRoute(url: string | undefined): url is string {
  return !!url && (url.startsWith('/v1/') || url.startsWith('/stripe/')) && !PUBLIC_ROUTES.has(url);
}

export const rateLimited = (retryAfterMs: number) =>
  new ApiError(429, 'rate_limit_error', 'rate_limit', `Too many requests hit the API too quickly. We recommend an exponential backoff of your requests. Retry after ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s.`);

/**
 * Failed authentications per client address (req.ip: the peer, or the client a trusted proxy names),
 * in this process: a burst of AUTH_FAILURE_BURST, then AUTH_FAILURES_PER_S; past it, 429 before any
 * key is even looked up. Guessing keys is hopeless anyway (190 bits); this keeps a flood of made-up
 * keys from costing a KV read each.
 */
export const AUTH_FAILURE_BURST = 50;
export const AUTH_FAILURES_PER_S = 5;
const authFailures = counter('paynats_security_auth_failures_total', 'Requests refused for a missing, unknown or expired API key', ['throttled']);

export function createFailureThrottle(now: () => number = Date.now) {
  const buckets = new Map<string, { t: number; at: number }>();
  const refill = (ip: string) => {
    const b = buckets.get(ip);
    if (!b) return null;
    const r = refillAndTake(b, now(), AUTH_FAILURES_PER_S, 0, AUTH_FAILURE_BURST);
    if (r.t >= AUTH_FAILURE_BURST) buckets.delete(ip);
    else buckets.set(ip, { t: r.t, at: r.at });
    return r.t;
  };
  return {
    /** ms until this address may try again, or 0. */
    blockedFor(ip: string): number {
      const t = refill(ip);
      return t !== null && t < 1 ? Math.ceil(((1 - t) * 1000) / AUTH_FAILURES_PER_S) : 0;
    },
    failed(ip: string): void {
      const t = refill(ip) ?? AUTH_FAILURE_BURST;
      buckets.set(ip, { t: t - 1, at: now() });
      if (buckets.size > 100_000) buckets.delete(buckets.keys().next().value as string);
    },
  };
}

export function accessGuard(deps: { keys: KeyIndex; security?: SecurityDeps | undefined }) {
  const throttle = createFailureThrottle();
  return async function guard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = req.routeOptions.url;
    if (!deps.security || !isAuthenticatedRoute(url)) return;
    if (!req.principal) {
      const wait = throttle.blockedFor(req.ip);
      if (wait > 0) {
        authFailures.inc({ throttled: 'true' });
        reply.header('Retry-After', String(Math.max(1, Math.ceil(wait / 1000))));
        throw new ApiError(429, 'rate_limit_error', 'rate_limit', 'Too many requests with invalid API keys from this address. Check your API key, then retry later.');
      }
      try {
        req.principal = await authenticate(req, deps.keys);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          throttle.failed(req.ip);
          authFailures.inc({ throttled: 'false' });
        }
        throw err;
      }
    }
    const p = req.principal;
    const v = deps.security.limiter.take(p.merchant_id, p.mode);
    const verdict = v instanceof Promise ? await v : v;
    if (!verdict.ok) {
      reply.header('Retry-After', String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))));
      throw rateLimited(verdict.retryAfterMs);
    }
    // Card numbers sent server-side in live mode must come encrypted (JWE) unless the merchant is PCI-validated.
    if (p.kind !== 'publishable' && p.mode === 'live' && !req.jweKid && carriesCardNumber(req.body) && !deps.security.settings.get(p.merchant_id)?.pci_validated) {
      throw plainCardRefused();
    }
  };
}
