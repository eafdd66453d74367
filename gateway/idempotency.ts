// Stripe's idempotency semantics, with records in the pay_idempotency KV bucket (24 h TTL), shared
// by every gateway process:
//  - the first response for a key is stored and replayed (errors included, once execution began);
//  - the same key with other parameters → 400 idempotency_error;
//  - the same key while the first request is still running → 409 idempotency_key_in_use;
//  - a 5xx is not stored: the retry runs again, and the command's derived ids make that safe.
import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { ApiError } from '../stripe/errors.ts';

interface InFlight {
  state: 'in_flight';
  fingerprint: string;
  started: number;
}
interface Done {
  state: 'done';
  fingerprint: string;
  status: number;
  body: string;
  request_id: string;
}
type IdemRecord = InFlight | Done;

/** A request in flight longer than this is presumed dead (its process crashed) and may be taken over. */
const STALE_MS = 60_000;

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

export function createIdempotency(kv: KV) {
  const keyOf = (merchantId: string, idemKey: string) => `${merchantId}.${createHash('sha256').update(idemKey).digest('hex')}`;

  return {
    async claim(merchantId: string, idemKey: string, fp: string): Promise<Claim> {
      const key = keyOf(merchantId, idemKey);
      const mine: InFlight = { state: 'in_flight', fingerprint: fp, started: Date.now() };
      let rev: number;
      try {
        rev = await kv.create(key, JSON.stringify(mine));
      } catch {
        const e = await kv.get(key);
        if (!e || e.operation !== 'PUT') return this.claim(merchantId, idemKey, fp); // expired between the two calls
        const rec = e.json<IdemRecord>();
        if (rec.fingerprint !== fp) {
          throw new ApiError(
            400,
            'idempotency_error',
            undefined,
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
          );
        }
        if (rec.state === 'done') return { kind: 'replay', status: rec.status, body: rec.body, requestId: rec.request_id };
        if (Date.now() - rec.started < STALE_MS) {
          throw new ApiError(
            409,
            'invalid_request_error',
            'idempotency_key_in_use',
            'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ' +
              `${idemKey}. Please try again later.`,
            undefined,
            {},
            true,
          );
        }
        try {
          rev = await kv.update(key, JSON.stringify(mine), e.revision);
        } catch {
          throw new ApiError(409, 'invalid_request_error', 'idempotency_key_in_use', `Another request took over Idempotency-Key ${idemKey}. Please try again later.`, undefined, {}, true);
        }
      }
      return {
        kind: 'run',
        async finish(status, body, requestId) {
          if (status >= 500) {
            await kv.delete(key, { previousSeq: rev }).catch(() => {});
            return;
          }
          const done: Done = { state: 'done', fingerprint: fp, status, body, request_id: requestId };
          await kv.update(key, JSON.stringify(done), rev);
        },
      };
    },
  };
}
export type Idempotency = ReturnType<typeof createIdempotency>;
