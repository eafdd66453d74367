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
  /**
   * holds(p), or for a partition still held whose last renewal is late (a loaded machine, a slow
   * broker): renews now and waits up to waitMs for the answer instead of turning the caller away.
   * False at once for a partition not held or being given back.
   */
  sure(p: number, waitMs: number): Promise<boolean>;
  stop(): Promise<void>;
  /** Resolves after the first claiming round. */
  ready: Promise<void>;
}

/** Unref'd: a wait in sure() must not keep a stopping process alive. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref());
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

  /**
   * Whether a renewal that failed (a timeout, a lost answer) left the lease ours after all: the
   * bucket still names us, at the revision we sent the renewal against (so it lasts as it did) or at
   * the one the renewal made (it landed; its TTL runs from after sentAt). Only this process writes
   * its worker id onto a partition it holds: WORKER_ID is unique among live processes.
   */
  async function stillOurs(p: number, rev: number, sentAt: number): Promise<boolean> {
    const e = await kv.get(leaseKey(p)).catch(() => null);
    if (!e || e.operation !== 'PUT' || e.string() !== workerId || e.revision < rev) return false;
    if (e.revision > rev) {
      held.set(p, e.revision);
      validUntil.set(p, sentAt + leaseMs - margin);
    }
    return true;
  }

  /**
   * Renews every lease we hold, all at once: one after the other, a loaded loop (16 round trips)
   * could take longer than a lease's margin. One renewal runs at a time (two updates against the same
   * revision would make the second look like a lost lease); a caller during one shares it.
   */
  let renewing: Promise<void> | undefined;
  const done = () => {
    renewing = undefined;
  };
  function renew(): Promise<void> {
    renewing ??= Promise.all(
      [...held].map(async ([p, rev]) => {
        const sentAt = Date.now();
        try {
          held.set(p, await kv.update(leaseKey(p), workerId, rev));
          validUntil.set(p, sentAt + leaseMs - margin);
        } catch (err) {
          if (held.get(p) !== rev) return; // given back meanwhile
          if (await stillOurs(p, rev, sentAt)) {
            log.warn({ partition: p, err: (err as Error).message }, 'lease renewal unanswered; the lease is still ours');
            return;
          }
          log.warn({ partition: p, err: (err as Error).message }, 'lease lost');
          // Not awaited: draining its commands must not hold up the renewal of the other leases.
          void lose(p, 'lost');
        }
      }),
    ).then(done, done);
    return renewing;
  }

  async function round() {
    const alive = kv.put(workerKey(workerId), JSON.stringify({ worker: workerId, at: Date.now() }));
    await Promise.all([alive, renew()]);
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

  const holds = (p: number) => Date.now() < (validUntil.get(p) ?? 0);

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
    holds,
    async sure(p, waitMs) {
      const until = Date.now() + waitMs;
      while (!holds(p) && held.has(p) && !draining.has(p) && !stopped && Date.now() < until) {
        await Promise.race([renew(), sleep(until - Date.now())]);
        if (!holds(p)) await sleep(Math.min(50, until - Date.now())); // a renewal that left it lapsed: not a busy loop
      }
      return holds(p);
    },
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
