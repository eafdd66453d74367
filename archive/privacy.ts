// E-mail addresses in archives, per ARCHIVE_EMAILS:
//   keep     as they are;
//   hash     a keyed hash (HMAC-SHA256 under a key derived from the master key): equal addresses stay
//            equal, so an auditor can still match them, but the address cannot be read back;
//   encrypt  sealed (vault/ envelope: AES-256-GCM, a fresh data key per address) under the merchant's
//            archive key, itself sealed by the master key in KV pay_archive_keys. Purging the
//            merchant's key (an erasure request) makes every archived address of theirs unreadable,
//            without rewriting one chunk.
// Card data never reaches an archive: streams and tables hold only brand, last4 and a fingerprint.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { openString, sealString, type KeyRing } from '../vault/mod.ts';

export type EmailPolicy = 'keep' | 'hash' | 'encrypt';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** EMAIL without the g flag: test() keeps no position. */
const EMAIL_ONE = new RegExp(EMAIL.source);
const SEALED = /enc:v1:([A-Za-z0-9_-]{1,64}):([A-Za-z0-9+/=]+)/g;

export interface Privacy {
  policy: EmailPolicy;
  /** A copy of `v` with every e-mail address in every string (JSON inside strings too) protected. */
  protect<T>(merchantId: string, v: T): Promise<T>;
  /** A copy of `v` with sealed addresses opened where the merchant's key still exists. */
  reveal<T>(v: T): Promise<T>;
  /** Erasure: destroys the merchant's archive key. Returns false when there was none. */
  forget(merchantId: string): Promise<boolean>;
}

async function mapStrings(v: unknown, f: (s: string) => Promise<string>): Promise<unknown> {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return Promise.all(v.map((x) => mapStrings(x, f)));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await mapStrings(x, f);
    return out;
  }
  return v;
}

/** mapStrings without a promise per value: one walk, same copy (arrays mapped, objects by own entries). */
function mapStringsSync(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStringsSync(x, f));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = mapStringsSync(x, f);
    return out;
  }
  return v;
}

/** Whether some string in `v` holds an e-mail address (EMAIL needs an '@': most strings are skipped unread). */
function holdsEmail(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('@') && EMAIL_ONE.test(v);
  if (Array.isArray(v)) return v.some(holdsEmail);
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) if (holdsEmail(x)) return true;
  }
  return false;
}

async function replaceAsync(s: string, pattern: RegExp, f: (m: RegExpExecArray) => Promise<string>): Promise<string> {
  // A regex of its own: a global regex keeps its position in lastIndex, and walks run concurrently.
  const re = new RegExp(pattern.source, 'g');
  let out = '';
  let last = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out += s.slice(last, m.index) + (await f(m));
    last = m.index + m[0].length;
  }
  return last === 0 ? s : out + s.slice(last);
}

export function emailHasher(ring: KeyRing): (email: string) => string {
  const key = Buffer.from(hkdfSync('sha256', ring.secretsKey, Buffer.alloc(0), 'paynats/archive-email-hash', 32));
  return (email) => `hmac:${createHmac('sha256', key).update(email.toLowerCase()).digest('hex').slice(0, 32)}`;
}

export function createPrivacy(policy: EmailPolicy, ring: KeyRing, keys: KV | null): Privacy {
  const hash = emailHasher(ring);
  const cache = new Map<string, Buffer | null>();
  const keyName = (m: string) => `merchant.${m}`;
  const aad = (m: string) => `archive-key/${m}`;

  async function merchantKey(merchantId: string, create: boolean): Promise<Buffer | null> {
    const hit = cache.get(merchantId);
    if (hit) return hit;
    if (!keys) throw new Error('ARCHIVE_EMAILS=encrypt needs the pay_archive_keys bucket');
    let e = await keys.get(keyName(merchantId));
    if ((!e || e.operation !== 'PUT') && create) {
      const sealed = sealString(ring.secretsKey, ring.kid, randomBytes(32).toString('base64'), aad(merchantId));
      try {
        await keys.create(keyName(merchantId), sealed);
      } catch {
        // Another archiver created it first: use theirs.
      }
      e = await keys.get(keyName(merchantId));
    }
    if (!e || e.operation !== 'PUT') return null;
    const k = Buffer.from(openString(ring.secretsKey, e.string(), aad(merchantId)), 'base64');
    cache.set(merchantId, k);
    return k;
  }

  return {
    policy,
    async protect(merchantId, v) {
      if (policy === 'keep') return v;
      // Synchronous walks (a promise per string cost more than the rest of the archiver's chunk work);
      // only strings with an '@' can hold an address.
      if (policy === 'hash') return mapStringsSync(v, (s) => (s.includes('@') ? s.replace(EMAIL, (e) => hash(e)) : s)) as typeof v;
      // The merchant's key is read (or created) only when there is an address to seal, as before.
      const k = holdsEmail(v) ? await merchantKey(merchantId, true) : null;
      return mapStringsSync(v, (s) => (k && s.includes('@') ? s.replace(EMAIL, (e) => `enc:v1:${merchantId}:${sealString(k, ring.kid, e, `email/${merchantId}`)}`) : s)) as typeof v;
    },
    async reveal(v) {
      // Whatever the policy now, an archive written under 'encrypt' may hold sealed addresses: open them.
      return (await mapStrings(v, (s) =>
        s.includes('enc:v1:')
          ? replaceAsync(s, SEALED, async (m) => {
              const k = keys ? await merchantKey(m[1]!, false) : null;
              return k ? openString(k, m[2]!, `email/${m[1]}`) : m[0];
            })
          : Promise.resolve(s),
      )) as typeof v;
    },
    async forget(merchantId) {
      if (!keys) return false;
      const e = await keys.get(keyName(merchantId));
      cache.delete(merchantId);
      if (!e || e.operation !== 'PUT') return false;
      await keys.purge(keyName(merchantId));
      return true;
    },
  };
}
