/**
 * Verifies the pinned nats-server (scripts/tools.ts) started by nats/server.ts:
 * version, sync_interval config, and the JetStream features paynats relies on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { PINNED, ensureNatsCli, ensureNatsServer } from '../scripts/tools.ts';
import { withNats } from './helpers/nats.ts';

type JsVarz = {
  config?: { sync_interval?: number; sync_always?: boolean; store_dir?: string };
};

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Running (not exited). A killed orphan may linger as a zombie until reaped: that counts as dead. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

t.test('pinned nats-server with JetStream', async (t) => {
  const { url, port, server } = await withNats(t);
  t.match(url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  t.ok(port > 0 && port !== 4222, 'private port, not the system server');
  t.ok(server.monitorPort, 'has a monitoring port');
  t.ok(server.pid > 0);

  const nc: NatsConnection = await connect({ servers: url });
  t.teardown(() => nc.close());
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const js: JetStreamClient = jetstream(nc);

  await t.test('server version is the pinned one', async (t) => {
    const version = nc.info?.version ?? '';
    t.ok(version.startsWith('2.15') || version.startsWith('2.14'), `version ${version}`);
    const binVersion = spawnSync(server.bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
    t.equal(binVersion, `nats-server: v${version}`);
    if (!process.env.NATS_SERVER_BIN) {
      t.ok(
        [PINNED.natsServer, PINNED.natsServerFallback].includes(`v${version}` as never),
        'one of the pinned versions',
      );
    }
  });

  await t.test('sync_interval: always is in effect (monitoring endpoints)', async (t) => {
    const base = `http://127.0.0.1:${server.monitorPort}`;
    // 2.15.2 reports: { sync_interval: 120000000000 (the 2m default, ns), sync_always: true }
    const varz = await getJson<{ version: string; jetstream?: JsVarz }>(`${base}/varz`);
    t.equal(varz.jetstream?.config?.sync_always, true, '/varz jetstream.config.sync_always');
    t.match(varz.jetstream?.config?.store_dir ?? '', server.storeDir);
    const jsz = await getJson<JsVarz>(`${base}/jsz?config=true`);
    t.equal(jsz.config?.sync_always, true, '/jsz config.sync_always');
    t.type(jsz.config?.sync_interval, 'number');
  });

  await t.test('expect.lastSubjectSequence rejects a stale sequence', async (t) => {
    await jsm.streams.add({ name: 'OCC', subjects: ['occ.>'] });
    const a1 = await js.publish('occ.a', 'v1');
    t.equal(a1.seq, 1);
    await js.publish('occ.b', 'other subject'); // seq 2
    const a2 = await js.publish('occ.a', 'v2', { expect: { lastSubjectSequence: a1.seq } });
    t.equal(a2.seq, 3);
    // first write on a subject: expected last sequence 0
    const c1 = await js.publish('occ.c', 'v1', { expect: { lastSubjectSequence: 0 } });
    t.equal(c1.seq, 4);
    // stale: a writer that still believes occ.a is at seq 1
    const err = await js
      .publish('occ.a', 'v2-conflict', { expect: { lastSubjectSequence: a1.seq } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    t.ok(err instanceof JetStreamApiError, 'rejected with a JetStreamApiError');
    t.equal((err as JetStreamApiError).code, JetStreamApiCodes.StreamWrongLastSequence);
    const si = await jsm.streams.info('OCC');
    t.equal(si.state.messages, 4, 'conflicting write not stored');
  });

  await t.test('allow_atomic stream + atomic batch publish (2.12+)', async (t) => {
    const si = await jsm.streams.add({ name: 'ATOMIC', subjects: ['atomic.>'], allow_atomic: true });
    t.equal(si.config.allow_atomic, true);
    const batch = await js.startBatch('atomic.a', '1');
    batch.add('atomic.b', '2');
    const ack = await batch.commit('atomic.c', '3');
    t.equal(ack.count, 3, 'batch of 3 committed');
    t.equal(ack.stream, 'ATOMIC');
    t.equal(ack.seq, 3);
    t.equal((await jsm.streams.info('ATOMIC')).state.messages, 3);
  });

  await t.test('allow_msg_ttl stream + per-message TTL (2.11+)', async (t) => {
    const si = await jsm.streams.add({ name: 'TTL', subjects: ['ttl.>'], allow_msg_ttl: true });
    t.equal(si.config.allow_msg_ttl, true);
    const pa = await js.publish('ttl.a', 'short-lived', { ttl: '1s' });
    await js.publish('ttl.b', 'kept');
    t.ok(await jsm.streams.getMessage('TTL', { seq: pa.seq }), 'present right away');
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await sleep(100);
      gone = (await jsm.streams.getMessage('TTL', { seq: pa.seq })) === null;
    }
    t.ok(gone, 'expired after its TTL');
    t.ok(await jsm.streams.getMessage('TTL', { last_by_subj: 'ttl.b' }), 'message without TTL kept');
  });

  await t.test('pull consumer with pinned_client priority policy (2.11+)', async (t) => {
    await jsm.streams.add({ name: 'PIN', subjects: ['pin.>'] });
    const ci = await jsm.consumers.add('PIN', {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      priority_policy: 'pinned_client',
      priority_groups: ['g'],
      priority_timeout: nanos(5_000),
    });
    t.equal(ci.config.priority_policy, 'pinned_client');
    t.same(ci.config.priority_groups, ['g']);
    await js.publish('pin.x', 'job');
    const c = await js.consumers.get('PIN', 'worker');
    const iter = await c.fetch({ max_messages: 1, expires: 2_000, group: 'g' });
    const got: string[] = [];
    let pinId: string | undefined;
    for await (const m of iter) {
      got.push(m.string());
      pinId = m.headers?.get('Nats-Pin-Id');
      m.ack();
    }
    t.same(got, ['job']);
    t.ok(pinId, `delivered with a Nats-Pin-Id header (${pinId})`);
    // a pull request without the group is refused by the server (raw API, 400 status)
    const r = await nc.request('$JS.API.CONSUMER.MSG.NEXT.PIN.worker', JSON.stringify({ batch: 1, no_wait: true }), {
      timeout: 2_000,
    });
    t.equal(r.headers?.code, 400, `no-group pull refused: ${r.headers?.description}`);
  });

  await t.test('msgID de-duplication within duplicate_window', async (t) => {
    const si = await jsm.streams.add({ name: 'DEDUP', subjects: ['dedup.>'], duplicate_window: nanos(60_000) });
    t.equal(si.config.duplicate_window, nanos(60_000));
    const p1 = await js.publish('dedup.a', 'first', { msgID: 'pay-1' });
    const p2 = await js.publish('dedup.a', 'second', { msgID: 'pay-1' });
    const p3 = await js.publish('dedup.a', 'third', { msgID: 'pay-2' });
    t.equal(p1.duplicate, false);
    t.equal(p2.duplicate, true, 'second publish with same msgID flagged duplicate');
    t.equal(p2.seq, p1.seq, 'duplicate acks with the original sequence');
    t.equal(p3.duplicate, false);
    t.equal((await jsm.streams.info('DEDUP')).state.messages, 2);
  });
});

t.test('syncInterval option is passed through', async (t) => {
  const { server } = await withNats(t, { syncInterval: '5s' });
  const varz = await getJson<{ jetstream?: JsVarz }>(`http://127.0.0.1:${server.monitorPort}/varz`);
  t.equal(varz.jetstream?.config?.sync_interval, 5_000_000_000, 'sync_interval 5s in ns');
  t.notOk(varz.jetstream?.config?.sync_always, 'sync_always not set');
});

t.test('a server left running is killed when the parent process exits', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-exit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'leak.mts');
  const serverModule = pathToFileURL(path.resolve('nats/server.ts')).href;
  await writeFile(
    script,
    `import { startNatsServer } from ${JSON.stringify(serverModule)};\n` +
      `const s = await startNatsServer({ storeDir: ${JSON.stringify(path.join(dir, 'store'))} });\n` +
      `console.log(s.pid);\n`, // no stop(): the process must still exit, taking the server with it
  );
  const out = spawnSync(path.resolve('node_modules/.bin/tsx'), [script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(out.status, 0, `child exited by itself ${out.stderr}`);
  const pid = Number(out.stdout.trim());
  t.ok(pid > 0, `server pid ${pid}`);
  await sleep(200);
  t.notOk(isAlive(pid), 'server SIGKILLed by the exit hook');
});

t.test('withNats servers are independent and cleaned up', async (t) => {
  let dir = '';
  let pid = 0;
  await t.test('inner', async (t) => {
    const [a, b] = await Promise.all([withNats(t), withNats(t)]);
    t.not(a.port, b.port);
    t.not(a.server.storeDir, b.server.storeDir);
    dir = a.server.storeDir;
    pid = a.server.pid;
  });
  t.notOk(existsSync(dir), 'store dir removed on teardown');
  t.notOk(isAlive(pid), 'server process stopped on teardown');
});

t.test('tools resolve to cached pinned binaries', async (t) => {
  const serverBin = await ensureNatsServer();
  t.ok(serverBin.length > 0);
  const cli = await ensureNatsCli();
  t.match(cli, new RegExp(`nats-${PINNED.natsCli.replace(/\./g, '\\.')}`));
  const out = spawnSync(cli, ['--version'], { encoding: 'utf8' });
  t.equal(out.stdout.trim(), PINNED.natsCli);
});

t.test('onUnexpectedExit: a kill from outside is reported; our own restart and stop are not', async (t) => {
  const { server } = await withNats(t);
  const seen: { code: number | null; signal: NodeJS.Signals | null }[] = [];
  server.onUnexpectedExit((how) => seen.push(how));
  await server.restart();
  t.same(seen, [], 'restart() ends the old process itself');
  const pid = server.pid;
  process.kill(pid, 'SIGKILL');
  const until = Date.now() + 10_000;
  while (seen.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.same(seen, [{ code: null, signal: 'SIGKILL' }], 'the kill is reported once');
  await server.restart();
  t.not(server.pid, pid, 'started again from its store');
  const nc = await connect({ servers: server.url });
  await nc.close();
  await server.stop();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(seen.length, 1, 'stop() is not reported');
});
