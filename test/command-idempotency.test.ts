// Idempotency carried by the aggregate's own commits (runtime/aggregates.ts `applied`): creating and
// confirming a PaymentIntent keep no idempotency record of their own.
//  1. the store, given/when/then on a real nats-server: a repeat of a keyed command is answered
//     from its first commit (not the state now), from a cold process too; other parameters are
//     refused; the record is carried by later commits and dropped after 24 hours;
//  2. over HTTP: a repeated keyed confirm renders the first answer, marked Idempotent-Replayed with
//     the first request's id, and writes nothing and calls no network again; other parameters are
//     400 idempotency_error; repeats while the first runs get 409 idempotency_key_in_use, then the
//     replay; no KV idempotency record.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { customerDecider, type Customer, type CustomerCommand } from '../actors/mod.ts';
import { connectNats, declareTopology } from '../nats/mod.ts';
import { APPLIED_TTL_S, createAggregateStore, IdempotencyMismatchError, type CommandContext, type CommandTrace } from '../runtime/aggregates.ts';
import { decodeCommit } from '../streams/codec.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { withNats } from './helpers/nats.ts';
import { createIntentCommand } from './helpers/commands.ts';
import { startStack } from './helpers/stack.ts';

const hex = (n = 8) => randomBytes(n).toString('hex');

/** A stack, a merchant, and a count of a stream's messages. */
async function stackWithStreams(t: Parameters<typeof startStack>[0]) {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const count = async (stream: string) => (await jsm.streams.info(stream)).state.messages;
  return { stack, m, jsm, count };
}

t.test('aggregate store: a keyed command is answered from its first commit', async (t) => {
  const nats = await withNats(t);
  const nc = await connectNats(nats.url, 'command-idempotency-test');
  t.teardown(() => nc.close());
  await declareTopology(nc, { eventMaxAgeS: 3600, leaseMs: 5_000 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const merchantId = `acct_${hex()}`;
  const customerId = `cus_${hex()}`;
  const ref = { aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId };
  const t0 = Math.floor(Date.now() / 1000);
  const ctx = (commandId: string, now: number, fingerprint?: string, trace?: CommandTrace): CommandContext => ({
    commandId,
    requestId: `req_${commandId}`,
    correlationId: null,
    now,
    ...(fingerprint ? { fingerprint } : {}),
    ...(trace ? { trace } : {}),
  });
  const create: CustomerCommand = { type: 'Create', customerId, merchantId, livemode: false, email: 'a@example.com', name: 'First', description: null, phone: null, metadata: {}, now: t0 };
  const rename = (name: string, now: number): CustomerCommand => ({ type: 'Update', changes: { name }, metadata: {}, now });
  const messages = async () => (await jsm.streams.info(EVENTS_STREAM)).state.messages;

  // given a keyed create, then an unkeyed update
  const store = createAggregateStore(js, jsm, 'w_a');
  const first = await store.execute(customerDecider, ref, create, ctx('cmd_create', t0, 'fp_create'));
  t.equal(first.appended.length, 1);
  await store.execute(customerDecider, ref, rename('Second', t0 + 10), ctx('cmd_rename', t0 + 10));
  const before = await messages();

  // when the create is repeated, from this process and from a cold one
  for (const [who, s] of [['the owner', store], ['a cold process', createAggregateStore(js, jsm, 'w_b')]] as const) {
    const trace: CommandTrace = { appended: false };
    const again = await s.execute(customerDecider, ref, create, ctx('cmd_create', t0 + 20, 'fp_create', trace));
    // then the answer is the state the first commit left, not the state now, and nothing is written
    t.equal((again.state as Customer).name, 'First', `${who}: the first answer`);
    t.same(again.appended, [], `${who}: nothing appended`);
    t.same(trace, { appended: false, replayedFrom: 'req_cmd_create' }, `${who}: traced as a replay of the first request`);
  }
  t.equal(await messages(), before);

  // when it is repeated with other parameters: refused, nothing written
  await t.rejects(store.execute(customerDecider, ref, create, ctx('cmd_create', t0 + 20, 'fp_other')), IdempotencyMismatchError);
  t.equal(await messages(), before);

  // the record rides on every later commit, keyed or not, and is dropped 24 h after its command
  const last = async () => decodeCommit((await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: ref.subject }))!.data);
  t.same(Object.keys((await last()).applied ?? {}), ['cmd_create'], 'carried by the unkeyed update');
  await store.execute(customerDecider, ref, rename('Third', t0 + 30), ctx('cmd_rename2', t0 + 30, 'fp_rename2'));
  t.same(Object.keys((await last()).applied ?? {}).sort(), ['cmd_create', 'cmd_rename2']);
  await store.execute(customerDecider, ref, rename('Fourth', t0 + APPLIED_TTL_S + 1), ctx('cmd_rename3', t0 + APPLIED_TTL_S + 1));
  t.same(Object.keys((await last()).applied ?? {}), ['cmd_rename2'], 'the create’s record expired; the later one kept');
  const fresh: CommandTrace = { appended: false };
  const rerun = await store.execute(customerDecider, ref, create, ctx('cmd_create', t0 + APPLIED_TTL_S + 2, 'fp_create', fresh));
  t.equal((rerun.state as Customer).name, 'Fourth', 'past 24 h the key is forgotten: decided again (a create of an existing customer is a no-op)');
  t.equal(fresh.replayedFrom, undefined);
});

t.test('HTTP: keyed create and confirm are replayed from the intent’s commits', async (t) => {
  const { stack, m, jsm, count } = await stackWithStreams(t);
  const post = (path: string, key: string, body: string) =>
    fetch(`${stack.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
      body,
    });
  const kvBefore = await count('KV_pay_idempotency');

  const created = await post('/v1/payment_intents', 'ci-create', 'amount=2500&currency=eur');
  t.equal(created.status, 200);
  const intent = (await created.json()) as { id: string; status: string };
  t.equal(intent.status, 'requires_payment_method');

  const confirmPath = `/v1/payment_intents/${intent.id}/confirm`;
  const confirmed = await post(confirmPath, 'ci-confirm', 'payment_method=pm_card_visa');
  t.equal(confirmed.status, 200);
  const firstBody = await confirmed.json();
  t.equal((firstBody as { status: string }).status, 'succeeded');
  t.equal(confirmed.headers.get('idempotent-replayed'), null, 'the first answer is not a replay');
  t.equal(await count('KV_pay_idempotency'), kvBefore, 'no idempotency record in KV for these routes');

  const commits = await count(EVENTS_STREAM);
  const authorizations = stack.epnRequests.filter((r) => r.method === 'POST').length;
  const again = await post(confirmPath, 'ci-confirm', 'payment_method=pm_card_visa');
  t.equal(again.status, 200);
  t.same(await again.json(), firstBody, 'the same body');
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(again.headers.get('original-request'), confirmed.headers.get('request-id'), 'Original-Request names the first request');
  t.equal(await count(EVENTS_STREAM), commits, 'nothing appended');
  t.equal(stack.epnRequests.filter((r) => r.method === 'POST').length, authorizations, 'no second network call');

  // The create, repeated after the intent moved on, still answers what it answered then.
  const createdAgain = await post('/v1/payment_intents', 'ci-create', 'amount=2500&currency=eur');
  t.equal(createdAgain.status, 200);
  t.equal(((await createdAgain.json()) as { status: string }).status, 'requires_payment_method');
  t.equal(createdAgain.headers.get('idempotent-replayed'), 'true');

  const other = await post(confirmPath, 'ci-confirm', 'payment_method=pm_card_mastercard');
  t.equal(other.status, 400);
  const err = ((await other.json()) as { error: { type: string; message: string } }).error;
  t.equal(err.type, 'idempotency_error');
  t.match(err.message, /ci-confirm/, 'the message names the key, as Stripe’s does');
  t.equal(await count(EVENTS_STREAM), commits, 'nothing executed');

  // Ten concurrent confirmations with one key on a new intent, the network slow enough that all ten
  // reach the intent's owner while the first is running: one runs, nine get Stripe's 409 (key in use),
  // and a retry afterwards is the first answer.
  const pi = (await (await post('/v1/payment_intents', `ci-create-${hex(4)}`, 'amount=900&currency=usd')).json()) as { id: string };
  const faults = (f: object) => fetch(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f) });
  t.equal((await faults({ latency_ms: 400 })).status, 200);
  const burst = await Promise.all(Array.from({ length: 10 }, () => post(`/v1/payment_intents/${pi.id}/confirm`, 'ci-burst', 'payment_method=pm_card_visa')));
  await faults({ latency_ms: 0 });
  t.same(
    burst.map((r) => r.status).sort(),
    [200, ...Array(9).fill(409)],
    'one ran; the nine repeats that came while it ran were told the key is in use',
  );
  const first = burst.find((r) => r.status === 200)!;
  t.equal(first.headers.get('idempotent-replayed'), null, 'the one that ran is not a replay');
  const burstBody = (await first.json()) as { latest_charge: string; status: string };
  t.equal(burstBody.status, 'succeeded');
  for (const r of burst.filter((x) => x.status === 409)) {
    const e = ((await r.json()) as { error: { type: string; code: string; message: string } }).error;
    t.match(e, { type: 'invalid_request_error', code: 'idempotency_key_in_use' });
    t.match(e.message, /ci-burst/, 'the message names the key');
    t.equal(r.headers.get('stripe-should-retry'), 'true', 'the SDK retries it');
  }
  const retried = await post(`/v1/payment_intents/${pi.id}/confirm`, 'ci-burst', 'payment_method=pm_card_visa');
  t.equal(retried.status, 200);
  t.equal(retried.headers.get('idempotent-replayed'), 'true');
  t.same(await retried.json(), burstBody, 'the retry is the first answer');
  const res = await fetch(`${stack.url}/v1/charges?payment_intent=${pi.id}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  if (res.status === 200) t.ok(((await res.json()) as { data: unknown[] }).data.length <= 1, 'one charge at most listed');
  const last = decodeCommit((await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: subjects.intent(m.merchant_id, pi.id) }))!.data);
  t.equal((last.state as { attempts: unknown[] }).attempts.length, 1, 'one attempt');
});

t.test('HTTP: a keyed payment method is the key’s record (vault)', async (t) => {
  const { stack, m, count } = await stackWithStreams(t);
  const create = (key: string, number = '4242424242424242') =>
    fetch(`${stack.url}/v1/payment_methods`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
      body: `type=card&card[number]=${number}&card[exp_month]=12&card[exp_year]=2034&card[cvc]=123`,
    });
  const kvBefore = await count('KV_pay_idempotency');
  const vaultBefore = await count('KV_pay_vault');
  const burst = await Promise.all(Array.from({ length: 5 }, () => create('pm-key-1')));
  t.same(
    burst.map((r) => r.status),
    Array(5).fill(200),
  );
  const bodies = await Promise.all(burst.map((r) => r.json() as Promise<{ id: string }>));
  t.equal(new Set(bodies.map((b) => JSON.stringify(b))).size, 1, 'one payment method for five concurrent requests');
  t.equal(burst.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 4, 'four replays');
  t.equal(await count('KV_pay_vault'), vaultBefore + 1, 'one card record');
  t.equal(await count('KV_pay_idempotency'), kvBefore, 'no idempotency record in KV');

  const again = await create('pm-key-1');
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(((await again.json()) as { id: string }).id, bodies[0]!.id);
  const other = await create('pm-key-1', '5555555555554444');
  t.equal(other.status, 400);
  t.equal(((await other.json()) as { error: { type: string } }).error.type, 'idempotency_error');
  t.equal(await count('KV_pay_vault'), vaultBefore + 1, 'nothing stored for the refused one');

  const read = await fetch(`${stack.url}/v1/payment_methods/${bodies[0]!.id}`, { headers: { authorization: `Bearer ${m.secret_key}` } });
  const shown = (await read.json()) as Record<string, unknown>;
  t.equal(shown.id, bodies[0]!.id);
  t.notOk('idempotency' in shown, 'the key’s fingerprint is never shown');
  const unkeyed = await Promise.all([1, 2].map(() => fetch(`${stack.url}/v1/payment_methods`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034',
  }).then((r) => r.json() as Promise<{ id: string }>)));
  t.not(unkeyed[0]!.id, unkeyed[1]!.id, 'without a key every request is a new payment method');
});

t.test('over NATS (a gateway without the actor role): the reply says replayed', async (t) => {
  const { createCommandClient } = await import('../runtime/client.ts');
  const stack = await startStack(t);
  const m = await stack.onboard();
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const client = createCommandClient(nc, { partitions: Number(stack.config.partitions), timeoutMs: 10_000 }); // no `local`: request/reply
  const intentId = `pi_${hex(12)}`;
  const t0 = Math.floor(Date.now() / 1000);
  const send = (fingerprint: string, trace: { replayed?: { request_id: string | null }; fresh?: boolean }, requestId: string) =>
    client.send(
      {
        op: 'intent.create',
        merchantId: m.merchant_id,
        intentId,
        command: createIntentCommand(m.merchant_id, intentId, 1234, t0),
        ctx: { commandId: `cmd_${intentId}`, livemode: false, requestId, correlationId: null, now: t0, fingerprint },
      },
      trace,
    );
  const first: { replayed?: { request_id: string | null }; fresh?: boolean } = {};
  await send('fp_1', first, 'req_first');
  t.same(first, { fresh: true }, 'the first is fresh');
  const again: { replayed?: { request_id: string | null }; fresh?: boolean } = {};
  const state = (await send('fp_1', again, 'req_again')) as { id: string; amount: number };
  t.same(again, { replayed: { request_id: 'req_first' } }, 'the repeat is a replay of req_first');
  t.equal(state.amount, 1234);
  const refused = (await send('fp_2', {}, 'req_other').then(() => null, (e: unknown) => e)) as { status?: number; type?: string } | null;
  t.same([refused?.status, refused?.type], [400, 'idempotency_error'], 'other parameters: idempotency_error over the wire too');
});

t.test('HTTP: capture, refund and customers replay from their aggregates too', async (t) => {
  const { stack, m, count } = await stackWithStreams(t);
  const post = (path: string, key: string, body: string) =>
    fetch(`${stack.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
      body,
    });
  const calls = (path: string) => stack.epnRequests.filter((r) => r.url.startsWith(path)).length;
  const pi = (await (await post('/v1/payment_intents', `cap-${hex(4)}`, 'amount=3000&currency=usd&capture_method=manual&confirm=true&payment_method=pm_card_visa')).json()) as { id: string; status: string };
  t.equal(pi.status, 'requires_capture');

  const replays = async (path: string, key: string, body: string, epnPath: string) => {
    const first = await post(path, key, body);
    t.equal(first.status, 200, `${path}: first`);
    const firstBody = await first.json();
    const [commits, network] = [await count(EVENTS_STREAM), calls(epnPath)];
    const again = await post(path, key, body);
    t.equal(again.status, 200);
    t.same(await again.json(), firstBody, `${path}: the first answer`);
    t.equal(again.headers.get('idempotent-replayed'), 'true');
    t.equal(await count(EVENTS_STREAM), commits, `${path}: nothing appended`);
    t.equal(calls(epnPath), network, `${path}: no second network call`);
    return firstBody as Record<string, unknown>;
  };
  t.equal((await replays(`/v1/payment_intents/${pi.id}/capture`, 'cap-1', '', '/v1/capture')).status, 'succeeded');
  t.equal((await replays('/v1/refunds', 'ref-1', `payment_intent=${pi.id}&amount=500`, '/v1/refund')).status, 'succeeded');

  const cus = await post('/v1/customers', 'cus-1', 'email=a%40example.com&name=Ada');
  const body = (await cus.json()) as { id: string };
  const again = await post('/v1/customers', 'cus-1', 'email=a%40example.com&name=Ada');
  t.equal(((await again.json()) as { id: string }).id, body.id);
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  const other = await post('/v1/customers', 'cus-1', 'email=b%40example.com');
  t.equal(other.status, 400);
  t.equal(((await other.json()) as { error: { type: string } }).error.type, 'idempotency_error');
});
