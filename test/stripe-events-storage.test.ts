// The Stripe-events read model behind GET /v1/events, on a real PGlite: kind separation (domain
// events beside Stripe events), mode and merchant scoping, the type wildcard, types[], created
// ranges, both cursors, and the 30-day window.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { getEvent, getStripeEvent, listEvents, listStripeEvents, migrateToLatest, openDatabase } from '../storage/mod.ts';

const DAY = 86_400;

t.test('listStripeEvents / getStripeEvent', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-evt-'));
  const opened = await openDatabase({ dataDir: dir });
  t.teardown(async () => {
    await opened.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const db = opened.db;
  await migrateToLatest(db);

  const now = Math.floor(Date.now() / 1000);
  const M = 'acct_evt';
  let seq = 0;
  const row = (id: string, type: string, created: number, o: { livemode?: boolean; merchant?: string; kind?: 'stripe' | 'domain'; position?: number; sameSeq?: boolean } = {}) => {
    if (!o.sameSeq) seq++;
    const event = { id, object: 'event', type, created, livemode: o.livemode ?? false, data: { object: { id: 'pi_1' } } };
    return {
      id,
      merchant_id: o.merchant ?? M,
      aggregate_id: 'pi_1',
      type,
      created_at: new Date(created * 1000),
      stream_seq: seq,
      position: o.position ?? 0,
      data: JSON.stringify(o.kind === 'domain' ? { amount: 1 } : event),
      livemode: o.livemode ?? false,
      kind: o.kind ?? 'stripe',
    };
  };
  await db
    .insertInto('events')
    .values([
      row('evt_old', 'payment_intent.created', now - 31 * DAY),
      row('evt_a', 'payment_intent.created', now - 100),
      row('evt_b', 'charge.succeeded', now - 50),
      row('evt_c', 'payment_intent.succeeded', now - 50, { sameSeq: true, position: 1 }),
      row('evt_d', 'payment_intent.amount_capturable_updated', now - 10),
      row('evt_live', 'payment_intent.created', now - 10, { livemode: true }),
      row('evt_other', 'payment_intent.created', now - 10, { merchant: 'acct_other' }),
      row('evt_domain', 'intent.created', now - 5, { kind: 'domain' }),
      row('evt_pct', 'payment%intent', now - 1),
    ])
    .execute();

  const notBefore = new Date((now - 30 * DAY) * 1000);
  const ids = async (o: Partial<Parameters<typeof listStripeEvents>[1]> = {}) =>
    (await listStripeEvents(db, { merchantId: M, livemode: false, limit: 100, notBefore, ...o })).data.map((e) => e.id);

  t.strictSame(await ids(), ['evt_pct', 'evt_d', 'evt_c', 'evt_b', 'evt_a'], 'newest first; same second by stream order; 30 days; mode, merchant and kind scoped');
  t.strictSame(await ids({ notBefore: undefined }), ['evt_pct', 'evt_d', 'evt_c', 'evt_b', 'evt_a', 'evt_old'], 'without the window the old one shows');
  t.strictSame(await ids({ livemode: true }), ['evt_live']);
  t.strictSame(await ids({ type: 'payment_intent.*' }), ['evt_d', 'evt_c', 'evt_a'], 'wildcard');
  t.strictSame(await ids({ type: '*.succeeded' }), ['evt_c', 'evt_b'], 'wildcard anywhere');
  t.strictSame(await ids({ type: 'payment%intent' }), ['evt_pct'], 'LIKE metacharacters are literal');
  t.strictSame(await ids({ type: 'payment_intent%' }), [], '% is not a wildcard');
  t.strictSame(await ids({ type: 'charge.succeeded' }), ['evt_b']);
  t.strictSame(await ids({ types: ['charge.succeeded', 'payment_intent.created'] }), ['evt_b', 'evt_a']);
  t.strictSame(await ids({ types: [] }), []);
  t.strictSame(await ids({ created: { gte: now - 50 } }), ['evt_pct', 'evt_d', 'evt_c', 'evt_b']);
  t.strictSame(await ids({ created: { gt: now - 50, lt: now - 1 } }), ['evt_d']);
  t.strictSame(await ids({ created: { lte: now - 50 } }), ['evt_c', 'evt_b', 'evt_a']);

  const p1 = await listStripeEvents(db, { merchantId: M, livemode: false, limit: 2, notBefore });
  t.strictSame(p1.data.map((e) => e.id), ['evt_pct', 'evt_d']);
  t.equal(p1.hasMore, true);
  t.strictSame(await ids({ limit: 2, startingAfter: 'evt_d' }), ['evt_c', 'evt_b'], 'starting_after');
  t.strictSame(await ids({ limit: 2, endingBefore: 'evt_a' }), ['evt_c', 'evt_b'], 'ending_before: the nearest newer page, newest first');
  const back = await listStripeEvents(db, { merchantId: M, livemode: false, limit: 10, endingBefore: 'evt_b', notBefore });
  t.strictSame(back.data.map((e) => e.id), ['evt_pct', 'evt_d', 'evt_c']);
  t.equal(back.hasMore, false);
  t.strictSame(await ids({ startingAfter: 'evt_other' }), [], "another merchant's cursor is unknown");
  t.strictSame(await ids({ startingAfter: 'evt_domain' }), [], 'a domain event is not a cursor');
  await t.rejects(listStripeEvents(db, { merchantId: M, livemode: false, limit: 2, startingAfter: 'a', endingBefore: 'b' }), RangeError);

  t.equal((await getStripeEvent(db, M, false, 'evt_c', notBefore))?.type, 'payment_intent.succeeded');
  t.equal(await getStripeEvent(db, M, false, 'evt_old', notBefore), undefined, 'older than 30 days');
  t.equal(await getStripeEvent(db, M, false, 'evt_live', notBefore), undefined, 'other mode');
  t.equal(await getStripeEvent(db, 'acct_other', false, 'evt_c'), undefined, 'other merchant');
  t.equal(await getStripeEvent(db, M, false, 'evt_domain'), undefined, 'not a Stripe event');
  t.equal((await getEvent(db, M, 'evt_domain'))?.type, 'intent.created', 'the domain reads still see domain events');
  t.equal(await getEvent(db, M, 'evt_c'), undefined, '...and only those');
  t.strictSame((await listEvents(db, { merchantId: M, limit: 10 })).data.map((e) => e.id), ['evt_domain']);
});
