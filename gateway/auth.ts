// API keys: only their keyed hashes are stored (KV pay_keys: hash → merchant). A lookup hashes the
// presented key and reads by hash, so there is nothing to compare in variable time.
import type { KV } from '@nats-io/kv';
import type { FastifyRequest } from 'fastify';
import { hashApiKey, type KeyRing } from '../vault/mod.ts';
import { ApiError } from '../stripe/errors.ts';

export interface KeyRecord {
  merchant_id: string;
  key_id: string;
  kind: 'secret' | 'publishable';
  mode: 'test' | 'live';
  created: number;
}

export interface Principal extends KeyRecord {}

/** Everything a key touches is scoped by its merchant and mode (idempotency keys, command ids). */
export const scopeOf = (p: Principal) => `${p.merchant_id}.${p.mode}`;

const CACHE_MS = 30_000;

export function createKeyIndex(kv: KV, ring: KeyRing) {
  const cache = new Map<string, { rec: KeyRecord | null; until: number }>();
  return {
    async register(key: string, rec: KeyRecord): Promise<void> {
      await kv.put(hashApiKey(ring, key), JSON.stringify(rec));
    },
    async lookup(key: string): Promise<KeyRecord | null> {
      const h = hashApiKey(ring, key);
      const hit = cache.get(h);
      if (hit && hit.until > Date.now()) return hit.rec;
      const e = await kv.get(h);
      const rec = e && e.operation === 'PUT' ? e.json<KeyRecord>() : null;
      cache.set(h, { rec, until: Date.now() + CACHE_MS });
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
      return rec;
    },
  };
}
export type KeyIndex = ReturnType<typeof createKeyIndex>;

/** The key from `Authorization: Bearer <key>` or HTTP Basic (`<key>:`), as Stripe accepts both. */
export function presentedKey(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const [scheme, value] = h.split(' ', 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') return Buffer.from(value, 'base64').toString('utf8').split(':')[0] ?? null;
  return null;
}

export async function authenticate(req: FastifyRequest, keys: KeyIndex): Promise<Principal> {
  const key = presentedKey(req);
  if (!key) {
    throw new ApiError(401, 'invalid_request_error', undefined, "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').");
  }
  const rec = /^(sk|pk|rk)_(test|live)_[A-Za-z0-9]{8,}$/.test(key) ? await keys.lookup(key) : null;
  if (!rec) {
    const shown = key.length > 12 ? `${key.slice(0, 8)}*********${key.slice(-4)}` : '***';
    throw new ApiError(401, 'invalid_request_error', 'api_key_invalid', `Invalid API Key provided: ${shown}`);
  }
  return rec;
}

export function requireSecret(p: Principal): void {
  if (p.kind !== 'secret') {
    throw new ApiError(401, 'invalid_request_error', 'secret_key_required', 'This API call cannot be made with a publishable API key. Please use a secret API key.');
  }
}
