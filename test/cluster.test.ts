// Clustered mode under chaos (issue 12 item 2): a 3-node JetStream cluster on this machine (own ports
// and store dirs, sync_interval always), every stream and bucket at R3 (NATS_REPLICAS=3), a node with
// every role in this process and two extra actor workers as processes, so partitions have distinct
// owners. Merchants pay through the official Stripe SDK at a steady rate (open loop: arrivals do not
// wait for completions), each payment retried with its Idempotency-Key on 5xx and connection errors,
// like a real merchant. Meanwhile:
//   (a) the PAY_EVENTS stream leader is SIGKILLed, then restarted;
//   (b) the actor worker process that owns a loaded partition (KV pay_owners) is SIGKILLed, then restarted;
//   (c) the KV pay_owners leader is SIGKILLed, then restarted.
// Then: every payment answered succeeded is succeeded when retrieved, no intent has two succeeded
// attempts (nor two approved authorizations at the network), and chaos/history.ts finds every
// aggregate's history linear. The pause each fault causes is measured and bounded.
// PAYNATS_TEST_LOG_DIR=<dir> keeps the in-process node's log there (cluster-node.log) for diagnosis.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import t from 'tap';
import pino from 'pino';
import Stripe from 'stripe';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Intent } from '../actors/mod.ts';
import { checkAggregateHistories } from '../chaos/history.ts';
import { loadConfig } from '../config/config.ts';
import { buildEpnServer } from '../epn/sim/server.ts';
import type { WireInquiryResponse } from '../epn/wire.ts';
import { buckets, connectNats } from '../nats/mod.ts';
import { startNatsCluster, startNatsServer } from '../nats/server.ts';
import { startNode } from '../runtime/node.ts';
import { decodeCommit } from '../streams/codec.ts';
import { EVENTS_STREAM, partitionOf, subjects } from '../streams/subjects.ts';
import { pool } from './helpers/stack.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';
import { eventually } from './helpers/launcher.ts';

// The whole file may run longer than tap's default per-file timeout (package.json tap.timeout).
t.setTimeout(600_000);

const PARTITIONS = 6; // a fair share of 2 each for w_main, w_1, w_2 (runtime/partitions.ts: ceil(partitions ÷ workers))
const LEASE_MS = 2_000;
const RATE_PER_S = 8; // payment arrivals per second, round-robin over the merchants
const PAYMENT_DEADLINE_MS = 90_000; // a merchant gives up on a payment after this long
const PAUSE_BOUND_MS = 30_000;

const hex = (n = 3) => randomBytes(n).toString('hex');


interface Payment {
  i: number;
  merchant: number;
  partition: number;
  key: string;
  startedAt: number;
  doneAt?: number;
  intentId?: string;
  status?: string;
  tries: number;
  errors: string[];
}

interface Fault {
  name: string;
  at: number;
  /** Until the next fault or restart (at most 60 s): the window its pause is measured in. */
  end?: number;
  /** Partitions whose payments it can stop (all for a broker fault). */
  partitions: number[];
  detail: string;
}

t.test('3-node cluster at R3: leader and owner kills under load, histories stay linear', { timeout: 480_000 }, async (t) => {
  const t0 = Date.now();
  const mark = (s: string) => t.comment(`+${((Date.now() - t0) / 1000).toFixed(1)} s ${s}`);
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-cluster-'));
  const dataDir = path.join(baseDir, 'data');
  await fs.mkdir(dataDir, { recursive: true });

  // Everything is torn down here, in order: load, workers, node, simulator, cluster, files.
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  t.teardown(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch((err: unknown) => process.stderr.write(`cleanup: ${(err as Error).message}\n`));
    await fs.rm(baseDir, { recursive: true, force: true });
  });

  // ── the cluster ─────────────────────────────────────────────────────────────
  const cluster = await startNatsCluster({ baseDir: path.join(baseDir, 'nats'), nodes: 3, syncInterval: 'always', name: `pc${hex()}` });
  cleanups.push(() => cluster.stop());
  mark(`cluster up: ${cluster.servers.map((s) => `${s.name}=${s.url}`).join(' ')}`);

  // ── the node (every role) in this process, against the cluster ─────────────
  const epn = buildEpnServer({ latencyMs: 0, ledgerPath: path.join(dataDir, 'epn', 'ledger.jsonl'), logger: pino({ level: 'warn' }) });
  const epnUrl = await epn.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => epn.close());
  const adminToken = 'adm_test_0123456789abcdef';
  const common = {
    NATS_URL: cluster.url,
    NATS_REPLICAS: '3',
    EPN_URL: epnUrl,
    DATA_DIR: dataDir,
    PARTITIONS: String(PARTITIONS),
    LEASE_MS: String(LEASE_MS),
    // A command in flight on a killed worker times out after EPN_TIMEOUT_MS + 15 s (runtime/client.ts).
    EPN_TIMEOUT_MS: '2000',
    RATE_LIMIT_LIVE: '100000',
    RATE_LIMIT_TEST: '100000',
  };
  const config = loadConfig({ ...common, ADMIN_TOKEN: adminToken, PORT: '0', LOG_LEVEL: 'info', WORKER_ID: 'w_main' });
  t.equal(config.natsReplicas, 3, 'NATS_REPLICAS=3');
  const logs: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (logs.push(...c.toString().split('\n').filter(Boolean)), cb()) }));
  const node = await startNode(config, log);
  cleanups.push(() => node.stop());
  const url = node.url!;
  mark(`node w_main up at ${url}`);

  const nc = await connectNats(cluster.url, 'cluster-test');
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const events = await jsm.streams.info(EVENTS_STREAM);
  t.equal(events.config.num_replicas, 3, 'PAY_EVENTS at R3');
  t.equal(events.config.storage, 'file');
  t.equal((events.cluster?.replicas ?? []).length, 2, 'PAY_EVENTS has a leader and two replicas');
  for (const b of [buckets.idempotencyInFlight, buckets.owners, buckets.vaultCvc]) {
    const s = await jsm.streams.info(`KV_${b}`);
    t.equal(s.config.num_replicas, 3, `KV ${b} (${s.config.storage} storage) at R3`);
  }
  const projector = await jsm.consumers.info(EVENTS_STREAM, 'projector');
  t.equal((projector.cluster?.replicas ?? []).length, 2, 'the projector durable is replicated too');

  // ── two actor worker processes ──────────────────────────────────────────────
  const workerEnv = { ...common, ROLES: 'actors', LOG_LEVEL: 'info' };
  const workers = new Map<string, WorkerProcess>();
  const startWorker = (id: string) => {
    const w = spawnWorker(id, workerEnv);
    workers.set(id, w);
    return w;
  };
  cleanups.push(async () => {
    for (const w of workers.values()) {
      w.kill('SIGTERM');
      await Promise.race([w.exited, sleep(10_000)]);
      w.kill('SIGKILL');
    }
  });
  startWorker('w_1');
  startWorker('w_2');
  const workerTail = () =>
    [...workers.values()].map((w) => `${w.id} (alive ${w.isAlive()}): ${[...w.raw.slice(-10), ...w.logs.slice(-10).map((l) => JSON.stringify(l))].join('\n')}`).join('\n');
  const owners = await new Kvm(nc).open(buckets.owners);
  const ownership = async () => {
    const held = new Map<number, string>();
    for (let p = 0; p < PARTITIONS; p++) {
      const e = await owners.get(`partition.${p}`).catch(() => null);
      if (e && e.operation === 'PUT') held.set(p, e.string());
    }
    return held;
  };
  const before = await eventually(
    'the worker processes own partitions',
    async () => {
      const o = await ownership();
      const by = new Set(o.values());
      return o.size === PARTITIONS && by.has('w_1') && by.has('w_2') ? o : null;
    },
    60_000,
    250,
  ).catch(async (err: unknown) => {
    throw new Error(`${(err as Error).message}; ownership ${JSON.stringify(Object.fromEntries(await ownership()))}\n${workerTail()}`);
  });
  mark(`ownership: ${JSON.stringify(Object.fromEntries(before))}`);
  t.ok(new Set(before.values()).size >= 2, 'partitions have distinct owners');

  // ── merchants, one per partition ────────────────────────────────────────────
  const tag = hex();
  const merchants: { id: string; partition: number; stripe: Stripe }[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  cleanups.push(() => agent.destroy());
  const u = new URL(url);
  for (let p = 0; p < PARTITIONS; p++) {
    let id = '';
    for (let j = 0; ; j++) {
      id = `acct_cl${tag}_${p}_${j}`;
      if (partitionOf(id, PARTITIONS) === p) break;
    }
    const res = await fetch(`${url}/admin/merchants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': `onboard-${id}` },
      body: JSON.stringify({ merchant_id: id, name: 'Cluster Store', address: '1 Test Road', gst_id: '29ABCDE1234F1Z5', events: [] }),
    });
    t.equal(res.status, 201, `onboard ${id} (partition ${p})`);
    const b = (await res.json()) as { secret_key: string };
    merchants.push({
      id,
      partition: p,
      // Our own retries below (same key), so the pause is measured, not hidden in SDK backoff.
      stripe: new Stripe(b.secret_key, { host: u.hostname, port: Number(u.port), protocol: 'http', maxNetworkRetries: 0, timeout: 30_000, telemetry: false, httpClient: Stripe.createNodeHttpClient(agent) }),
    });
  }

  // ── the load: open loop, RATE_PER_S arrivals ────────────────────────────────
  const payments: Payment[] = [];
  const failures: string[] = [];
  const retryable = (err: unknown) => {
    const e = err as { type?: string; statusCode?: number };
    return e.type === 'StripeConnectionError' || (e.statusCode !== undefined && (e.statusCode >= 500 || e.statusCode === 409 || e.statusCode === 429));
  };
  const pay = async (p: Payment) => {
    const m = merchants[p.merchant]!;
    for (;;) {
      p.tries++;
      try {
        const pi = await m.stripe.paymentIntents.create({ amount: 1_000 + p.i, currency: 'usd', payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: p.key });
        p.doneAt = Date.now();
        p.intentId = pi.id;
        p.status = pi.status;
        // processing: the attempt is in doubt (its outcome was not recorded before a fault); the
        // reconciler settles it. A merchant waits for the webhook or polls; the check below polls.
        if (pi.status !== 'succeeded' && pi.status !== 'processing') failures.push(`payment ${p.i}: ${pi.status}`);
        return;
      } catch (err) {
        const e = err as { type?: string; statusCode?: number; message?: string };
        p.errors.push(`${e.statusCode ?? e.type}: ${e.message}`);
        if (!retryable(err) || Date.now() - p.startedAt > PAYMENT_DEADLINE_MS) {
          failures.push(`payment ${p.i} (${p.key}) after ${p.tries} tries: ${p.errors.slice(-3).join(' | ')}`);
          return;
        }
        await sleep(250);
      }
    }
  };
  const inflight = new Set<Promise<void>>();
  let loading = true;
  const arrivals = (async () => {
    for (let i = 0; loading; i++) {
      const merchant = i % merchants.length;
      const p: Payment = { i, merchant, partition: merchants[merchant]!.partition, key: `cl-${tag}-${i}`, startedAt: Date.now(), tries: 0, errors: [] };
      payments.push(p);
      const pr = pay(p).finally(() => inflight.delete(pr));
      inflight.add(pr);
      await sleep(1000 / RATE_PER_S);
    }
  })();
  cleanups.push(async () => {
    loading = false;
    await arrivals;
  });
  const completed = () => payments.filter((p) => p.doneAt !== undefined).length;
  /** A payment that started after `at` (on one of `parts`) has completed: the system serves again. */
  const servesAgain = (at: number, parts: number[]) =>
    eventually(`payments complete again after the fault at +${((at - t0) / 1000).toFixed(1)} s`, () => payments.some((p) => p.startedAt > at && p.doneAt !== undefined && parts.includes(p.partition)), 60_000, 50);

  const faults: Fault[] = [];
  const all = Array.from({ length: PARTITIONS }, (_, p) => p);
  // Warm: at least 10 payments through before the first fault. On a loaded machine the first
  // payments after a cold start of four processes take seconds each, so this waits for them (bounded)
  // rather than counting what a fixed 5 s let through.
  await sleep(5_000);
  await eventually('10 payments completed before any fault', () => completed() > 10, 60_000, 100).catch(() => {});
  mark(`warm: ${completed()} payments completed`);
  t.ok(completed() > 10, 'payments flow before any fault');

  // (a) the PAY_EVENTS stream leader
  {
    const leader = await cluster.leaderOf(EVENTS_STREAM);
    const meta = await cluster.metaLeader();
    const at = Date.now();
    cluster.kill(leader);
    faults.push({ name: 'PAY_EVENTS leader SIGKILL', at, partitions: all, detail: `${cluster.servers[leader]!.name}${meta === leader ? ' (also the meta leader)' : ''}` });
    mark(`(a) SIGKILLed ${cluster.servers[leader]!.name}, leader of ${EVENTS_STREAM}${meta === leader ? ' and meta leader' : ''}`);
    await servesAgain(at, all);
    const next = await cluster.leaderOf(EVENTS_STREAM);
    t.not(next, leader, `a new ${EVENTS_STREAM} leader: ${cluster.servers[next]!.name}`);
    mark(`(a) serving again; new leader ${cluster.servers[next]!.name}`);
    await sleep(3_000);
    const r0 = Date.now();
    faults.push({ name: 'restart of the killed server (a)', at: r0, partitions: all, detail: cluster.servers[leader]!.name });
    await cluster.restart(leader);
    mark(`(a) ${cluster.servers[leader]!.name} restarted and current in ${Date.now() - r0} ms`);
    await sleep(3_000);
  }

  // (b) the worker process owning a loaded partition
  {
    const held = await ownership();
    const victimId = ['w_1', 'w_2'].find((w) => [...held.values()].includes(w))!;
    t.ok(victimId, 'a worker process owns a partition');
    const victim = workers.get(victimId)!;
    const parts = [...held.entries()].filter(([, w]) => w === victimId).map(([p]) => p);
    const at = Date.now();
    victim.kill('SIGKILL');
    faults.push({ name: 'partition owner SIGKILL', at, partitions: parts, detail: `${victimId} (pid ${victim.pid}) owning partitions ${JSON.stringify(parts)}` });
    mark(`(b) SIGKILLed worker ${victimId} (pid ${victim.pid}), owner of partitions ${JSON.stringify(parts)}`);
    await victim.exited;
    await servesAgain(at, parts);
    mark(`(b) serving its partitions again: ${JSON.stringify(Object.fromEntries(await ownership()))}`);
    await sleep(3_000);
    faults.push({ name: 'restart of the killed worker (b)', at: Date.now(), partitions: all, detail: `${victimId}: partitions move back to it` });
    startWorker(victimId);
    await eventually(`${victimId} restarted and owns a partition again`, async () => [...(await ownership()).values()].includes(victimId), 90_000, 250);
    mark(`(b) ${victimId} restarted: ${JSON.stringify(Object.fromEntries(await ownership()))}`);
    await sleep(3_000);
  }

  // (c) the KV pay_owners leader (the partition leases' stream)
  {
    const leader = await cluster.leaderOf(`KV_${buckets.owners}`);
    const at = Date.now();
    cluster.kill(leader);
    faults.push({ name: 'KV pay_owners leader SIGKILL', at, partitions: all, detail: cluster.servers[leader]!.name });
    mark(`(c) SIGKILLed ${cluster.servers[leader]!.name}, leader of KV_${buckets.owners}`);
    await servesAgain(at, all);
    mark(`(c) serving again`);
    await sleep(3_000);
    const r0 = Date.now();
    faults.push({ name: 'restart of the killed server (c)', at: r0, partitions: all, detail: cluster.servers[leader]!.name });
    await cluster.restart(leader);
    mark(`(c) ${cluster.servers[leader]!.name} restarted and current in ${Date.now() - r0} ms`);
    await sleep(3_000);
  }

  faults.push({ name: 'calm', at: Date.now(), partitions: all, detail: 'no fault' });
  loading = false;
  await arrivals;
  mark(`arrivals stopped: ${payments.length} payments, ${inflight.size} still in flight`);
  await eventually('every payment answered', () => inflight.size === 0, PAYMENT_DEADLINE_MS + 35_000, 200);
  mark(`load done: ${completed()} completed, ${failures.length} failed`);

  // ── the pause each fault caused ─────────────────────────────────────────────
  for (const [k, f] of faults.entries()) f.end = Math.min(f.at + 60_000, faults[k + 1]?.at ?? Infinity);
  for (const f of faults.slice(0, -1)) {
    const done = payments.filter((p) => p.doneAt !== undefined && f.partitions.includes(p.partition)).map((p) => p.doneAt!).sort((a, b) => a - b);
    // Longest stretch without a completion on the affected partitions, from the event to the next one.
    let gap = 0;
    let prev = f.at;
    for (const d of done) {
      if (d <= f.at) continue;
      if (d > f.end!) break;
      gap = Math.max(gap, d - prev);
      prev = d;
    }
    if (prev === f.at) gap = f.end! - f.at; // nothing completed in the window
    const firstNew = payments.filter((p) => p.startedAt > f.at && p.doneAt !== undefined && f.partitions.includes(p.partition)).reduce((m, p) => Math.min(m, p.doneAt!), Infinity) - f.at;
    const touched = payments.filter((p) => f.partitions.includes(p.partition) && p.startedAt <= f.at + gap && (p.doneAt ?? Infinity) > f.at);
    const worst = touched.reduce((m, p) => Math.max(m, (p.doneAt ?? Date.now()) - p.startedAt), 0);
    t.comment(`PAUSE ${f.name} [${f.detail}]: longest gap in completions ${gap} ms; kill → first completion of a payment started after it ${firstNew} ms; slowest payment around it ${worst} ms (${touched.length} payments in flight or started during the gap, up to ${Math.max(...touched.map((p) => p.tries), 0)} tries)`);
    t.ok(gap < PAUSE_BOUND_MS, `${f.name}: payments paused ${gap} ms (< ${PAUSE_BOUND_MS} ms)`);
    t.ok(firstNew < PAUSE_BOUND_MS, `${f.name}: new payments served ${firstNew} ms after the kill`);
  }

  // ── every acknowledged payment is what it was acknowledged as ──────────────
  t.same(failures, [], 'every payment answered succeeded or processing (retried with its Idempotency-Key)');
  const ok = payments.filter((p) => p.status === 'succeeded');
  const processing = payments.filter((p) => p.status === 'processing');
  t.equal(ok.length + processing.length, payments.length, `all ${payments.length} payments answered`);
  mark(`${ok.length} answered succeeded, ${processing.length} processing (in doubt until reconciled)`);
  const problems: string[] = [];
  await pool([...ok, ...processing], 8, async (p) => {
    const m = merchants[p.merchant]!;
    // An in-doubt payment is settled by the reconciler (it asks the network): poll like a merchant.
    const pi = await eventually(
      `${p.intentId} settles`,
      async () => {
        const x = await m.stripe.paymentIntents.retrieve(p.intentId!);
        return x.status === 'processing' && p.status === 'processing' ? null : x;
      },
      60_000,
      500,
    ).catch(() => m.stripe.paymentIntents.retrieve(p.intentId!));
    if (pi.status !== 'succeeded') problems.push(`${p.intentId}: answered ${p.status}, retrieved ${pi.status}`);
    const last = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: subjects.intent(m.id, p.intentId!) });
    if (!last) {
      problems.push(`${p.intentId}: no history`);
      return;
    }
    const state = decodeCommit(last.data).state as Intent;
    const won = state.attempts.filter((a) => a.status === 'succeeded');
    if (won.length !== 1) problems.push(`${p.intentId}: ${won.length} succeeded attempts`);
    let approved = 0;
    for (const a of state.attempts) {
      const r = await epn.inject({ method: 'GET', url: `/v1/transactions?reference=${encodeURIComponent(a.id)}` });
      const body = JSON.parse(r.body) as WireInquiryResponse;
      if (body.data.length > 1) problems.push(`${a.id}: ${body.data.length} network transactions`);
      approved += body.data.filter((tx) => tx.status !== 'declined').length;
    }
    if (approved !== 1) problems.push(`${p.intentId}: ${approved} approved authorizations at the network`);
  });
  t.same(problems, [], 'each intent: succeeded when retrieved, one succeeded attempt, one approved authorization');

  // ── every aggregate's history is linear ─────────────────────────────────────
  const audit = await checkAggregateHistories(nc);
  t.same(audit.violations, [], 'no history violation');
  t.ok(audit.aggregates >= payments.length + merchants.length, `${audit.aggregates} aggregates audited`);
  const changes = [...audit.writerChanges.values()].reduce((a, b) => a + b, 0);
  mark(`audit: ${audit.commits} commits of ${audit.aggregates} aggregates, writers ${JSON.stringify(Object.fromEntries(audit.writers))}, ${audit.writerChanges.size} aggregates changed writer (${changes} changes), ${audit.truncated} truncated`);
  const retries = payments.filter((p) => p.tries > 1).length;
  const distinct = [...new Set(payments.flatMap((p) => p.errors))].map((e) => e.replace(/\b(pi|req|cmd)_\w+/g, '…'));
  mark(`distinct errors: ${JSON.stringify([...new Set(distinct)].slice(0, 12))}`);
  if (process.env.PAYNATS_TEST_LOG_DIR) await fs.writeFile(path.join(process.env.PAYNATS_TEST_LOG_DIR, 'cluster-node.log'), logs.join('\n') + '\n');
  mark(`${retries} payments needed a retry; errors seen: ${JSON.stringify(countBy(payments.flatMap((p) => p.errors.map((e) => e.split(':')[0]!))))}`);
});

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

t.test('a single server restarts on the same port and store (RunningNatsServer.restart)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-restart-'));
  const server = await startNatsServer({ storeDir: dir });
  t.teardown(async () => {
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const nc = await connectNats(server.url, 'restart-test');
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'R', subjects: ['r.>'] });
  await jetstream(nc).publish('r.1', 'kept');
  const pid = server.pid;
  await server.restart();
  t.not(server.pid, pid, 'a new process');
  const again = await connectNats(server.url, 'restart-test-2');
  t.teardown(() => again.close());
  const m = await (await jetstreamManager(again)).streams.getMessage('R', { seq: 1 });
  t.equal(m?.string(), 'kept', 'same port, same store: the message is still there');
});
