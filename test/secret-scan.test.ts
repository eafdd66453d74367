// After a full flow (cards in test and live mode, one sent as a JWE; payment, capture, refund,
// customer, webhook endpoint with deliveries, restricted key, key roll), nothing anywhere holds a
// card number, a CVC or a plain secret: every message of every stream (events, webhooks, every KV
// bucket and object store), every file NATS and the node wrote, every row of every database
// table, every log line. Also: error bodies carry no stack trace, and the hardening headers.
import t from 'tap';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import Stripe from 'stripe';
import { openDatabase } from '../storage/mod.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

const PAN_TEST = '4000056655665556';
const PAN_LIVE = '5200828282828210';
const PAN_JWE = '378282246310005';
const CVCS = ['937', '846', '7519'];

async function* files(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}

t.test('no PAN, CVC or plain secret at rest or in logs after a full flow', async (t) => {
  const receiver = await startReceiver(t);
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const admin = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${stack.url}${p}`, { method, headers: { authorization: `Bearer ${stack.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return (await r.json()) as any;
  };
  const m = (await stack.onboard({ call_back_url: receiver.url })) as Awaited<ReturnType<typeof stack.onboard>> & { live_secret_key: string; live_publishable_key: string };
  const s = sdk(m.secret_key);

  // Test mode: a stored card with CVC, a customer, a payment, a capture, a refund.
  const we = await s.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
  const cus = await s.customers.create({ email: 'scan@example.com', name: 'Scan Me' });
  const pm = await s.paymentMethods.create({ type: 'card', card: { number: PAN_TEST, exp_month: 4, exp_year: 2040, cvc: CVCS[0]! } });
  const pi = await s.paymentIntents.create({ amount: 5000, currency: 'usd', customer: cus.id, payment_method: pm.id, confirm: true, capture_method: 'manual' });
  t.equal(pi.status, 'requires_capture');
  await s.paymentIntents.capture(pi.id);
  await s.refunds.create({ payment_intent: pi.id, amount: 1000 });
  // Card errors and validation errors echo no card data either.
  await s.paymentMethods.create({ type: 'card', card: { number: '4000056655665557', exp_month: 4, exp_year: 2040, cvc: CVCS[0]! } }).catch(() => null);

  // Live mode: the browser's publishable key tokenizes; a JWE from the server.
  const livePk = await fetch(`${stack.url}/v1/payment_methods`, { method: 'POST', headers: { authorization: `Bearer ${m.live_publishable_key}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `type=card&card[number]=${PAN_LIVE}&card[exp_month]=5&card[exp_year]=2041&card[cvc]=${CVCS[1]}` });
  t.equal(livePk.status, 200);
  const jwk = ((await (await fetch(`${stack.url}/v1/encryption_keys`)).json()) as { keys: JWK[] }).keys[0]!;
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ type: 'card', card: { number: PAN_JWE, exp_month: 6, exp_year: 2042, cvc: CVCS[2] } })))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid! })
    .encrypt(await importJWK(jwk, 'RSA-OAEP-256'));
  const liveJwe = await fetch(`${stack.url}/v1/payment_methods`, { method: 'POST', headers: { authorization: `Bearer ${m.live_secret_key}`, 'content-type': 'application/jose' }, body: jwe });
  t.equal(liveJwe.status, 200);
  // A refused plain live card must not be logged either.
  const refused = await fetch(`${stack.url}/v1/payment_methods`, { method: 'POST', headers: { authorization: `Bearer ${m.live_secret_key}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'card', card: { number: PAN_LIVE, exp_month: 5, exp_year: 2041, cvc: CVCS[1] } }) });
  t.equal(refused.status, 403);

  const rk = (await admin('POST', `/admin/merchants/${m.merchant_id}/keys`, { permissions: { payment_intents: 'read' } })).secret as string;
  await sdk(rk).paymentIntents.list();
  const rolled = (await admin('POST', `/admin/merchants/${m.merchant_id}/keys/roll`, { mode: 'test', expires_in: 3600 })).secret as string;
  await sdk(rolled).paymentIntents.retrieve(pi.id);

  // Hardening on the way: headers, no stack traces.
  const h = await fetch(`${stack.url}/v1/payment_intents/${pi.id}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  t.equal(h.headers.get('x-content-type-options'), 'nosniff');
  t.equal(h.headers.get('x-frame-options'), 'DENY');
  t.equal(h.headers.get('cache-control'), 'no-store');
  t.match(h.headers.get('content-security-policy'), /default-src 'none'/);
  for (const [body, type] of [
    ['{"amount":', 'application/json'],
    ['amount=1&currency=usd', 'text/plain'],
    ['x'.repeat(300 * 1024), 'application/x-www-form-urlencoded'],
    ['not.a.jwe', 'application/jose'],
  ] as const) {
    const r = await fetch(`${stack.url}/v1/payment_intents`, { method: 'POST', headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': type }, body });
    const text = await r.text();
    t.ok(r.status >= 400 && r.status < 500, `${type} ${body.length} bytes → ${r.status}`);
    t.notMatch(text, /\bat [\w.<>]+ \(|node_modules|\.ts:\d+/, 'no stack trace in the body');
    t.ok((JSON.parse(text) as { error?: unknown }).error, 'a Stripe error body');
  }

  // Let the projection and the webhooks finish.
  await eventually(async () => (await s.events.list({ limit: 100 })).data.length >= 5, 20_000, 200);
  await eventually(async () => receiver.received.length >= 5, 20_000, 200);
  await new Promise((r) => setTimeout(r, 500));

  const webhookSecret = m.webhook_secret;
  const endpointSecret = we.secret!;
  const secrets: Record<string, string> = {
    'secret key (test)': m.secret_key,
    'secret key (live)': m.live_secret_key,
    'publishable key': m.publishable_key,
    'restricted key': rk,
    'rolled key': rolled,
    'webhook secret (onboarding)': webhookSecret,
    'webhook secret (endpoint)': endpointSecret,
    'admin token': stack.adminToken,
  };
  const pans = [PAN_TEST, PAN_LIVE, PAN_JWE];
  const masterKey = (await readFile(path.join(stack.dataDir, 'keys', 'master.key'), 'utf8')).trim();
  const needles: [string, RegExp | string][] = [
    ...pans.map((p) => [`PAN ${p.slice(-4)}`, p] as [string, string]),
    ...pans.map((p) => [`PAN ${p.slice(-4)} (base64)`, Buffer.from(p).toString('base64').slice(0, 16)] as [string, string]),
    ...CVCS.map((c) => [`CVC ${c}`, new RegExp(`cvc\\W{0,8}${c}\\b`, 'i')] as [string, RegExp]),
    ...Object.entries(secrets),
    ['master key', masterKey],
  ];
  const found: string[] = [];
  const scan = (where: string, text: string) => {
    for (const [what, n] of needles) {
      if (typeof n === 'string' ? text.includes(n) : n.test(text)) found.push(`${what} in ${where}`);
    }
  };

  // 1. Every message of every stream: events, webhooks, every KV bucket, every object store.
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  let messages = 0;
  const streams: string[] = [];
  for await (const si of jsm.streams.list()) {
    streams.push(si.config.name);
    for (let seq = si.state.first_seq; seq <= si.state.last_seq && si.state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(si.config.name, { seq }).catch(() => null);
      if (!msg) continue;
      messages++;
      scan(`${si.config.name} #${seq} (${msg.subject})`, `${msg.subject}\n${msg.header ? JSON.stringify([...msg.header.keys()].map((k) => [k, msg.header.get(k)])) : ''}\n${Buffer.from(msg.data).toString('utf8')}`);
    }
  }
  t.ok(streams.includes('PAY_EVENTS') && streams.includes('KV_pay_vault') && streams.includes('KV_pay_keys'), `streams scanned: ${streams.join(', ')}`);
  t.ok(messages > 20, `${messages} messages scanned`);

  // 2. Logs: no card data, no secret, and no customer PII (email, name) either.
  for (const [i, line] of stack.logs.entries()) {
    scan(`log line ${i}`, line);
    for (const pii of ['scan@example.com', 'Scan Me']) if (line.includes(pii)) found.push(`customer PII '${pii}' in log line ${i}`);
  }
  t.ok(stack.logs.length > 20, `${stack.logs.length} log lines scanned`);

  // 3. The database, every row of every table (the node stopped, so PGlite can be opened here).
  await stack.node.stop();
  const opened = await openDatabase({ databaseUrl: undefined, dataDir: stack.dataDir });
  t.teardown(() => opened.close());
  const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public'`.execute(opened.db);
  let rows = 0;
  for (const { table_name } of tables.rows) {
    const r = await sql<Record<string, unknown>>`select * from ${sql.table(table_name)}`.execute(opened.db);
    rows += r.rows.length;
    for (const row of r.rows) scan(`table ${table_name}`, JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  t.ok(rows > 5, `${rows} rows in ${tables.rows.length} tables scanned`);
  await opened.close();

  // 4. Every file the node wrote (PGlite's files, the EPN ledger), but the KEK file itself.
  let fileCount = 0;
  for await (const f of files(stack.dataDir)) {
    if (f === path.join(stack.dataDir, 'keys', 'master.key')) continue;
    if ((await stat(f)).size > 64 * 1024 * 1024) continue;
    fileCount++;
    scan(`file ${path.relative(stack.dataDir, f)}`, (await readFile(f)).toString('latin1'));
  }
  t.ok(fileCount > 0, `${fileCount} files scanned`);

  t.same([...new Set(found)], [], 'no card data or plain secret anywhere');
});
