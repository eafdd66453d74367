// Rate limits per merchant and mode, shared by every gateway process through NATS KV.
//
// One token bucket per (merchant, mode) lives in KV pay_rate (memory storage) as { t: tokens, at: ms }:
// it refills at `rate` tokens a second up to `rate` (one second of burst). A gateway does not touch KV
// per request: it leases a small block of tokens (a revision-checked update, so two gateways never
// spend the same token) and spends them locally; a block unused after LEASE_MS is dropped (the waste
// is bounded by one block per gateway). When the bucket is empty, the gateway remembers until when,
// and answers 429 locally until then: a noisy merchant costs KV nothing while it is throttled.
// While tokens remain, the next block is leased in the background, so the common case never waits.
import type { KV } from '@nats-io/kv';
import { counter } from '../metrics/registry.ts';

export interface RateLimits {
  /** Requests per second; 0 = unlimited. */
  live: number;
  test: number;
}

export type Verdict = { ok: true } | { ok: false; retryAfterMs: number };

const LEASE_MS = 1_000;
const MAX_CAS_TRIES = 8;

const limited = counter('paynats_security_rate_limited_total', 'Requests answered 429 by the per-merchant rate limit', ['mode']);
const leases = counter('paynats_security_rate_leases_total', 'Token blocks leased from the shared KV bucket', ['result']);

interface Local {
  tokens: number;
  expires: number;
  blockedUntil: number;
  pending: Promise<void> | null;
}

const OK: Verdict = { ok: true };

export function blockSize(rate: number): number {
  return Math.max(1, Math.ceil(rate / 20));
}

/** Pure: the bucket after refilling at `rate`/s up to `capacity` (default one second's worth) and taking up to `want` tokens. */
export function refillAndTake(b: { t: number; at: number }, now: number, rate: number, want: number, capacity = rate): { t: number; at: number; granted: number } {
  const elapsed = Math.max(0, now - b.at);
  const t = Math.min(capacity, b.t + (elapsed * rate) / 1000);
  const granted = Math.max(0, Math.min(want, Math.floor(t)));
  return { t: t - granted, at: Math.max(now, b.at), granted };
}

export function createRateLimiter(o: { kv: KV; defaults: RateLimits; overrideOf?: (merchantId: string) => Partial<RateLimits> | undefined; now?: () => number }) {
  const now = o.now ?? Date.now;
  const locals = new Map<string, Local>();

  const rateOf = (merchantId: string, mode: 'test' | 'live'): number => o.overrideOf?.(merchantId)?.[mode] ?? o.defaults[mode];

  async function lease(id: string, l: Local, rate: number): Promise<void> {
    const want = blockSize(rate);
    for (let i = 0; i < MAX_CAS_TRIES; i++) {
      const e = await o.kv.get(id);
      const at = now();
      const cur = e && e.operation === 'PUT' && e.value.length > 0 ? e.json<{ t: number; at: number }>() : { t: rate, at };
      const next = refillAndTake(cur, at, rate, want);
      const body = JSON.stringify({ t: next.t, at: next.at });
      try {
        if (e) await o.kv.update(id, body, e.revision);
        else await o.kv.create(id, body);
      } catch {
        leases.inc({ result: 'conflict' });
        continue; // another gateway updated it first: read again
      }
      leases.inc({ result: next.granted > 0 ? 'granted' : 'empty' });
      if (next.granted > 0) {
        l.tokens += next.granted;
        l.expires = at + LEASE_MS;
      } else {
        l.blockedUntil = at + Math.ceil(((1 - next.t) * 1000) / rate);
      }
      return;
    }
    // Contention beyond reason: let the request through rather than fail it on our own bookkeeping.
    l.tokens += 1;
    l.expires = now() + LEASE_MS;
  }

  function spend(l: Local, t: number): boolean {
    if (l.tokens > 0 && t < l.expires) {
      l.tokens--;
      return true;
    }
    if (t >= l.expires) l.tokens = 0;
    return false;
  }

  /** One lease in flight per bucket. KV unreachable: fail open for this request (a limit must not become an outage). */
  function refill(id: string, l: Local, rate: number): Promise<void> {
    if (!l.pending) l.pending = lease(id, l, rate).catch(() => void ((l.tokens += 1), (l.expires = now() + LEASE_MS))).finally(() => (l.pending = null));
    return l.pending;
  }

  async function takeAfterLease(id: string, l: Local, rate: number, mode: 'test' | 'live'): Promise<Verdict> {
    for (let i = 0; i < 3; i++) {
      await refill(id, l, rate);
      const t2 = now();
      if (spend(l, t2)) return OK;
      if (t2 < l.blockedUntil) break;
    }
    limited.inc({ mode });
    return { ok: false, retryAfterMs: Math.max(1, l.blockedUntil - now()) };
  }

  return {
    defaults: o.defaults,
    rateOf,
    /**
     * One request's verdict. Synchronous while this process holds tokens (or knows the bucket is
     * empty); a promise only when it must lease a block first.
     */
    take(merchantId: string, mode: 'test' | 'live'): Verdict | Promise<Verdict> {
      const rate = rateOf(merchantId, mode);
      if (!rate) return OK;
      const id = `rl.${merchantId}.${mode}`;
      let l = locals.get(id);
      if (!l) {
        l = { tokens: 0, expires: 0, blockedUntil: 0, pending: null };
        locals.set(id, l);
        if (locals.size > 100_000) locals.delete(locals.keys().next().value as string);
      }
      const t = now();
      // The common case creates no closure: tokens held, the next block leased in the background.
      if (spend(l, t)) {
        if (l.tokens < blockSize(rate) / 2) void refill(id, l, rate).catch(() => {});
        return OK;
      }
      if (t < l.blockedUntil) {
        limited.inc({ mode });
        return { ok: false, retryAfterMs: l.blockedUntil - t };
      }
      return takeAfterLease(id, l, rate, mode);
    },
  };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;
