// Stripe conformance through the official SDK against the real stack: decline codes, manual and
// partial capture, cancel rules, a confirm race, pagination, isolation between merchants, modes
// and key kinds, auth styles, validation errors, expand, headers, the Events API and /openapi.json.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import Stripe from 'stripe';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { decodeCommit } from '../streams/codec.ts';
import { subjects } from '../streams/subjects.ts';
import { API_VERSION } from '../stripe/objects.ts';
import { startStack, eventually, type Onboarded } from './helpers/stack.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

type Merchant = Onboarded & { live_secret_key: string; live_publishable_key: string };

const GOOD = '4242424242424242';

const DECLINES: [number: string, code: string, declineCode: string][] = [
  ['4000000000000002', 'card_declined', 'generic_decline'],
  ['4000000000009995', 'card_declined', 'insufficient_funds'],
  ['4000000000009987', 'card_declined', 'lost_card'],
  ['4000000000009979', 'card_declined', 'stolen_card'],
  ['4000000000000069', 'expired_card', 'expired_card'],
  ['4000000000000127', 'incorrect_cvc', 'incorrect_cvc'],
  ['4000000000000119', 'processing_error', 'processing_error'],
  ['4000000000006975', 'card_declined', 'card_velocity_exceeded'],
];

/** The Stripe error a call fails with; a success (or any other error) fails the test. */
async function fails(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    if (err instanceof Stripe.errors.StripeError) return err;
    throw err;
  }
  throw new Error(`expected a Stripe error, got ${JSON.stringify(value).slice(0, 300)}`);
}

/** Runs f over 0..n-1, at most `width` at a time. */
async function pool<T>(n: number, width: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await f(i);
      }
    }),
  );
  return out;
}

t.test('Stripe API conformance', async (t) => {
  const receiver = await startReceiver(t);
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const A = (await stack.onboard({ call_back_url: receiver.url, events: ['*'] })) as Merchant;
  const B = (await stack.onboard()) as Merchant;
  const a = sdk(A.secret_key);
  const b = sdk(B.secret_key);
  const card = (s: Stripe, number: string) => s.paymentMethods.create({ type: 'card', card: { number, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const raw = (p: string, init: RequestInit = {}) => fetch(`${stack.url}${p}`, init);
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  await t.test('each decline test card: StripeCardError with its code and decline_code', async (t) => {
    await Promise.all(
      DECLINES.map(async ([number, code, declineCode]) => {
        const pm = await card(a, number);
        const pi = await a.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: pm.id });
        const e = await fails(a.paymentIntents.confirm(pi.id));
        t.ok(e instanceof Stripe.errors.StripeCardError, `${number}: StripeCardError`);
        t.equal(e.statusCode, 402, `${number}: 402`);
        t.equal(e.code, code, `${number}: code ${code}`);
        t.equal(e.decline_code, declineCode, `${number}: decline_code ${declineCode}`);
        t.equal((e.payment_intent as Stripe.PaymentIntent | undefined)?.status, 'requires_payment_method', `${number}: the error carries the intent`);
        t.match(e.requestId, /^req_/);
        const after = await a.paymentIntents.retrieve(pi.id);
        t.equal(after.status, 'requires_payment_method', `${number}: back to requires_payment_method`);
        t.equal(after.last_payment_error?.code, code);
        t.equal(after.last_payment_error?.decline_code, declineCode);
        t.equal(after.amount_received, 0);
      }),
    );
    // Create-and-confirm in one call declines the same way.
    const pm = await card(a, '4000000000009995');
    const e = await fails(a.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: pm.id, confirm: true }));
    t.ok(e instanceof Stripe.errors.StripeCardError);
    t.equal(e.decline_code, 'insufficient_funds');
    t.equal((e.payment_intent as Stripe.PaymentIntent | undefined)?.status, 'requires_payment_method');
  });

  await t.test('common integration parameters are accepted (and money-moving ones refused)', async (t) => {
    const pi = await a.paymentIntents.create({
      amount: 1999,
      currency: 'usd',
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      setup_future_usage: 'off_session',
      statement_descriptor_suffix: 'ORDER 42',
      shipping: { name: 'Ada', address: { line1: '1 Main St', city: 'Pune', country: 'IN' } },
      payment_method_options: { card: { request_three_d_secure: 'automatic' } },
      metadata: { order_id: '42' },
    });
    t.equal(pi.status, 'requires_payment_method');
    // (off_session is refused beside setup_future_usage, as at Stripe: test/payment-method-data.test.ts)
    const paid = await a.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa', error_on_requires_action: true, use_stripe_sdk: true });
    t.equal(paid.status, 'succeeded');
    t.match(paid, { shipping: { name: 'Ada', address: { city: 'Pune', country: 'IN' } }, statement_descriptor_suffix: 'ORDER 42' }, 'shipping and the suffix are kept (test/shipping.test.ts)');
    const fee = await fails(a.paymentIntents.create({ amount: 1999, currency: 'usd', application_fee_amount: 100 }));
    t.ok(fee instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(fee.param, 'application_fee_amount');
    // The accepted hashes have Stripe's shapes: an unknown payment method type or shipping field is unknown.
    const pmo = await fails(a.paymentIntents.create({ amount: 1999, currency: 'usd', payment_method_options: { nonsense_type: { x: '1' } } as never }));
    t.match(pmo, { statusCode: 400, code: 'parameter_unknown' }, 'payment_method_options[nonsense_type]');
    const ship = await fails(a.paymentIntents.create({ amount: 1999, currency: 'usd', shipping: { name: 'Ada', address: { line1: '1 Main St' }, planet: 'Mars' } as never }));
    t.match(ship, { statusCode: 400, code: 'parameter_unknown' }, 'shipping[planet]');
  });

  await t.test('manual capture, partial capture', async (t) => {
    const pm = await card(a, GOOD);
    const pi = await a.paymentIntents.create({ amount: 5000, currency: 'usd', capture_method: 'manual', payment_method: pm.id, confirm: true });
    t.equal(pi.status, 'requires_capture');
    t.equal(pi.amount_capturable, 5000);
    t.equal(pi.amount_received, 0);
    const captured = await a.paymentIntents.capture(pi.id);
    t.equal(captured.status, 'succeeded');
    t.equal(captured.amount_received, 5000);
    t.equal(captured.amount_capturable, 0);

    const pi2 = await a.paymentIntents.create({ amount: 5000, currency: 'usd', capture_method: 'manual', payment_method: pm.id });
    const confirmed = await a.paymentIntents.confirm(pi2.id);
    t.equal(confirmed.status, 'requires_capture');
    const over = await fails(a.paymentIntents.capture(pi2.id, { amount_to_capture: 6000 }));
    t.ok(over instanceof Stripe.errors.StripeInvalidRequestError, 'capturing more than authorized is refused');
    t.equal((await a.paymentIntents.retrieve(pi2.id)).status, 'requires_capture', 'and changes nothing');
    const partial = await a.paymentIntents.capture(pi2.id, { amount_to_capture: 2000, expand: ['latest_charge'] });
    t.equal(partial.status, 'succeeded');
    t.equal(partial.amount_received, 2000);
    const charge = partial.latest_charge as Stripe.Charge;
    t.equal(charge.object, 'charge');
    t.equal(charge.captured, true);
    t.equal(charge.amount_captured, 2000);
    t.equal(charge.amount, 5000);

    const auto = await a.paymentIntents.create({ amount: 1000, currency: 'usd' });
    const e = await fails(a.paymentIntents.capture(auto.id));
    t.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    t.equal(e.code, 'payment_intent_unexpected_state', 'nothing to capture');
  });

  await t.test('payment_method_options[card][capture_method] and automatic_payment_methods are kept and acted on', async (t) => {
    // capture_method=manual for cards: authorized only, although the intent's capture_method is automatic.
    const held = await a.paymentIntents.create({ amount: 3000, currency: 'usd', payment_method: 'pm_card_visa', payment_method_options: { card: { capture_method: 'manual' } }, confirm: true });
    t.equal(held.capture_method, 'automatic', 'the top-level capture_method is untouched');
    t.equal(held.status, 'requires_capture', 'authorized only');
    t.equal(held.amount_capturable, 3000);
    t.equal(held.payment_method_options?.card?.capture_method, 'manual', 'echoed');
    t.equal((await a.paymentIntents.capture(held.id)).status, 'succeeded', 'then captured');
    // On confirm, and unset by an update ('').
    const onConfirm = await a.paymentIntents.create({ amount: 3000, currency: 'usd' });
    t.equal(onConfirm.payment_method_options?.card?.capture_method, undefined, 'absent by default, as at Stripe');
    t.equal((await a.paymentIntents.confirm(onConfirm.id, { payment_method: 'pm_card_visa', payment_method_options: { card: { capture_method: 'manual' } } })).status, 'requires_capture');
    const unset = await a.paymentIntents.create({ amount: 3000, currency: 'usd', payment_method_options: { card: { capture_method: 'manual', request_three_d_secure: 'automatic' } } });
    const cleared = await a.paymentIntents.update(unset.id, { payment_method_options: { card: { capture_method: '' } } });
    t.equal(cleared.payment_method_options?.card?.capture_method, undefined, "'' unsets it");
    t.equal(cleared.payment_method_options?.card?.request_three_d_secure, 'automatic');
    t.equal((await a.paymentIntents.confirm(unset.id, { payment_method: 'pm_card_visa' })).status, 'succeeded', 'captured automatically again');
    const notManual = await fails(a.paymentIntents.create({ amount: 3000, currency: 'usd', payment_method_options: { card: { capture_method: 'automatic' as never } } }));
    t.match(notManual, { statusCode: 400, rawType: 'invalid_request_error', param: 'payment_method_options[card][capture_method]' }, "only 'manual' overrides");

    // automatic_payment_methods: echoed; allow_redirects defaults to always.
    const never = await a.paymentIntents.create({ amount: 1000, currency: 'usd', automatic_payment_methods: { enabled: true, allow_redirects: 'never' } });
    t.strictSame(never.automatic_payment_methods, { enabled: true, allow_redirects: 'never' });
    t.strictSame(never.payment_method_types, ['card']);
    t.strictSame((await a.paymentIntents.retrieve(never.id)).automatic_payment_methods, { enabled: true, allow_redirects: 'never' }, 'kept on the intent');
    const always = await a.paymentIntents.create({ amount: 1000, currency: 'usd', automatic_payment_methods: { enabled: true } });
    t.strictSame(always.automatic_payment_methods, { enabled: true, allow_redirects: 'always' });
    t.equal((await a.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['card'] } as never)).automatic_payment_methods, null, 'null when not given');
    const both = await fails(a.paymentIntents.create({ amount: 1000, currency: 'usd', automatic_payment_methods: { enabled: true }, payment_method_types: ['card'] } as never));
    t.match(both, { statusCode: 400, rawType: 'invalid_request_error', param: 'payment_method_types', message: 'You may only specify one of these parameters: automatic_payment_methods, payment_method_types.' }, 'not beside payment_method_types');
    const redirects = await fails(a.paymentIntents.create({ amount: 1000, currency: 'usd', automatic_payment_methods: { enabled: true, allow_redirects: 'sometimes' as never } }));
    t.match(redirects, { statusCode: 400, rawType: 'invalid_request_error', param: 'automatic_payment_methods[allow_redirects]' }, 'allow_redirects: always or never');
  });

  await t.test('cancel rules', async (t) => {
    const open = await a.paymentIntents.create({ amount: 1000, currency: 'usd' });
    const c1 = await a.paymentIntents.cancel(open.id, { cancellation_reason: 'requested_by_customer' });
    t.equal(c1.status, 'canceled', 'from requires_payment_method');
    t.equal(c1.cancellation_reason, 'requested_by_customer');
    t.type(c1.canceled_at, 'number');
    const again = await fails(a.paymentIntents.cancel(open.id, { cancellation_reason: 'duplicate' }));
    t.match(again, { statusCode: 400, code: 'payment_intent_unexpected_state' }, 'a canceled intent is not canceled again');
    t.equal((await a.paymentIntents.retrieve(open.id)).cancellation_reason, 'requested_by_customer', 'the first reason stays');
    const missing = await fails(a.paymentIntents.retrieve('pi_123'));
    t.match(missing, { statusCode: 404, code: 'resource_missing', param: 'intent', message: "No such payment_intent: 'pi_123'" }, "Stripe names the path's param `intent`");
    const afterCancel = await fails(a.paymentIntents.confirm(open.id, { payment_method: (await card(a, GOOD)).id }));
    t.equal(afterCancel.code, 'payment_intent_unexpected_state', 'a canceled intent cannot be confirmed');

    const pm = await card(a, GOOD);
    const held = await a.paymentIntents.create({ amount: 3000, currency: 'usd', capture_method: 'manual', payment_method: pm.id, confirm: true });
    t.equal(held.status, 'requires_capture');
    const c2 = await a.paymentIntents.cancel(held.id);
    t.equal(c2.status, 'canceled', 'from requires_capture');
    t.equal(c2.amount_capturable, 0);
    t.equal(c2.amount_received, 0);

    const paid = await a.paymentIntents.create({ amount: 3000, currency: 'usd', payment_method: pm.id, confirm: true });
    t.equal(paid.status, 'succeeded');
    const e = await fails(a.paymentIntents.cancel(paid.id));
    t.ok(e instanceof Stripe.errors.StripeInvalidRequestError, 'from succeeded: refused');
    t.equal(e.code, 'payment_intent_unexpected_state');
    t.equal((await a.paymentIntents.retrieve(paid.id)).status, 'succeeded');

    // After the payment: description, metadata and receipt_email still change; nothing else does.
    const noted = await a.paymentIntents.update(paid.id, { metadata: { order: '42' }, description: 'order 42', receipt_email: 'after@example.com' });
    t.match(noted, { status: 'succeeded', metadata: { order: '42' }, description: 'order 42', receipt_email: 'after@example.com' }, 'a paid intent takes metadata');
    t.match(await fails(a.paymentIntents.update(paid.id, { amount: 5000 })), { statusCode: 400, code: 'payment_intent_unexpected_state', param: 'amount' });
    t.match(await fails(a.paymentIntents.confirm(paid.id, { receipt_email: 'confirm@example.com' })), { statusCode: 400, code: 'payment_intent_unexpected_state' }, 'a paid intent is not confirmed again');
    t.equal((await a.paymentIntents.retrieve(paid.id)).receipt_email, 'after@example.com', 'and the refused confirmation changed nothing');
    t.equal((await a.paymentIntents.update(open.id, { metadata: { note: 'canceled' } })).metadata.note, 'canceled', 'a canceled one takes metadata too');
  });

  await t.test('20 concurrent confirms of one intent: exactly one charge', async (t) => {
    const pm = await card(a, GOOD);
    const pi = await a.paymentIntents.create({ amount: 777, currency: 'usd', payment_method: pm.id });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => a.paymentIntents.confirm(pi.id, {}, { idempotencyKey: `race-${pi.id}-${i}` })),
    );
    const ok = results.filter((r): r is PromiseFulfilledResult<Stripe.Response<Stripe.PaymentIntent>> => r.status === 'fulfilled');
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    t.equal(ok.length, 1, 'one confirm succeeds');
    t.equal(ok[0]?.value.status, 'succeeded');
    t.equal(errors.length, 19);
    for (const e of errors) {
      t.ok(e instanceof Stripe.errors.StripeError, 'the others are Stripe errors');
      const se = e as Stripe.errors.StripeError;
      t.ok(se.statusCode !== undefined && se.statusCode >= 400 && se.statusCode < 500, `a 4xx (${se.statusCode} ${se.code})`);
    }
    const final = await a.paymentIntents.retrieve(pi.id);
    t.equal(final.status, 'succeeded');
    t.equal(final.amount_received, 777);

    // The stream's last snapshot: one succeeded attempt; the network: one authorization.
    const nc = await connect({ servers: stack.nats.url });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const msg = await jsm.streams.getMessage('PAY_EVENTS', { last_by_subj: subjects.intent(A.merchant_id, pi.id) });
    const commit = decodeCommit(msg!.data);
    if (commit.aggregate !== 'intent') throw new Error('not an intent commit');
    const attempts = commit.state.attempts;
    t.equal(attempts.filter((x) => x.status === 'succeeded').length, 1, 'one succeeded attempt');
    const refs = new Set(attempts.map((x) => x.id));
    const ledger = (await readFile(path.join(stack.dataDir, 'epn', 'ledger.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { tx: { network_ref: string; reference: string; status: string } }).tx);
    const last = new Map(ledger.filter((tx) => refs.has(tx.reference)).map((tx) => [tx.network_ref, tx]));
    t.equal([...last.values()].filter((tx) => tx.status !== 'declined').length, 1, 'one authorization at the network');
  });

  await t.test('pagination across 250 intents', async (t) => {
    const C = (await stack.onboard()) as Merchant;
    const c = sdk(C.secret_key);
    const created = await pool(250, 16, (i) => c.paymentIntents.create({ amount: 1000 + i, currency: 'usd' }).then((p) => p.id));
    const all = new Set(created);
    t.equal(all.size, 250);
    // The list reads the projection: wait for it to hold all 250.
    await eventually(async () => (await c.paymentIntents.list({ limit: 100 }).autoPagingToArray({ limit: 1000 })).length === 250, 30_000, 200);

    const forward: Stripe.PaymentIntent[] = [];
    const pages: { n: number; hasMore: boolean }[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await c.paymentIntents.list({ limit: 100, ...(after ? { starting_after: after } : {}) });
      pages.push({ n: page.data.length, hasMore: page.has_more });
      forward.push(...page.data);
      after = page.data.at(-1)?.id;
      if (!page.has_more || pages.length > 10) break;
    }
    t.strictSame(pages, [{ n: 100, hasMore: true }, { n: 100, hasMore: true }, { n: 50, hasMore: false }]);
    const ids = forward.map((p) => p.id);
    t.equal(new Set(ids).size, 250, 'no duplicates');
    t.strictSame([...ids].sort(), [...all].sort(), 'none missing, none foreign');
    t.ok(forward.every((p, i) => i === 0 || forward[i - 1]!.created >= p.created), 'newest first');

    // Back again with ending_before, from the oldest: each page is the 100 just newer, newest first.
    const backward: string[] = [];
    let before = ids.at(-1)!;
    let turns = 0;
    for (;;) {
      const page = await c.paymentIntents.list({ limit: 100, ending_before: before });
      const at = ids.indexOf(before);
      t.strictSame(page.data.map((p) => p.id), ids.slice(Math.max(0, at - 100), at), `ending_before page ${++turns}`);
      backward.unshift(...page.data.map((p) => p.id));
      if (!page.has_more || turns > 10) break;
      before = page.data[0]!.id;
    }
    t.equal(turns, 3);
    t.strictSame(backward, ids.slice(0, -1), 'ending_before walks back over everything newer');
  });

  await t.test('cross-merchant isolation: 404, never data', async (t) => {
    const pm = await card(a, GOOD);
    const pi = await a.paymentIntents.create({ amount: 4242, currency: 'usd', payment_method: pm.id, metadata: { secret: 'merchant-a-only' }, description: 'A only' });
    const held = await a.paymentIntents.create({ amount: 4242, currency: 'usd', capture_method: 'manual', payment_method: pm.id, confirm: true });
    const bPm = await card(b, GOOD);
    const attempts: [string, () => Promise<unknown>][] = [
      ['retrieve', () => b.paymentIntents.retrieve(pi.id)],
      ['update', () => b.paymentIntents.update(pi.id, { description: 'stolen' })],
      ['update amount', () => b.paymentIntents.update(pi.id, { amount: 5000 })],
      ['confirm', () => b.paymentIntents.confirm(pi.id)],
      ['confirm with own card', () => b.paymentIntents.confirm(pi.id, { payment_method: bPm.id })],
      ['cancel', () => b.paymentIntents.cancel(pi.id)],
      ['capture', () => b.paymentIntents.capture(held.id)],
      ['cancel a held one', () => b.paymentIntents.cancel(held.id)],
      ['retrieve payment method', () => b.paymentMethods.retrieve(pm.id)],
      ['create with their card', () => b.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: pm.id })],
      ['confirm own intent with their card', async () => b.paymentIntents.confirm((await b.paymentIntents.create({ amount: 1000, currency: 'usd' })).id, { payment_method: pm.id })],
    ];
    for (const [what, call] of attempts) {
      const e = await fails(call());
      t.equal(e.statusCode, 404, `${what}: 404`);
      t.equal(e.code, 'resource_missing', `${what}: resource_missing`);
      const body = JSON.stringify(e.raw);
      t.notOk(body.includes('merchant-a-only') || body.includes('4242') || 'payment_intent' in (e.raw as object), `${what}: no data in the error`);
    }
    const listed = await b.paymentIntents.list({ limit: 100 });
    t.notOk(listed.data.some((x) => x.id === pi.id || x.id === held.id), "B's list does not show A's intents");
    const still = await a.paymentIntents.retrieve(pi.id);
    t.equal(still.description, 'A only');
    t.equal(still.amount, 4242);
    t.equal(still.status, pi.status);
    t.equal((await a.paymentIntents.retrieve(held.id)).status, 'requires_capture');
  });

  await t.test('test/live isolation', async (t) => {
    const live = sdk(A.live_secret_key);
    const pm = await card(a, GOOD);
    const testPi = await a.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: pm.id });
    t.equal(testPi.livemode, false);
    t.equal((await fails(live.paymentIntents.retrieve(testPi.id))).statusCode, 404, 'live key: no test intent');
    t.equal((await fails(live.paymentMethods.retrieve(pm.id))).statusCode, 404, 'live key: no test payment method');
    t.equal((await fails(live.paymentIntents.confirm(testPi.id))).statusCode, 404, 'live key: cannot confirm a test intent');
    t.equal((await fails(live.paymentIntents.cancel(testPi.id))).statusCode, 404, 'live key: cannot cancel a test intent');
    const livePi = await live.paymentIntents.create({ amount: 1500, currency: 'usd' });
    t.equal(livePi.livemode, true);
    t.match(livePi.id, /^pi_/);
    t.equal((await fails(a.paymentIntents.retrieve(livePi.id))).statusCode, 404, 'test key: no live intent');
    await eventually(async () => (await live.paymentIntents.list({ limit: 100 })).data.some((x) => x.id === livePi.id));
    const liveList = await live.paymentIntents.list({ limit: 100 });
    t.ok(liveList.data.every((x) => x.livemode), 'the live list holds live intents only');
    t.notOk(liveList.data.some((x) => x.id === testPi.id));
    const testList = await a.paymentIntents.list({ limit: 100 });
    t.notOk(testList.data.some((x) => x.id === livePi.id), 'the test list holds no live intent');
    const liveEvents = await live.events.list({ limit: 100 });
    t.ok(liveEvents.data.every((e) => e.livemode), 'live events only');
    await eventually(async () => (await live.events.list({ limit: 100 })).data.some((e) => (e.data.object as { id?: string }).id === livePi.id));
    const testEvents = await a.events.list({ limit: 100 });
    t.notOk(testEvents.data.some((e) => (e.data.object as { id?: string }).id === livePi.id), 'no live events for the test key');
  });

  await t.test('publishable key: client_secret rules', async (t) => {
    const pk = sdk(A.publishable_key);
    const pi = await a.paymentIntents.create({ amount: 1800, currency: 'usd' });
    const secret = pi.client_secret!;
    const seen = await pk.paymentIntents.retrieve(pi.id, { client_secret: secret });
    t.equal(seen.id, pi.id, 'pk + client_secret retrieves');
    for (const [what, call] of [
      ['retrieve without client_secret', () => pk.paymentIntents.retrieve(pi.id)],
      ['retrieve with a wrong client_secret', () => pk.paymentIntents.retrieve(pi.id, { client_secret: `${pi.id}_secret_wrong` })],
      ['confirm without client_secret', () => pk.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' })],
      ['confirm with a wrong client_secret', () => pk.paymentIntents.confirm(pi.id, { client_secret: `${pi.id}_secret_wrong` } as Stripe.PaymentIntentConfirmParams)],
    ] as const) {
      const e = await fails(call());
      t.ok(e.statusCode === 400 || e.statusCode === 404, `${what}: refused (${e.statusCode})`);
      t.notOk('payment_intent' in (e.raw as object), `${what}: no intent in the error`);
    }
    const other = await b.paymentIntents.create({ amount: 1800, currency: 'usd' });
    t.equal((await fails(pk.paymentIntents.retrieve(other.id, { client_secret: other.client_secret! }))).statusCode, 404, "another merchant's intent: 404 even with its secret");

    const pm = await card(pk, GOOD);
    const manual = await fails(pk.paymentIntents.confirm(pi.id, { client_secret: secret, payment_method: pm.id, capture_method: 'manual' } as Stripe.PaymentIntentConfirmParams));
    t.equal(manual.statusCode, 400, 'a pk cannot change capture_method');
    t.equal(manual.param, 'capture_method');
    const paid = await pk.paymentIntents.confirm(pi.id, { client_secret: secret, payment_method: pm.id } as Stripe.PaymentIntentConfirmParams);
    t.equal(paid.status, 'succeeded', 'pk + client_secret confirms');

    const create = await fails(pk.paymentIntents.create({ amount: 1000, currency: 'usd' }));
    t.equal(create.statusCode, 401, 'a pk cannot create intents');
    const list = await fails(pk.paymentIntents.list());
    t.equal(list.statusCode, 401, 'a pk cannot list intents');
    t.equal((await fails(pk.events.list())).statusCode, 401, 'a pk cannot list events');
    t.equal((await fails(pk.paymentIntents.cancel(pi.id))).statusCode, 401, 'a pk cannot cancel');
  });

  await t.test('auth: Bearer, Basic, bad and missing keys', async (t) => {
    const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:`).toString('base64')}` });
    const listed = await raw('/v1/payment_intents?limit=1', { headers: basic(A.secret_key) });
    t.equal(listed.status, 200, 'Basic with the key as user name (curl -u sk:)');
    t.equal(((await listed.json()) as { object: string }).object, 'list');
    const created = await raw('/v1/payment_intents', {
      method: 'POST',
      headers: { ...basic(A.secret_key), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=1000&currency=usd&metadata[via]=basic',
    });
    t.equal(created.status, 200);
    t.match(await created.json(), { object: 'payment_intent', amount: 1000, metadata: { via: 'basic' } });
    t.equal((await raw('/v1/payment_intents', { headers: bearer(A.secret_key) })).status, 200, 'Bearer');

    const bogus = await fails(sdk(`sk_test_${'x'.repeat(24)}`).paymentIntents.list());
    t.ok(bogus instanceof Stripe.errors.StripeAuthenticationError, 'an unknown key: StripeAuthenticationError');
    t.equal(bogus.statusCode, 401);
    const malformed = await fails(sdk('not-a-key').paymentIntents.list());
    t.ok(malformed instanceof Stripe.errors.StripeAuthenticationError, 'a malformed key: StripeAuthenticationError');
    for (const [what, headers] of [
      ['no Authorization', {}],
      ['empty Bearer', { authorization: 'Bearer ' }],
      ['unknown scheme', { authorization: `Token ${A.secret_key}` }],
      ['Basic with a bad key', basic('sk_test_nope')],
      ['Basic garbage', { authorization: 'Basic !!!' }],
    ] as [string, Record<string, string>][]) {
      const res = await raw('/v1/payment_intents', { headers });
      t.equal(res.status, 401, `${what}: 401`);
      t.match(res.headers.get('request-id'), /^req_/);
      t.match(await res.json(), { error: { type: String, message: String } }, `${what}: Stripe's error body`);
    }
  });

  await t.test('validation errors name the param', async (t) => {
    const cases: [string, () => Promise<unknown>, Partial<{ code: string; param: string }>][] = [
      ['unknown param', () => a.paymentIntents.create({ amount: 1000, currency: 'usd', bogus_field: 'x' } as never), { code: 'parameter_unknown', param: 'bogus_field' }],
      ['unknown nested param', () => a.paymentIntents.create({ amount: 1000, currency: 'usd', automatic_payment_methods: { enabled: true, bogus: 'x' } } as never), { code: 'parameter_unknown', param: 'automatic_payment_methods[bogus]' }],
      ['unknown param on confirm', () => a.paymentIntents.confirm('pi_whatever', { nonsense: 1 } as never), { code: 'parameter_unknown', param: 'nonsense' }],
      ['unknown list param', () => a.paymentIntents.list({ colour: 'red' } as never), { code: 'parameter_unknown', param: 'colour' }],
      ['amount not an integer', () => a.paymentIntents.create({ amount: 'abc', currency: 'usd' } as never), { param: 'amount' }],
      ['amount a fraction', () => a.paymentIntents.create({ amount: 10.5, currency: 'usd' }), { param: 'amount' }],
      ['confirm not a boolean', () => a.paymentIntents.create({ amount: 1000, currency: 'usd', confirm: 'maybe' } as never), { param: 'confirm' }],
      ['capture_method not an enum value', () => a.paymentIntents.create({ amount: 1000, currency: 'usd', capture_method: 'sometimes' } as never), { param: 'capture_method' }],
      ['metadata not a hash', () => a.paymentIntents.create({ amount: 1000, currency: 'usd', metadata: 'x' } as never), { param: 'metadata' }],
      ['limit not an integer', () => a.paymentIntents.list({ limit: 'many' } as never), { param: 'limit' }],
      ['limit too large', () => a.paymentIntents.list({ limit: 1000 }), { param: 'limit' }],
      ['limit=Infinity', () => a.paymentIntents.list({ limit: 'Infinity' } as never), { param: 'limit' }],
      ['both cursors', () => a.paymentIntents.list({ starting_after: 'pi_a', ending_before: 'pi_b' }), {}],
      ['events: both cursors', () => a.events.list({ starting_after: 'evt_a', ending_before: 'evt_b' }), {}],
      ['events: limit=Infinity', () => a.events.list({ limit: 'Infinity' } as never), { param: 'limit' }],
      ['amount=Infinity', () => a.paymentIntents.create({ amount: 'Infinity', currency: 'usd' } as never), { param: 'amount' }],
      ['missing currency', () => a.paymentIntents.create({ amount: 1000 } as never), { code: 'parameter_missing', param: 'currency' }],
      ['amount under the minimum', () => a.paymentIntents.create({ amount: 10, currency: 'usd' }), { code: 'amount_too_small', param: 'amount' }],
      ['amount under the minimum (jpy)', () => a.paymentIntents.create({ amount: 10, currency: 'jpy' }), { code: 'amount_too_small', param: 'amount' }],
      ['unknown currency', () => a.paymentIntents.create({ amount: 1000, currency: 'xyz' }), { param: 'currency' }],
      ['update to an unknown currency', async () => a.paymentIntents.update((await a.paymentIntents.create({ amount: 1000, currency: 'usd' })).id, { currency: 'xyz' }), { param: 'currency' }],
      ['expand an unknown path', async () => a.paymentIntents.retrieve((await a.paymentIntents.create({ amount: 1000, currency: 'usd' })).id, { expand: ['nothing'] }), { param: 'expand' }],
    ];
    // Stripe writes the minimum as the customer reads it, then the currency: "Amount must be at least €0.50 eur".
    t.equal((await fails(a.paymentIntents.create({ amount: 10, currency: 'usd' })))?.message, 'Amount must be at least $0.50 usd');
    t.equal((await fails(a.paymentIntents.create({ amount: 10, currency: 'eur' })))?.message, 'Amount must be at least €0.50 eur');
    const method = await fails(a.paymentIntents.create({ amount: 1000, currency: 'usd', capture_method: 'sometimes' } as never));
    t.equal(method?.message, 'Invalid capture_method: must be one of "automatic", "automatic_async", "manual"', 'a union of values names them all, as Stripe does');
    t.equal(method?.code, 'parameter_invalid_string');
    const types = await fails(a.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['ideal'] } as never));
    t.match(types, { param: 'payment_method_types[0]', message: 'Invalid payment_method_types[0]: must be one of "card"' });
    for (const [what, call, want] of cases) {
      const e = await fails(call());
      t.ok(e instanceof Stripe.errors.StripeInvalidRequestError, `${what}: StripeInvalidRequestError`);
      t.equal(e.statusCode, 400, `${what}: 400`);
      if (want.code) t.equal(e.code, want.code, `${what}: code ${want.code}`);
      if (want.param) t.equal(e.param, want.param, `${what}: param ${want.param}`);
      t.match(e.requestId, /^req_/);
    }
  });

  await t.test("metadata limits, as Stripe's: 50 keys, 40-character keys, 500-character values, an update's merge included", async (t) => {
    const keys = (n: number, from = 0) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${from + i}`, 'v']));
    const refused = async (what: string, call: Promise<unknown>, param: string, message: string | RegExp) => {
      const e = await fails(call);
      t.ok(e instanceof Stripe.errors.StripeInvalidRequestError, `${what}: StripeInvalidRequestError`);
      t.match(e, { statusCode: 400, type: 'StripeInvalidRequestError', code: 'parameter_invalid', param, message }, what);
    };
    const TOO_MANY = "Metadata can have up to 50 keys, but you've set 51.";
    const longKey = { ['k'.repeat(41)]: 'v' };
    const longValue = { k: 'v'.repeat(501) };
    // At the limits: accepted.
    const pi = await a.paymentIntents.create({ amount: 1000, currency: 'usd', metadata: { ...keys(49), ['k'.repeat(40)]: 'v'.repeat(500) } });
    t.equal(Object.keys(pi.metadata).length, 50, '50 keys, a 40-character key and a 500-character value are accepted');
    // Over them, on create: every route's schema refuses.
    await refused('intent: 51 keys', a.paymentIntents.create({ amount: 1000, currency: 'usd', metadata: keys(51) }), 'metadata', TOO_MANY);
    await refused('intent: a 41-character key', a.paymentIntents.create({ amount: 1000, currency: 'usd', metadata: longKey }), 'metadata', 'Metadata keys can have up to 40 characters; you passed 41.');
    await refused('intent: a 501-character value', a.paymentIntents.create({ amount: 1000, currency: 'usd', metadata: longValue }), 'metadata', 'Metadata values can have up to 500 characters, but you passed in a value that is 501 characters.');
    await refused('customer: a 41-character key', a.customers.create({ metadata: longKey }), 'metadata', /up to 40 characters/);
    await refused('customer: 51 keys', a.customers.create({ metadata: keys(51) }), 'metadata', TOO_MANY);
    await refused('setup intent: 51 keys', a.setupIntents.create({ metadata: keys(51) }), 'metadata', TOO_MANY);
    await refused('webhook endpoint: a 501-character value', a.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'], metadata: longValue }), 'metadata', /up to 500 characters/);
    await refused(
      'checkout session: nested metadata names its param',
      a.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: [{ price_data: { currency: 'usd', unit_amount: 1000, product_data: { name: 'x' } }, quantity: 1 }], payment_intent_data: { metadata: keys(51) } }),
      'payment_intent_data[metadata]',
      TOO_MANY,
    );
    const paid = await a.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: (await card(a, GOOD)).id, confirm: true });
    await refused('refund: 51 keys', a.refunds.create({ payment_intent: paid.id, amount: 100, metadata: keys(51) }), 'metadata', TOO_MANY);
    // An update: the object's metadata after the merge has at most 50 keys ('' removes a key, and makes room).
    await refused('intent update: 50 + 1 keys', a.paymentIntents.update(pi.id, { metadata: { extra: 'v' } }), 'metadata', TOO_MANY);
    await refused('intent update: a 41-character key', a.paymentIntents.update(pi.id, { metadata: longKey }), 'metadata', /up to 40 characters/);
    t.equal(Object.keys((await a.paymentIntents.retrieve(pi.id)).metadata).length, 50, 'a refused update changes nothing');
    const swapped = await a.paymentIntents.update(pi.id, { metadata: { k0: '', extra: 'v' } });
    t.equal(Object.keys(swapped.metadata).length, 50, 'removing a key makes room for another');
    const cus = await a.customers.create({ metadata: keys(30) });
    await refused('customer update: 30 + 21 keys', a.customers.update(cus.id, { metadata: keys(21, 30) }), 'metadata', TOO_MANY);
    const si = await a.setupIntents.create({ metadata: keys(30) });
    await refused('setup intent update: 30 + 21 keys', a.setupIntents.update(si.id, { metadata: keys(21, 30) }), 'metadata', TOO_MANY);
    const ep = await a.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'], metadata: keys(30) });
    await refused('webhook endpoint update: 30 + 21 keys', a.webhookEndpoints.update(ep.id, { metadata: keys(21, 30) }), 'metadata', TOO_MANY);
    await a.webhookEndpoints.del(ep.id);
    const pm = await a.paymentMethods.attach((await card(a, GOOD)).id, { customer: cus.id });
    await a.paymentMethods.update(pm.id, { metadata: keys(30) });
    await refused('payment method update: 30 + 21 keys', a.paymentMethods.update(pm.id, { metadata: keys(21, 30) }), 'metadata', TOO_MANY);
    const refund = await a.refunds.create({ payment_intent: paid.id, amount: 100, metadata: keys(30) });
    await refused('refund update: 30 + 21 keys', a.refunds.update(refund.id, { metadata: keys(21, 30) }), 'metadata', TOO_MANY);
    const charge = (await a.paymentIntents.retrieve(paid.id)).latest_charge as string;
    await refused('charge update: 0 + 51 keys', a.charges.update(charge, { metadata: keys(51) }), 'metadata', TOO_MANY);
  });

  await t.test('expand[]=latest_charge and expand[]=payment_method', async (t) => {
    const pm = await card(a, GOOD);
    const paid = await a.paymentIntents.create({ amount: 2500, currency: 'usd', payment_method: pm.id, confirm: true, expand: ['latest_charge', 'payment_method'] });
    const charge = paid.latest_charge as Stripe.Charge;
    t.equal(charge.object, 'charge');
    t.equal(charge.payment_intent, paid.id);
    t.equal(charge.amount, 2500);
    t.equal(charge.payment_method_details?.card?.last4, '4242');
    const method = paid.payment_method as Stripe.PaymentMethod;
    t.equal(method.object, 'payment_method');
    t.equal(method.id, pm.id);
    t.equal(method.card?.last4, '4242');
    const plain = await a.paymentIntents.retrieve(paid.id);
    t.equal(plain.latest_charge, charge.id, 'unexpanded: the id');
    t.equal(plain.payment_method, pm.id);
    const r = await a.paymentIntents.retrieve(paid.id, { expand: ['payment_method'] });
    t.equal((r.payment_method as Stripe.PaymentMethod).card?.brand, 'visa');
    // Lists read the projection: wait until it holds the intent's final state, not an earlier one.
    await eventually(async () => (await a.paymentIntents.list({ limit: 5 })).data.some((x) => x.id === paid.id && x.status === 'succeeded'));
    const listed = await a.paymentIntents.list({ limit: 5, expand: ['data.latest_charge'] });
    const row = listed.data.find((x) => x.id === paid.id);
    t.equal((row?.latest_charge as Stripe.Charge | undefined)?.object, 'charge', 'expand[]=data.latest_charge on a list');
  });

  await t.test('headers: Request-Id everywhere, Stripe-Version echoed', async (t) => {
    for (const [what, p, init, status] of [
      ['unknown route', '/v1/nothing_here', {}, 404],
      ['unknown method on a known path', '/v1/payment_intents', { method: 'DELETE', headers: bearer(A.secret_key) }, 404],
      ['root', '/', {}, 404],
      ['unauthenticated', '/v1/payment_intents', {}, 401],
      ['missing object', '/v1/payment_intents/pi_nope', { headers: bearer(A.secret_key) }, 404],
      ['invalid params', '/v1/payment_intents?limit=0', { headers: bearer(A.secret_key) }, 400],
      ['ok', '/v1/payment_intents?limit=1', { headers: bearer(A.secret_key) }, 200],
      ['healthz', '/healthz', {}, 200],
    ] as [string, string, RequestInit, number][]) {
      const res = await raw(p, init);
      t.equal(res.status, status, `${what}: ${status}`);
      t.match(res.headers.get('request-id'), /^req_\w+/, `${what}: Request-Id`);
      t.equal(res.headers.get('stripe-version'), API_VERSION, `${what}: our API version by default`);
      if (status >= 400) t.match(await res.json(), { error: { type: String, message: String } }, `${what}: Stripe's error body`);
    }
    const echoed = await raw('/v1/payment_intents?limit=1', { headers: { ...bearer(A.secret_key), 'stripe-version': '2024-06-20' } });
    t.equal(echoed.status, 200);
    t.equal(echoed.headers.get('stripe-version'), '2024-06-20', "the request's version is echoed");
    const beta = await raw('/v1/payment_intents?limit=1', { headers: { ...bearer(A.secret_key), 'stripe-version': '2025-03-31.basil; checkout_server_update_beta=v1' } });
    t.equal(beta.headers.get('stripe-version'), '2025-03-31.basil; checkout_server_update_beta=v1');
    const bad = await raw('/v1/payment_intents?limit=1', { headers: { ...bearer(A.secret_key), 'stripe-version': 'banana' } });
    t.equal(bad.status, 400, 'a malformed version is refused');
    t.match(await bad.json(), { error: { type: 'invalid_request_error', message: /Invalid Stripe API version/ } });
    // The SDK sends its pinned version and gets it back.
    const viaSdk = await a.paymentIntents.list({ limit: 1 });
    t.equal(viaSdk.lastResponse.headers['stripe-version'], Stripe.API_VERSION);
  });

  await t.test('Events API: the events the webhooks carry, same ids', async (t) => {
    const pm = await card(a, GOOD);
    const paid = await a.paymentIntents.create({ amount: 4321, currency: 'usd', payment_method: pm.id, confirm: true });
    t.equal(paid.status, 'succeeded');
    const hook = await eventually(async () =>
      receiver.received.map((r) => JSON.parse(r.body) as Stripe.Event).find((e) => e.type === 'payment_intent.succeeded' && (e.data.object as Stripe.PaymentIntent).id === paid.id),
    15_000);
    const listed = await eventually(async () => (await a.events.list({ type: 'payment_intent.succeeded', limit: 100 })).data.find((e) => (e.data.object as Stripe.PaymentIntent).id === paid.id));
    t.equal(listed.id, hook.id, 'the listed event has the id the webhook carried');
    t.equal(listed.type, 'payment_intent.succeeded');
    t.equal(listed.object, 'event');
    t.equal(listed.livemode, false);
    t.equal(listed.api_version, API_VERSION);
    t.equal(listed.created, hook.created);
    t.equal((listed.data.object as Stripe.PaymentIntent).status, 'succeeded');
    const retrieved = await a.events.retrieve(hook.id);
    t.equal(retrieved.id, hook.id);
    t.strictSame(retrieved.data, hook.data, 'retrieve returns the webhook event');

    // Every event of the payment: created, charge.succeeded, succeeded; newest first.
    const mine = (await a.events.list({ limit: 100 })).data.filter((e) => (e.data.object as { id?: string; payment_intent?: string }).id === paid.id || (e.data.object as { payment_intent?: string }).payment_intent === paid.id);
    t.strictSame(new Set(mine.map((e) => e.type)), new Set(['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded']));
    const everything = await a.events.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 });
    t.ok(everything.every((e, i) => i === 0 || everything[i - 1]!.created >= e.created), 'newest first');
    t.equal(new Set(everything.map((e) => e.id)).size, everything.length, 'no duplicates across pages');

    const wildcard = await a.events.list({ type: 'payment_intent.*', limit: 100 });
    t.ok(wildcard.data.length > 0 && wildcard.data.every((e) => e.type.startsWith('payment_intent.')), 'type=payment_intent.* matches the group');
    t.ok(wildcard.data.some((e) => e.id === hook.id));
    const charges = await a.events.list({ type: 'charge.*', limit: 100 });
    t.ok(charges.data.length > 0 && charges.data.every((e) => e.type.startsWith('charge.')));
    const typed = await a.events.list({ types: ['charge.succeeded', 'payment_intent.created'], limit: 100 });
    t.ok(typed.data.length > 0 && typed.data.every((e) => e.type === 'charge.succeeded' || e.type === 'payment_intent.created'), 'types[] filters');
    const both = await fails(a.events.list({ type: 'charge.succeeded', types: ['charge.succeeded'] }));
    t.equal(both.statusCode, 400, 'type and types together are refused');

    const since = await a.events.list({ created: { gte: hook.created }, limit: 100 });
    t.ok(since.data.every((e) => e.created >= hook.created) && since.data.some((e) => e.id === hook.id), 'created[gte]');
    t.notOk((await a.events.list({ created: { lt: hook.created }, limit: 100 })).data.some((e) => e.id === hook.id), 'created[lt]');
    t.ok((await a.events.list({ created: { lte: hook.created, gt: hook.created - 3600 }, limit: 100 })).data.some((e) => e.id === hook.id), 'created[lte][gt]');
    t.ok((await a.events.list({ created: hook.created, limit: 100 })).data.every((e) => e.created === hook.created), 'created=<exact>');

    const p1 = await a.events.list({ limit: 2 });
    t.equal(p1.data.length, 2);
    t.equal(p1.has_more, true);
    const p2 = await a.events.list({ limit: 2, starting_after: p1.data[1]!.id });
    t.equal(p2.data.length, 2);
    t.strictSame(p2.data.map((e) => e.id), everything.slice(2, 4).map((e) => e.id), 'starting_after continues the list');
    const back = await a.events.list({ limit: 2, ending_before: p2.data[0]!.id });
    t.strictSame(back.data.map((e) => e.id), p1.data.map((e) => e.id), 'ending_before goes back');

    const missing = await fails(a.events.retrieve('evt_doesnotexist'));
    t.equal(missing.statusCode, 404);
    t.equal(missing.code, 'resource_missing');
    t.equal((await fails(b.events.retrieve(hook.id))).statusCode, 404, "another merchant cannot retrieve A's event");
    t.notOk((await b.events.list({ limit: 100 })).data.some((e) => e.id === hook.id), "nor list it");
    t.equal((await fails(sdk(A.live_secret_key).events.retrieve(hook.id))).statusCode, 404, 'nor the live key');
    t.equal((await fails(a.events.list({ limit: 'x' } as never))).param, 'limit', 'wrong types named');
    t.equal((await fails(a.events.list({ colour: 'red' } as never))).code, 'parameter_unknown', 'unknown params refused');
  });

  await t.test('GET /openapi.json: OpenAPI 3.1 from the validating schemas', async (t) => {
    const res = await raw('/openapi.json');
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /application\/json/);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string; parameters?: { name: string; in: string; required?: boolean }[]; requestBody?: { content: Record<string, { schema: { properties: Record<string, { type?: string }>; required?: string[]; additionalProperties?: boolean } }> } }>>;
    };
    t.equal(doc.openapi, '3.1.0');
    const create = doc.paths['/v1/payment_intents']?.post;
    const form = create?.requestBody?.content['application/x-www-form-urlencoded']?.schema;
    t.equal(form?.properties.amount?.type, 'integer', 'the create body schema is the validating one');
    t.strictSame(form?.required, ['amount', 'currency']);
    t.equal(form?.additionalProperties, false);
    t.ok(doc.paths['/v1/payment_intents/{id}/confirm']?.post?.parameters?.some((p) => p.name === 'id' && p.in === 'path' && p.required), 'path params');
    const eventsParams = doc.paths['/v1/events']?.get?.parameters?.map((p) => p.name) ?? [];
    for (const n of ['type', 'types', 'created', 'limit', 'starting_after', 'ending_before']) t.ok(eventsParams.includes(n), `GET /v1/events documents ${n}`);
    t.ok(doc.paths['/v1/events/{id}']?.get, 'GET /v1/events/{id}');
    t.ok(doc.paths['/v1/payment_methods']?.post, 'POST /v1/payment_methods');
    const opIds = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    t.equal(new Set(opIds).size, opIds.length, 'operationIds are unique');
    t.notOk(Object.values(doc.paths).some((ops) => 'head' in ops), 'no implicit HEAD routes');
  });
});
