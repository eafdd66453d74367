// Every ops command runs as an operator runs it (`tsx ops/cli.ts …`, a separate process) against a
// live stack, found through NATS_URL / GATEWAY_URL / ADMIN_TOKEN, and its --json carries real values.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { partitionOf } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

const exec = promisify(execFile);
// Each ops command is a fresh tsx process (seconds each on a loaded machine).
t.setTimeout(600_000);
const TSX = path.resolve('node_modules/.bin/tsx');

t.test('ops streams, consumers, partitions, intent, merchant against a live stack', async (t) => {
  const receiver = await startReceiver(t);
  const stack = await startStack(t);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-ops-'));
  t.teardown(() => fs.rm(dataDir, { recursive: true, force: true }));
  const env = { ...process.env, NATS_URL: stack.nats.url, GATEWAY_URL: stack.url, ADMIN_TOKEN: stack.adminToken, DATA_DIR: dataDir, PARTITIONS: '4' };
  // At most three CLI processes at once: ten node starts side by side on a loaded 2-core machine
  // took longer than the timeout in one CI run (every one of them killed).
  let running = 0;
  const waiting: (() => void)[] = [];
  const ops = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    while (running >= 3) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      const r = await exec(TSX, ['ops/cli.ts', ...args], { env, timeout: 120_000, maxBuffer: 16 << 20 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await ops(...args, '--json');
    t.equal(r.code, 0, `ops ${args.join(' ')} exits 0 ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  // merchant onboard: through the admin API, keys printed once.
  const onboarded = await json<{ merchant_id: string; secret_key: string; webhook_endpoint_id: string }>(
    'merchant', 'onboard', '--name', 'Ops Store', '--address', '1 Ops Road', '--gst-id', '29ABCDE1234F1Z5', '--callback-url', receiver.url, '--events', '*',
  );
  t.match(onboarded.merchant_id, /^acct_/);
  t.match(onboarded.secret_key, /^sk_test_/);
  const shown = await json<{ id: string; name: string }>('merchant', 'show', onboarded.merchant_id);
  t.equal(shown.name, 'Ops Store');
  const missing = await ops('merchant', 'show', 'acct_nope');
  t.equal(missing.code, 1);
  t.match(missing.stderr, /404/);

  // Key rotation: a new secret key, the old one valid for the overlap; both authenticate.
  const rolled = await json<{ secret: string; previous: { expires_at: number | null }[] }>('merchant', 'roll-key', onboarded.merchant_id, '--mode', 'test', '--expires-in', '600');
  t.match(rolled.secret, /^sk_test_/);
  t.not(rolled.secret, onboarded.secret_key);
  t.ok(rolled.previous.length >= 1 && rolled.previous.every((p) => typeof p.expires_at === 'number'), 'the old key got an expiry');
  for (const key of [rolled.secret, onboarded.secret_key]) {
    const r = await fetch(`${stack.url}/v1/payment_intents?limit=1`, { headers: { authorization: `Bearer ${key}` } });
    t.equal(r.status, 200, 'old and new secret keys both work during the overlap');
  }
  const keys = await json<{ data: unknown[] }>('merchant', 'keys', onboarded.merchant_id);
  t.ok(keys.data.length >= 5, 'the key list shows the rolled key beside the onboarding ones');
  t.notOk(JSON.stringify(keys).includes(rolled.secret), 'the key list never shows a secret');
  const badMode = await ops('merchant', 'roll-key', onboarded.merchant_id, '--mode', 'prod');
  t.equal(badMode.code, 2);

  // A declined then a successful attempt on one intent, with a correlation id.
  const sk = onboarded.secret_key;
  const post = (p: string, body: Record<string, string>) =>
    fetch(`${stack.url}${p}`, { method: 'POST', headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/x-www-form-urlencoded', 'x-correlation-id': 'order-77' }, body: new URLSearchParams(body) });
  const created = await post('/v1/payment_intents', { amount: '5000', currency: 'usd' });
  const pi = ((await created.json()) as { id: string }).id;
  const declined = await post(`/v1/payment_intents/${pi}/confirm`, { payment_method: 'pm_card_visa_chargeDeclined' });
  t.equal(declined.status, 402);
  // A card the vault holds (pm_…), not a magic test id: `ops intent pm_…` finds its merchant from the vault's keys.
  const pm = ((await (await post('/v1/payment_methods', { type: 'card', 'card[number]': '4242424242424242', 'card[exp_month]': '12', 'card[exp_year]': '2034', 'card[cvc]': '123' })).json()) as { id: string }).id;
  t.match(pm, /^pm_[0-9a-f]+$/);
  const ok = await post(`/v1/payment_intents/${pi}/confirm`, { payment_method: pm });
  t.equal(ok.status, 200);
  const okRid = ok.headers.get('request-id')!;
  const intentBody = (await ok.json()) as { latest_charge: string };
  await eventually(async () => receiver.received.some((r) => r.body.includes('"payment_intent.succeeded"') && r.body.includes(pi)), 30_000, 200);

  // streams
  const [streams, allStreams, streamsTable] = await Promise.all([
    json<{ stream: string; messages: number; last_seq: number; age_s: number | null; bytes: number }[]>('streams'),
    json<{ stream: string }[]>('streams', '--all'),
    ops('streams'),
  ]);
  const events = streams.find((s) => s.stream === 'PAY_EVENTS');
  t.ok(events && events.messages >= 6 && events.last_seq >= events.messages && events.bytes > 0, 'PAY_EVENTS with its commits');
  t.ok(events!.age_s !== null && events!.age_s >= 0);
  t.notOk(streams.some((s) => s.stream.startsWith('KV_')), 'KV streams only with --all');
  t.ok(allStreams.some((s) => s.stream === 'KV_pay_owners'));
  t.match(streamsTable.stdout, /^STREAM\s+MESSAGES\s+BYTES/m, 'a table for people');

  // consumers
  const cons = await eventually(async () => {
    const c = await json<{ stream: string; consumer: string; pending: number; ack_pending: number; redelivered: number; behind: number }[]>('consumers');
    const proj = c.find((x) => x.consumer === 'projector');
    return proj && proj.pending === 0 && proj.behind === 0 ? c : null;
  }, 30_000, 1_000);
  const durableNames = cons.map((c) => c.consumer);
  for (const d of ['projector', 'receipts_projector', 'reconcile_tasks', 'webhook_delivery', 'webhook_fanout', 'archive_events', 'archive_webhooks']) t.ok(durableNames.includes(d), `durable ${d} listed`);
  t.ok(cons.every((c) => c.redelivered === 0), 'nothing redelivered');
  const onlyHooks = await json<{ stream: string }[]>('consumers', '--stream', 'PAY_WEBHOOKS');
  t.ok(onlyHooks.length >= 2 && onlyHooks.every((c) => c.stream === 'PAY_WEBHOOKS'), 'only PAY_WEBHOOKS durables');
  t.ok(['webhook_delivery', 'receipts_projector'].every((d) => onlyHooks.some((c) => (c as { consumer?: string }).consumer === d)));
  t.equal((await ops('consumers', '--stream', 'NOPE')).code, 1);

  // partitions
  const parts = await json<{ partitions: { partition: number; owner: string | null; expires_in_ms: number | null }[]; workers: { worker: string; partitions: number }[]; unowned: number[] }>('partitions');
  t.equal(parts.partitions.length, 4);
  t.same(parts.unowned, []);
  const mine = parts.partitions.find((p) => p.partition === partitionOf(onboarded.merchant_id, 4));
  t.equal(mine?.owner, stack.config.workerId);
  t.ok(mine!.expires_in_ms! > 0 && mine!.expires_in_ms! <= stack.config.leaseMs);
  t.same(parts.workers.map((w) => [w.worker, w.partitions]), [[stack.config.workerId, 4]]);

  // intent: the whole story, by the intent, by its charge, by the payment method.
  type Story = {
    intent_id: string;
    status: string;
    request_ids: string[];
    correlation_ids: string[];
    commits: { command: string; events: { type: string }[]; request_id: string; writer: string }[];
    attempts: { id: string; status: string; payment_method: string; network_ref: string | null; decline_code: string | null }[];
    webhooks: { event_type: string; status: string; tries: { status_code: number }[] }[];
  };
  const story = await eventually(async () => {
    const s = await json<Story>('intent', pi);
    return s.webhooks.some((w) => w.event_type === 'payment_intent.succeeded' && w.status === 'delivered') ? s : null;
  }, 30_000, 1_000);
  t.equal(story.intent_id, pi);
  t.equal(story.status, 'succeeded');
  t.ok(story.request_ids.includes(okRid), 'the confirm request id is in the story');
  t.same(story.correlation_ids, ['order-77']);
  t.ok(story.commits.every((c) => c.writer === stack.config.workerId));
  t.same(story.attempts.map((a) => a.status), ['failed', 'succeeded']);
  t.equal(story.attempts[0]!.decline_code, 'generic_decline');
  t.match(story.attempts[1]!.network_ref ?? '', /\S/, 'the EPN reference of the approved attempt');
  t.equal(story.attempts[1]!.id, intentBody.latest_charge);
  const hook = story.webhooks.find((w) => w.event_type === 'payment_intent.succeeded')!;
  t.equal(hook.tries[0]?.status_code, 200);
  t.ok(story.webhooks.some((w) => w.event_type === 'payment_intent.payment_failed'), 'the decline webhook too');
  const byCharge = await json<Story>('intent', intentBody.latest_charge);
  t.equal(byCharge.intent_id, pi, 'found by its charge id');
  t.equal(story.attempts[1]!.payment_method, pm);
  const [byReq, byCorrelation, byPm, byMagic, magicNoMerchant, human] = await Promise.all([
    json<Story>('intent', okRid),
    json<Story>('intent', '--correlation', 'order-77', '--since', '1h'),
    json<Story>('intent', pm),
    json<Story>('intent', 'pm_card_visa_chargeDeclined', '--merchant', onboarded.merchant_id),
    ops('intent', 'pm_card_visa_chargeDeclined'),
    ops('intent', pi),
  ]);
  t.equal(byReq.intent_id, pi, 'found by the request id of its confirm');
  t.equal(byCorrelation.intent_id, pi, 'found by the caller\'s correlation id');
  t.equal(byPm.intent_id, pi, 'found by its payment method');
  t.equal(byMagic.intent_id, pi, 'a magic test id with --merchant');
  t.equal(magicNoMerchant.code, 1);
  t.match(magicNoMerchant.stderr, /pass --merchant/);
  t.match(human.stdout, /COMMITS \(PAY_EVENTS\)/);
  t.match(human.stdout, new RegExp(okRid));

  // --help on every command, and usage errors exit 2 (side by side: each is its own process).
  const names = ['streams', 'consumers', 'partitions', 'intent', 'merchant'];
  const [overview, helps, usage] = await Promise.all([
    ops('--help'),
    Promise.all(names.map((c) => ops(c, '--help'))),
    Promise.all([ops('intent'), ops('intent', 'xx_1'), ops('merchant', 'onboard', '--name', 'x'), ops('intent', 'req_0123456789abcdef', '--since', 'soon')]),
  ]);
  names.forEach((c, i) => {
    t.equal(helps[i]!.code, 0);
    t.match(helps[i]!.stdout, new RegExp(`^usage: npm run ops -- ${c}`), `${c} --help`);
    t.match(helps[i]!.stdout, /--json/);
    t.match(overview.stdout, new RegExp(`\\n  ${c}\\s`), `the overview lists ${c}`);
  });
  t.same(usage.map((u) => u.code), [2, 2, 2, 2], 'usage errors exit 2');
  t.match(usage[0]!.stderr, /which intent\?/);
});
