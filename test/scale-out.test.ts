// Scale-out, end to end through the production start mode: `scripts/start.ts` with WORKERS=3 runs the
// main node and two extra actor workers (ROLES=actors). Payments run through the official SDK at
// concurrency 8 (Idempotency-Keys, SDK retries); one extra worker is SIGKILLed in the middle while it
// owns partitions with commands in flight. Then every payment must have completed exactly once:
// each intent succeeded with exactly one succeeded attempt (API, and the intent's whole history in
// PAY_EVENTS), the EPN ledger holds exactly one approved authorization per intent, and partition
// ownership converged on the live workers: the two survivors and w_2, which the supervisor started
// again (its partitions moved away while it was down and came back when it rejoined). Then the main
// node (gateway + PGlite), the EPN simulator and nats-server are SIGKILLed: the supervisor starts
// each again on its port, and payments and list reads go on.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import t from 'tap';
import Stripe from 'stripe';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { WireInquiryResponse } from '../epn/wire.ts';
import { buckets } from '../nats/mod.ts';
import { decodeCommit } from '../streams/codec.ts';
import type { IntentCommit } from '../streams/envelope.ts';
import { EVENTS_STREAM, partitionOf } from '../streams/subjects.ts';
import { eventually, launchStack, readJson, type ProcessesFile } from './helpers/launcher.ts';

const PARTITIONS = 8;
const LEASE_MS = 1_500;
const PAYMENTS = 150;
const CONCURRENCY = 8;
const MERCHANTS = PARTITIONS; // one per partition: every worker's share carries load
const KILL_AFTER = 50; // payments completed before the kill

t.test('WORKERS=3: a worker killed under load, every payment completes exactly once', { timeout: 240_000 }, async (t) => {
  const t0 = Date.now();
  const mark = (s: string) => t.comment(`+${((Date.now() - t0) / 1000).toFixed(1)} s ${s}`);
  const stack = await launchStack(
    t,
    {
      WORKERS: '3',
      PARTITIONS: String(PARTITIONS),
      LEASE_MS: String(LEASE_MS),
      // Commands in flight on the killed worker time out at EPN_TIMEOUT_MS + 15 s (runtime/client.ts).
      EPN_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'warn',
    },
    { prefix: 'paynats-scale-out-' },
  );
  const { demo, processesFile, logFile } = stack;
  mark(`stack up at ${demo.url}`);
  const procs = readJson<ProcessesFile>(processesFile)!;
  const extra = procs.processes.filter((p) => p.name === 'worker');
  t.same(extra.map((p) => p.worker_id).sort(), ['w_1', 'w_2'], 'two extra actor workers');
  t.ok(procs.processes.some((p) => p.name === 'node' && p.worker_id === 'w_main'), 'the main node');

  const nc = await connect({ servers: demo.nats_url, name: 'scale-out-test' });
  t.teardown(() => nc.close());
  const owners = await new Kvm(nc).open(buckets.owners);
  const ownership = async () => {
    const held = new Map<number, string>();
    for (let p = 0; p < PARTITIONS; p++) {
      const e = await owners.get(`partition.${p}`);
      if (e && e.operation === 'PUT') held.set(p, e.string());
    }
    return held;
  };
  const victim = extra.find((p) => p.worker_id === 'w_2')!;
  // The supervisor starts w_2 again after the kill (scripts/start.ts restart): in the end all three share.
  const survivors = ['w_main', 'w_1', 'w_2'];
  // The victim must own something when it dies.
  await eventually('w_2 owns a partition', async () => [...(await ownership()).values()].includes('w_2'), 20_000, 200);
  mark(`ownership before the load: ${JSON.stringify(Object.fromEntries(await ownership()))}`);

  // ── merchants, one per partition ──────────────────────────────────────────────
  const tag = randomBytes(3).toString('hex');
  const merchantIds: string[] = [];
  for (let p = 0; p < MERCHANTS; p++) {
    for (let j = 0; j < 100_000; j++) {
      const id = `acct_so${tag}_${p}_${j}`;
      if (partitionOf(id, PARTITIONS) === p % PARTITIONS) {
        merchantIds.push(id);
        break;
      }
    }
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY + 4 });
  t.teardown(() => agent.destroy());
  const u = new URL(demo.url);
  const merchants: { id: string; stripe: Stripe }[] = [];
  for (const id of merchantIds) {
    const res = await fetch(`${demo.url}/admin/merchants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demo.admin_token}`, 'content-type': 'application/json', 'idempotency-key': `onboard-${id}` },
      body: JSON.stringify({ merchant_id: id, name: 'Scale-out Store', address: '1 Test Road', gst_id: '29ABCDE1234F1Z5', events: [] }),
    });
    t.equal(res.status, 201, `onboard ${id}`);
    const b = (await res.json()) as { secret_key: string };
    merchants.push({
      id,
      stripe: new Stripe(b.secret_key, { host: u.hostname, port: Number(u.port), protocol: 'http', maxNetworkRetries: 3, timeout: 45_000, telemetry: false, httpClient: Stripe.createNodeHttpClient(agent) }),
    });
  }

  // ── the load, and the kill ──────────────────────────────────────────────────
  interface Done {
    i: number;
    merchant: number;
    intentId: string;
    status: string;
    declinedFirst: boolean;
  }
  const done: Done[] = [];
  const failures: string[] = [];
  let next = 0;
  let killedAt = 0;
  /** Confirms in flight: payment → its merchant's partition. */
  const confirming = new Map<number, number>();
  const loadDeadline = Date.now() + 60_000;
  const pay = async (i: number): Promise<void> => {
    const mi = i % merchants.length;
    const { stripe } = merchants[mi]!;
    const key = `so-${tag}-${i}`;
    const declinedFirst = i % 10 === 9;
    const pi = await stripe.paymentIntents.create({ amount: 1_000 + i, currency: 'usd' }, { idempotencyKey: `${key}-create` });
    let attempt = 1;
    if (declinedFirst) {
      const declined = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeDeclined' }, { idempotencyKey: `${key}-confirm-${attempt}` }).then(
        () => null,
        (err: unknown) => err as { type?: string; statusCode?: number },
      );
      if (declined?.type !== 'StripeCardError') throw new Error(`payment ${i}: the declined card was not declined (${JSON.stringify(declined)})`);
      attempt++;
    }
    confirming.set(i, partitionOf(merchants[mi]!.id, PARTITIONS));
    const ok = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' }, { idempotencyKey: `${key}-confirm-${attempt}` }).finally(() => confirming.delete(i));
    done.push({ i, merchant: mi, intentId: pi.id, status: ok.status, declinedFirst });
  };
  const killer = (async () => {
    await eventually('enough payments before the kill', () => done.length >= KILL_AFTER || failures.length > 0 || next >= PAYMENTS, 60_000, 20);
    // Kill it with work in flight: a confirm on one of its partitions.
    let held: number[] = [];
    const busy = await eventually(
      'a confirm in flight on w_2',
      async () => {
        held = [...(await ownership()).entries()].filter(([, w]) => w === 'w_2').map(([p]) => p);
        return [...confirming.values()].some((p) => held.includes(p)) || next >= PAYMENTS;
      },
      10_000,
      5,
    ).catch(() => false);
    t.ok(busy, 'a confirm was in flight on the victim when it was killed');
    t.ok(/runtime\/main\.ts/.test(readFileSync(`/proc/${victim.pid}/cmdline`, 'utf8')), `pid ${victim.pid} is worker w_2`);
    process.kill(victim.pid, 'SIGKILL');
    killedAt = Date.now();
    mark(`SIGKILLed worker w_2 (pid ${victim.pid}) after ${done.length} payments; it held partitions ${JSON.stringify(held)}`);
    t.ok(held.length > 0, 'the killed worker owned partitions');
  })();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= PAYMENTS || Date.now() > loadDeadline) return;
        await pay(i).catch((err: unknown) => failures.push(`payment ${i}: ${(err as Error).message}`));
      }
    }),
  );
  await killer;
  mark(`load done: ${done.length} payments, ${failures.length} failures, ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
  t.same(failures, [], 'no payment failed (the SDK retried with the same Idempotency-Keys)');
  t.equal(done.length, PAYMENTS, `all ${PAYMENTS} payments completed`);
  t.ok(done.every((d) => d.status === 'succeeded'), 'every confirm answered succeeded');
  t.notOk(stack.exited(), 'the stack kept running after the worker died');

  // ── exactly once: the API, the stream, the network ──────────────────────────
  // Every intent's whole history, read once from PAY_EVENTS.
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const histories = new Map<string, IntentCommit[]>();
  const filter = 'pay.evt.intent.>';
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: filter });
  const expected = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  const consumer = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [filter] });
  let read = 0;
  for (let round = 0; read < expected && round < 200; round++) {
    const before = read;
    const it = await consumer.fetch({ max_messages: Math.min(500, expected - read), expires: 2_000 });
    for await (const m of it) {
      read++;
      const c = decodeCommit(m.data) as IntentCommit;
      const l = histories.get(c.aggregate_id);
      if (l) l.push(c);
      else histories.set(c.aggregate_id, [c]);
    }
    if (read === before) break;
  }
  t.equal(read, expected, `read all ${expected} intent commits`);

  let checked = 0;
  const problems: string[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let k = w; k < done.length; k += CONCURRENCY) {
        const d = done[k]!;
        const pi = await merchants[d.merchant]!.stripe.paymentIntents.retrieve(d.intentId);
        if (pi.status !== 'succeeded') problems.push(`${d.intentId}: status ${pi.status}`);
        const h = histories.get(d.intentId) ?? [];
        const succeededEvents = h.flatMap((c) => c.events).filter((e) => e.type === 'attempt.succeeded');
        if (succeededEvents.length !== 1) problems.push(`${d.intentId}: ${succeededEvents.length} attempt.succeeded events in its history`);
        const ids = h.map((c) => c.id);
        if (new Set(ids).size !== ids.length) problems.push(`${d.intentId}: a commit appended twice`);
        const state = h[h.length - 1]?.state;
        const attempts = state?.attempts ?? [];
        const won = attempts.filter((a) => a.status === 'succeeded');
        if (won.length !== 1 || won[0]!.id !== pi.latest_charge) problems.push(`${d.intentId}: succeeded attempts ${JSON.stringify(won.map((a) => a.id))}, latest_charge ${String(pi.latest_charge)}`);
        if (attempts.length !== (d.declinedFirst ? 2 : 1)) problems.push(`${d.intentId}: ${attempts.length} attempts`);
        // The network: exactly one approved authorization among the intent's attempts, the latest charge's.
        let approved = 0;
        for (const a of attempts) {
          const r = await fetch(`${demo.url_epn}/v1/transactions?reference=${encodeURIComponent(a.id)}`);
          const body = (await r.json()) as WireInquiryResponse;
          if (body.data.length > 1) problems.push(`${a.id}: ${body.data.length} network transactions`);
          const tx = body.data[0];
          if (tx && tx.status !== 'declined') {
            approved++;
            if (a.id !== pi.latest_charge) problems.push(`${d.intentId}: approved authorization on ${a.id}, not the latest charge`);
          }
        }
        if (approved !== 1) problems.push(`${d.intentId}: ${approved} approved authorizations at the network`);
        checked++;
      }
    }),
  );
  t.equal(checked, PAYMENTS, `checked every intent`);
  t.same(problems, [], 'each intent: succeeded, one succeeded attempt, one approved authorization');

  // ── ownership converged on the live workers ────────────────────────────────
  const converged = await eventually(
    'ownership converges',
    async () => {
      const held = await ownership();
      if (held.size !== PARTITIONS) return null;
      const by = new Map<string, number>();
      for (const w of held.values()) by.set(w, (by.get(w) ?? 0) + 1);
      const share = Math.ceil(PARTITIONS / survivors.length);
      return [...by.keys()].every((w) => survivors.includes(w)) && [...by.values()].every((n) => n <= share) ? held : null;
    },
    20_000,
    250,
  );
  t.pass(`every partition held by a live worker, at most its fair share: ${JSON.stringify(Object.fromEntries(converged))}`);
  const after = readJson<ProcessesFile>(processesFile)!;
  const w2 = after.processes.filter((p) => p.worker_id === 'w_2');
  t.same(
    w2.map((p) => [p.pid === victim.pid, p.alive]),
    [
      [true, false],
      [false, true],
    ],
    'processes.json: the killed w_2 is gone, and the supervisor started w_2 again as a new process',
  );
  t.ok(after.processes.filter((p) => p.worker_id !== 'w_2').every((p) => p.alive), 'processes.json: the others are alive');
  t.match(readFileSync(logFile, 'utf8'), /worker w_2 exited unexpectedly \(code null, signal SIGKILL\); starting it again/, 'the supervisor said why');
  mark('verified');

  // ── the main node, the network simulator and nats-server killed: started again where they were ──
  // The main node holds the gateway and PGlite (killed mid-write, reopened by the new process);
  // nats-server comes back from its store on its port, and every process reconnects.
  for (const name of ['node', 'epn', 'nats-server']) {
    const old = readJson<ProcessesFile>(processesFile)!.processes.find((p) => p.name === name && p.alive)!;
    process.kill(old.pid, 'SIGKILL');
    const again = await eventually(`${name} started again`, () => readJson<ProcessesFile>(processesFile)!.processes.find((p) => p.name === name && p.alive && p.pid !== old.pid), 45_000, 200);
    mark(`${name}: SIGKILLed pid ${old.pid}, started again as pid ${again.pid}`);
  }
  t.notOk(stack.exited(), 'the stack kept running');
  const { stripe } = merchants[0]!;
  const pi = await eventually(
    'a payment on the same URLs',
    () => stripe.paymentIntents.create({ amount: 1234, currency: 'usd', confirm: true, payment_method: 'pm_card_visa' }, { idempotencyKey: `so-${tag}-after` }).catch(() => null),
    30_000,
    500,
  );
  t.equal(pi.status, 'succeeded', 'the restarted gateway, network and broker take payments on the ports they had');
  const listed = await eventually('the read model answers', () => stripe.paymentIntents.list({ limit: 100 }).catch(() => null), 30_000, 500);
  t.ok(listed.data.length > 0, 'PGlite reopened after the kill: the list endpoint reads it');
  mark('restarts verified');
});
