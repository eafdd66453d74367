// Stripe's idempotency semantics, with results in the pay_idempotency KV bucket (24 h TTL) and
// claims in pay_idempotency_inflight, shared by every gateway process:
//  - the first response for a key is stored and replayed (errors included, once execution began);
//  - the same key with other parameters → 400 idempotency_error;
//  - the same key while the first request is still running → 409 idempotency_key_in_use;
//  - a 5xx is not stored: the retry runs again, and the command's derived ids make that safe.
import { createHash, createHmac } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { ApiError } from '../stripe/errors.ts';
import { openString, sealString } from '../vault/envelope.ts';

interface InFlight {
  state: 'in_flight';
  fingerprint: string;
  started: number;
  /** The gateway process holding it (absent in claims written before owners were recorded). */
  owner?: string;
}
interface Done {
  state: 'done';
  fingerprint: string;
  status: number;
  body: string;
  request_id: string;
  /** The body is sealed (AES-256-GCM envelope, aad = the record's key): see IdempotencyOptions.secret. */
  sealed?: true;
}

export interface IdempotencyOptions {
  /**
   * Seals stored response bodies (a new webhook endpoint's whsec_… is in one) and keys the parameter
   * fingerprint with an HMAC (the parameters of POST /v1/payment_methods hold a card number: an
   * unkeyed hash of them could be brute-forced). Records written without it still replay.
   */
  secret?: Buffer;
  /**
   * This gateway process (unique per start). With it, the process writes a heartbeat next to its
   * claims, and a claim whose holder stopped beating (it crashed mid-request) is taken over after
   * 3 heartbeats instead of STALE_MS, so a merchant's retry is not refused with 409 for a minute.
   */
  instance?: string;
  heartbeatMs?: number;
}

/** A request in flight longer than this is presumed dead (its process crashed) and may be taken over. */
const STALE_MS = 60_000;
const aliveKey = (instance: string) => `alive.${instance}`;

export type Claim = { kind: 'run'; finish(status: number, body: string, requestId: string): Promise<void> } | { kind: 'replay'; status: number; body: string; requestId: string };

export function fingerprint(method: string, path: string, params: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonical(params)}`).digest('hex');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * Two buckets: results (file storage, 24 h) and claims in flight (memory storage). A request costs
 * one durable write — its result — while claims, which only need to outlive the request, never wait
 * for an fsync.
 */
export function createIdempotency(results: KV, inFlight: KV, o: IdempotencyOptions = {}) {
  const heartbeatMs = o.heartbeatMs ?? 2_000;
  let beat: NodeJS.Timeout | undefined;
  if (o.instance) {
    const key = aliveKey(o.instance);
    const put = () => void inFlight.put(key, String(Date.now())).catch(() => {});
    put();
    beat = setInterval(put, heartbeatMs);
    beat.unref();
  }
  /** Whether the claim's holder is surely gone: its heartbeat is missing or three beats old. */
  async function holderGone(rec: InFlight): Promise<boolean> {
    if (!rec.owner || rec.owner === o.instance) return false;
    const e = await inFlight.get(aliveKey(rec.owner)).catch(() => undefined);
    const last = e && e.operation === 'PUT' ? Number(e.string()) : 0;
    return Date.now() - last > 3 * heartbeatMs && Date.now() - rec.started > 3 * heartbeatMs;
  }
  const keyed = (fp: string) => (o.secret ? createHmac('sha256', o.secret).update(fp).digest('hex') : fp);
  const keyOf = (scope: string, idemKey: string) => `${scope}.${createHash('sha256').update(idemKey).digest('hex')}`;

  const mismatch = (idemKey: string) =>
    new ApiError(
      400,
      'idempotency_error',
      undefined,
      `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
    );
  const inUse = (idemKey: string) =>
    new ApiError(
      409,
      'invalid_request_error',
      'idempotency_key_in_use',
      'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ' +
        `${idemKey}. Please try again later.`,
      undefined,
      {},
      true,
    );

  async function stored(key: string, idemKey: string, fp: string): Promise<Claim | null> {
    const e = await results.get(key);
    if (!e || e.operation !== 'PUT') return null;
    const rec = e.json<Done>();
    if (rec.fingerprint !== fp) throw mismatch(idemKey);
    const body = rec.sealed && o.secret ? openString(o.secret, rec.body, key) : rec.body;
    return { kind: 'replay', status: rec.status, body, requestId: rec.request_id };
  }

  /** Retries of a failed release; stops once it is gone, or someone else holds the key. */
  async function releaseLater(key: string, rev: number): Promise<void> {
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** i, 2_000)));
      try {
        const e = await inFlight.get(key);
        if (!e || e.operation !== 'PUT' || e.revision !== rev) return;
        await inFlight.delete(key, { previousSeq: rev });
        return;
      } catch {
        /* still failing over: again */
      }
    }
  }
  return {
    /** Stops the heartbeat (the claims it vouched for become stale after 3 beats). */
    stop() {
      clearInterval(beat);
    },
    /**
     * The claim comes first and the stored result is read once after it: a key that is not held
     * now either never ran or has finished (its result is stored before its claim is released), so
     * one create and one read decide every case. On the common path a request costs a claim
     * (memory), a read, its result (the one durable write) and the release, which is not waited for.
     */
    async claim(scope: string, idemKey: string, plainFp: string): Promise<Claim> {
      const key = keyOf(scope, idemKey);
      const fp = keyed(plainFp);
      const mine: InFlight = { state: 'in_flight', fingerprint: fp, started: Date.now(), ...(o.instance ? { owner: o.instance } : {}) };
      let rev: number;
      try {
        rev = await inFlight.create(key, JSON.stringify(mine));
      } catch {
        // Held, or held a moment ago: a stored result wins (its release may still be on its way).
        const done = await stored(key, idemKey, fp);
        if (done) return done;
        const e = await inFlight.get(key);
        if (!e || e.operation !== 'PUT') return this.claim(scope, idemKey, plainFp); // released between the two calls
        const rec = e.json<InFlight>();
        if (rec.fingerprint !== fp) throw mismatch(idemKey);
        if (Date.now() - rec.started < STALE_MS && !(await holderGone(rec))) throw inUse(idemKey);
        try {
          rev = await inFlight.update(key, JSON.stringify(mine), e.revision);
        } catch {
          throw inUse(idemKey);
        }
      }
      // A release lost to a broker failover (a KV leader election) would leave the key answering 409
      // until the claim goes stale (STALE_MS): try again in the background for a while.
      const release = () => inFlight.delete(key, { previousSeq: rev }).catch(() => void releaseLater(key, rev));
      // A request with this key may have finished before our claim.
      const done = await stored(key, idemKey, fp).catch(async (err: unknown) => {
        await release();
        throw err;
      });
      if (done) {
        void release();
        return done;
      }
      return {
        kind: 'run',
        async finish(status, body, requestId) {
          // A 5xx is not stored: the retry runs again, and the command's derived ids make that safe.
          if (status >= 500) return void (await release());
          const rec: Done = o.secret
            ? { state: 'done', fingerprint: fp, status, body: sealString(o.secret, 'idem', body, key), request_id: requestId, sealed: true }
            : { state: 'done', fingerprint: fp, status, body, request_id: requestId };
          await results.put(key, JSON.stringify(rec));
          // Not waited for: from here on a retry finds the stored result first.
          void release();
        },
      };
    },
  };
}
export type Idempotency = ReturnType<typeof createIdempotency>;
