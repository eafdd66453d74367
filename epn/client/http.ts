// One HTTP exchange with the network, and the mapping of every failure onto the two error kinds.
import { EpnRejectedError, EpnUnavailableError } from './errors.ts';

export interface EpnHttpOptions {
  baseUrl: string;
  /** Whole-call budget: connect, send, and reading the body. */
  timeoutMs: number;
}

export type EpnRequest = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => Promise<T>;

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

export function createEpnRequest(opts: EpnHttpOptions): EpnRequest {
  const base = opts.baseUrl.replace(/\/+$/, '');
  return async <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> => {
    let status: number;
    let text: string;
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      // A reset after the request was sent is also "unreachable": either way the outcome is unknown.
      if (isTimeout(err)) {
        throw new EpnUnavailableError('timeout', `EPN ${method} ${path} timed out after ${opts.timeoutMs}ms`, { cause: err });
      }
      throw new EpnUnavailableError('unreachable', `EPN ${method} ${path} failed: ${(err as Error).message}`, { cause: err });
    }

    if (status >= 500) {
      throw new EpnUnavailableError('server_error', `EPN ${method} ${path} answered ${status}`, { cause: text.slice(0, 500) });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      if (status < 400) {
        // A 2xx we cannot read may still have been applied: unknown, not refused.
        throw new EpnUnavailableError('server_error', `EPN ${method} ${path} answered ${status} with a body that is not JSON`, { cause: err });
      }
      throw new EpnRejectedError(status, 'unknown', `EPN ${method} ${path} answered ${status}`);
    }
    if (status >= 400) {
      const e = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
      throw new EpnRejectedError(
        status,
        typeof e?.code === 'string' ? e.code : 'unknown',
        typeof e?.message === 'string' ? e.message : `EPN ${method} ${path} answered ${status}`,
      );
    }
    return parsed as T;
  };
}
