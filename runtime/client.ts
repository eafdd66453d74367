// The gateway's side of the command protocol: route to the owner of the merchant's partition and
// wait for its answer. While a partition has no owner (start-up, failover) the request is retried
// until the deadline; the command's ids make the retry the same command.
import { headers, type Msg, type MsgHdrs, type NatsConnection, type QueuedIterator } from '@nats-io/transport-node';
import { partitionOf, subjects } from '../streams/subjects.ts';
import { ApiError, unavailable } from '../stripe/errors.ts';
import { PROGRESS_BODY, PROGRESS_HEADER, STALL_MS, type CommandReply, type CommandRequest, type Replayed } from './protocol.ts';
import { commandHeaders } from './correlation.ts'; // ops: Request-Id / Correlation-Id as NATS headers

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface CommandClient {
  /** `trace`: what the request's commands were answered with, for its Idempotent-Replayed header. */
  send(req: CommandRequest, trace?: ReplayTrace): Promise<Extract<CommandReply, { ok: true }>['state']>;
}

/**
 * The answers the commands of one keyed request got: `replayed` once one was a repeat answered
 * from its first commits, `fresh` once one was not. The request is a replay if only the first holds.
 */
export interface ReplayTrace {
  replayed?: Replayed;
  fresh?: boolean;
}

function noteReplay(trace: ReplayTrace | undefined, reply: CommandReply): void {
  if (!trace) return;
  if (reply.replayed) trace.replayed ??= reply.replayed;
  else trace.fresh = true;
}

/** A worker in the same process: runs the command itself when it serves the partition now (null otherwise). */
export type LocalCommands = (req: CommandRequest) => Promise<CommandReply> | null;

/** `wrote`: told the sequence of the commits each command made (storage/read-your-writes.ts). */
export function createCommandClient(nc: NatsConnection, opts: { partitions: number; timeoutMs: number; local?: LocalCommands; wrote?: (merchantId: string, seq: number) => void }): CommandClient {
  const noteReply = (req: CommandRequest, trace: ReplayTrace | undefined, reply: CommandReply) => {
    noteReplay(trace, reply);
    if (opts.wrote && reply.seq) opts.wrote(req.merchantId, reply.seq);
  };
  return {
    async send(req, trace) {
      const here = opts.local?.(req);
      if (here) {
        const reply = await here;
        noteReply(req, trace, reply);
        if (reply.ok) return reply.state;
        throw ApiError.fromBody(reply.status, reply.error, reply.shouldRetry);
      }
      const subject = subjects.command(partitionOf(req.merchantId, opts.partitions));
      const deadline = Date.now() + opts.timeoutMs;
      const body = enc.encode(JSON.stringify(req));
      for (let i = 0; ; i++) {
        try {
          const hdrs = commandHeaders(req.ctx) ?? headers(); // ops: correlation
          hdrs.set(PROGRESS_HEADER, '1');
          const m = await requestWithProgress(nc, subject, body, hdrs, Math.max(1, deadline - Date.now()));
          const reply = JSON.parse(dec.decode(m.data)) as CommandReply;
          noteReply(req, trace, reply);
          if (reply.ok) return reply.state;
          throw ApiError.fromBody(reply.status, reply.error, reply.shouldRetry);
        } catch (err) {
          if (err instanceof ApiError) throw err;
          const noOwner = /no responders|503/i.test(String((err as Error).message)) || (err as Error).name === 'NoRespondersError';
          if (noOwner && Date.now() + 100 < deadline) {
            await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** i, 500)));
            continue;
          }
          if ((err as Error).name === 'StalledError') throw unavailable('The worker serving this account stopped answering. Retry with the same Idempotency-Key.');
          throw unavailable(noOwner ? 'No worker owns this account right now. Retry with the same Idempotency-Key.' : 'The request timed out. Retry with the same Idempotency-Key.');
        }
      }
    },
  };
}

class StalledError extends Error {
  override name = 'StalledError';
}

/**
 * One request whose worker reports progress while it works (runtime/worker.ts): resolves with the
 * reply; rejects with StalledError when nothing arrived for STALL_MS (the worker died with the
 * command), with NoRespondersError-like errors as nc.request does, or with a timeout at the deadline.
 */
async function requestWithProgress(nc: NatsConnection, subject: string, body: Uint8Array, hdrs: MsgHdrs, timeoutMs: number): Promise<Msg> {
  const it = (await nc.requestMany(subject, body, { strategy: 'timer', maxWait: timeoutMs, headers: hdrs })) as QueuedIterator<Msg>;
  let stalled = false;
  const stall = () => {
    stalled = true;
    it.stop();
  };
  let watchdog = setTimeout(stall, STALL_MS);
  try {
    for await (const m of it) {
      clearTimeout(watchdog);
      watchdog = setTimeout(stall, STALL_MS);
      if (m.data.length === PROGRESS_BODY.length && m.data[0] === PROGRESS_BODY[0]) continue;
      return m;
    }
  } finally {
    clearTimeout(watchdog);
    it.stop();
  }
  if (stalled) throw new StalledError('no progress from the worker');
  throw Object.assign(new Error('timeout'), { name: 'TimeoutError' });
}
