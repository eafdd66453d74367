// /v1/customers with the official stripe SDK against the real stack: create, retrieve, update
// (metadata merge), list (pagination, filters), isolation between merchants and between modes, and
// customers on PaymentIntents (the existence check, expand[]=customer, the list filter).
import t from 'tap';
import Stripe from 'stripe';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { customerDecider, fold, type CustomerCommand, type CustomerState } from '../actors/mod.ts';
import { decodeCommit, encodeCommit } from '../streams/codec.ts';
import type { CustomerCommit, StoredCommit } from '../streams/envelope.ts';
import { listCustomers, migrateToLatest, openDatabase, projectCommits } from '../storage/mod.ts';
import { EVENTS_STREAM, subjects } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';

type Onboarded = Awaited<ReturnType<Awaited<ReturnType<typeof startStack>>['onboard']>> & { live_secret_key: string };

const stripeError = (e: unknown) => e as Stripe.errors.StripeError;
/** Stripe's list order: newest first; within one second (created is in seconds) by id, descending. */
const newestFirst = (a: Stripe.Customer, b: Stripe.Customer) => b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const fails = <T>(p: Promise<T>) => p.then(
  () => null,
  (e: unknown) => e,
);

t.test('customers through the official stripe SDK', async (t) => {
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const m = (await stack.onboard()) as Onboarded;
  const other = (await stack.onboard({ name: 'Other Store' })) as Onboarded;
  t.match(m.live_secret_key, /^sk_live_/);
  const stripe = sdk(m.secret_key);
  const live = sdk(m.live_secret_key);
  const otherStripe = sdk(other.secret_key);

  const jenny = await stripe.customers.create({
    email: 'jenny.rosen@example.com',
    name: 'Jenny Rosen',
    description: 'first customer',
    phone: '+15555550100',
    metadata: { order: '7', source: 'web' },
  });

  await t.test('create answers with Stripe’s customer object', async (t) => {
    t.match(jenny.id, /^cus_[a-f0-9]{24}$/);
    t.equal(jenny.object, 'customer');
    t.equal(jenny.email, 'jenny.rosen@example.com');
    t.equal(jenny.name, 'Jenny Rosen');
    t.equal(jenny.description, 'first customer');
    t.equal(jenny.phone, '+15555550100');
    t.strictSame(jenny.metadata, { order: '7', source: 'web' });
    t.equal(jenny.livemode, false);
    t.equal(jenny.address, null);
    t.equal(jenny.balance, 0);
    t.equal(jenny.currency, null);
    t.equal(jenny.default_source, null);
    t.equal(jenny.delinquent, false);
    t.match(jenny.invoice_prefix, /^[A-Z0-9]{1,12}$/);
    t.equal(jenny.invoice_settings.default_payment_method, null);
    t.strictSame(jenny.preferred_locales, []);
    t.equal(jenny.shipping, null);
    t.equal(jenny.tax_exempt, 'none');
    t.equal(jenny.test_clock, null);
    t.ok(Math.abs(jenny.created - Date.now() / 1000) < 60, 'created is now');

    const bare = await stripe.customers.create();
    t.equal(bare.email, null);
    t.equal(bare.name, null);
    t.strictSame(bare.metadata, {});
  });

  await t.test('the customer is one aggregate on its own subject', async (t) => {
    const nc = await connect({ servers: stack.nats.url });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const msg = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: subjects.customer(m.merchant_id, jenny.id) });
    t.ok(msg, 'a commit on pay.evt.customer.<merchant>.<customer>');
    const c = decodeCommit(msg!.data);
    t.equal(c.aggregate, 'customer');
    t.equal(c.aggregate_id, jenny.id);
    t.strictSame(c.events.map((e) => e.type), ['customer.created']);

    // An update that changes nothing writes nothing.
    const same = await stripe.customers.update(jenny.id, { name: 'Jenny Rosen', metadata: { order: '7' } });
    t.equal(same.name, 'Jenny Rosen');
    const after = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: subjects.customer(m.merchant_id, jenny.id) });
    t.equal(after?.seq, msg!.seq, 'no new commit');
  });

  await t.test('retrieve returns what create returned', async (t) => {
    const got = await stripe.customers.retrieve(jenny.id);
    t.strictSame({ ...got, lastResponse: undefined }, { ...jenny, lastResponse: undefined });
    const missing = stripeError(await fails(stripe.customers.retrieve('cus_doesnotexist')));
    t.ok(missing instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(missing.statusCode, 404);
    t.equal(missing.code, 'resource_missing');
    t.equal(missing.message, "No such customer: 'cus_doesnotexist'");
    t.equal(missing.param, 'id');
  });

  await t.test('update: fields, metadata merge, an empty value unsets', async (t) => {
    const u1 = await stripe.customers.update(jenny.id, { name: 'Jenny R.', metadata: { tier: 'gold', source: '' } });
    t.equal(u1.name, 'Jenny R.');
    t.equal(u1.email, 'jenny.rosen@example.com', 'untouched fields stay');
    t.strictSame(u1.metadata, { order: '7', tier: 'gold' });
    const u2 = await stripe.customers.update(jenny.id, { phone: '', description: '' });
    t.equal(u2.phone, null);
    t.equal(u2.description, null);
    t.equal(u2.name, 'Jenny R.');
    const u3 = await stripe.customers.update(jenny.id, { metadata: '' });
    t.strictSame(u3.metadata, {});
    const u4 = await stripe.customers.update(jenny.id, { metadata: { order: '8' }, email: 'jenny@example.com' });
    t.strictSame(u4.metadata, { order: '8' });
    t.equal(u4.email, 'jenny@example.com');
    t.strictSame((await stripe.customers.retrieve(jenny.id)) as Stripe.Customer, u4, 'retrieve sees the update');

    const missing = stripeError(await fails(stripe.customers.update('cus_doesnotexist', { name: 'x' })));
    t.equal(missing.statusCode, 404);
    t.equal(missing.code, 'resource_missing');
  });

  await t.test('preferred_locales and tax_exempt are kept', async (t) => {
    const c = await stripe.customers.create({ preferred_locales: ['fr-FR', 'en'], tax_exempt: 'reverse' });
    t.strictSame(c.preferred_locales, ['fr-FR', 'en']);
    t.equal(c.tax_exempt, 'reverse');
    const plain = await stripe.customers.create({});
    t.strictSame(plain.preferred_locales, [], 'none by default');
    t.equal(plain.tax_exempt, 'none', "'none' by default");
    const u = await stripe.customers.update(c.id, { preferred_locales: ['de'], tax_exempt: 'exempt' });
    t.strictSame(u.preferred_locales, ['de']);
    t.equal(u.tax_exempt, 'exempt');
    const cleared = await stripe.customers.update(c.id, { preferred_locales: '' as never, tax_exempt: '' as never });
    t.strictSame(cleared.preferred_locales, [], "'' clears the locales");
    t.equal(cleared.tax_exempt, 'none', "'' is 'none'");
    const bad = stripeError(await fails(stripe.customers.create({ tax_exempt: 'sometimes' } as never)));
    t.match(bad, { statusCode: 400, param: 'tax_exempt' });
  });

  await t.test('idempotent create: the same key is the same customer', async (t) => {
    const a = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: 'cust-1' });
    const b = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: 'cust-1' });
    t.equal(b.id, a.id);
    t.equal(b.lastResponse.headers['idempotent-replayed'], 'true');
    const mismatch = await fails(stripe.customers.create({ email: 'other@example.com' }, { idempotencyKey: 'cust-1' }));
    t.ok(mismatch instanceof Stripe.errors.StripeIdempotencyError);
  });

  await t.test('bad input: Stripe’s errors', async (t) => {
    const unknown = stripeError(await fails(stripe.customers.create({ nickname: 'jj' } as Stripe.CustomerCreateParams)));
    t.ok(unknown instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(unknown.code, 'parameter_unknown');
    t.equal(unknown.param, 'nickname');
    const unknownUpdate = stripeError(await fails(stripe.customers.update(jenny.id, { balance: 5 })));
    t.equal(unknownUpdate.code, 'parameter_unknown');
    t.equal(unknownUpdate.param, 'balance');
    const unknownList = stripeError(await fails(stripe.customers.list({ test_clock: 'clock_1' })));
    t.equal(unknownList.code, 'parameter_unknown');
    const email = stripeError(await fails(stripe.customers.create({ email: 'not-an-email' })));
    t.ok(email instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(email.code, 'email_invalid');
    t.equal(email.param, 'email');
    const expand = stripeError(await fails(stripe.customers.retrieve(jenny.id, { expand: ['subscriptions.data.plan'] })));
    t.equal(expand.param, 'expand');
    const tooMany = stripeError(await fails(stripe.customers.create({ metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) })));
    t.equal(tooMany.param, 'metadata');
    const pk = stripeError(await fails(sdk(m.publishable_key).customers.list()));
    t.equal(pk.statusCode, 401, 'a publishable key cannot list customers');
  });

  await t.test('list: newest first, pagination, email and created filters', async (t) => {
    const made: Stripe.Customer[] = [];
    for (let i = 0; i < 4; i++) made.push(await stripe.customers.create({ email: i % 2 ? 'odd@example.com' : 'even@example.com', name: `n${i}` }));
    const all = await eventually(async () => {
      const l = await stripe.customers.list({ limit: 100 });
      return l.data.some((c) => c.id === made[3]!.id) ? l : null;
    });
    t.equal(all.object, 'list');
    t.equal(all.url, '/v1/customers');
    t.equal(all.has_more, false);
    const ids = all.data.map((c) => c.id);
    t.strictSame(ids, [...all.data].sort(newestFirst).map((c) => c.id), 'newest first');
    t.ok(made.every((c) => ids.includes(c.id)));
    t.ok(all.data.every((c) => c.livemode === false));

    const p1 = await stripe.customers.list({ limit: 2 });
    t.equal(p1.data.length, 2);
    t.equal(p1.has_more, true);
    t.strictSame(p1.data.map((c) => c.id), ids.slice(0, 2));
    const p2 = await stripe.customers.list({ limit: 2, starting_after: p1.data[1]!.id });
    t.strictSame(p2.data.map((c) => c.id), ids.slice(2, 4));
    const back = await stripe.customers.list({ limit: 2, ending_before: p2.data[0]!.id });
    t.strictSame(back.data.map((c) => c.id), ids.slice(0, 2), 'ending_before pages back');
    const everyone = await stripe.customers.list({ limit: 3 }).autoPagingToArray({ limit: 1000 });
    t.strictSame(everyone.map((c) => c.id), ids, 'auto-pagination walks the whole list');

    const odd = await stripe.customers.list({ email: 'odd@example.com' });
    t.strictSame(odd.data.map((c) => c.id), [made[3]!, made[1]!].sort(newestFirst).map((c) => c.id));
    t.strictSame((await stripe.customers.list({ email: 'ODD@example.com' })).data, [], 'the email filter is case-sensitive');
    const created = await stripe.customers.list({ created: { gte: made[0]!.created, lte: made[3]!.created }, limit: 100 });
    t.ok(made.every((c) => created.data.some((x) => x.id === c.id)));
    t.strictSame((await stripe.customers.list({ created: { lt: made[0]!.created - 3600 } })).data, []);

    // The projection follows updates.
    await stripe.customers.update(made[0]!.id, { email: 'odd@example.com' });
    await eventually(async () => (await stripe.customers.list({ email: 'odd@example.com' })).data.length === 3);
  });

  await t.test('another merchant’s customer does not exist for this key', async (t) => {
    const r = stripeError(await fails(otherStripe.customers.retrieve(jenny.id)));
    t.equal(r.statusCode, 404);
    t.equal(r.code, 'resource_missing');
    const u = stripeError(await fails(otherStripe.customers.update(jenny.id, { name: 'stolen' })));
    t.equal(u.statusCode, 404);
    t.equal((await stripe.customers.retrieve(jenny.id) as Stripe.Customer).name, 'Jenny R.', 'unchanged');
    t.strictSame((await otherStripe.customers.list()).data, [], 'the other merchant lists none');
  });

  await t.test('modes: a live key cannot see a test customer, nor the reverse', async (t) => {
    const r = stripeError(await fails(live.customers.retrieve(jenny.id)));
    t.equal(r.statusCode, 404);
    const u = stripeError(await fails(live.customers.update(jenny.id, { name: 'live' })));
    t.equal(u.statusCode, 404);
    const liveOne = await live.customers.create({ email: 'live@example.com' });
    t.equal(liveOne.livemode, true);
    t.equal((await live.customers.retrieve(liveOne.id) as Stripe.Customer).email, 'live@example.com');
    t.equal(stripeError(await fails(stripe.customers.retrieve(liveOne.id))).statusCode, 404);
    const liveList = await eventually(async () => {
      const l = await live.customers.list();
      return l.data.length > 0 ? l : null;
    });
    t.strictSame(liveList.data.map((c) => c.id), [liveOne.id], 'the live list holds only live customers');
    t.notOk((await stripe.customers.list({ limit: 100 })).data.some((c) => c.id === liveOne.id), 'the test list holds no live customer');
    const crossed = stripeError(await fails(live.paymentIntents.create({ amount: 1000, currency: 'usd', customer: jenny.id })));
    t.equal(crossed.statusCode, 400, 'a live intent cannot name a test customer');
    t.equal(crossed.param, 'customer');
  });

  await t.test('PaymentIntents: customer must exist; expand[]=customer; list by customer', async (t) => {
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: jenny.id, expand: ['customer'] });
    const expanded = pi.customer as Stripe.Customer;
    t.equal(expanded.object, 'customer');
    t.equal(expanded.id, jenny.id);
    t.equal(expanded.email, 'jenny@example.com');

    const plain = await stripe.paymentIntents.retrieve(pi.id);
    t.equal(plain.customer, jenny.id, 'without expand the id stays an id');
    const again = await stripe.paymentIntents.retrieve(pi.id, { expand: ['customer'] });
    t.equal((again.customer as Stripe.Customer).id, jenny.id);

    const listed = await eventually(async () => {
      const l = await stripe.paymentIntents.list({ customer: jenny.id, expand: ['data.customer'] });
      return l.data.length === 1 ? l : null;
    });
    t.equal(listed.data[0]!.id, pi.id);
    t.equal((listed.data[0]!.customer as Stripe.Customer).object, 'customer');

    const noSuch = stripeError(await fails(stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: 'cus_nobody' })));
    t.ok(noSuch instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(noSuch.statusCode, 400);
    t.equal(noSuch.code, 'resource_missing');
    t.equal(noSuch.param, 'customer');
    t.equal(noSuch.message, "No such customer: 'cus_nobody'");
    const othersCustomer = await otherStripe.customers.create({ email: 'x@example.com' });
    const foreign = stripeError(await fails(stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: othersCustomer.id })));
    t.equal(foreign.param, 'customer', 'another merchant’s customer cannot be named');

    // Update: attach to an intent made without one; an unknown customer is refused.
    const bare = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd' });
    t.equal(bare.customer, null);
    const badUpdate = stripeError(await fails(stripe.paymentIntents.update(bare.id, { customer: 'cus_nobody' })));
    t.equal(badUpdate.statusCode, 400);
    t.equal(badUpdate.param, 'customer');
    const attached = await stripe.paymentIntents.update(bare.id, { customer: jenny.id, expand: ['customer'] });
    t.equal((attached.customer as Stripe.Customer).id, jenny.id);
  });
});

t.test('the customers projection: idempotent, never backwards, listed per merchant and mode', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-customers-'));
  const opened = await openDatabase({ dataDir: dir });
  t.teardown(async () => {
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  });
  const db = opened.db;
  await migrateToLatest(db);

  let seq = 0;
  let evt = 0;
  const states = new Map<string, CustomerState>();
  /** A commit the way the runtime makes one: decide, stamp, evolve, round-trip through the codec. */
  const commit = (merchantId: string, id: string, cmd: CustomerCommand): StoredCommit<CustomerCommit> => {
    const before = states.get(id) ?? null;
    const events = customerDecider.decide(cmd, before).map((e) => ({ ...e, id: `evt_${String(++evt).padStart(6, '0')}`, v: 1 }));
    const state = fold(customerDecider, events, before);
    states.set(id, state);
    const c: CustomerCommit = {
      v: 1,
      id: `cmd_${seq + 1}`,
      aggregate: 'customer',
      aggregate_id: id,
      merchant_id: merchantId,
      command: cmd.type,
      request_id: null,
      correlation_id: null,
      at: cmd.now,
      events: events as CustomerCommit['events'],
      state: state!,
    };
    const decoded = decodeCommit(encodeCommit(c)) as CustomerCommit;
    return { commit: decoded, seq: ++seq, subject: subjects.customer(merchantId, id), time: cmd.now * 1000 };
  };
  const T0 = 1_800_000_000;
  const create = (merchantId: string, id: string, now: number, livemode = false, email: string | null = null): CustomerCommand => ({
    type: 'Create',
    customerId: id,
    merchantId,
    livemode,
    email,
    name: null,
    description: null,
    phone: null,
    metadata: {},
    now,
  });

  const a1 = commit('acct_a', 'cus_a1', create('acct_a', 'cus_a1', T0, false, 'a@example.com'));
  const a1u = commit('acct_a', 'cus_a1', { type: 'Update', changes: { name: 'A One' }, metadata: { k: 'v' }, now: T0 + 5 });
  const a2 = commit('acct_a', 'cus_a2', create('acct_a', 'cus_a2', T0 + 1, false, 'b@example.com'));
  const a3 = commit('acct_a', 'cus_a3', create('acct_a', 'cus_a3', T0 + 2, true, 'a@example.com'));
  const b1 = commit('acct_b', 'cus_b1', create('acct_b', 'cus_b1', T0 + 3));

  await projectCommits(db, [a1u, a2]); // newest first, then the older snapshot: it changes nothing
  await projectCommits(db, [a1, a3, b1]);
  await projectCommits(db, [a1, a1u, a2, a3, b1]); // redelivery
  const row = await db.selectFrom('customers').selectAll().where('id', '=', 'cus_a1').executeTakeFirstOrThrow();
  t.equal(row.name, 'A One', 'the newer snapshot stays');
  t.strictSame(row.metadata, { k: 'v' });
  t.equal(Number(row.last_seq), a1u.seq);
  t.equal(row.livemode, false);

  const test = await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 10 });
  t.strictSame(test.data.map((c) => c.id), ['cus_a2', 'cus_a1']);
  t.equal(test.data[1]?.name, 'A One', 'the list returns snapshots');
  const liveList = await listCustomers(db, { merchantId: 'acct_a', livemode: true, limit: 10 });
  t.strictSame(liveList.data.map((c) => c.id), ['cus_a3']);
  t.strictSame((await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 10, email: 'a@example.com' })).data.map((c) => c.id), ['cus_a1']);
  const p1 = await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 1 });
  t.equal(p1.hasMore, true);
  t.strictSame((await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 1, startingAfter: 'cus_a2' })).data.map((c) => c.id), ['cus_a1']);
  t.strictSame((await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 1, endingBefore: 'cus_a1' })).data.map((c) => c.id), ['cus_a2']);
  t.strictSame((await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 10, startingAfter: 'cus_a3' })).data, [], 'a cursor of the other mode matches nothing');
  t.strictSame((await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 10, startingAfter: 'cus_b1' })).data, [], 'nor one of another merchant');
  t.strictSame((await listCustomers(db, { merchantId: 'acct_a', livemode: false, limit: 10, created: { gte: T0 + 1 } })).data.map((c) => c.id), ['cus_a2']);
  t.strictSame((await listCustomers(db, { merchantId: 'acct_b', livemode: false, limit: 10 })).data.map((c) => c.id), ['cus_b1']);
});
