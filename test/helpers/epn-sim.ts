// Helpers for tests that run the EPN simulator alone over real HTTP (no stack): a server on a free
// port, a clock the test moves, authorize parameters for a card, and the network's refusals.
import type { Test } from 'tap';
import { buildEpnServer, createEpnClient, EpnRejectedError, type AuthorizeParams, type EpnServerOptions } from '../../epn/mod.ts';

export const FUTURE = { expMonth: 12, expYear: Math.max(2040, new Date().getUTCFullYear() + 3), cvc: '123' };
let n = 0;
export const ref = (p = 'att') => `${p}_${process.pid}_${++n}`;

/** Authorize parameters for a card under `merchantId`, captured at once unless `over` says otherwise. */
export function authorizeParams(merchantId: string, number: string, over: Partial<AuthorizeParams> = {}): AuthorizeParams {
  const reference = ref();
  return { reference, merchantId, amount: 1000, currency: 'usd', capture: true, card: { number, ...FUTURE }, intentId: `pi_${reference}`, ...over };
}

/** A clock the test moves: unix ms. */
export function clock(start = Date.parse('2031-03-10T12:00:00Z')) {
  let ms = start;
  return {
    now: () => new Date(ms),
    seconds: () => Math.floor(ms / 1000),
    advance: (s: number) => {
      ms += s * 1000;
    },
  };
}

/** The simulator on a free loopback port, closed at the end of the test (close() may be called first). */
export async function startEpn(t: Test, opts: Partial<EpnServerOptions> = {}) {
  const app = buildEpnServer({ latencyMs: 0, ...opts });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  let closed = false;
  const close = async () => {
    if (!closed) await app.close();
    closed = true;
  };
  t.teardown(close);
  return { app, url, close, client: createEpnClient({ baseUrl: url, timeoutMs: 5000 }) };
}

/** The network's refusal of a call that must be refused. */
export async function rejected(p: Promise<unknown>): Promise<EpnRejectedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EpnRejectedError) return err;
    throw err;
  }
  throw new Error('expected EpnRejectedError, call succeeded');
}
