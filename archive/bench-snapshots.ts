// Snapshot cost: `tsx archive/bench-snapshots.ts [--chunk 10000] [--chunks 3] [--json]`
// Starts its own nats-server; for each chunk of synthetic intent commits (3 per payment) times what
// the archiver adds before storing a chunk (latestSnapshots + saveSnapshots into pay_snapshots), then
// the lookup a blind create makes (readSnapshot of a key that does not exist).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { buckets, declareTopology } from '../nats/mod.ts';
import { startNatsServer } from '../nats/server.ts';
import { latestSnapshots, readSnapshot, saveSnapshots } from '../runtime/snapshots.ts';
import { subjects } from '../streams/subjects.ts';
import type { StreamRecord } from './manifest.ts';
import { syntheticPayment } from './synthetic.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const chunkEvents = Number(arg('chunk', '10000'));
const chunks = Number(arg('chunks', '3'));
const json = process.argv.includes('--json');

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-bench-snapshots-'));
const server = await startNatsServer({ storeDir: path.join(tmp, 'nats') });
const nc = await connect({ servers: server.url });
try {
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const kv = await new Kvm(nc).open(buckets.snapshots);
  let seq = 0;
  let n = 0;
  const perChunk: { records: number; aggregates: number; ms: number }[] = [];
  for (let c = 0; c < chunks; c++) {
    const records: StreamRecord[] = [];
    while (records.length < chunkEvents) {
      for (const commit of syntheticPayment(n, `acct_bench${n % 50}`)) records.push({ seq: ++seq, subject: subjects.intent(commit.merchant_id, commit.aggregate_id), time: Date.now(), data: commit });
      n++;
    }
    const t0 = performance.now();
    const written = await saveSnapshots(kv, latestSnapshots(records));
    perChunk.push({ records: records.length, aggregates: written, ms: Math.round(performance.now() - t0) });
  }
  const misses: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const t0 = performance.now();
    await readSnapshot(kv, subjects.intent('acct_bench0', `pi_missing${i}`));
    misses.push(performance.now() - t0);
  }
  misses.sort((a, b) => a - b);
  const q = (p: number) => Math.round(misses[Math.floor(p * (misses.length - 1))]! * 1000) / 1000;
  const result = { chunks: perChunk, snapshot_miss_ms: { p50: q(0.5), p99: q(0.99) } };
  if (json) console.log(JSON.stringify(result));
  else {
    for (const p of perChunk) console.log(`chunk of ${p.records} commits: ${p.aggregates} snapshots in ${p.ms} ms (${Math.round((p.aggregates / p.ms) * 1000)}/s)`);
    console.log(`readSnapshot miss (a blind create's extra lookup): p50 ${result.snapshot_miss_ms.p50} ms, p99 ${result.snapshot_miss_ms.p99} ms`);
  }
} finally {
  await nc.close();
  await server.stop();
  await fs.rm(tmp, { recursive: true, force: true });
}
