// One webhook POST over node:http(s): no redirects followed, a deadline over the whole exchange, at
// most `cap` bytes of the answer read. With `guard`, every address the host name resolves to is
// checked inside the connection's own DNS lookup, so the address checked is the address connected
// to (no window for a name to be re-pointed between a check and the connect).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

export interface PostOptions {
  timeoutMs: number;
  /** Bytes of the answer to keep. */
  cap: number;
  /** Refuses an address (returns why), or null to allow it. */
  guard?: (host: string, address: string) => string | null;
}

export interface PostAnswer {
  status: number;
  body: string;
}

export class BlockedAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockedAddressError';
  }
}

export class PostTimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

function guardedLookup(guard: NonNullable<PostOptions['guard']>): LookupFunction {
  return ((host: string, options: LookupOptions, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(host, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, '', 0);
      for (const a of addresses) {
        const why = guard(host, a.address);
        if (why) return cb(new BlockedAddressError(why), '', 0);
      }
      if (options.all) return cb(null, addresses);
      const first = addresses[0];
      if (!first) return cb(Object.assign(new Error(`${host} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
      return cb(null, first.address, first.family);
    });
  }) as unknown as LookupFunction;
}

export function postJson(url: string, body: string, headers: Record<string, string>, o: PostOptions): Promise<PostAnswer> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<PostAnswer>((resolve, reject) => {
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false, // one connection per POST: nothing pooled across merchants' endpoints
        ...(o.guard ? { lookup: guardedLookup(o.guard) } : {}),
      },
      (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        const finish = () => done(() => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).subarray(0, o.cap).toString('utf8') }));
        res.on('data', (c: Buffer) => {
          if (size < o.cap) parts.push(c);
          size += c.length;
          // Enough kept: the rest is not read.
          if (size >= o.cap) {
            finish();
            res.destroy();
          }
        });
        res.on('end', finish);
        res.on('error', (err) => done(() => reject(err)));
        res.on('close', finish);
      },
    );
    const timer = setTimeout(() => {
      done(() => reject(new PostTimeoutError(o.timeoutMs)));
      req.destroy();
    }, o.timeoutMs);
    req.on('error', (err) => done(() => reject(err)));
    req.end(body);
  });
}
