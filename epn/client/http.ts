// One HTTP exchange with the network, and the mapping of every failure onto the two error kinds.
import http from 'node:http';
import https from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { EpnRejectedError, EpnUnavailableError } from './errors.ts';

export interface EpnHttpOptions {
  baseUrl: string;
  /** Whole-call budget: connect, send, and reading the body. */
  timeoutMs: number;
}

export type EpnRequest = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, o?: EpnRequestOptions) => Promise<T>;

/** raw: hand a 2xx body over as text (the settlement file); headers: extra request headers (Request-Id, Correlation-Id). */
export interface EpnRequestOptions {
  raw?: boolean;
  headers?: Record<string, string> | undefined;
}

/** degrade: the connection itself was refused (nothing was sent), also for every address tried. */
function isRefused(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if ((err as { code?: unknown }).code === 'ECONNREFUSED') return true;
  return err instanceof AggregateError && err.errors.length > 0 && err.errors.every(isRefused);
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

/** The parts of the base URL a request needs, parsed once (a URL per call was a measurable share of the client). */
interface Target {
  mod: typeof http | typeof https;
  /** The base URL as request options (urlToHttpOptions: IPv6 brackets, auth), path left out. */
  options: http.RequestOptions;
  /** The base URL without a trailing slash, for the rare path the URL parser would rewrite. */
  base: string;
  /** Path prefix of the base URL, without a trailing slash. */
  prefix: string;
}

/**
 * node:http on a keep-alive agent rather than fetch: on the hot path of every authorization, fetch's
 * stream machinery cost several times the CPU (bench --cpu-prof). The whole-call budget is one
 * timer that destroys the request with a TimeoutError, as AbortSignal.timeout did, without a signal
 * and its listeners per call.
 */
function exchange(agent: http.Agent | https.Agent, target: Target, method: string, path: string, payload: string | undefined, timeoutMs: number, extraHeaders: Record<string, string> | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = extraHeaders === undefined ? {} : { ...extraHeaders };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    // A dot segment ('/..') is resolved by the URL parser, as it was when every call parsed a URL.
    const fullPath = path.includes('/.') ? urlToHttpOptions(new URL(`${target.base}${path}`)).path! : target.prefix + path;
    const req = target.mod.request({ ...target.options, path: fullPath, method, agent, headers });
    const timer = setTimeout(() => {
      const err = new Error('The operation was aborted due to timeout');
      err.name = 'TimeoutError';
      req.destroy(err);
    }, timeoutMs);
    timer.unref();
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(payload);
  });
}

export function createEpnRequest(opts: EpnHttpOptions): EpnRequest {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const url = new URL(base);
  const secure = url.protocol === 'https:';
  const { protocol, hostname, port, auth } = urlToHttpOptions(url);
  const options: http.RequestOptions = { protocol, hostname, port, ...(auth ? { auth } : {}) };
  const target: Target = { mod: secure ? https : http, options, base, prefix: url.pathname.replace(/\/+$/, '') };
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 256 }) : new http.Agent({ keepAlive: true, maxSockets: 256 });
  return async <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, o: EpnRequestOptions = {}): Promise<T> => {
    let status: number;
    let text: string;
    try {
      ({ status, text } = await exchange(agent, target, method, path, body === undefined ? undefined : JSON.stringify(body), opts.timeoutMs, o.headers));
    } catch (err) {
      // A reset after the request was sent is also "unreachable": either way the outcome is unknown.
      if (isTimeout(err)) {
        throw new EpnUnavailableError('timeout', `EPN ${method} ${path} timed out after ${opts.timeoutMs}ms`, { cause: err });
      }
      throw new EpnUnavailableError('unreachable', `EPN ${method} ${path} failed: ${(err as Error).message}`, { cause: err, notExecuted: isRefused(err) });
    }

    if (status >= 500) {
      // degrade: 503 `outage` is the network refusing at its door, before executing anything.
      let outage = false;
      if (status === 503) {
        try {
          outage = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code === 'outage';
        } catch {}
      }
      throw new EpnUnavailableError('server_error', `EPN ${method} ${path} answered ${status}`, { cause: text.slice(0, 500), notExecuted: outage });
    }
    // A 2xx file (the settlement file) is handed over as text.
    if (o.raw && status < 400) return text as T;
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
