// Partition leases under a slow or lossy broker (runtime/partitions.ts), on a real nats-server: a
// renewal whose answer is lost or late must not turn the owner's callers away or give the partition
// up while the bucket still names it; a lease someone else took is given up at once.
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import pino from 'pino';
import { Kvm, type KV } from '@nats-io/kv';
import { buckets, connectNats, declareTopology } from '../nats/mod.ts';
import { ownPartitions, type PartitionOwner } from '../runtime/partitions.ts';
import { withNats } from './helpers/nats.ts';

const LEASE_MS = 1_500; // margin 300 ms: a lease is surely ours for 1.2 s after its renewal is sent

type Fault = (real: () => Promise<number>) => Promise<number>;

/** The real bucket, with a fault applied to the next renewals (kv.update) given to `faults`. */
function faulty(kv: KV, faults: Fault[]): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'update') {
        return (k: string, v: string, rev: number) => {
          const real = () => target.update(k, v, rev);
          const fault = faults.shift();
          return fault ? fault(real) : real();
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function setup(t: Test, faults: Fault[], leaseMs = LEASE_MS) {
  const nats = await withNats(t);
  const nc = await connectNats(nats.url, 'partitions-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs });
  const kv = await new Kvm(nc).open(buckets.owners);
  const released: { p: number; why: string }[] = [];
  const owner: PartitionOwner = ownPartitions(
    faulty(kv, faults),
    { workerId: 'w_1', partitions: 1, leaseMs, log: pino({ level: 'silent' }) },
    { acquired() {}, released: (p, why) => void released.push({ p, why }) },
  );
  t.teardown(() => owner.stop());
  await owner.ready;
  t.strictSame(owner.owned(), [0], 'the only worker holds the partition');
  return { kv, owner, released };
}

const holder = async (kv: KV) => (await kv.get('partition.0'))?.string() ?? null;

t.test('a renewal that landed but whose answer was lost keeps the lease', async (t) => {
  const { kv, owner, released } = await setup(t, [
    async (real) => {
      await real();
      throw new Error('TIMEOUT');
    },
  ]);
  await sleep(LEASE_MS * 2); // the faulty renewal and the ones after it
  t.strictSame(released, [], 'the partition was never given up');
  t.strictSame(owner.owned(), [0], 'still served');
  t.ok(owner.holds(0), 'and surely ours');
  t.equal(await holder(kv), 'w_1', 'the bucket names us');
});

t.test('a renewal that failed before it landed keeps the lease the bucket still gives us', async (t) => {
  const { kv, owner, released } = await setup(t, [
    async () => {
      throw new Error('503 no responders');
    },
  ]);
  await sleep(LEASE_MS * 2);
  t.strictSame(released, [], 'the partition was never given up');
  t.ok(owner.holds(0), 'the next renewal, against the same revision, made it surely ours again');
  t.equal(await holder(kv), 'w_1');
});

t.test('a late renewal is waited for, not answered with "not the owner"', async (t) => {
  // A longer lease here. The claim at 0 is surely ours until 5 s (lease − margin); the first renewal
  // goes out at 2 s (a round is lease/3) and lands, but its answer comes only at 6 s: from 5 s to 6 s
  // the lease is held but not surely ours. The server keeps it until 8 s (the renewal's TTL), room
  // for the next renewal on a loaded machine.
  const lease = 6_000;
  const { owner, released } = await setup(
    t,
    [
      async (real) => {
        const rev = await real();
        await sleep(4_000); // the answer arrives after the lease stopped being surely ours
        return rev;
      },
    ],
    lease,
  );
  let lapsed = false;
  for (let i = 0; i < 300 && !lapsed; i++) {
    lapsed = !owner.holds(0);
    if (!lapsed) await sleep(50);
  }
  t.ok(lapsed, 'the slow renewal left the lease not surely ours for a while');
  const t0 = Date.now();
  t.ok(await owner.sure(0, lease), 'a caller waiting for it is told the partition is ours');
  t.ok(Date.now() - t0 < lease, `in ${Date.now() - t0} ms`);
  t.strictSame(released, [], 'the partition was never given up');
});

t.test('a lease someone else took is given up, and callers are turned away', async (t) => {
  const { kv, owner, released } = await setup(t, []);
  // Another writer takes the key (as if our lease had expired and a second worker claimed it).
  await kv.put('partition.0', 'w_2');
  let gone = false;
  for (let i = 0; i < 60 && !gone; i++) {
    gone = released.length > 0;
    if (!gone) await sleep(50);
  }
  t.strictSame(released, [{ p: 0, why: 'lost' }], 'released as lost');
  t.notOk(owner.holds(0), 'not ours');
  t.equal(await owner.sure(0, LEASE_MS), false, 'sure() says no without waiting for a lease');
  t.equal(await holder(kv), 'w_2');
});
