// Operations: one request id finds a payment's whole story (HTTP response, the command's NATS
// headers, the commits' headers in PAY_EVENTS, the EPN call, the log lines of gateway and worker),
// and /metrics shows every named metric with values that match a scripted run — on the gateway and
// on METRICS_PORT of a process without it.
import { createCommandClient } from '../runtime/client.ts';
import net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { jetstream } from '@nats-io/jetstream';
import { connect, type Msg } from '@nats-io/transport-node';
import { loadConfig } from '../config/config.ts';
import { startNode } from '../runtime/node.ts';
import { subjects } from '../streams/subjects.ts';
import { startStack, eventually, type Stack } from './helpers/stack.ts';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The value of one sample in Prometheus text, by metric name and a subset of its labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !(line.startsWith(name + '{') || line.startsWith(name + ' '))) continue;
    const m = /^(\S+?)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total = (total ?? 0) + Number(m[4]);
  }
  return total;
}

async function pay(stack: Stack, sk: string, pm: string, headers: Record<string, string>) {
  return fetch(`${stack.url}/v1/payment_intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ amount: '2000', currency: 'usd', confirm: 'true', payment_method: pm }),
  });
}

t.test('one request id finds the whole story of a payment', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const commands: Msg[] = [];
  const sub = nc.subscribe('pay.cmd.>', { callback: (_e, msg) => void commands.push(msg) });
  await nc.flush();

  const res = await pay(stack, m.secret_key, 'pm_card_visa', { 'x-correlation-id': 'order-4711' });
  t.equal(res.status, 200);
  const rid = res.headers.get('request-id')!;
  t.match(rid, /^req_[0-9a-f]{16}$/);
  t.equal(res.headers.get('x-correlation-id'), 'order-4711', 'the caller gets its correlation id back');
  const intent = (await res.json()) as { id: string; status: string };
  t.equal(intent.status, 'succeeded');
  sub.unsubscribe();

  // A command that crosses NATS (pay.cmd.<p>) carries the ids as headers. This one-node stack owns
  // every partition, so the gateway ran the payment's commands in process (runtime/client.ts `local`);
  // a command client without that path shows what a split deployment sends.
  const viaNats = commands.find((c) => c.headers?.get('Request-Id') === rid);
  if (viaNats) t.equal(viaNats.headers?.get('Correlation-Id'), 'order-4711');
  const cc = createCommandClient(nc, { partitions: 16, timeoutMs: 10_000 });
  const probe = nc.subscribe('pay.cmd.>', { max: 1 });
  await nc.flush();
  const sent = cc
    .send({ op: 'intent.cancel', merchantId: m.merchant_id, intentId: 'pi_nonexistent', reason: null, ctx: { commandId: 'cmd_probe', livemode: false, requestId: 'req_probe00000000', correlationId: 'order-4711', now: Math.floor(Date.now() / 1000) } })
    .catch(() => null);
  let cmd: Msg | undefined;
  for await (const msg of probe) cmd = msg;
  await sent;
  t.equal(cmd?.headers?.get('Request-Id'), 'req_probe00000000', 'a command over NATS carries Request-Id');
  t.equal(cmd?.headers?.get('Correlation-Id'), 'order-4711', 'and Correlation-Id');

  // Every commit of the intent carries both in PAY_EVENTS.
  const js = jetstream(nc);
  const oc = await js.consumers.get('PAY_EVENTS', { filter_subjects: [subjects.intent(m.merchant_id, intent.id)] });
  const commits: { requestId: string | undefined; correlationId: string | undefined; types: string[] }[] = [];
  for (;;) {
    const msg = await oc.next({ expires: 2_000 });
    if (!msg) break;
    const body = msg.json<{ events: { type: string }[] }>();
    commits.push({ requestId: msg.headers?.get('Request-Id'), correlationId: msg.headers?.get('Correlation-Id'), types: body.events.map((e) => e.type) });
    if (msg.info.pending === 0) break;
  }
  t.ok(commits.length >= 3, `the intent has its commits (${commits.length})`);
  for (const c of commits) {
    t.equal(c.requestId, rid, `${c.types.join(',')} has Request-Id`);
    t.equal(c.correlationId, 'order-4711', `${c.types.join(',')} has Correlation-Id`);
  }

  // The network saw the ids on the authorization.
  const auth = stack.epnRequests.find((r) => r.url === '/v1/authorize' && r.headers['request-id'] === rid);
  t.ok(auth, 'the EPN authorize call carried Request-Id');
  t.equal(auth?.headers['correlation-id'], 'order-4711');

  // Gateway and worker log lines carry the same ids.
  const lines = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.request_id === rid);
  const gatewayLine = lines.find((l) => l.component === 'gateway' && l.msg === 'request');
  t.ok(gatewayLine, 'the gateway logged the request under its id');
  t.equal(gatewayLine?.correlation_id, 'order-4711');
  const workerLines = lines.filter((l) => l.component === 'actors');
  t.ok(workerLines.length >= 1, 'the worker logged the command under the request id');
  t.ok(workerLines.every((l) => l.correlation_id === 'order-4711' && l.intent === intent.id && l.merchant === m.merchant_id));
  t.notOk(stack.logs.some((l) => l.includes('4242424242424242')), 'no PAN in any log line');
});

t.test('/metrics shows each named metric with sane values; METRICS_PORT serves a worker without the gateway', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  // One registry per process: counters also hold the other test's run, so compare with a baseline.
  const before = await (await fetch(`${stack.url}/metrics`)).text();
  const delta = (text: string, name: string, labels: Record<string, string> = {}) => (sample(text, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
  t.equal((await pay(stack, m.secret_key, 'pm_card_visa', { 'idempotency-key': 'k1' })).status, 200);
  t.equal((await pay(stack, m.secret_key, 'pm_card_visa', { 'idempotency-key': 'k1' })).status, 200, 'a replay');
  t.equal((await pay(stack, m.secret_key, 'pm_card_chargeDeclinedInsufficientFunds', {})).status, 402);
  t.equal((await fetch(`${stack.url}/v1/payment_intents/pi_nope`, { headers: { authorization: `Bearer ${m.secret_key}` } })).status, 404);

  const scrape = async (url = `${stack.url}/metrics`) => {
    const r = await fetch(url);
    t.equal(r.status, 200);
    t.match(r.headers.get('content-type'), /text\/plain/);
    return r.text();
  };
  const text = await eventually(async () => {
    const s = await scrape();
    // NATS readings are cached 5 s: wait for one taken after the run (merchant 1 + 2 intents × 3 commits)
    // in which the projector has caught up (lag 0).
    const fresh = (sample(s, 'paynats_stream_messages', { stream: 'PAY_EVENTS' }) ?? 0) >= 7;
    return fresh && sample(s, 'paynats_consumer_pending_messages', { durable: 'projector' }) === 0 ? s : null;
  }, 30_000, 500);

  const merchant = m.merchant_id;
  t.equal(sample(text, 'paynats_payment_authorizations_total', { merchant, outcome: 'approved' }), 1, 'one approval (the replay did not authorize again)');
  t.equal(sample(text, 'paynats_payment_authorizations_total', { merchant, outcome: 'declined', decline_code: 'insufficient_funds' }), 1);
  t.equal(delta(text, 'paynats_epn_request_duration_seconds_count', { operation: 'authorize', result: 'ok' }), 2);
  t.ok(sample(text, 'paynats_epn_request_duration_seconds_sum', { operation: 'authorize' })! > 0);
  t.equal(delta(text, 'paynats_http_request_duration_seconds_count', { method: 'POST', route: '/v1/payment_intents', status: '200' }), 2);
  t.equal(delta(text, 'paynats_http_request_duration_seconds_count', { method: 'POST', route: '/v1/payment_intents', status: '402' }), 1);
  t.equal(delta(text, 'paynats_http_request_duration_seconds_count', { route: '/v1/payment_intents/:id', status: '404' }), 1, 'by route pattern, not raw URL');
  t.notOk(text.includes('pi_nope'), 'no raw ids in labels');
  t.equal(delta(text, 'paynats_idempotency_requests_total', { route: '/v1/payment_intents', result: 'first' }), 1);
  t.equal(delta(text, 'paynats_idempotency_requests_total', { route: '/v1/payment_intents', result: 'replayed' }), 1);
  for (const durable of ['projector', 'webhook_fanout', 'reconcile_tasks', 'webhook_delivery', 'receipts_projector']) {
    t.not(sample(text, 'paynats_consumer_pending_messages', { durable }), undefined, `lag of ${durable}`);
    t.not(sample(text, 'paynats_consumer_redelivered_messages', { durable }), undefined, `redeliveries of ${durable}`);
  }
  t.equal(sample(text, 'paynats_stream_messages', { stream: 'PAY_EVENTS' }), 7, 'merchant + 2 intents with their commits');
  t.ok(sample(text, 'paynats_stream_bytes', { stream: 'PAY_EVENTS' })! > 0);
  t.equal(sample(text, 'paynats_webhook_dead_letter_messages'), 0);
  // One process: its projector and fan-out take the commits its actors appended, without a decode.
  t.ok(sample(text, 'paynats_commit_reads_total', { source: 'appended' })! >= 7, 'commits read as appended (no decode)');
  t.not(sample(text, 'paynats_commit_reads_total', { source: 'decoded' }), undefined, 'and the decoded ones counted');
  t.equal(sample(text, 'paynats_partitions_total'), 4);
  t.equal(sample(text, 'paynats_partitions_owned', { worker: stack.config.workerId }), 4);
  t.equal(sample(text, 'paynats_partitions_with_owner'), 4);
  t.equal(sample(text, 'paynats_partition_owner', { worker: stack.config.workerId }), 4);

  // Readiness: NATS, database, every partition owned, no durable far behind.
  const ready = await fetch(`${stack.url}/readyz`);
  t.equal(ready.status, 200);
  const rz = (await ready.json()) as { status: string; nats: boolean; database: boolean; partitions: { total: number; with_owner: number }; consumer_lag: { ok: boolean; pending: Record<string, number> } };
  t.same({ status: rz.status, nats: rz.nats, database: rz.database, partitions: [rz.partitions.total, rz.partitions.with_owner] }, { status: 'ready', nats: true, database: true, partitions: [4, 4] });
  t.equal(rz.consumer_lag.pending.projector, 0);
  t.ok(rz.consumer_lag.ok);

  // A second worker process-role without the gateway: its own /metrics on METRICS_PORT.
  const port = await freePort();
  const config = loadConfig({ ...process.env, NATS_URL: stack.nats.url, EPN_URL: stack.epnUrl, DATA_DIR: stack.dataDir, ROLES: 'actors', PARTITIONS: '4', METRICS_PORT: String(port), WORKER_ID: 'w_metrics', LOG_LEVEL: 'silent' });
  const worker = await startNode(config, pino({ level: 'silent' }));
  t.teardown(() => worker.stop());
  t.equal(worker.metricsUrl, `http://127.0.0.1:${port}/metrics`);
  const wtext = await eventually(async () => {
    const s = await scrape(worker.metricsUrl!);
    return (sample(s, 'paynats_partitions_owned', { worker: 'w_metrics' }) ?? 0) >= 1 ? s : null;
  }, 30_000, 500);
  t.ok(sample(wtext, 'paynats_consumer_pending_messages', { durable: 'projector' }) !== undefined, 'consumer lag from the worker too');
  t.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
});
