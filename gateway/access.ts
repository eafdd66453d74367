// The access guard: one preHandler for every authenticated route (/v1, /stripe). It authenticates
// (the principal is kept on the request for the handler: one key lookup, usually from cache) and
// applies the merchant's rate limit. The common case costs no awaited KV round trip: the key comes
// from the in-process cache and the limiter spends tokens leased earlier (gateway/rate-limit.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../stripe/errors.ts';
import { authenticate, type KeyIndex } from './auth.ts';
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

export function accessGuard(deps: { keys: KeyIndex; security?: SecurityDeps | undefined }) {
  return async function guard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = req.routeOptions.url;
    if (!deps.security || !isAuthenticatedRoute(url)) return;
    const p = (req.principal ??= await authenticate(req, deps.keys));
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
