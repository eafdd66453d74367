// The card vault against a real nats-server and the real pay_vault bucket: what is stored (nothing
// in clear), who may read it, CVC forgetting, AAD binding, crypto-shredding, magic test methods,
// and the master key file.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Kvm, type KV } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { buckets, connectNats, declareTopology } from '../nats/mod.ts';
import { createVault, keyRing, loadMasterKey, seal, VaultError, type PaymentMethodRecord, type Vault } from '../vault/mod.ts';
import { openUnder, unwrapDataKey } from '../vault/envelope.ts';
import { withNats } from './helpers/nats.ts';

const PAN = '4242424242424242';
const CVC = '987';
const M = 'acct_vault_a';
const OTHER = 'acct_vault_b';
const NOW = 1_800_000_000;
const dec = new TextDecoder();

function tmpDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paynats-vault-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function setup(t: Test): Promise<{ kv: KV; vault: Vault; dataDir: string; nc: NatsConnection; cvcStore: KV }> {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'vault-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
  const kv = await new Kvm(nc).open(buckets.vault);
  const cvcs = await new Kvm(nc).open(buckets.vaultCvc);
  const dataDir = tmpDir(t);
  const vault = createVault(kv, keyRing(loadMasterKey(dataDir, {})), cvcs);
  return { kv, vault, dataDir, nc, cvcStore: cvcs };
}

const kvKey = (merchantId: string, pmId: string) => `pm.${merchantId}.${pmId}`;

/** The bucket, telling `onGet` of every read. */
function countingGets(kv: KV, onGet: () => void): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'get') return (k: string) => (onGet(), target.get(k));
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function raw(kv: KV, merchantId: string, pmId: string) {
  const e = await kv.get(kvKey(merchantId, pmId));
  if (!e || e.operation !== 'PUT') return null;
  return { text: dec.decode(e.value), record: JSON.parse(dec.decode(e.value)) as PaymentMethodRecord, revision: e.revision };
}

async function rejectsMissing(t: Test, p: Promise<unknown>, what: string): Promise<void> {
  await t.rejects(p, { name: 'VaultError', code: 'resource_missing' }, what);
}

const tokenize = (vault: Vault, merchantId = M, card: { number: string; cvc?: string } = { number: PAN, cvc: CVC }) =>
  vault.tokenize(merchantId, { ...card, exp_month: 12, exp_year: 2031 }, { metadata: { order: '1' } }, NOW, false).then((r) => (r.kind === 'created' ? r.pm : Promise.reject(new Error(r.kind))));

t.test('the vault', async (t) => {
  const { kv, vault, dataDir, nc, cvcStore } = await setup(t);

  await t.test('tokenize returns the summary only', async (t) => {
    const pm = await tokenize(vault);
    t.match(pm.id, /^pm_[0-9a-f]{24}$/);
    t.match(pm, { merchant_id: M, created: NOW, metadata: { order: '1' } });
    t.match(pm.card, { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2031, funding: 'credit' });
    t.notOk('sealed' in pm, 'no sealed blob in what callers see');
    const json = JSON.stringify(pm);
    t.notOk(json.includes(PAN), 'no card number');
    t.notOk(json.includes('cvc'), 'no CVC');
    t.notOk(pm.card.fingerprint.includes(PAN.slice(0, 6)), 'the fingerprint is keyed, not the number');
    const again = await tokenize(vault);
    t.equal(again.card.fingerprint, pm.card.fingerprint, 'the same card gives the same fingerprint');
    t.not(again.id, pm.id);
    t.strictSame(await vault.get(M, pm.id, false), pm, 'get returns the same public record');
    t.match((await tokenize(vault, M, { number: '378282246310005', cvc: '1234' })).card, { brand: 'amex', last4: '0005' });
    t.equal(pm.livemode, false);
    t.equal(await vault.get(M, pm.id, true), null, 'a test-mode card is invisible in live mode');
  });

  await t.test('the stored value holds no PAN and no CVC', async (t) => {
    const pm = await tokenize(vault);
    const r = await raw(kv, M, pm.id);
    if (!r) throw new Error('no record in the bucket');
    t.notOk(r.text.includes(PAN), 'no PAN anywhere in the raw value');
    t.notOk(r.text.includes(PAN.slice(0, 12)), 'not even most of it');
    t.notOk(/"cvc"/.test(r.text), 'no cvc field');
    const { sealed, ...clear } = r.record;
    // The id and the fingerprint are random and keyed-hash hex: three given digits turn up in them by chance.
    const leaves = (x: unknown, key = ''): string[] =>
      x && typeof x === 'object' ? Object.entries(x).flatMap(([k, v]) => leaves(v, k)) : key === 'id' || key === 'fingerprint' ? [] : [String(x)];
    t.notOk(leaves(clear).some((v) => v.includes(CVC)), 'no CVC digits in the clear fields');
    t.ok(sealed, 'the secret part is sealed');
    t.match(sealed, { v: 2, kid: /^[0-9a-f]{8}$/, wdek: /^[A-Za-z0-9_-]+$/, ct: /^[A-Za-z0-9_-]+$/ });
    // The ciphertext is not an encoding of the plaintext either.
    for (const part of [sealed!.wdek, sealed!.ct]) {
      const b = Buffer.from(part, 'base64url');
      t.equal(b.indexOf(PAN), -1);
      t.equal(b.indexOf('"cvc"'), -1);
      t.equal(b.indexOf(`"${CVC}"`), -1);
    }
    t.equal(Buffer.from(sealed!.wdek, 'base64url').length, 12 + 16 + 32, 'iv, tag and a wrapped 32-byte data key');
    // The CVC (memory storage) is sealed under the card's own data key: no key of its own beside it.
    const c = await cvcStore.get(kvKey(M, pm.id));
    const cvcText = c ? dec.decode(c.value) : '';
    t.match(cvcText, /^2\.[A-Za-z0-9_-]+$/, 'the CVC entry is sealed');
    t.equal(Buffer.from(cvcText.slice(2), 'base64url').length, 12 + 16 + CVC.length, 'iv, tag and the CVC: no wrapped key');
    t.notOk(cvcText.includes(CVC));
  });

  await t.test('CVCs are held in memory storage only, with a TTL', async (t) => {
    const si = await (await jetstreamManager(nc)).streams.info(`KV_${buckets.vaultCvc}`);
    t.equal(si.config.storage, 'memory');
    t.ok(si.config.max_age > 0, 'they expire');
  });

  await t.test('reveal opens number and CVC; forgetCvc keeps only the number', async (t) => {
    const pm = await tokenize(vault);
    t.strictSame(await vault.reveal(M, pm.id), { number: PAN, cvc: CVC });
    const before = await raw(kv, M, pm.id);
    t.notOk(JSON.stringify(before?.record).includes('cvc'), 'the durable record never holds the CVC');
    await vault.forgetCvc(M, pm.id);
    const after = await raw(kv, M, pm.id);
    t.equal(after?.revision, before?.revision, 'the durable record is not rewritten (the CVC lives in memory storage)');
    t.strictSame(await vault.reveal(M, pm.id), { number: PAN }, 'no cvc after forgetting');
    t.strictSame(await vault.get(M, pm.id, false), await vault.get(M, pm.id, false));
    t.match(await vault.get(M, pm.id, false), { id: pm.id, card: { last4: '4242' } }, 'the summary is unchanged');
    await vault.forgetCvc(M, pm.id); // nothing left to forget
    t.equal((await raw(kv, M, pm.id))?.revision, after?.revision, 'a second forget writes nothing');

    const noCvc = await tokenize(vault, M, { number: PAN });
    t.strictSame(await vault.reveal(M, noCvc.id), { number: PAN });
  });

  await t.test('a forgotten CVC leaves no marker behind for the bucket max_age (per-message TTL)', async (t) => {
    const si = await (await jetstreamManager(nc)).streams.info(`KV_${buckets.vaultCvc}`);
    t.equal(si.config.allow_msg_ttl, true, 'the bucket takes per-message TTLs');
    const pm = await tokenize(vault);
    const subject = `$KV.${buckets.vaultCvc}.${kvKey(M, pm.id)}`;
    const count = async () => (await (await jetstreamManager(nc)).streams.info(`KV_${buckets.vaultCvc}`, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    t.equal(await count(), 1, 'the sealed CVC is held');
    await vault.forgetCvc(M, pm.id);
    t.equal(await count(), 1, 'its purge marker replaced it');
    const deadline = Date.now() + 5_000;
    while ((await count()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    t.equal(await count(), 0, 'the marker expired within seconds, not after the 1 h max_age');
    t.strictSame(await vault.reveal(M, pm.id), { number: PAN }, 'still no CVC');
  });

  await t.test("another merchant can't get or reveal it", async (t) => {
    const pm = await tokenize(vault);
    t.equal(await vault.get(OTHER, pm.id, false), null);
    await rejectsMissing(t, vault.reveal(OTHER, pm.id), 'reveal by another merchant');
    await vault.forgetCvc(OTHER, pm.id);
    await vault.destroy(OTHER, pm.id);
    t.strictSame(await vault.reveal(M, pm.id), { number: PAN, cvc: CVC }, "another merchant's forget/destroy touch nothing");
    t.equal(await vault.get(M, 'pm_nope', false), null);
    t.equal(await vault.get(M, `${pm.id}.x`, false), null, 'an id that is not a token is not looked up');
    await rejectsMissing(t, vault.reveal(M, 'pm_nope'), 'unknown id');
  });

  await t.test('a sealed blob cannot be moved to another record', async (t) => {
    const pm = await tokenize(vault);
    const r = await raw(kv, M, pm.id);
    if (!r?.record.sealed) throw new Error('no sealed blob');
    // Someone with write access to the bucket copies the record under another merchant...
    await kv.put(kvKey(OTHER, pm.id), r.text);
    t.ok(await vault.get(OTHER, pm.id, false), 'the copied public part reads (it is not secret)');
    await t.rejects(vault.reveal(OTHER, pm.id), /unable to authenticate|unsupported state/i, "but it does not open under the other merchant's AAD");
    // ...or under another payment method of the same merchant.
    const victim = await tokenize(vault, M, { number: '5555555555554444', cvc: '321' });
    const v = await raw(kv, M, victim.id);
    await kv.put(kvKey(M, victim.id), JSON.stringify({ ...v?.record, sealed: r.record.sealed }));
    // (Read by another process: this vault keeps the victim as it tokenized it, for moments.)
    const reader = createVault(kv, keyRing(loadMasterKey(dataDir, {})), cvcStore);
    await t.rejects(reader.reveal(M, victim.id), /unable to authenticate|unsupported state/i, "nor under another payment method's id");
    const ring = keyRing(loadMasterKey(dataDir, {}));
    const sealed = r.record.sealed as { wdek: string; ct: string };
    t.throws(() => unwrapDataKey(ring.vaultKek, sealed.wdek, `${OTHER}/${pm.id}`), 'unwrapping the data key with the wrong AAD fails');
    const dek = unwrapDataKey(ring.vaultKek, sealed.wdek, `${M}/${pm.id}`);
    t.throws(() => openUnder(dek, sealed.ct, `${OTHER}/${pm.id}`), 'opening the number with the wrong AAD fails');
    t.strictSame(JSON.parse(openUnder(dek, sealed.ct, `${M}/${pm.id}`).toString('utf8')), { number: PAN }, 'the right AAD opens it (the number only: the CVC is sealed apart)');
    const otherKey = keyRing(randomBytes(32));
    t.throws(() => unwrapDataKey(otherKey.vaultKek, sealed.wdek, `${M}/${pm.id}`), 'another master key cannot open it');

    // A sealed CVC moved to another card: another data key and another AAD, it does not open.
    const a = await tokenize(vault, M, { number: PAN, cvc: '111' });
    const b = await tokenize(vault, M, { number: PAN, cvc: '222' });
    const cvcA = await cvcStore.get(kvKey(M, a.id));
    if (!cvcA) throw new Error('no CVC entry');
    await cvcStore.put(kvKey(M, b.id), cvcA.value);
    // (Read by another process again: this vault keeps each CVC it stored for the first reveal.)
    await t.rejects(reader.reveal(M, b.id), /unable to authenticate|unsupported state/i, "another card's CVC does not open under this card's key");
    t.strictSame(await reader.reveal(M, a.id), { number: PAN, cvc: '111' });
  });

  await t.test('cards sealed by the previous format (v1: a data key per payload) still open, forget and destroy', async (t) => {
    const ring = keyRing(loadMasterKey(dataDir, {}));
    const id = `pm_${randomBytes(12).toString('hex')}`;
    const aad = `${M}/${id}`;
    const rec: PaymentMethodRecord = {
      id,
      merchant_id: M,
      created: NOW,
      livemode: false,
      card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2031, fingerprint: 'fp_v1', funding: 'credit', country: 'US' },
      billing_details: { email: null, name: null, phone: null },
      metadata: { order: 'v1' },
      sealed: seal(ring.vaultKek, ring.kid, Buffer.from(JSON.stringify({ number: PAN })), aad),
    };
    await kv.create(kvKey(M, id), JSON.stringify(rec));
    await cvcStore.put(kvKey(M, id), JSON.stringify(seal(ring.vaultKek, ring.kid, Buffer.from(CVC), `cvc/${aad}`)));
    const fresh = createVault(kv, ring, cvcStore);
    t.match(await fresh.get(M, id, false), { id, card: { last4: '4242', fingerprint: 'fp_v1' }, metadata: { order: 'v1' } });
    t.strictSame(await fresh.reveal(M, id), { number: PAN, cvc: CVC }, 'number and CVC open');
    t.strictSame(await vault.reveal(M, id), { number: PAN, cvc: CVC }, 'in another vault too');
    await fresh.forgetCvc(M, id);
    t.strictSame(await fresh.reveal(M, id), { number: PAN }, 'the CVC is forgotten');
    await fresh.destroy(M, id);
    await rejectsMissing(t, fresh.reveal(M, id), 'reveal after destroy');
    t.equal(await raw(kv, M, id), null);
  });

  await t.test('callers get copies: changing what get or tokenize returned changes nothing stored', async (t) => {
    const pm = await tokenize(vault);
    pm.card.last4 = 'xxxx';
    pm.metadata.order = 'changed';
    const got = await vault.get(M, pm.id, false);
    t.match(got, { card: { last4: '4242' }, metadata: { order: '1' } });
    if (!got) throw new Error('no record');
    got.card.brand = 'changed';
    got.billing_details.name = 'changed';
    t.match(await vault.get(M, pm.id, false), { card: { brand: 'visa' }, billing_details: { name: null } });
  });

  await t.test('destroy makes it unreadable', async (t) => {
    const pm = await tokenize(vault);
    await vault.destroy(M, pm.id);
    t.equal(await vault.get(M, pm.id, false), null);
    await rejectsMissing(t, vault.reveal(M, pm.id), 'reveal after destroy');
    t.equal(await raw(kv, M, pm.id), null, 'no value in the bucket');
    const history: string[] = [];
    for await (const e of await kv.history({ key: kvKey(M, pm.id) })) history.push(`${e.operation}:${e.value.length}`);
    t.strictSame(history, ['PURGE:0'], 'no earlier revision keeps the ciphertext');
    await vault.forgetCvc(M, pm.id);
    t.equal(await raw(kv, M, pm.id), null, 'forgetting the CVC of a destroyed card does not bring it back');
  });

  await t.test('forgetCvc racing destroy does not resurrect the card', async (t) => {
    const pms = await Promise.all(Array.from({ length: 20 }, () => tokenize(vault)));
    await Promise.all(pms.flatMap((pm) => [vault.forgetCvc(M, pm.id), vault.destroy(M, pm.id)]));
    const left = [];
    for (const pm of pms) if (await raw(kv, M, pm.id)) left.push(pm.id);
    t.strictSame(left, [], 'every destroyed card stays destroyed');
  });

  await t.test('magic test payment methods work for any merchant', async (t) => {
    for (const merchant of [M, OTHER, 'acct_anyone']) {
      const pm = await vault.get(merchant, 'pm_card_visa', false);
      t.match(pm, { id: 'pm_card_visa', merchant_id: merchant, card: { brand: 'visa', last4: '4242' } });
      t.notOk(pm && 'sealed' in pm);
      t.strictSame(await vault.reveal(merchant, 'pm_card_visa'), { number: PAN, cvc: '123' });
    }
    t.equal(await vault.get(M, 'pm_card_visa', true), null, 'magic methods are test mode only');
    t.match(await vault.get(M, 'pm_card_amex', false), { card: { brand: 'amex', last4: '0005' } });
    t.match(await vault.reveal(M, 'pm_card_amex'), { cvc: '1234' });
    t.match(await vault.get(M, 'pm_card_chargeDeclinedInsufficientFunds', false), { card: { last4: '9995' } });
    await vault.forgetCvc(M, 'pm_card_visa');
    t.strictSame(await vault.reveal(M, 'pm_card_visa'), { number: PAN, cvc: '123' }, 'magic methods are not stored');
    t.equal(await kv.get(kvKey(M, 'pm_card_visa')), null);
  });

  await t.test("one KV read serves a confirmation's reads of the card; destroy is seen at once", async (t) => {
    // The bucket, counting reads of the card records (the vault keeps a read record for moments).
    let reads = 0;
    const counting = countingGets(kv, () => reads++);
    const cvcs = await new Kvm(nc).open(buckets.vaultCvc);
    const v = createVault(counting, keyRing(loadMasterKey(dataDir, {})), cvcs);
    const pm = await tokenize(v);
    t.equal(reads, 0, 'tokenize reads nothing');
    t.match(await v.get(M, pm.id, false), { id: pm.id, card: { last4: '4242' } });
    const got = await v.get(M, pm.id, false);
    t.notOk(got && 'sealed' in got, 'no sealed part in what get returns');
    t.strictSame(await v.reveal(M, pm.id), { number: PAN, cvc: CVC });
    t.equal(reads, 0, 'get, get, reveal of a card this vault tokenized: no read (kept as stored)');
    t.equal(await v.get(OTHER, pm.id, false), null, 'still per merchant');
    t.equal(await v.get(M, pm.id, true), null, 'still per mode');

    // Tokenized by another process: one read serves the confirmation's three.
    reads = 0;
    const elsewhere = await tokenize(vault);
    t.match(await v.get(M, elsewhere.id, false), { id: elsewhere.id, card: { last4: '4242' } });
    t.match(await v.get(M, elsewhere.id, false), { id: elsewhere.id });
    t.strictSame(await v.reveal(M, elsewhere.id), { number: PAN, cvc: CVC });
    t.equal(reads, 1, 'get, get, reveal: one read');

    // A read in flight while the card is destroyed is not kept: nothing opens it afterwards.
    const racing = await tokenize(v);
    const inFlight = v.get(M, racing.id, false);
    const destroyed = v.destroy(M, racing.id);
    await Promise.all([inFlight, destroyed]);
    t.equal(await v.get(M, racing.id, false), null, 'gone after destroy');
    await rejectsMissing(t, v.reveal(M, racing.id), 'reveal after a destroy that raced a read');
    // Destroyed through this vault after it had read the card: gone at once too.
    await v.destroy(M, pm.id);
    await rejectsMissing(t, v.reveal(M, pm.id), 'reveal of a card read just before its destroy');
  });
});

t.test('the CVC a vault just stored serves its first reveal without a read, once', async (t) => {
  const { url } = await withNats(t);
  const nc2 = await connectNats(url, 'vault-cvc-test');
  t.teardown(() => nc2.close());
  await declareTopology(nc2, { eventMaxAgeS: 3600, leaseMs: 10_000 });
  const kvm = new Kvm(nc2);
  let cvcReads = 0;
  const counting = countingGets(await kvm.open(buckets.vaultCvc), () => cvcReads++);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vault-cvc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ring = keyRing(loadMasterKey(dir, {}));
  const v = createVault(await kvm.open(buckets.vault), ring, counting);
  const pm = await tokenize(v);
  t.strictSame(await v.reveal(M, pm.id), { number: PAN, cvc: CVC }, 'the first reveal has the CVC');
  t.equal(cvcReads, 0, 'without reading the bucket');
  t.strictSame(await v.reveal(M, pm.id), { number: PAN, cvc: CVC }, 'a second reveal before forgetCvc (a retried attempt) still has it');
  t.equal(cvcReads, 1, 'from the bucket: the kept one was used once');
  await v.forgetCvc(M, pm.id);
  t.strictSame(await v.reveal(M, pm.id), { number: PAN }, 'forgotten');

  const forgotten = await tokenize(v);
  await v.forgetCvc(M, forgotten.id);
  t.strictSame(await v.reveal(M, forgotten.id), { number: PAN }, 'forgetCvc here drops the kept one before any reveal');

  // Forgotten by another process (the attempt ran there): the kept one is gone after RECENT_MS at the latest;
  // a vault over the same buckets that did not tokenize reads the bucket.
  const other = createVault(await kvm.open(buckets.vault), ring, await kvm.open(buckets.vaultCvc));
  const third = await tokenize(v);
  cvcReads = 0;
  t.strictSame(await other.reveal(M, third.id), { number: PAN, cvc: CVC }, 'another process reads it from the bucket');
  t.equal(cvcReads, 0, 'not through this vault');
});

t.test('master key', async (t) => {
  await t.test('created 0600 on first load, then reused', async (t) => {
    const dir = tmpDir(t);
    const file = path.join(dir, 'keys', 'master.key');
    t.notOk(existsSync(file));
    const k1 = loadMasterKey(dir, {});
    t.equal(k1.length, 32);
    t.ok(existsSync(file));
    if (process.platform !== 'win32') {
      t.equal(statSync(file).mode & 0o777, 0o600, 'the key file is 0600');
      t.equal(statSync(path.dirname(file)).mode & 0o077, 0, 'its directory is private');
    }
    t.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32, 'base64 of 32 bytes');
    const k2 = loadMasterKey(dir, {});
    t.ok(k2.equals(k1), 'the second load reads the same key');
    t.equal(keyRing(k2).kid, keyRing(k1).kid);
    t.notOk(loadMasterKey(tmpDir(t), {}).equals(k1), 'another data dir gets another key');
  });

  await t.test('a card sealed under the key opens after a restart (same file)', async (t) => {
    const { url } = await withNats(t);
    const nc = await connectNats(url, 'vault-test-restart');
    t.teardown(() => nc.close());
    await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5000 });
    const kv = await new Kvm(nc).open(buckets.vault);
    const cvcs = await new Kvm(nc).open(buckets.vaultCvc);
    const dir = tmpDir(t);
    const pm = await tokenize(createVault(kv, keyRing(loadMasterKey(dir, {})), cvcs));
    t.strictSame(await createVault(kv, keyRing(loadMasterKey(dir, {})), cvcs).reveal(M, pm.id), { number: PAN, cvc: CVC });
    const stranger = createVault(kv, keyRing(loadMasterKey(tmpDir(t), {})), cvcs);
    await t.rejects(stranger.reveal(M, pm.id), 'a vault with another master key cannot open it');
  });

  await t.test('MASTER_KEY from the environment', async (t) => {
    const dir = tmpDir(t);
    const key = randomBytes(32);
    t.ok(loadMasterKey(dir, { MASTER_KEY: key.toString('base64') }).equals(key));
    t.notOk(existsSync(path.join(dir, 'keys', 'master.key')), 'no file is written when the key comes from the environment');
    for (const bad of [randomBytes(16), randomBytes(31), randomBytes(33), randomBytes(64)]) {
      t.throws(() => loadMasterKey(dir, { MASTER_KEY: bad.toString('base64') }), /MASTER_KEY must be 32 bytes/, `${bad.length} bytes`);
    }
    t.throws(() => loadMasterKey(dir, { MASTER_KEY: 'not base64!' }), /MASTER_KEY must be 32 bytes/);
  });
});

t.test('VaultError', async (t) => {
  const e = new VaultError('resource_missing', 'x');
  t.equal(e.name, 'VaultError');
  t.equal(e.code, 'resource_missing');
});
