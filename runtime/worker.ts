// The actor worker: owns partitions (leases), serves their command subjects, and runs each
// aggregate's commands one at a time through its mailbox.
import type { NatsConnection, Subscription, Msg } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { subjects, partitionOf } from '../streams/subjects.ts';
import { createMailbox } from './mailbox.ts';
import { toApiError, type HandlerDeps } from './handlers.ts';
import { keyInUse, unavailable } from '../stripe/errors.ts';
import { ownPartitions } from './partitions.ts';
import { PROGRESS_BODY, PROGRESS_HEADER, PROGRESS_MS, type CommandReply, type CommandRequest, type Replayed } from './protocol.ts';
import type { CommandTrace } from './aggregates.ts';
import { handleTraced } from './correlation.ts'; // ops: the request's ids on logs and EPN calls, metrics

export interface ActorWorker {
  owned(): number[];
  /**
   * Runs a command here when this process serves its partition now (a gateway in the same process
   * skips the NATS round trip and the JSON of the request and the reply); null when it does not.
   */
  local(req: CommandRequest): Promise<CommandReply> | null;
  ready: Promise<void>;
  stop(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function aggregateKey(req: CommandRequest): string {
  if (req.op.startsWith('customer.')) return subjects.customer(req.merchantId, (req as { customerId: string }).customerId);
  return req.op.startsWith('merchant.') ? subjects.merchant(req.merchantId) : subjects.intent(req.merchantId, (req as { intentId: string }).intentId);
}

export function startActorWorker(opts: {
  nc: NatsConnection;
  owners: KV;
  deps: HandlerDeps;
  workerId: string;
  partitions: number;
  leaseMs: number;
  log: Logger;
}): ActorWorker {
  const { nc, deps, log, partitions } = opts;
  const mailbox = createMailbox();
  const subs = new Map<number, { sub: Subscription; inflight: Set<Promise<void>> }>();

  /** A keyed command whose every step was answered from its first commits: said so in the reply. */
  const replayedOf = (trace: CommandTrace): { replayed?: Replayed } =>
    !trace.appended && trace.replayedFrom !== undefined ? { replayed: { request_id: trace.replayedFrom } } : {};

  /**
   * Keyed commands queued or running here (aggregate and command id): the owner sees every command
   * of its aggregates, so a repeat arriving while its first is in flight is told so at once (409, as
   * Stripe answers a request whose key is still in use) instead of waiting to replay it.
   */
  const keyedInFlight = new Set<string>();

  async function run(p: number, req: CommandRequest): Promise<CommandReply> {
    // The trace rides in the ctx every step of the command spreads (runtime/aggregates.ts CommandTrace).
    const trace: CommandTrace = { appended: false };
    const traced = { ...req, ctx: { ...req.ctx, trace } } as unknown as CommandRequest;
    const keyed = req.ctx.fingerprint !== undefined ? `${aggregateKey(req)} ${req.ctx.commandId}` : null;
    let holdsKey = false;
    try {
      if (partitionOf(req.merchantId, partitions) !== p) throw new Error(`merchant ${req.merchantId} is not in partition ${p}`);
      if (keyed !== null) {
        if (keyedInFlight.has(keyed)) throw keyInUse();
        keyedInFlight.add(keyed);
        holdsKey = true;
      }
      const r = await mailbox.exclusive(aggregateKey(req), () => {
        // Run only while surely the owner; a held lease whose renewal is late is waited for.
        const waited = surelyOwned(p);
        return waited ? waited.then(() => handleTraced(deps, traced)) : handleTraced(deps, traced); // ops: was handle(deps, req)
      });
      return { ok: true, state: r.state, seq: Math.max(r.seq ?? 0, trace.lastSeq ?? 0), ...replayedOf(trace) };
    } catch (err) {
      const e = toApiError(err);
      // 503s are the expected, retryable kind (a partition changing hands, the broker electing a leader).
      if (e.status === 503) log.warn({ err: e.message, op: req.op, request_id: req.ctx.requestId }, 'command deferred');
      else if (e.status >= 500) log.error({ err, op: req.op, request_id: req.ctx.requestId }, 'command failed');
      return { ok: false, status: e.status, error: e.body().error, ...(e.shouldRetry ? { shouldRetry: true } : {}), ...(e.status < 500 ? replayedOf(trace) : {}), ...(trace.lastSeq ? { seq: trace.lastSeq } : {}) };
    } finally {
      if (holdsKey) keyedInFlight.delete(keyed!);
    }
  }

  async function serve(p: number, m: Msg) {
    let reply: CommandReply;
    // A caller that asked for progress (runtime/client.ts) hears from us every PROGRESS_MS while a
    // command runs long (a slow network call): silence then means this process died, not that it is busy.
    const progress = m.reply && m.headers?.get(PROGRESS_HEADER) ? setInterval(() => m.respond(PROGRESS_BODY), PROGRESS_MS) : undefined;
    try {
      reply = await run(p, JSON.parse(dec.decode(m.data)) as CommandRequest);
    } catch (err) {
      const e = toApiError(err);
      reply = { ok: false, status: e.status, error: e.body().error, ...(e.shouldRetry ? { shouldRetry: true } : {}) };
    } finally {
      clearInterval(progress);
    }
    if (m.reply) m.respond(enc.encode(JSON.stringify(reply)));
  }

  /** In-process commands: counted in the partition's in-flight set like served ones, so a handover waits for them. */
  function local(req: CommandRequest): Promise<CommandReply> | null {
    const p = partitionOf(req.merchantId, partitions);
    const s = subs.get(p);
    if (!s) return null;
    const t = run(p, req).then((reply) =>
      // The caller gets its own copy, as over the wire: the cached state stays the owner's alone.
      reply.ok ? { ...reply, state: structuredClone(reply.state) } : reply,
    );
    const done: Promise<void> = t.then(
      () => {},
      () => {},
    ).finally(() => s.inflight.delete(done));
    s.inflight.add(done);
    return t;
  }

  const owner = ownPartitions(
    opts.owners,
    { workerId: opts.workerId, partitions, leaseMs: opts.leaseMs, log },
    {
      acquired(p) {
        const inflight = new Set<Promise<void>>();
        const sub = nc.subscribe(subjects.command(p), {
          callback: (err, m) => {
            if (err) return log.error({ err, partition: p }, 'command subscription error');
            const t: Promise<void> = serve(p, m).finally(() => inflight.delete(t));
            inflight.add(t);
          },
        });
        subs.set(p, { sub, inflight });
      },
      async released(p) {
        const s = subs.get(p);
        subs.delete(p);
        if (s) {
          s.sub.unsubscribe();
          await Promise.allSettled([...s.inflight]);
        }
        // The next owner may append: our cached states of this partition are stale from now on.
        deps.store.forget((subject) => {
          const merchant = subject.split('.')[3];
          return merchant !== undefined && partitionOf(merchant, partitions) === p;
        });
      },
    },
  );

  // Only the sure owner of a partition runs its commands and appends to its aggregates. A held lease
  // whose renewal is late is waited for (up to a lease) instead of answering 503 at once: a command
  // that has just waited on the card network must not be refused at its last step for a renewal
  // still on its way. Undefined when the lease is surely ours (no promise on the hot path).
  function surelyOwned(p: number): Promise<void> | undefined {
    if (owner.holds(p)) return undefined;
    return owner.sure(p, opts.leaseMs).then((ok) => {
      if (!ok) throw unavailable('This worker does not own the account right now. Retry with the same Idempotency-Key.');
    });
  }
  deps.store.setFence((subject) => {
    const merchant = subject.split('.')[3];
    if (merchant === undefined) throw new Error(`not an aggregate subject: ${subject}`);
    return surelyOwned(partitionOf(merchant, partitions));
  });

  return {
    owned: owner.owned,
    local,
    ready: owner.ready,
    async stop() {
      await owner.stop();
    },
  };
}
