// Retention of seconds, end to end on the real stack: payments are made, their events age out of
// the streams, and still `audit intent` shows each intent's full history from the archive,
// `replay` rebuilds a database identical to the live one, the yearly database archive moves
// terminal rows out of the hot tables while lookups by id keep working (and say so), `audit
// verify` passes — and fails, naming the chunk, once a chunk is altered.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import Stripe from 'stripe';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { loadMasterKey } from '../vault/mod.ts';
import { loadKeyRingFromKv } from '../vault/kek.ts';
import { getCheckpoint, openDatabase, checkpointNames } from '../storage/mod.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import {
  archiveDatabase,
  createPrivacy,
  decodeChunk,
  diffDatabases,
  encodeChunk,
  intentHistory,
  jetstreamArchiveStore,
  readChain,
  replay,
  verifyArchive,
  type StreamRecord,
} from '../archive/mod.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

const run = promisify(execFile);
const EMAIL = 'buyer@example.com';
const PAN = '4242424242424242';

t.test('events age out; archives keep the whole story', async (t) => {
  const receiver = await startReceiver(t);
  const stack = await startStack(t, { EVENT_MAX_AGE_S: '8', ARCHIVE_CHUNK_MS: '1000', ARCHIVE_CHUNK_EVENTS: '4', ARCHIVE_EMAILS: 'encrypt' });
  const m = await stack.onboard({ call_back_url: receiver.url, events: ['*'] });
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 2 });

  const customer = await stripe.customers.create({ email: EMAIL, name: 'A Buyer' });
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: PAN, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const paid = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', receipt_email: EMAIL, customer: customer.id, payment_method: pm.id, confirm: true });
  t.equal(paid.status, 'succeeded');
  const retried = await stripe.paymentIntents.create({ amount: 1500, currency: 'eur', receipt_email: EMAIL });
  await t.rejects(stripe.paymentIntents.confirm(retried.id, { payment_method: 'pm_card_visa_chargeDeclined' }), { type: 'StripeCardError' } as never);
  t.equal((await stripe.paymentIntents.confirm(retried.id, { payment_method: 'pm_card_visa' })).status, 'succeeded');
  const canceled = await stripe.paymentIntents.cancel((await stripe.paymentIntents.create({ amount: 700, currency: 'usd' })).id);
  const open = await stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
  const ids = [paid.id, retried.id, canceled.id, open.id];
  const before = new Map<string, unknown>();
  for (const id of ids) before.set(id, await stripe.paymentIntents.retrieve(id));
  // SetupIntents: one succeeded, one canceled (both move with the yearly archive), one open (stays).
  const setupDone = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  t.equal(setupDone.status, 'succeeded');
  const setupCanceled = await stripe.setupIntents.cancel((await stripe.setupIntents.create({})).id);
  const setupOpen = await stripe.setupIntents.create({ metadata: { stays: 'yes' } });
  const setupsBefore = new Map<string, unknown>();
  for (const id of [setupDone.id, setupCanceled.id, setupOpen.id]) setupsBefore.set(id, await stripe.setupIntents.retrieve(id));

  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const store = await jetstreamArchiveStore(nc);
  // The node's keyring root lives in KV, sealed under the KEK (vault/kek.ts): open it the same way.
  const ring = await loadKeyRingFromKv(await new Kvm(nc).open('pay_security'), loadMasterKey(stack.dataDir), async () => true);
  const privacy = createPrivacy('encrypt', ring, await new Kvm(nc).open('pay_archive_keys'));
  const live = stack.node.database!.db;
  const lastSeq = async (s: string) => (await jsm.streams.info(s)).state.last_seq;

  // Projected and delivered, then everything ages out of both streams.
  await eventually(async () => receiver.received.length >= 8, 30_000);
  const historyBefore = await intentHistory({ store, jsm, privacy }, retried.id);
  t.ok(historyBefore.entries.length >= 4);
  await eventually(async () => (await jsm.streams.info(EVENTS_STREAM)).state.messages === 0 && (await jsm.streams.info(WEBHOOKS_STREAM)).state.messages === 0, 60_000, 250);
  await eventually(async () => (await getCheckpoint(live, checkpointNames.commits))?.last_seq === (await lastSeq(EVENTS_STREAM)), 20_000);
  await eventually(async () => (await getCheckpoint(live, checkpointNames.receipts))?.last_seq === (await lastSeq(WEBHOOKS_STREAM)), 20_000);
  await eventually(async () => stack.node.archive!.archivers.every((a) => a.archivedSeq() > 0), 20_000);
  t.equal(stack.node.archive!.archivers[0]!.archivedSeq(), await lastSeq(EVENTS_STREAM), 'every commit archived before it aged out');
  t.equal(stack.node.archive!.archivers[1]!.archivedSeq(), await lastSeq(WEBHOOKS_STREAM), 'every webhook message archived');

  // audit intent: the same history, now wholly from the archive.
  const history = await intentHistory({ store, jsm, privacy }, retried.id);
  t.same(history.entries.map((e) => e.seq), historyBefore.entries.map((e) => e.seq), 'the full history, after the stream dropped it');
  t.ok(history.entries.every((e) => e.source === 'archive'));
  const types = history.entries.flatMap((e) => e.events);
  t.ok(types.includes('attempt.declined') && types.filter((x) => x === 'attempt.started').length === 2 && types.includes('attempt.succeeded'), types.join(','));
  t.equal(history.entries[history.entries.length - 1]!.status, 'succeeded');
  t.equal((history.entries[0]!.commit.state as { receipt_email: string }).receipt_email, EMAIL, 'e-mail revealed with the merchant key');

  // Lookups still work after the stream dropped the intents (from the projection).
  t.same(await stripe.paymentIntents.retrieve(paid.id), before.get(paid.id));

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-replay-'));
  t.teardown(() => fs.rm(tmp, { recursive: true, force: true }));
  const until = async () => ({ events: (await getCheckpoint(live, checkpointNames.commits))!.last_seq, webhooks: (await getCheckpoint(live, checkpointNames.receipts))!.last_seq });
  const rebuild = async (name: string) => {
    const target = await openDatabase({ dataDir: path.join(tmp, name) });
    t.teardown(() => target.close());
    // Like for like: the live projection has folded everything the streams hold.
    await eventually(async () => (await getCheckpoint(live, checkpointNames.commits))?.last_seq === (await lastSeq(EVENTS_STREAM)), 20_000);
    const r = await replay({ store, jsm, privacy, target: target.db, until: await until() });
    t.notOk(r.events.missing, 'no sequence missing from both archive and stream');
    return { r, diff: await diffDatabases(live, target.db) };
  };
  const first = await rebuild('one');
  t.equal(first.r.events.live, 0, 'nothing left in the stream: all from the archive');
  t.equal(first.r.events.archived, await lastSeq(EVENTS_STREAM));
  t.ok(first.diff.identical, JSON.stringify(first.diff.tables.filter((x) => x.onlyLive || x.onlyReplayed)));
  t.ok(first.diff.tables.find((x) => x.table === 'payment_intents')!.live >= 4);
  t.ok(first.diff.tables.find((x) => x.table === 'webhook_deliveries')!.live >= 8);

  // The yearly archive, with "a year" of 0 s: terminal rows leave the hot tables.
  // With the aggregate snapshots, as the archive role runs it: the moved intents' snapshots go too.
  const moved = await archiveDatabase({ db: live, store, privacy, olderThanS: 0, now: new Date(Date.now() + 5_000), snapshots: await new Kvm(nc).open('pay_snapshots') });
  t.equal(moved.rows.payment_intents, 3, 'succeeded and canceled intents move; the open one stays');
  t.equal(moved.rows.payment_attempts, 3);
  t.ok(moved.rows.webhook_deliveries >= 8);
  const snaps = await new Kvm(nc).open('pay_snapshots');
  t.equal(moved.rows.setup_intents, 2, 'the succeeded and the canceled SetupIntent move; the open one stays');
  t.same((await live.selectFrom('setup_intents').select('id').execute()).map((r) => r.id), [setupOpen.id]);
  t.equal((await snaps.get(`pay.evt.setup_intent.${m.merchant_id}.${setupDone.id}`))?.operation, 'PURGE', 'a moved SetupIntent\'s snapshot is purged');
  for (const id of [setupDone.id, setupCanceled.id, setupOpen.id]) {
    t.same(await stripe.setupIntents.retrieve(id), setupsBefore.get(id), `${id}: the same SetupIntent, from the archive when it moved`);
  }
  t.match(await (await fetch(`${stack.url}/metrics`)).text(), /paynats_archive_lookups_total\{kind="setup_intent"\} [1-9]/, 'read from the archive');
  t.equal((await snaps.get(`pay.evt.intent.${m.merchant_id}.${paid.id}`))?.operation, 'PURGE', 'a moved intent\'s snapshot is purged');
  t.equal((await snaps.get(`pay.evt.intent.${m.merchant_id}.${open.id}`))?.operation, 'PUT', 'the open intent keeps its snapshot');
  const hot = await live.selectFrom('payment_intents').select('id').execute();
  t.same(hot.map((r) => r.id), [open.id]);
  for (const id of [paid.id, retried.id, canceled.id]) {
    const res = await fetch(`${stack.url}/v1/payment_intents/${id}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
    t.equal(res.status, 200);
    t.match(res.headers.get('paynats-archived'), /^db\/chunks\/\d+\.jsonl\.gz$/, 'the answer says it came from the archive');
    t.same(await res.json(), before.get(id), 'the same PaymentIntent, e-mail included');
  }
  const openRes = await fetch(`${stack.url}/v1/payment_intents/${open.id}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  t.equal(openRes.headers.get('paynats-archived'), null);
  const chargeRes = await fetch(`${stack.url}/v1/charges/${paid.latest_charge as string}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  t.equal(chargeRes.status, 200, 'a charge (attempt) of an archived intent is still found');
  t.equal(((await chargeRes.json()) as { amount: number }).amount, 2000);
  t.match(chargeRes.headers.get('paynats-archived'), /^db\/chunks\//);
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  t.match(metrics, /paynats_archive_chunks_total\{chain="PAY_EVENTS"\} [1-9]/, 'chunks counted');
  t.match(metrics, /paynats_archive_gap_records\{chain="PAY_EVENTS"\} 0/, 'no gap');
  t.match(metrics, /paynats_archive_lookups_total\{kind="payment_intent"\} [1-9]/);
  const other = await stack.onboard();
  const foreign = await fetch(`${stack.url}/v1/payment_intents/${paid.id}`, { headers: { authorization: `Bearer ${other.secret_key}` } });
  t.equal(foreign.status, 404, 'another merchant still cannot see it');

  // Replay again: the archive's removals are applied, and the databases still match.
  const second = await rebuild('two');
  t.ok(second.diff.identical, JSON.stringify(second.diff.tables.filter((x) => x.onlyLive || x.onlyReplayed)));
  t.ok(second.diff.tables.find((x) => x.table === 'archived_objects')!.live >= 14);

  // Nothing private in any archive object.
  const v = await verifyArchive(store, jsm);
  t.ok(v.ok, JSON.stringify(v.chains.map((c) => c.problems)));
  for (const chain of [EVENTS_STREAM, WEBHOOKS_STREAM, 'db']) {
    const { manifests } = await readChain(store, chain);
    t.ok(manifests.length > 0, `${chain} has chunks`);
    for (const mf of manifests) {
      const text = JSON.stringify(decodeChunk((await store.get(mf.chunk))!));
      t.notOk(text.includes(EMAIL) || text.includes(PAN), `${mf.chunk}: no e-mail in clear, no card number`);
      if (text.includes(EMAIL) || text.includes(PAN)) break;
    }
  }

  // The ops CLI on the same stack.
  const env = { ...process.env, NATS_URL: stack.nats.url, DATA_DIR: stack.dataDir, ARCHIVE_EMAILS: 'encrypt', LOG_LEVEL: 'silent' };
  const ops = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'ops/cli.ts', ...args], { env, cwd: process.cwd() });
  const verified = JSON.parse((await ops('audit', 'verify', '--json')).stdout) as { ok: boolean };
  t.equal(verified.ok, true);
  const cliHistory = JSON.parse((await ops('audit', 'intent', retried.id, '--json')).stdout) as { entries: { seq: number }[] };
  t.same(cliHistory.entries.map((e) => e.seq), historyBefore.entries.map((e) => e.seq));
  t.match((await ops('replay', '--help')).stdout, /usage: npm run ops -- replay/);

  // Tampering with one chunk fails verify, naming it.
  const { manifests } = await readChain(store, EVENTS_STREAM);
  const victim = manifests[1]!;
  const recs = decodeChunk<StreamRecord>((await store.get(victim.chunk))!);
  (recs[0]!.data as { command: string }).command = 'Forged';
  await store.put(victim.chunk, await encodeChunk(recs));
  const failed = await ops('audit', 'verify', '--json').then(
    () => null,
    (err: { code: number; stdout: string }) => err,
  );
  t.equal(failed?.code, 1, 'exit status 1');
  const report = JSON.parse(failed!.stdout) as { ok: boolean; chains: { problems: { kind: string; object: string }[] }[] };
  t.equal(report.ok, false);
  t.match(report.chains[0]!.problems, [{ kind: 'chunk_hash', object: victim.chunk }]);
});
