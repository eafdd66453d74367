// API keys: only their keyed hashes are stored (KV pay_keys: hash → key record). A lookup hashes the
// presented key and reads by hash, so there is nothing to compare in variable time.
//
// KV pay_keys holds, per key:
//   <hmac hash>                    → KeyRecord: what the key authenticates as (merchant, mode, kind, expiry, permissions)
//   meta.<merchant_id>.<key_id>    → KeyMeta: the admin's view (hash, redacted form, revoked); never the key
//   used.<merchant_id>.<key_id>    → { at }: last use, written at most once a minute per key and process
// Every gateway watches the bucket and drops its cached record when one changes, so a revocation or
// a new expiry is seen at once, not after the cache time.
import { hash as oneShotHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { FastifyRequest } from 'fastify';
import { hashApiKey, type KeyRing } from '../vault/mod.ts';
import { ApiError } from '../stripe/errors.ts';
import { checkPermission, type Permissions } from './permissions.ts';

export type KeyKind = 'secret' | 'publishable' | 'restricted';

export interface KeyRecord {
  merchant_id: string;
  key_id: string;
  kind: KeyKind;
  mode: 'test' | 'live';
  created: number;
  /** Unix seconds after which the key no longer authenticates (a rolled key's overlap). */
  expires_at?: number | null;
  /** Restricted keys only. */
  permissions?: Permissions;
  name?: string | null;
}

export interface KeyMeta extends KeyRecord {
  hash: string;
  /** What a person may see: sk_test_…abcd */
  redacted: string;
  /** Unix seconds it was revoked, or null. */
  revoked: number | null;
}

export interface Principal extends KeyRecord {}

/** Everything a key touches is scoped by its merchant and mode (idempotency keys, command ids). */
export const scopeOf = (p: Principal) => `${p.merchant_id}.${p.mode}`;

const CACHE_MS = 30_000;
const TOUCH_EVERY_MS = 60_000;

export const redactKey = (key: string) => `${key.slice(0, 8)}…${key.slice(-4)}`;
const metaKey = (merchantId: string, keyId: string) => `meta.${merchantId}.${keyId}`;
const usedKey = (merchantId: string, keyId: string) => `used.${merchantId}.${keyId}`;

export function createKeyIndex(kv: KV, ring: KeyRing) {
  const cache = new Map<string, { rec: KeyRecord | null; until: number }>();
  const touched = new Map<string, number>();
  // Keyed hash of each presented key, by its one-shot SHA-256 (about a tenth of an HMAC's cost: no
  // Hmac object, no key set-up per call). The pepper never changes in a process (KEK rotation
  // keeps it), so an entry never goes stale; the raw key is never kept.
  const keyedHashes = new Map<string, string>();
  const keyedHashOf = (key: string): string => {
    const id = oneShotHash('sha256', key, 'base64');
    let h = keyedHashes.get(id);
    if (h === undefined) {
      h = hashApiKey(ring, key);
      keyedHashes.set(id, h);
      if (keyedHashes.size > 10_000) keyedHashes.delete(keyedHashes.keys().next().value as string);
    }
    return h;
  };
  let watching = false;
  // Changes made anywhere (another gateway's revocation or roll) drop the cached record here.
  const watch = () => {
    if (watching) return;
    watching = true;
    kv.watch({ include: 'updates', key: '*' })
      .then(async (it) => {
        for await (const e of it) cache.delete(e.key);
      })
      .catch(() => {
        watching = false;
      });
  };
  const putMeta = (m: KeyMeta) => kv.put(metaKey(m.merchant_id, m.key_id), JSON.stringify(m));

  const index = {
    /** Indexes a new key. `redacted` defaults to the key's own redacted form. */
    async register(key: string, rec: KeyRecord): Promise<KeyMeta> {
      const hash = hashApiKey(ring, key);
      await kv.put(hash, JSON.stringify(rec));
      const meta: KeyMeta = { ...rec, hash, redacted: redactKey(key), revoked: null };
      await putMeta(meta);
      cache.delete(hash);
      return meta;
    },
    async lookup(key: string): Promise<KeyRecord | null> {
      watch();
      const h = keyedHashOf(key);
      const hit = cache.get(h);
      if (hit && hit.until > Date.now()) return hit.rec;
      const e = await kv.get(h);
      const rec = e && e.operation === 'PUT' ? e.json<KeyRecord>() : null;
      cache.set(h, { rec, until: Date.now() + CACHE_MS });
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
      return rec;
    },
    async meta(merchantId: string, keyId: string): Promise<KeyMeta | null> {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(keyId)) return null;
      const e = await kv.get(metaKey(merchantId, keyId));
      return e && e.operation === 'PUT' ? e.json<KeyMeta>() : null;
    },
    /** Every key the merchant was issued (revoked ones too), oldest first, with its last use. */
    async list(merchantId: string): Promise<(KeyMeta & { last_used: number | null })[]> {
      const names: string[] = [];
      for await (const k of await kv.keys(`meta.${merchantId}.*`)) names.push(k);
      const out: (KeyMeta & { last_used: number | null })[] = [];
      for (const n of names) {
        const e = await kv.get(n);
        if (!e || e.operation !== 'PUT') continue;
        const m = e.json<KeyMeta>();
        out.push({ ...m, last_used: await index.lastUsed(m.merchant_id, m.key_id) });
      }
      return out.sort((a, b) => a.created - b.created || a.key_id.localeCompare(b.key_id));
    },
    /** Sets (or clears) a key's expiry: the record the gateways authenticate with and its meta. */
    async expire(m: KeyMeta, expiresAt: number | null): Promise<KeyMeta> {
      const { hash, redacted: _r, revoked: _v, ...rec } = m;
      const next: KeyMeta = { ...m, expires_at: expiresAt };
      await kv.put(hash, JSON.stringify({ ...rec, expires_at: expiresAt }));
      await putMeta(next);
      cache.delete(hash);
      return next;
    },
    /** The key stops authenticating at once, everywhere (the hash entry is purged; its meta stays as a record). */
    async revoke(m: KeyMeta, now: number): Promise<KeyMeta> {
      await kv.purge(m.hash);
      const next: KeyMeta = { ...m, revoked: now };
      await putMeta(next);
      cache.delete(m.hash);
      return next;
    },
    async lastUsed(merchantId: string, keyId: string): Promise<number | null> {
      const e = await kv.get(usedKey(merchantId, keyId));
      return e && e.operation === 'PUT' ? (e.json<{ at: number }>().at ?? null) : null;
    },
    /** Records a use, at most once a minute per key in this process; never awaited by a request. */
    touch(rec: KeyRecord, nowMs = Date.now()): void {
      const id = `${rec.merchant_id}.${rec.key_id}`;
      const last = touched.get(id) ?? 0;
      if (nowMs - last < TOUCH_EVERY_MS) return;
      touched.set(id, nowMs);
      if (touched.size > 50_000) touched.delete(touched.keys().next().value as string);
      kv.put(usedKey(rec.merchant_id, rec.key_id), JSON.stringify({ at: Math.floor(nowMs / 1000) })).catch(() => touched.delete(id));
    },
  };
  return index;
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

const shownKey = (key: string) => (key.length > 12 ? `${key.slice(0, 8)}*********${key.slice(-4)}` : '***');

export async function authenticate(req: FastifyRequest, keys: Pick<KeyIndex, 'lookup' | 'touch'>): Promise<Principal> {
  const key = presentedKey(req);
  if (!key) {
    throw new ApiError(401, 'invalid_request_error', undefined, "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').");
  }
  const prefix = /^(sk|pk|rk)_(test|live)_[A-Za-z0-9]{8,}$/.exec(key);
  const rec = prefix ? await keys.lookup(key) : null;
  if (!rec) throw new ApiError(401, 'invalid_request_error', 'api_key_invalid', `Invalid API Key provided: ${shownKey(key)}`);
  if (rec.expires_at != null && rec.expires_at * 1000 <= Date.now()) {
    throw new ApiError(401, 'invalid_request_error', 'api_key_expired', `Expired API Key provided: ${shownKey(key)}`);
  }
  // Connect's Stripe-Account header: there are no connected accounts here, so a request on another
  // account's behalf is refused as Stripe refuses it for an account that is not a Connect platform
  // (instead of quietly acting on the caller's own account). Naming one's own account is harmless.
  const onBehalfOf = req.headers['stripe-account'];
  if (onBehalfOf !== undefined && onBehalfOf !== rec.merchant_id) {
    throw new ApiError(400, 'invalid_request_error', 'platform_account_required', 'Only Stripe Connect platforms can work with other accounts. This processor has no Connect platforms: send the request without a Stripe-Account header, with the connected account\'s own key.');
  }
  // A restricted key may do only what its permissions say, on every route (checked here, where every route authenticates).
  if (rec.kind === 'restricted') {
    checkPermission(rec.permissions ?? {}, req.method, req.routeOptions.url ?? req.url.split('?')[0] ?? '', shownKey(key), rec.merchant_id);
  }
  keys.touch(rec);
  return rec;
}

/** Secret and restricted keys pass (a restricted key's permissions were checked when it authenticated). */
/** A publishable key (Stripe.js) acts on a PaymentIntent or SetupIntent only with its client secret; other keys on any of their own. */
export function checkClientSecret(p: Principal, objectSecret: string, given: string | undefined, object: 'PaymentIntent' | 'SetupIntent'): void {
  if (p.kind !== 'publishable') return; // secret and restricted keys
  if (!given || given !== objectSecret) {
    throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `The client_secret provided does not match the client_secret associated with the ${object}.`, 'client_secret');
  }
}

export function requireSecret(p: Principal): void {
  if (p.kind === 'publishable') {
    throw new ApiError(401, 'invalid_request_error', 'secret_key_required', 'This API call cannot be made with a publishable API key. Please use a secret API key.');
  }
}
