// One webhook POST over node:http(s): no redirects followed, a deadline over the whole exchange, at
// most `cap` bytes of the answer read. With `guard`, every address the host name resolves to is
// checked inside the connection's own DNS lookup, so the address checked is the address connected
// to (no window for a name to be re-pointed between a check and the connect).
//
// Connections are kept alive per (merchant, endpoint, origin, guarded or not) by an AgentPool: the
// next POST to the same endpoint reuses an idle socket instead of a new TCP (and TLS) handshake. A
// socket is never shared across merchants or endpoints; a guarded agent does its own guarded lookup
// for every connection it opens (a reused socket is connected to an address that was checked when
// it connected); idle sockets close after `idleMs` (sooner if the server's Keep-Alive says so).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

export type AddressGuard = (host: string, address: string) => string | null;

export interface PostOptions {
  timeoutMs: number;
  /** Bytes of the answer to keep. */
  cap: number;
  /** Refuses an address (returns why), or null to allow it. */
  guard?: AddressGuard;
  /**
   * A keep-alive agent for this endpoint (AgentPool.agentFor, built with the same guard). Without
   * one: a connection of its own, closed after the POST.
   */
  agent?: http.Agent;
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

function guardedLookup(guard: AddressGuard): LookupFunction {
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

export interface AgentPoolOptions {
  /** An idle socket is closed after this long, ms (default 4 s: under the 5 s most servers keep one). */
  idleMs?: number;
  /** Sockets per agent, busy or idle (default 8, the per-endpoint in-flight limit). */
  maxSockets?: number;
  /** Idle sockets kept per agent (default 4). */
  maxFreeSockets?: number;
  /** Agents kept (least recently used dropped first; its sockets finish and idle out; default 512). */
  maxAgents?: number;
}

export interface AgentPool {
  /** The agent of one endpoint (`scope`: merchant and endpoint) at one origin; guarded agents check every address they connect to. */
  agentFor(scope: string, url: URL, guard?: AddressGuard): http.Agent;
  /** Agents held now. */
  size(): number;
  /** Closes every socket (busy ones too). */
  destroy(): void;
}

export function createAgentPool(o: AgentPoolOptions = {}): AgentPool {
  const idleMs = o.idleMs ?? 4_000;
  const maxAgents = o.maxAgents ?? 512;
  const agents = new Map<string, http.Agent>();
  return {
    agentFor(scope, url, guard) {
      const key = `${scope}\n${url.protocol}//${url.host}\n${guard ? 'guarded' : 'open'}`;
      const hit = agents.get(key);
      if (hit) {
        // Most recently used last.
        agents.delete(key);
        agents.set(key, hit);
        return hit;
      }
      const opts: https.AgentOptions = {
        keepAlive: true,
        keepAliveMsecs: 1_000,
        maxSockets: o.maxSockets ?? 8,
        maxFreeSockets: o.maxFreeSockets ?? 4,
        // On an idle socket: closes it (node's agent destroys a free socket on timeout).
        timeout: idleMs,
        scheduling: 'lifo',
        // The agent's options win over a request's: every connection this agent opens is guarded.
        ...(guard ? { lookup: guardedLookup(guard) } : {}),
      };
      const agent = url.protocol === 'https:' ? new https.Agent(opts) : new http.Agent(opts);
      agents.set(key, agent);
      while (agents.size > maxAgents) {
        const oldest = agents.keys().next().value as string;
        const old = agents.get(oldest)!;
        agents.delete(oldest);
        // Its busy sockets finish their POST; idle ones go now.
        for (const list of Object.values(old.freeSockets)) for (const s of list ?? []) s.destroy();
      }
      return agent;
    },
    size: () => agents.size,
    destroy() {
      for (const a of agents.values()) a.destroy();
      agents.clear();
    },
  };
}

/** A kept-alive socket the server had already closed: the POST never reached it, and is sent again once on a new connection. */
class StaleSocketError extends Error {
  constructor(readonly first: Error) {
    super(first.message);
  }
}

export async function postJson(url: string | URL, body: string, headers: Record<string, string>, o: PostOptions): Promise<PostAnswer> {
  if (!o.agent) return postOnce(url, body, headers, o, o.timeoutMs);
  const started = Date.now();
  try {
    return await postOnce(url, body, headers, o, o.timeoutMs);
  } catch (err) {
    if (!(err instanceof StaleSocketError)) throw err;
    const left = o.timeoutMs - (Date.now() - started);
    if (left <= 0) throw new PostTimeoutError(o.timeoutMs);
    try {
      return await postOnce(url, body, headers, o, left, true);
    } catch (again) {
      throw again instanceof StaleSocketError ? again.first : again;
    }
  }
}

function postOnce(url: string | URL, body: string, headers: Record<string, string>, o: PostOptions, timeoutMs: number, retried = false): Promise<PostAnswer> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<PostAnswer>((resolve, reject) => {
    let settled = false;
    let answered = false;
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
        ...(o.agent
          ? { agent: o.agent }
          : {
              agent: false, // one connection per POST
              ...(o.guard ? { lookup: guardedLookup(o.guard) } : {}),
            }),
      },
      (res) => {
        answered = true;
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
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      const stale = !retried && !answered && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      done(() => reject(stale ? new StaleSocketError(err) : err));
    });
    req.end(body);
  });
}
