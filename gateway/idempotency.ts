// Stripe's idempotency semantics, with results in the pay_idempotency KV bucket (24 h TTL) and
// claims in pay_idempotency_inflight, shared by every gateway process:
//  - the first response for a key is stored and replayed (errors included, once execution began);
//  - the same key with other parameters → 400 idempotency_error;
//  - the same key while the first request is still running → 409 idempotency_key_in_use;
//  - a 5xx is not stored: the retry runs again, and the command's derived ids make that safe.
import { createHmac, hash } from 'node:crypto';
import type { KV, KvEntry } from '@nats-io/kv';
import { ApiError, keyInUse } from '../stripe/errors.ts';
import { createRecordSealer, openString } from '../vault/envelope.ts';

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
  /**
   * The body is sealed, aad = the record's key (see IdempotencyOptions.secret): 2 = one AES-256-GCM
   * under a per-process key (createRecordSealer); true = an envelope (sealString, older records).
   */
  sealed?: true | 2;
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
  /**
   * The results bucket opened for direct gets (allow_direct: no JetStream API call, no error object
   * for a missing key). Read beside the claim and used only when the claim is fresh, where a
   * replica lagging by a moment cannot matter: a fresh claim means no claim existed for the key for
   * the bucket's max_age, so any result for it was stored at least that long ago.
   */
  resultsDirect?: KV;
}

/** A request in flight longer than this is presumed dead (its process crashed) and may be taken over. */
export const STALE_MS = 60_000;
const aliveKey = (instance: string) => `alive.${instance}`;

export type Claim = { kind: 'run'; finish(status: number, body: string, requestId: string): Promise<void> } | { kind: 'replay'; status: number; body: string; requestId: string };

/** Stripe's answer to a key used again with other parameters. */
export const mismatch = (idemKey: string) =>
  new ApiError(
    400,
    'idempotency_error',
    undefined,
    `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
  );

export function fingerprint(method: string, path: string, params: unknown): string {
  return hash('sha256', `${method} ${path}\n${canonical(params)}`, 'hex');
}

/**
 * Sorted keys, JSON values: the same text the first form (map/sort/join) gave, built without the
 * intermediate arrays and closures. Stored fingerprints depend on it byte for byte (a hole in an
 * array stays an empty slot, as join rendered it).
 */
function canonical(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) s += ',';
      if (i in v) s += canonical(v[i]);
    }
    return s + ']';
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    let s = '{';
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (i > 0) s += ',';
      s += JSON.stringify(k) + ':' + canonical(o[k]);
    }
    return s + '}';
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
  const keyOf = (scope: string, idemKey: string) => `${scope}.${hash('sha256', idemKey, 'hex')}`;
  const sealer = o.secret ? createRecordSealer(o.secret, 'paynats idempotency results v2') : undefined;
  const resultsDirect = o.resultsDirect ?? results;

  function bodyOf(rec: Done, key: string): string {
    if (rec.sealed === 2 && sealer) return sealer.open(rec.body, key);
    if (rec.sealed && o.secret) return openString(o.secret, rec.body, key);
    return rec.body;
  }

  async function stored(from: KV, key: string, idemKey: string, fp: string): Promise<Claim | null> {
    return replayOf(await from.get(key), key, idemKey, fp);
  }

  function replayOf(e: KvEntry | null, key: string, idemKey: string, fp: string): Claim | null {
    if (!e || e.operation !== 'PUT') return null;
    const rec = e.json<Done>();
    if (rec.fingerprint !== fp) throw mismatch(idemKey);
    return { kind: 'replay', status: rec.status, body: bodyOf(rec, key), requestId: rec.request_id };
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

  /**
   * Gives up our claim (revision `claimed`). A release lost to a broker failover (a KV leader
   * election) would leave the key answering 409 until the claim goes stale (STALE_MS): try again in
   * the background for a while.
   */
  function release(key: string, claimed: number): Promise<void> {
    return inFlight.delete(key, { previousSeq: claimed }).catch(() => void releaseLater(key, claimed));
  }

  /** Claims `key` in `tries` attempts at most: a replay, a claim to run, or 409 / 400. */
  async function claimKey(key: string, idemKey: string, fp: string, tries: number): Promise<Claim> {
    const mine = JSON.stringify({ state: 'in_flight', fingerprint: fp, started: Date.now(), ...(o.instance ? { owner: o.instance } : {}) } satisfies InFlight);
    let rev: number | undefined;
    // Whether no message at all was kept for the key (claim or delete marker): see resultsDirect.
    let fresh = false;
    // The stored result is read beside the claim, not after it: one round trip instead of two on
    // every request. What a fresh claim needs to know was settled before it was sent (see
    // resultsDirect: any result for a key not claimed for the bucket's max_age was stored that long
    // ago). A claim that is not fresh ignores this read and reads again below.
    const early = resultsDirect.get(key);
    early.catch(() => {});
    try {
      // kv.create() without its read-back on failure: a held key is the common case of a retry.
      rev = await inFlight.put(key, mine, { previousSeq: 0 });
      fresh = true;
    } catch {
      // Held, held a moment ago, or released (a delete marker): a stored result wins.
      const done = await stored(results, key, idemKey, fp);
      if (done) return done;
      const e = await inFlight.get(key);
      if (!e || e.operation !== 'PUT') {
        // Released (after a 5xx), expired, or never held: claim it after the marker, if still there.
        try {
          rev = await inFlight.put(key, mine, { previousSeq: e?.revision ?? 0 });
        } catch {
          if (tries <= 1) throw keyInUse(idemKey);
          return claimKey(key, idemKey, fp, tries - 1); // someone else claimed it between the two calls
        }
      } else {
        const rec = e.json<InFlight>();
        if (rec.fingerprint !== fp) throw mismatch(idemKey);
        if (Date.now() - rec.started < STALE_MS && !(await holderGone(rec))) throw keyInUse(idemKey);
        try {
          rev = await inFlight.update(key, mine, e.revision);
        } catch {
          throw keyInUse(idemKey);
        }
      }
    }
    const claimed = rev;
    // A request with this key may have finished before our claim.
    let done: Claim | null;
    try {
      done = fresh ? replayOf(await early, key, idemKey, fp) : await stored(results, key, idemKey, fp);
    } catch (err) {
      await release(key, claimed);
      throw err;
    }
    if (done) {
      void release(key, claimed);
      return done;
    }
    return {
      kind: 'run',
      async finish(status, body, requestId) {
        // A 5xx is not stored: the retry runs again, and the command's derived ids make that safe.
        if (status >= 500) return void (await release(key, claimed));
        const rec: Done = sealer
          ? { state: 'done', fingerprint: fp, status, body: sealer.seal(body, key), request_id: requestId, sealed: 2 }
          : { state: 'done', fingerprint: fp, status, body, request_id: requestId };
        try {
          await results.put(key, JSON.stringify(rec));
        } catch (err) {
          // The request answers 5xx: let a retry run (if the write landed after all, the retry finds it).
          await release(key, claimed);
          throw err;
        }
        // The claim is not released: from here on a retry finds it held, then the stored result. It
        // expires by the bucket's max_age (inFlightTtlMs, nats/topology.ts), which bounds the claims kept:
        // one message per key used in the last 2 min, as many as before (each release left a delete marker).
      },
    };
  }

  return {
    /** Stops the heartbeat (the claims it vouched for become stale after 3 beats). */
    stop() {
      clearInterval(beat);
    },
    /**
     * The claim comes first and the stored result is read once after it: a key that is not held
     * now either never ran, or failed (5xx: nothing stored), or finished more than the claims'
     * max_age ago (its claim outlives the write of its result), so one claim and one read decide
     * every case. On the common path a request costs a claim (memory), a read and its result (the
     * one durable write); a retry costs a refused claim and a read of the stored result.
     */
    claim(scope: string, idemKey: string, plainFp: string): Promise<Claim> {
      return claimKey(keyOf(scope, idemKey), idemKey, keyed(plainFp), 3);
    },
    /** The fingerprint a keyed command carries to its aggregate (keyed like the stored ones; 128 bits). */
    commandFingerprint(plainFp: string): string {
      return keyed(plainFp).slice(0, 32);
    },
  };
}
export type Idempotency = ReturnType<typeof createIdempotency>;
