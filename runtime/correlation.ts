// One request id finds the whole story: the gateway's `req_…` id and a caller's X-Correlation-Id ride
// on every command (NATS headers of pay.cmd.<p>, beside the ctx in its body), every commit
// (nats/append.ts), every EPN call (HTTP headers) and every log line written while the command runs.
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { EpnClient } from '../epn/client/mod.ts';
import { meterEpn } from '../metrics/payments.ts';
import { handle, type HandlerDeps } from './handlers.ts';
import type { CommandRequest, Ctx } from './protocol.ts';

export const REQUEST_ID_HEADER = 'Request-Id';
export const CORRELATION_ID_HEADER = 'Correlation-Id';

/** The NATS headers of a command message: what `nats sub 'pay.cmd.>' --headers-only` shows an operator. */
export function commandHeaders(ctx: Pick<Ctx, 'requestId' | 'correlationId'>): MsgHdrs | undefined {
  if (!ctx.requestId && !ctx.correlationId) return undefined;
  const h = headers();
  if (ctx.requestId) h.set(REQUEST_ID_HEADER, ctx.requestId);
  if (ctx.correlationId) h.set(CORRELATION_ID_HEADER, ctx.correlationId);
  return h;
}

/** The same ids as HTTP headers (the EPN call). */
export function httpHeaders(ctx: Pick<Ctx, 'requestId' | 'correlationId'>): Record<string, string> {
  return {
    ...(ctx.requestId ? { [REQUEST_ID_HEADER]: ctx.requestId } : {}),
    ...(ctx.correlationId ? { [CORRELATION_ID_HEADER]: ctx.correlationId } : {}),
  };
}

/** Log fields that tie a line to its request (the gateway logs the same `request_id`). */
export function logBindings(req: CommandRequest): Record<string, string> {
  return {
    ...(req.ctx.requestId ? { request_id: req.ctx.requestId } : {}),
    ...(req.ctx.correlationId ? { correlation_id: req.ctx.correlationId } : {}),
    op: req.op,
    merchant: req.merchantId,
    ...('intentId' in req ? { intent: req.intentId } : {}),
  };
}

/**
 * The handler deps for one command: its logger and its EPN client carry the request's ids. Both are
 * made on first use: most commands log nothing at the configured level and call no network, and a
 * pino child per command (its bindings serialized) was ~0.8 % of the node's CPU (bench --cpu-prof).
 */
export function scopedDeps(deps: HandlerDeps, req: CommandRequest): HandlerDeps {
  let log: Logger | undefined;
  let epn: EpnClient | undefined;
  return {
    ...deps,
    get log() {
      return (log ??= deps.log.child(logBindings(req)));
    },
    get epn() {
      return (epn ??= meterEpn(deps.epn.withHeaders(httpHeaders(req.ctx))));
    },
  };
}

/** `handle` with the request's ids on its logs and EPN calls, and one debug line per command. */
export async function handleTraced(deps: HandlerDeps, req: CommandRequest): ReturnType<typeof handle> {
  const scoped = scopedDeps(deps, req);
  const started = performance.now();
  try {
    const r = await handle(scoped, req);
    if (deps.log.isLevelEnabled('debug')) scoped.log.debug({ ms: Math.round(performance.now() - started), seq: r.seq }, 'command');
    return r;
  } catch (err) {
    // A refusal (a decline's 402, a bad state) is an answer, not a fault: the worker logs 5xx itself.
    if (deps.log.isLevelEnabled('debug')) scoped.log.debug({ ms: Math.round(performance.now() - started), error: (err as Error).message }, 'command refused');
    throw err;
  }
}
