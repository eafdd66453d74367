// `ops partitions`: who owns which partition (the leases in KV pay_owners) and which workers are alive.
import { Kvm } from '@nats-io/kv';
import { buckets } from '../../nats/topology.ts';
import { flag, type OpsCommand } from '../command.ts';
import { UsageError, table } from '../context.ts';

export interface PartitionRow {
  partition: number;
  owner: string | null;
  /** KV revision of the lease: it grows by one on each renewal. */
  revision: number | null;
  /** When the lease was last written (created or renewed). */
  renewed_at: string | null;
  /** Milliseconds until the lease lapses unless renewed (bucket TTL = LEASE_MS). */
  expires_in_ms: number | null;
}

export interface WorkerRow {
  worker: string;
  partitions: number;
  last_seen: string | null;
}

export const partitions: OpsCommand = {
  name: 'partitions',
  summary: 'partition owners from the pay_owners leases, and the live workers',
  help: `usage: npm run ops -- partitions [--partitions N] [--json]

Shows every actor partition with its owner (the worker holding its lease in the
pay_owners KV bucket), the lease's revision (one more per renewal), when it was last
renewed and when it lapses unless renewed (bucket TTL = LEASE_MS). A partition with no
owner answers its merchants' commands with 503 "No worker owns this account" until a
worker claims it (within about one lease). Then the workers heartbeating in the bucket
and how many partitions each holds.

  --partitions N   how many partitions the deployment has (default: $PARTITIONS, else 16)
  --json           {"partitions":[…],"workers":[…],"unowned":[…]}

The same from the nats CLI: npm run nats -- kv ls pay_owners
                            npm run nats -- kv get pay_owners partition.3

example: npm run ops -- partitions --partitions 4`,
  async run(args, ctx) {
    const raw = flag(args, 'partitions') ?? process.env.PARTITIONS ?? '16';
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--partitions must be a positive integer, got '${raw}'`);
    const n = Number(raw);
    const kv = await new Kvm(await ctx.nats()).open(buckets.owners);
    const ttl = (await kv.status()).ttl;
    const leases = new Map<number, PartitionRow>();
    const workers = new Map<string, WorkerRow>();
    for await (const key of await kv.keys()) {
      const e = await kv.get(key);
      if (!e || e.operation !== 'PUT') continue;
      if (key.startsWith('partition.')) {
        const p = Number(key.slice('partition.'.length));
        leases.set(p, {
          partition: p,
          owner: e.string(),
          revision: e.revision,
          renewed_at: e.created.toISOString(),
          expires_in_ms: ttl > 0 ? Math.max(0, e.created.getTime() + ttl - Date.now()) : null,
        });
      } else if (key.startsWith('worker.')) {
        const id = key.slice('worker.'.length);
        workers.set(id, { worker: id, partitions: 0, last_seen: e.created.toISOString() });
      }
    }
    const count = Math.max(n, ...[...leases.keys()].map((p) => p + 1));
    const rows: PartitionRow[] = [];
    for (let p = 0; p < count; p++) rows.push(leases.get(p) ?? { partition: p, owner: null, revision: null, renewed_at: null, expires_in_ms: null });
    for (const r of rows) {
      if (!r.owner) continue;
      const w = workers.get(r.owner) ?? { worker: r.owner, partitions: 0, last_seen: null };
      w.partitions++;
      workers.set(r.owner, w);
    }
    const unowned = rows.filter((r) => !r.owner).map((r) => r.partition);
    const ws = [...workers.values()].sort((a, b) => a.worker.localeCompare(b.worker));
    ctx.out(
      () =>
        [
          table(rows.map((r) => ({ ...r, owner: r.owner ?? '(none)' })), ['partition', 'owner', 'revision', 'renewed_at', 'expires_in_ms']),
          '',
          table(ws as unknown as Record<string, unknown>[]),
          '',
          unowned.length ? `UNOWNED: ${unowned.join(', ')} — commands for these merchants get 503 until a worker claims them` : `all ${count} partitions owned`,
        ].join('\n'),
      { partitions: rows, workers: ws, unowned, lease_ms: ttl },
    );
  },
};
