// The gateway's side of the command protocol: route to the owner of the merchant's partition and
// wait for its answer. While a partition has no owner (start-up, failover) the request is retried
// until the deadline; the command's ids make the retry the same command.
import type { NatsConnection } from '@nats-io/transport-node';
import { partitionOf, subjects } from '../streams/subjects.ts';
import { ApiError, unavailable } from '../stripe/errors.ts';
import type { CommandReply, CommandRequest } from './protocol.ts';
import { commandHeaders } from './correlation.ts'; // ops: Request-Id / Correlation-Id as NATS headers

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface CommandClient {
  send(req: CommandRequest): Promise<Extract<CommandReply, { ok: true }>['state']>;
}

/** A worker in the same process: runs the command itself when it serves the partition now (null otherwise). */
export type LocalCommands = (req: CommandRequest) => Promise<CommandReply> | null;

export function createCommandClient(nc: NatsConnection, opts: { partitions: number; timeoutMs: number; local?: LocalCommands }): CommandClient {
  return {
    async send(req) {
      const here = opts.local?.(req);
      if (here) {
        const reply = await here;
        if (reply.ok) return reply.state;
        throw ApiError.fromBody(reply.status, reply.error, reply.shouldRetry);
      }
      const subject = subjects.command(partitionOf(req.merchantId, opts.partitions));
      const deadline = Date.now() + opts.timeoutMs;
      const body = enc.encode(JSON.stringify(req));
      for (let i = 0; ; i++) {
        try {
          const hdrs = commandHeaders(req.ctx); // ops: correlation
          const m = await nc.request(subject, body, { timeout: Math.max(1, deadline - Date.now()), ...(hdrs ? { headers: hdrs } : {}) });
          const reply = JSON.parse(dec.decode(m.data)) as CommandReply;
          if (reply.ok) return reply.state;
          throw ApiError.fromBody(reply.status, reply.error, reply.shouldRetry);
        } catch (err) {
          if (err instanceof ApiError) throw err;
          const noOwner = /no responders|503/i.test(String((err as Error).message)) || (err as Error).name === 'NoRespondersError';
          if (noOwner && Date.now() + 100 < deadline) {
            await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** i, 500)));
            continue;
          }
          throw unavailable(noOwner ? 'No worker owns this account right now. Retry with the same Idempotency-Key.' : 'The request timed out. Retry with the same Idempotency-Key.');
        }
      }
    },
  };
}
