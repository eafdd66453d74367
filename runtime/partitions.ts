// Partition ownership: each partition has at most one owner, held as a lease in the `pay_owners`
// KV bucket (bucket TTL = lease time). The owner renews with a revision-checked update; a failed
// renewal means someone else may own it, so the owner stops serving it at once. A worker claims
// free partitions up to its fair share (partitions ÷ live workers) and gives back what is over it,
// so a second worker takes half the load and a dead worker's partitions move within one lease.
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';

export interface PartitionEvents {
  /** Called once the lease is held: start serving the partition. */
  acquired(p: number): Promise<void> | void;
  /** Called when the lease is lost or given back: stop serving, forget cached state. */
  released(p: number, why: 'lost' | 'rebalanced' | 'shutdown'): Promise<void> | void;
}

export interface PartitionOwner {
  owned(): number[];
  /**
   * Whether the lease on p is surely still ours: the server cannot have expired it yet, since its
   * TTL runs from when our last create/renewal reached it, after we sent it. A process paused past
   * its lease (GC, a blocked loop, SIGSTOP) must not act as p's owner before a round has renewed.
   */
  holds(p: number): boolean;
  stop(): Promise<void>;
  /** Resolves after the first claiming round. */
  ready: Promise<void>;
}

const leaseKey = (p: number) => `partition.${p}`;
const workerKey = (id: string) => `worker.${id}`;

export function ownPartitions(
  kv: KV,
  opts: { workerId: string; partitions: number; leaseMs: number; log: Logger },
  on: PartitionEvents,
): PartitionOwner {
  const { workerId, partitions, leaseMs, log } = opts;
  const held = new Map<number, number>(); // partition → revision of our lease
  const validUntil = new Map<number, number>(); // partition → local time our lease surely lasts to
  const margin = Math.min(1_000, Math.floor(leaseMs / 5)); // time for an append to land
  const draining = new Set<number>(); // given back: not served, still leased until its commands end
  const drained = new Set<number>(); // ready to be deleted by the next round
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  async function liveWorkers(): Promise<number> {
    let n = 0;
    for await (const _ of await kv.keys('worker.*')) n++;
    return Math.max(n, 1);
  }

  async function lose(p: number, why: 'lost' | 'rebalanced' | 'shutdown') {
    held.delete(p);
    if (why === 'lost') validUntil.delete(p);
    const wasDraining = draining.delete(p);
    drained.delete(p);
    try {
      if (!wasDraining) await on.released(p, why);
    } catch (err) {
      log.error({ err, partition: p }, 'release handler failed');
    }
  }

  async function round() {
    // Renew what we hold, all at once and beside the worker's own heartbeat: one after the other, a
    // loaded loop (16 round trips) could take longer than a lease's margin, and the last partitions
    // would stop being surely ours (the command then answers a retryable 503).
    const alive = kv.put(workerKey(workerId), JSON.stringify({ worker: workerId, at: Date.now() }));
    await Promise.all([
      alive,
      ...[...held].map(async ([p, rev]) => {
        try {
          const sentAt = Date.now();
          held.set(p, await kv.update(leaseKey(p), workerId, rev));
          validUntil.set(p, sentAt + leaseMs - margin);
        } catch (err) {
          log.warn({ partition: p, err: (err as Error).message }, 'lease lost');
          // Not awaited: draining its commands must not hold up the renewal of the other leases.
          void lose(p, 'lost');
        }
      }),
    ]);
    // Partitions whose commands have drained since the last round: free them for the next owner.
    for (const p of [...drained]) {
      const rev = held.get(p);
      drained.delete(p);
      draining.delete(p);
      held.delete(p);
      validUntil.delete(p);
      if (rev !== undefined) await kv.delete(leaseKey(p), { previousSeq: rev }).catch(() => {});
      log.info({ partition: p }, 'partition given back');
    }
    const share = Math.ceil(partitions / (await liveWorkers()));
    // Give back what is over our share, one a round, so the handover is gradual. The partition stops
    // being served now; its lease is renewed until its in-flight commands end, then deleted.
    if (held.size - draining.size > share && draining.size === 0) {
      const p = [...held.keys()].pop();
      if (p !== undefined) {
        draining.add(p);
        log.info({ partition: p, share }, 'giving partition back');
        void (async () => {
          try {
            await on.released(p, 'rebalanced');
          } catch (err) {
            log.error({ err, partition: p }, 'release handler failed');
          }
          if (draining.has(p)) drained.add(p);
        })();
      }
    }
    // Claim free partitions up to our share, starting at a worker-specific offset to spread claims.
    const start = Number.parseInt(workerId.replace(/\D/g, '').slice(-6) || '0', 10) % partitions;
    for (let i = 0; i < partitions && held.size < share; i++) {
      const p = (start + i) % partitions;
      if (held.has(p)) continue;
      try {
        const sentAt = Date.now();
        const rev = await kv.create(leaseKey(p), workerId);
        held.set(p, rev);
        validUntil.set(p, sentAt + leaseMs - margin);
        log.info({ partition: p }, 'partition acquired');
        try {
          await on.acquired(p);
        } catch (err) {
          log.error({ err, partition: p }, 'acquire handler failed; giving the partition back');
          await lose(p, 'lost');
          await kv.delete(leaseKey(p), { previousSeq: rev }).catch(() => {});
        }
      } catch {
        // held by someone else
      }
    }
  }

  let first: (() => void) | undefined;
  const ready = new Promise<void>((r) => (first = r));
  const tick = async () => {
    if (stopped) return;
    try {
      await round();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'ownership round failed');
    }
    first?.();
    first = undefined;
    if (!stopped) timer = setTimeout(tick, Math.max(100, Math.floor(leaseMs / 3)));
  };
  void tick();

  return {
    owned: () => [...held.keys()].filter((p) => !draining.has(p)).sort((a, b) => a - b),
    holds: (p) => Date.now() < (validUntil.get(p) ?? 0),
    ready,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const [p, rev] of [...held]) {
        await lose(p, 'shutdown');
        await kv.delete(leaseKey(p), { previousSeq: rev }).catch(() => {});
      }
      await kv.delete(workerKey(workerId)).catch(() => {});
    },
  };
}
