// The KEK and the keyring root (vault/kek.ts): a new deployment gets a random root sealed under its
// KEK; a deployment with data keeps its KEK as root (old envelopes and key hashes stay valid);
// rotation re-wraps the root so a process on the new KEK derives the very same keys (cards, API key
// hashes, JWE private keys keep working: no re-encryption, no downtime); retiring the old KEK
// locks it out; a process on an unknown KEK refuses to start. And crypto-shredding a stored card.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import { declareTopology } from '../nats/mod.ts';
import { KekError, kekIdOf, kekIds, loadKeyRingFromKv, loadRoot, retireKek, rewrapRoot } from '../vault/kek.ts';
import { createVault, hashApiKey, keyRing } from '../vault/mod.ts';
import { withNats } from './helpers/nats.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { spawnWorker, REPO_ROOT, type WorkerProcess } from './helpers/worker-process.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

t.test('keyring root: create, legacy, rotate, retire', async (t) => {
  const nats = await withNats(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  const kvm = new Kvm(nc);
  const kv = await kvm.open('pay_security');
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  // given a new deployment, when the first process starts, then the root is random (not the KEK) and stable
  const root = await loadRoot(kv, k1, async () => false);
  t.equal(root.length, 32);
  t.notOk(root.equals(k1), 'the root is not the KEK');
  t.ok((await loadRoot(kv, k1, async () => false)).equals(root), 'the next start opens the same root');
  t.same(await kekIds(kv), [kekIdOf(k1)]);
  const stored = (await kv.get(`keyring.root.${kekIdOf(k1)}`))!.string();
  t.notOk(stored.includes(root.toString('base64')) || stored.includes(root.toString('hex')), 'the root is stored sealed');

  // given another KEK, then it does not open the keyring (a clear error, not a silent new root)
  await t.rejects(loadRoot(kv, k2, async () => false), KekError);

  // when the root is re-wrapped under k2, then both open it and derive the same keys
  const r = await rewrapRoot(kv, k1, k2);
  t.same(r, { from: kekIdOf(k1), to: kekIdOf(k2) });
  const ring1 = await loadKeyRingFromKv(kv, k1, async () => false);
  const ring2 = await loadKeyRingFromKv(kv, k2, async () => false);
  t.ok(ring1.vaultKek.equals(ring2.vaultKek) && ring1.secretsKey.equals(ring2.secretsKey) && ring1.apiKeyPepper.equals(ring2.apiKeyPepper));
  t.equal(hashApiKey(ring2, 'sk_test_abc'), hashApiKey(ring1, 'sk_test_abc'), 'API key hashes survive the rotation');
  t.equal(ring2.kid, ring1.kid, 'envelopes keep their kid');

  // when k1 is retired, then it opens nothing, and the last KEK cannot be retired
  await retireKek(kv, kekIdOf(k1));
  await t.rejects(loadRoot(kv, k1, async () => false), KekError, 'the retired KEK is locked out');
  await t.rejects(retireKek(kv, kekIdOf(k2)), /only one/);
  await t.rejects(retireKek(kv, 'nope'), /no keyring entry/);

  // The operator's side: npm run ops -- kek status / rotate / retire, with --json.
  const ops = async (args: string[], env: Record<string, string>) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'ops/cli.ts', 'kek', ...args, '--json'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NATS_URL: nats.url, DATA_DIR: path.join(os.tmpdir(), 'paynats-ops-none'), ...env },
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  };
  const k4 = randomBytes(32);
  t.match(await ops(['status'], { MASTER_KEY: k2.toString('base64') }), { kek_ids: [kekIdOf(k2)], configured: kekIdOf(k2), configured_opens_keyring: true });
  t.match(await ops(['rotate'], { MASTER_KEY: k2.toString('base64'), NEW_MASTER_KEY: k4.toString('base64') }), { from: kekIdOf(k2), to: kekIdOf(k4) });
  t.match(await ops(['retire', '--kid', kekIdOf(k2)], { MASTER_KEY: k4.toString('base64') }), { retired: kekIdOf(k2), kek_ids: [kekIdOf(k4)] });
  t.ok((await loadRoot(kv, k4, async () => false)).equals(root), 'after rotating with the ops CLI the new KEK opens the same root');

  // given a deployment that has data but no root yet (made before the root existed), then its KEK is the root
  const legacy = await kvm.create('legacy_security', { history: 1 });
  const k3 = randomBytes(32);
  const legacyRing = await loadKeyRingFromKv(legacy, k3, async () => true);
  t.ok(legacyRing.vaultKek.equals(keyRing(k3).vaultKek), 'existing envelopes still open');
  t.equal(legacyRing.kid, keyRing(k3).kid);
});

t.test('keyring root: processes starting together all open the one root', async (t) => {
  const nats = await withNats(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  const kv = await new Kvm(nc).open('pay_security');
  const kek = randomBytes(32);

  // given eight first starts at once, then one root is made and every one of them opens it
  const roots = await Promise.all(Array.from({ length: 8 }, () => loadRoot(kv, kek, async () => false)));
  t.ok(roots.every((r) => r.equals(roots[0]!)), 'the same root everywhere');
  t.same(await kekIds(kv), [kekIdOf(kek)]);

  // given a process whose first read came just before another made the entry (the race a CI run hit:
  // no entry on the read, the entry listed on the next), then it reads again and opens it
  let reads = 0;
  const late = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'get') return async (k: string) => (reads++ === 0 ? null : target.get(k));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  t.ok((await loadRoot(late, kek, async () => false)).equals(roots[0]!), 'opened, not refused');
  t.equal(reads, 2);
});

t.test('rotation with a running stack: a process on the new KEK serves existing keys, cards and JWE', async (t) => {
  const stack = await startStack(t);
  const m = (await stack.onboard()) as Awaited<ReturnType<typeof stack.onboard>> & { live_secret_key: string };
  const oldKek = Buffer.from((await readFile(path.join(stack.dataDir, 'keys', 'master.key'), 'utf8')).trim(), 'base64');
  const newKek = randomBytes(32);
  const pmRes = await fetch(`${stack.url}/v1/payment_methods`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'card', card: { number: '4000056655665556', exp_month: 3, exp_year: 2041, cvc: '777' } }),
  });
  const pm = (await pmRes.json()) as { id: string };
  const jwk = ((await (await fetch(`${stack.url}/v1/encryption_keys`)).json()) as { keys: JWK[] }).keys[0]!;

  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const kvm = new Kvm(nc);
  const kv = await kvm.open('pay_security');
  await rewrapRoot(kv, oldKek, newKek);

  // The card opens with the ring the new KEK yields.
  const vault = createVault(await kvm.open('pay_vault'), await loadKeyRingFromKv(kv, newKek, async () => true), await kvm.open('pay_vault_cvc'));
  t.equal((await vault.reveal(m.merchant_id, pm.id)).number, '4000056655665556', 'a card sealed before the rotation opens after it');

  const dirs: string[] = [];
  const procs: WorkerProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const gateway = async (id: string, kek: Buffer) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), `paynats-${id}-`));
    dirs.push(dir);
    const p = spawnWorker(id, { ROLES: 'gateway', NATS_URL: stack.nats.url, DATA_DIR: dir, MASTER_KEY: kek.toString('base64'), PORT: '0', PARTITIONS: '4', LOG_LEVEL: 'info' });
    procs.push(p);
    return p;
  };
  const g = await gateway('gw_newkek', newKek);
  const url = await eventually(async () => g.logs.find((l) => l.msg === 'gateway listening')?.url as string | undefined, 60_000, 100);
  const get = await fetch(`${url}/v1/payment_methods/${pm.id}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  t.equal(get.status, 200, 'the API key made under the old KEK authenticates on the new one');
  const body = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ type: 'card', card: { number: '4242424242424242', exp_month: 1, exp_year: 2042 } })))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid! })
    .encrypt(await importJWK(jwk, 'RSA-OAEP-256'));
  const jwe = await fetch(`${url}/v1/payment_methods`, { method: 'POST', headers: { authorization: `Bearer ${m.live_secret_key}`, 'content-type': 'application/jose' }, body });
  t.equal(jwe.status, 200, 'the JWE private key sealed before the rotation opens on the new KEK');

  // Old KEK retired: a process started with it refuses to start, saying why.
  await retireKek(kv, kekIdOf(oldKek));
  const stale = await gateway('gw_oldkek', oldKek);
  const exit = await stale.exited;
  t.not(exit.code, 0, 'a process on the retired KEK exits');
  t.match([...stale.raw, ...stale.logs.map((l) => JSON.stringify(l))].join('\n'), /does not open the keyring/);
});

t.test('crypto-shredding a stored card', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const res = await fetch(`${stack.url}/v1/payment_methods`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'card', card: { number: '4242424242424242', exp_month: 3, exp_year: 2041, cvc: '123' } }),
  });
  const pm = (await res.json()) as { id: string };
  const del = (as: string) => fetch(`${stack.url}/admin/merchants/${m.merchant_id}/payment_methods/${pm.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${as}` } });
  t.equal((await del(m.secret_key)).status, 401, 'not with a merchant key');
  const r = await del(stack.adminToken);
  t.equal(r.status, 200);
  t.same(await r.json(), { id: pm.id, object: 'payment_method', deleted: true });
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const kv = await new Kvm(nc).open('pay_vault');
  const history = [];
  for await (const e of await kv.history({ key: `pm.${m.merchant_id}.${pm.id}` })) if (e.value.length > 0) history.push(e);
  t.equal(history.length, 0, 'no sealed record (nor its wrapped data key) left in the bucket, history included');
  t.equal((await fetch(`${stack.url}/v1/payment_methods/${pm.id}`, { headers: { authorization: `Bearer ${m.secret_key}` } })).status, 404);
  t.equal((await del(stack.adminToken)).status, 404, 'a second delete finds nothing');
});
