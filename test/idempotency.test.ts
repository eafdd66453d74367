// Stripe's idempotency semantics over the real stack, beyond the SDK's happy path: concurrent
// requests with one key execute once (the others get 409 idempotency_key_in_use or the replay), a
// replay is marked, other parameters are refused, keys are scoped per merchant and mode, and a 5xx
// is not stored.
import t from 'tap';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startStack } from './helpers/stack.ts';

t.test('idempotency keys', async (t) => {
  const stack = await startStack(t);
  const a = await stack.onboard();
  const b = await stack.onboard();
  const post = (key: string, sk: string, body: string) =>
    fetch(`${stack.url}/v1/payment_intents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
      body,
    });
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const commits = async () => (await jsm.streams.info('PAY_EVENTS')).state.messages;

  t.test('20 concurrent requests with one key execute once', async (t) => {
    const before = await commits();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post('burst-1', a.secret_key, 'amount=1500&currency=usd')));
    const statuses = answers.map((r) => r.status);
    t.ok(statuses.every((s) => s === 200 || s === 409), `only 200 or 409: ${statuses.join(',')}`);
    const ok = await Promise.all(answers.filter((r) => r.status === 200).map((r) => r.json() as Promise<{ id: string }>));
    t.ok(ok.length >= 1);
    t.equal(new Set(ok.map((x) => x.id)).size, 1, 'every 200 is the same intent');
    const conflicts = answers.filter((r) => r.status === 409);
    for (const c of conflicts) {
      const body = (await c.json()) as { error: { code: string; type: string } };
      t.equal(body.error.code, 'idempotency_key_in_use');
      t.equal(c.headers.get('stripe-should-retry'), 'true');
    }
    t.equal((await commits()) - before, 1, 'one intent.created commit');
    const replay = await post('burst-1', a.secret_key, 'amount=1500&currency=usd');
    t.equal(replay.status, 200);
    t.equal(replay.headers.get('idempotent-replayed'), 'true');
    t.equal(((await replay.json()) as { id: string }).id, ok[0]!.id);
  });

  t.test('other parameters under a used key are refused; nothing executes', async (t) => {
    const before = await commits();
    const r = await post('burst-1', a.secret_key, 'amount=1600&currency=usd');
    t.equal(r.status, 400);
    t.equal(((await r.json()) as { error: { type: string } }).error.type, 'idempotency_error');
    t.equal(await commits(), before);
  });

  t.test('keys are scoped per merchant and per mode', async (t) => {
    const ra = await post('shared-key', a.secret_key, 'amount=700&currency=usd');
    const rb = await post('shared-key', b.secret_key, 'amount=900&currency=usd');
    t.equal(ra.status, 200);
    t.equal(rb.status, 200, 'another merchant may use the same key for other parameters');
    t.not(((await ra.json()) as { id: string }).id, ((await rb.json()) as { id: string }).id);
    const live = await post('shared-key', (a as unknown as { live_secret_key: string }).live_secret_key, 'amount=800&currency=usd');
    t.equal(live.status, 200, 'live mode has its own keys');
    t.equal(((await live.json()) as { livemode: boolean }).livemode, true);
  });

  t.test('a stored error is replayed', async (t) => {
    const first = await post('declined-1', a.secret_key, 'amount=1000&currency=usd&confirm=true&payment_method=pm_card_visa_chargeDeclined');
    t.equal(first.status, 402);
    const again = await post('declined-1', a.secret_key, 'amount=1000&currency=usd&confirm=true&payment_method=pm_card_visa_chargeDeclined');
    t.equal(again.status, 402);
    t.equal(again.headers.get('idempotent-replayed'), 'true');
    t.same(await again.json(), await first.json());
  });
});

// A gateway that crashed mid-request holds its claim only until its heartbeat is 3 beats old; a live
// gateway's claim is respected (409) for as long as it runs.
t.test('a crashed gateway’s claim is taken over after 3 missed heartbeats', async (t) => {
  const { withNats } = await import('./helpers/nats.ts');
  const { declareTopology, buckets } = await import('../nats/topology.ts');
  const { Kvm } = await import('@nats-io/kv');
  const { createIdempotency } = await import('../gateway/idempotency.ts');
  const { url } = await withNats(t);
  const nc = await connect({ servers: url });
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 2000 });
  const kvm = new Kvm(nc);
  const [results, inFlight] = [await kvm.open(buckets.idempotency), await kvm.open(buckets.idempotencyInFlight)];
  const heartbeatMs = 100;
  const statusOf = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status);
  const crashed = createIdempotency(results, inFlight, { instance: 'g_crashed', heartbeatMs });
  const live = createIdempotency(results, inFlight, { instance: 'g_live', heartbeatMs });
  const other = createIdempotency(results, inFlight, { instance: 'g_other', heartbeatMs });
  t.teardown(() => [crashed, live, other].forEach((i) => i.stop()));
  t.equal((await crashed.claim('acct_1.test', 'k-crash', 'fp')).kind, 'run');
  t.equal((await live.claim('acct_1.test', 'k-live', 'fp')).kind, 'run');
  crashed.stop(); // the process dies: no finish, no release, no more heartbeats
  t.equal(await statusOf(other.claim('acct_1.test', 'k-crash', 'fp')), 409, 'held right after the crash');
  await new Promise((r) => setTimeout(r, 5 * heartbeatMs));
  t.equal((await other.claim('acct_1.test', 'k-crash', 'fp')).kind, 'run', 'taken over once the holder missed 3 heartbeats');
  t.equal(await statusOf(other.claim('acct_1.test', 'k-live', 'fp')), 409, 'a live holder keeps its claim');
});

// Claims are not released once their result is stored (they expire by the bucket's max_age): a retry
// finds the key held, then the stored result. 5xx and failed writes still release.
t.test('claims outlive their stored result; failures release them', async (t) => {
  const { withNats } = await import('./helpers/nats.ts');
  const { declareTopology, buckets, inFlightTtlMs } = await import('../nats/topology.ts');
  const { Kvm } = await import('@nats-io/kv');
  const { nanos } = await import('@nats-io/transport-node');
  const { createIdempotency } = await import('../gateway/idempotency.ts');
  const { sealString } = await import('../vault/envelope.ts');
  const { randomBytes, createHash, createHmac } = await import('node:crypto');
  const { url } = await withNats(t);
  const nc = await connect({ servers: url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  // A bucket made by an older release (10 min) gets the new max_age from declareTopology.
  await kvm.create(buckets.idempotencyInFlight, { ttl: 10 * 60 * 1000, history: 1, storage: StorageType.Memory });
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 2000 });
  t.equal((await jsm.streams.info(`KV_${buckets.idempotencyInFlight}`)).config.max_age, nanos(inFlightTtlMs), 'claims expire after inFlightTtlMs');
  const results = await kvm.open(buckets.idempotency);
  const inFlight = await kvm.open(buckets.idempotencyInFlight);
  const resultsDirect = await kvm.open(buckets.idempotency, { allow_direct: true });
  const secret = randomBytes(32);
  const a = createIdempotency(results, inFlight, { instance: 'g_a', secret, resultsDirect });
  const b = createIdempotency(results, inFlight, { instance: 'g_b', secret, resultsDirect });
  t.teardown(() => [a, b].forEach((i) => i.stop()));
  const keyOf = (scope: string, k: string) => `${scope}.${createHash('sha256').update(k).digest('hex')}`;
  const statusOf = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status);
  const scope = 'acct_1.test';

  const first = await a.claim(scope, 'k-ok', 'fp');
  if (first.kind !== 'run') throw new Error('expected to run');
  await first.finish(200, '{"id":"pi_1","secret":"whsec_x"}', 'req_1');
  const held = await inFlight.get(keyOf(scope, 'k-ok'));
  t.equal(held?.operation, 'PUT', 'the claim is still there after the result is stored');
  const stored = await results.get(keyOf(scope, 'k-ok'));
  t.notMatch(stored!.string(), /whsec_x/, 'the stored body is sealed');
  for (const [who, g] of [['same gateway', a], ['another gateway', b]] as const) {
    const again = await g.claim(scope, 'k-ok', 'fp');
    t.same(again, { kind: 'replay', status: 200, body: '{"id":"pi_1","secret":"whsec_x"}', requestId: 'req_1' }, `a retry on the ${who} replays`);
  }
  t.equal(await statusOf(b.claim(scope, 'k-ok', 'other-fp')), 400, 'other parameters: idempotency_error');

  // The claim expired (max_age): the retry claims afresh and still finds the result (direct get).
  await jsm.streams.purge(`KV_${buckets.idempotencyInFlight}`, { filter: `$KV.${buckets.idempotencyInFlight}.${keyOf(scope, 'k-ok')}` });
  t.same(await b.claim(scope, 'k-ok', 'fp'), { kind: 'replay', status: 200, body: '{"id":"pi_1","secret":"whsec_x"}', requestId: 'req_1' }, 'replayed after the claim expired');

  // A 5xx is not stored and releases the claim: the retry runs.
  const failing = await a.claim(scope, 'k-5xx', 'fp');
  if (failing.kind !== 'run') throw new Error('expected to run');
  await failing.finish(503, '{}', 'req_2');
  t.equal((await b.claim(scope, 'k-5xx', 'fp')).kind, 'run', 'a retry after a 5xx runs');

  // The result cannot be written: the claim is released, the retry runs.
  const broken = Object.create(results, { put: { value: () => Promise.reject(new Error('no quorum')) } });
  const c = createIdempotency(broken, inFlight, { instance: 'g_c', secret, resultsDirect });
  t.teardown(() => c.stop());
  const lost = await c.claim(scope, 'k-lost', 'fp');
  if (lost.kind !== 'run') throw new Error('expected to run');
  await t.rejects(lost.finish(200, '{}', 'req_3'), /no quorum/);
  t.equal((await b.claim(scope, 'k-lost', 'fp')).kind, 'run', 'a retry after a failed write runs');

  // Records sealed by earlier releases (an envelope per record) still replay.
  const legacyKey = keyOf(scope, 'k-legacy');
  const fp = createHmac('sha256', secret).update('fp').digest('hex');
  await results.put(legacyKey, JSON.stringify({ state: 'done', fingerprint: fp, status: 402, body: sealString(secret, 'idem', '{"error":{}}', legacyKey), request_id: 'req_0', sealed: true }));
  t.same(await a.claim(scope, 'k-legacy', 'fp'), { kind: 'replay', status: 402, body: '{"error":{}}', requestId: 'req_0' }, 'an envelope-sealed record replays');
});

t.test('record sealer: one AES-256-GCM per stored body, opened by any process with the secret', async (t) => {
  const { createRecordSealer } = await import('../vault/envelope.ts');
  const { randomBytes } = await import('node:crypto');
  const secret = randomBytes(32);
  const one = createRecordSealer(secret, 'test');
  const two = createRecordSealer(secret, 'test');
  const s1 = one.seal('{"a":1}', 'acct_1.test.k');
  const s2 = one.seal('{"a":1}', 'acct_1.test.k');
  t.not(s1, s2, 'a new IV per record');
  t.equal(two.open(s1, 'acct_1.test.k'), '{"a":1}', 'another process opens it');
  t.not(s1.split('.')[1], two.seal('x', 'y').split('.')[1], 'each sealer has its own salt, hence key');
  t.throws(() => one.open(s1, 'acct_1.test.other'), 'bound to its record key');
  t.throws(() => createRecordSealer(randomBytes(32), 'test').open(s1, 'acct_1.test.k'), 'needs the secret');
  t.throws(() => createRecordSealer(secret, 'other').open(s1, 'acct_1.test.k'), 'needs the same purpose');
  const parts = s1.split('.');
  const ct = Buffer.from(parts[4]!, 'base64url');
  ct[0]! ^= 1;
  t.throws(() => one.open([...parts.slice(0, 4), ct.toString('base64url')].join('.'), 'acct_1.test.k'), 'tampering is detected');
  t.throws(() => one.open([...parts.slice(0, 3), parts[3]!.slice(0, 8), parts[4]].join('.'), 'acct_1.test.k'), 'a truncated tag is refused');
});

// Stored records carry the keyed fingerprint of the parameters: its text must not change between
// releases, or a retry after an upgrade is refused as "other parameters". Values from the first form.
t.test('parameter fingerprints are stable across releases', async (t) => {
  const { fingerprint } = await import('../gateway/idempotency.ts');
  t.equal(
    fingerprint('POST', '/v1/payment_methods', { type: 'card', card: { number: '4242424242424242', exp_month: '12', exp_year: '2031', cvc: '123' } }),
    'ce7d0f3e42f1f90aae72948622cffbe02a3bb727c1d2f2284e19764f65b24fd8',
  );
  t.equal(
    fingerprint('POST', '/v1/payment_intents', { amount: '1000', currency: 'usd', metadata: { order: 'a"b' }, expand: ['latest_charge'] }),
    '6dcd36b6f86810ba070f26f7f8830765bed7ae9d928807858a6941cc5ec38a84',
  );
  // Sorted keys at every depth, JSON strings, null for undefined, an empty slot for an array hole.
  const { createHash } = await import('node:crypto');
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const params = { b: [1, , undefined, 'x'], a: { z: null, 'k"': true, y: [] }, c: '' };
  t.equal(fingerprint('POST', '/p', params), sha('POST /p\n{"a":{"k\\"":true,"y":[],"z":null},"b":[1,,null,"x"],"c":""}'));
});
