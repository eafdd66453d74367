// EPN simulator and client, end to end over real HTTP on an ephemeral port.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import {
  brandOf,
  buildEpnServer,
  createEpnClient,
  EpnRejectedError,
  EpnUnavailableError,
  luhnValid,
  type AuthorizeParams,
  type EpnServerOptions,
} from '../epn/mod.ts';

const FUTURE = { expMonth: 12, expYear: new Date().getUTCFullYear() + 3, cvc: '123' };
let seq = 0;
const ref = (p = 'att') => `${p}_${process.pid}_${++seq}`;

function params(number: string, over: Partial<AuthorizeParams> = {}): AuthorizeParams {
  return {
    reference: ref(),
    merchantId: 'acct_test',
    amount: 1000,
    currency: 'usd',
    capture: false,
    card: { number, ...FUTURE },
    ...over,
  };
}

async function start(t: Test, opts: Partial<EpnServerOptions> = {}) {
  const app = buildEpnServer({ latencyMs: 0, ...opts });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  let closed = false;
  const close = async () => {
    if (!closed) await app.close();
    closed = true;
  };
  t.teardown(close);
  return { app, url, close, client: createEpnClient({ baseUrl: url, timeoutMs: 5000 }) };
}

async function rejected(p: Promise<unknown>): Promise<EpnRejectedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EpnRejectedError) return err;
    throw err;
  }
  throw new Error('expected EpnRejectedError, call succeeded');
}

async function post(url: string, pathname: string, body: string) {
  const res = await fetch(`${url}${pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text() };
}

t.test('brandOf and luhnValid', async (t) => {
  t.equal(brandOf('4242424242424242'), 'visa');
  t.equal(brandOf('5555555555554444'), 'mastercard');
  t.equal(brandOf('2223003122003222'), 'mastercard');
  t.equal(brandOf('378282246310005'), 'amex');
  t.equal(brandOf('6011111111111117'), 'discover');
  t.equal(brandOf('3566002020360505'), 'jcb');
  t.equal(brandOf('36227206271667'), 'diners');
  t.equal(brandOf('6200000000000005'), 'unionpay');
  t.equal(brandOf('9999999999999995'), 'unknown');
  t.ok(luhnValid('4242424242424242'));
  t.notOk(luhnValid('4242424242424241'));
  t.notOk(luhnValid('42424242'));
});

t.test('test card outcomes', async (t) => {
  const { client } = await start(t);
  const approved: Array<[string, string]> = [
    ['4242424242424242', 'visa'],
    ['4000000000000077', 'visa'],
    ['5555555555554444', 'mastercard'],
    ['378282246310005', 'amex'],
    ['4000000000000259', 'visa'],
    ['4000000000002685', 'visa'],
    ['4000000000001976', 'visa'],
    ['6011111111111117', 'discover'], // any other Luhn-valid number
  ];
  for (const [pan, brand] of approved) {
    const r = await client.authorize(params(pan));
    t.equal(r.status, 'approved', pan);
    t.equal(r.brand, brand, `${pan} brand`);
    t.equal(r.last4, pan.slice(-4));
    t.match(r.networkRef, /^epn_[0-9a-f]{24}$/);
    t.equal(r.captured, false);
    t.equal(r.declineCode, undefined);
  }
  // 3-D Secure cards: the issuer wants authentication first (nothing recorded), then approves.
  for (const pan of ['4000002500003155', '4000002760003184', '4000000000003220']) {
    const first = await client.authorize(params(pan, { reference: `3ds_${pan}` }));
    t.equal(first.status, 'authentication_required', `${pan} asks for 3DS`);
    t.equal(first.networkRef, '');
    t.equal(await client.inquire(`3ds_${pan}`), null, 'nothing recorded before authentication');
    const second = await client.authorize({ ...params(pan, { reference: `3ds_${pan}` }), authenticated: true });
    t.equal(second.status, 'approved', `${pan} approved once authenticated`);
    t.match(second.networkRef, /^epn_[0-9a-f]{24}$/);
  }
  const declined: Array<[string, string, string, string]> = [
    ['4000000000000002', 'card_declined', 'generic_decline', 'Your card was declined.'],
    ['4000000000009995', 'card_declined', 'insufficient_funds', 'Your card has insufficient funds.'],
    ['4000000000009987', 'card_declined', 'lost_card', 'Your card was declined.'],
    ['4000000000009979', 'card_declined', 'stolen_card', 'Your card was declined.'],
    ['4000000000000069', 'expired_card', 'expired_card', 'Your card has expired.'],
    ['4000000000000127', 'incorrect_cvc', 'incorrect_cvc', "Your card's security code is incorrect."],
    ['4000000000000119', 'processing_error', 'processing_error', 'An error occurred while processing your card. Try again in a little bit.'],
    ['4000000000006975', 'card_declined', 'card_velocity_exceeded', 'Your card was declined for making repeated attempts too frequently or exceeding its amount limit.'],
  ];
  for (const [pan, failureCode, declineCode, message] of declined) {
    const r = await client.authorize(params(pan, { capture: true }));
    t.equal(r.status, 'declined', pan);
    t.equal(r.captured, false);
    t.equal(r.failureCode, failureCode, `${pan} failure_code`);
    t.equal(r.declineCode, declineCode, `${pan} decline_code`);
    t.equal(r.message, message);
    const tx = await client.inquire(r.reference);
    t.equal(tx?.status, 'declined');
  }
  const captured = await client.authorize(params('4242424242424242', { capture: true }));
  t.equal(captured.captured, true);
  t.equal((await client.retrieve(captured.networkRef)).status, 'captured');
});

t.test('Luhn failure and expiry', async (t) => {
  const { client } = await start(t, { now: () => new Date('2030-06-15T12:00:00Z') });
  const luhn = await client.authorize(params('4242424242424241'));
  t.equal(luhn.status, 'declined');
  t.equal(luhn.failureCode, 'incorrect_number');
  t.equal(luhn.message, 'Your card number is incorrect.');
  t.equal(luhn.last4, '4241');

  const expired = await client.authorize(params('4242424242424242', { card: { number: '4242424242424242', expMonth: 5, expYear: 2030 } }));
  t.equal(expired.status, 'declined');
  t.equal(expired.failureCode, 'expired_card');
  t.equal(expired.declineCode, 'expired_card');
  t.equal(expired.message, 'Your card has expired.');

  const lastYear = await client.authorize(params('4242424242424242', { card: { number: '4242424242424242', expMonth: 12, expYear: 29 } }));
  t.equal(lastYear.failureCode, 'expired_card', 'two-digit year read as 20xx');

  const thisMonth = await client.authorize(params('4242424242424242', { card: { number: '4242424242424242', expMonth: 6, expYear: 2030 } }));
  t.equal(thisMonth.status, 'approved', 'good through the end of the expiry month');
});

t.test('bad input is a 400 with an error code', async (t) => {
  const { url, client } = await start(t);
  const card = { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' };
  const base = { reference: ref(), merchant_id: 'm', amount: 100, currency: 'usd', capture: false, card };
  const cases: Array<[string, unknown]> = [
    ['missing card', { ...base, card: undefined }],
    ['non-digit number', { ...base, card: { ...card, number: '4242-4242-4242-4242' } }],
    ['amount as string', { ...base, amount: '100' }],
    ['zero amount', { ...base, amount: 0 }],
    ['bad month', { ...base, card: { ...card, exp_month: 13 } }],
    ['bad currency', { ...base, currency: 'USD' }],
  ];
  for (const [name, body] of cases) {
    const res = await post(url, '/v1/authorize', JSON.stringify(body));
    t.equal(res.status, 400, name);
    t.equal(JSON.parse(res.text).error.code, 'invalid_request', name);
  }
  const notJson = await post(url, '/v1/authorize', '{"card":{"number":"4242424242424242"');
  t.equal(notJson.status, 400);
  t.equal(JSON.parse(notJson.text).error.code, 'invalid_request');

  const err = await rejected(client.capture({ networkRef: 'epn_000000000000000000000000', amount: 1 }));
  t.equal(err.status, 404);
  t.equal(err.code, 'resource_missing');
  t.equal((await rejected(client.retrieve('epn_nope'))).status, 404);
  t.equal((await fetch(`${url}/nope`)).status, 404);
  t.same(await (await fetch(`${url}/healthz`)).json(), { ok: true });
});

t.test('authorize is idempotent on reference', async (t) => {
  const { client } = await start(t);
  const p = params('4242424242424242');
  const a = await client.authorize(p);
  const b = await client.authorize(p);
  t.equal(b.networkRef, a.networkRef, 'same network_ref twice');
  t.equal(b.status, 'approved');

  const d = params('4000000000000002');
  const d1 = await client.authorize(d);
  const d2 = await client.authorize(d);
  t.equal(d2.networkRef, d1.networkRef);
  t.equal(d2.declineCode, 'generic_decline', 'a decline is replayed, not re-decided');

  const tx = await client.inquire(p.reference);
  t.equal(tx?.networkRef, a.networkRef);
  t.equal(tx?.history.length, 1, 'only one authorization recorded');

  const conflict = await rejected(client.authorize({ ...p, amount: 999 }));
  t.equal(conflict.status, 409);
  t.equal(conflict.code, 'reference_conflict');
});

t.test('capture and void rules', async (t) => {
  const { client } = await start(t);
  const a = await client.authorize(params('4242424242424242', { amount: 1000 }));

  const over = await rejected(client.capture({ networkRef: a.networkRef, amount: 1001 }));
  t.equal(over.code, 'amount_too_large');

  const c1 = await client.capture({ networkRef: a.networkRef, amount: 600 });
  t.equal(c1.status, 'captured');
  t.equal(c1.amountCaptured, 600);
  const c2 = await client.capture({ networkRef: a.networkRef, amount: 600 });
  t.equal(c2.amountCaptured, 600, 'capture retry returns the same capture');
  t.equal(c2.history.filter((h) => h.action === 'captured').length, 1);
  t.equal((await rejected(client.capture({ networkRef: a.networkRef, amount: 400 }))).code, 'invalid_state');
  t.equal((await rejected(client.void({ networkRef: a.networkRef }))).code, 'invalid_state', 'cannot void a capture');

  const b = await client.authorize(params('4242424242424242'));
  const v1 = await client.void({ networkRef: b.networkRef });
  t.equal(v1.status, 'voided');
  t.equal((await client.void({ networkRef: b.networkRef })).status, 'voided', 'void retry is safe');
  t.equal((await rejected(client.capture({ networkRef: b.networkRef, amount: 1000 }))).code, 'invalid_state');

  const d = await client.authorize(params('4000000000009995'));
  t.equal((await rejected(client.capture({ networkRef: d.networkRef, amount: 1000 }))).code, 'invalid_state');
  t.equal((await rejected(client.void({ networkRef: d.networkRef }))).code, 'invalid_state');
});

t.test('refund rules', async (t) => {
  const { client } = await start(t);
  const a = await client.authorize(params('4242424242424242', { amount: 1000, capture: true }));
  const auth = await client.authorize(params('4242424242424242'));
  t.equal(
    (await rejected(client.refund({ networkRef: auth.networkRef, amount: 1, refundReference: ref('re') }))).code,
    'invalid_state',
    'cannot refund an uncaptured authorization',
  );

  const r1ref = ref('re');
  const r1 = await client.refund({ networkRef: a.networkRef, amount: 400, refundReference: r1ref });
  t.equal(r1.transaction.status, 'partially_refunded');
  t.equal(r1.transaction.amountRefunded, 400);
  t.equal(r1.refund.amount, 400);
  const again = await client.refund({ networkRef: a.networkRef, amount: 400, refundReference: r1ref });
  t.equal(again.transaction.amountRefunded, 400, 'refund retry does not refund twice');
  t.equal((await rejected(client.refund({ networkRef: a.networkRef, amount: 300, refundReference: r1ref }))).code, 'reference_conflict');

  const over = await rejected(client.refund({ networkRef: a.networkRef, amount: 601, refundReference: ref('re') }));
  t.equal(over.status, 400);
  t.equal(over.code, 'amount_too_large', 'over-refund rejected');

  const r2 = await client.refund({ networkRef: a.networkRef, amount: 600, refundReference: ref('re') });
  t.equal(r2.transaction.status, 'refunded');
  t.equal(r2.transaction.amountRefunded, 1000);
  t.equal(r2.transaction.refunds.length, 2);
  t.equal((await rejected(client.refund({ networkRef: a.networkRef, amount: 1, refundReference: ref('re') }))).code, 'invalid_state');

  // A partial capture bounds refunds by what was captured, not by what was authorized.
  const p = await client.authorize(params('4242424242424242', { amount: 1000 }));
  await client.capture({ networkRef: p.networkRef, amount: 500 });
  t.equal((await rejected(client.refund({ networkRef: p.networkRef, amount: 501, refundReference: ref('re') }))).code, 'amount_too_large');
});

t.test('verify: a card checked for later use, nothing booked', async (t) => {
  const { client, url } = await start(t);
  const check = (number: string, authenticated?: boolean) =>
    client.verify({ reference: ref('setatt'), merchantId: 'acct_v', card: { number, ...FUTURE }, ...(authenticated !== undefined ? { authenticated } : {}) });
  t.match(await client.verify({ reference: 'setatt_ok', merchantId: 'acct_v', card: { number: '4242424242424242', ...FUTURE } }), { status: 'approved', brand: 'visa', last4: '4242' });
  t.match(await check('4000000000000002'), { status: 'declined', declineCode: 'generic_decline', failureCode: 'card_declined' });
  t.match(await check('4000000000009995'), { status: 'declined', declineCode: 'insufficient_funds' });
  t.match(await check('4000002500003155'), { status: 'authentication_required' }, 'a card that wants 3-D Secure on setup');
  t.match(await check('4000002500003155', true), { status: 'approved' }, 'passes once authenticated');
  t.equal(await client.inquire('setatt_ok'), null, 'a verification is not a transaction');
  const today = new Date().toISOString().slice(0, 10);
  t.same(await client.settlement(today, 'acct_v'), [], 'and never reaches the settlement file');
  const bad = await post(url, '/v1/verify', JSON.stringify({ reference: 'r', merchant_id: 'm', card: { number: '42', exp_month: 1, exp_year: 2030 } }));
  t.equal(bad.status, 400, 'a malformed card is refused');
});

t.test('inquiry by reference', async (t) => {
  const { client } = await start(t);
  t.equal(await client.inquire('never-sent'), null);
  const p = params('5555555555554444', { capture: true, amount: 4200, currency: 'eur', merchantId: 'acct_x' });
  const a = await client.authorize(p);
  const tx = await client.inquire(p.reference);
  t.match(tx, {
    networkRef: a.networkRef,
    reference: p.reference,
    merchantId: 'acct_x',
    amount: 4200,
    currency: 'eur',
    status: 'captured',
    amountCaptured: 4200,
    amountRefunded: 0,
    brand: 'mastercard',
    last4: '4444',
    declineCode: null,
  });
  t.same(tx?.history.map((h) => h.action), ['authorized', 'captured']);
  t.same(await client.retrieve(a.networkRef), tx);
});

t.test('restart with the same ledger path keeps transactions', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'epn-ledger-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ledgerPath = path.join(dir, 'epn', 'ledger.jsonl');

  const first = await start(t, { ledgerPath });
  const p = params('4242424242424242', { capture: true });
  const a = await first.client.authorize(p);
  await first.client.refund({ networkRef: a.networkRef, amount: 100, refundReference: 'rf_1' });
  const v = await first.client.authorize(params('4242424242424242'));
  await first.client.void({ networkRef: v.networkRef });
  await first.close();

  // A crash mid-write leaves a torn last line; it must not stop the restart.
  appendFileSync(ledgerPath, '{"v":1,"tx":{"network_ref":"epn_tor');

  const second = await start(t, { ledgerPath });
  const tx = await second.client.inquire(p.reference);
  t.equal(tx?.networkRef, a.networkRef);
  t.equal(tx?.status, 'partially_refunded');
  t.equal(tx?.amountRefunded, 100);
  t.equal((await second.client.retrieve(v.networkRef)).status, 'voided');
  t.equal((await second.client.authorize(p)).networkRef, a.networkRef, 'idempotency survives a restart');
  const again = await second.client.refund({ networkRef: a.networkRef, amount: 100, refundReference: 'rf_1' });
  t.equal(again.transaction.amountRefunded, 100, 'refund idempotency survives a restart');
  const more = await second.client.refund({ networkRef: a.networkRef, amount: 50, refundReference: 'rf_2' });
  t.equal(more.transaction.amountRefunded, 150);
  await second.close();

  const third = await start(t, { ledgerPath });
  t.equal((await third.client.inquire(p.reference))?.amountRefunded, 150, 'appends after a torn line are read back');
});

t.test('client errors: timeout, unreachable, server error', async (t) => {
  const { url } = await start(t);
  const slow = createEpnClient({ baseUrl: url, timeoutMs: 100 });
  const set = await fetch(`${url}/admin/latency`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ latency_ms: 400 }),
  });
  t.same(await set.json(), { latency_ms: 400 });

  const p = params('4242424242424242');
  const err = await slow.authorize(p).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, EpnUnavailableError);
  t.equal((err as EpnUnavailableError).kind, 'timeout');
  t.ok((err as EpnUnavailableError).cause);

  await fetch(`${url}/admin/latency`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"latency_ms":0}' });
  // The network did act; the caller resolves the unknown outcome by inquiry.
  const fast = createEpnClient({ baseUrl: url, timeoutMs: 2000 });
  t.equal((await fast.inquire(p.reference))?.status, 'authorized');

  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const dead = createEpnClient({ baseUrl: `http://127.0.0.1:${deadPort}`, timeoutMs: 2000 });
  const unreachable = await dead.inquire('x').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(unreachable, EpnUnavailableError);
  t.equal((unreachable as EpnUnavailableError).kind, 'unreachable');

  const broken = createServer((_req, res) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('bad gateway');
  });
  await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => broken.close(() => resolve())));
  const viaProxy = createEpnClient({ baseUrl: `http://127.0.0.1:${(broken.address() as AddressInfo).port}`, timeoutMs: 2000 });
  const serverErr = await viaProxy.capture({ networkRef: 'epn_x', amount: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(serverErr, EpnUnavailableError);
  t.equal((serverErr as EpnUnavailableError).kind, 'server_error');
});

t.test('logs never contain the card number or CVC', async (t) => {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const { app, url, client, close } = await start(t, { logger });
  const pan = '4242424242424242';

  const a = await client.authorize(params(pan, { card: { number: pan, expMonth: 12, expYear: 2040, cvc: '987' } }));
  t.equal(a.status, 'approved');
  // Requests that fail validation or parsing still must not leak the card.
  const bad = [
    JSON.stringify({ reference: 'x', merchant_id: 'm', amount: 100, currency: 'usd', capture: 'yes', card: { number: pan, exp_month: 1, exp_year: 2040, cvc: '987' } }),
    JSON.stringify({ reference: 'x', merchant_id: 'm', amount: 100, currency: 'usd', capture: false, card: { number: pan, exp_month: 1, exp_year: 2040, cvc: 'abcd' } }),
    `{"card":{"number":"${pan}","cvc":"987"`,
  ];
  for (const body of bad) {
    const res = await post(url, '/v1/authorize', body);
    t.equal(res.status, 400);
    t.notOk(res.text.includes(pan), 'error response has no PAN');
  }
  // If someone does log a body through the server's logger, redaction still hides the card.
  app.log.info({ body: { card: { number: pan, cvc: '987' } } }, 'body logged by mistake');
  await close();

  const out = chunks.join('');
  t.ok(out.length > 0, 'logs were captured');
  t.match(out, /"status":400,.*request refused/, 'a refused request is logged (without its body)');
  t.notOk(out.includes(pan), 'no PAN in logs');
  t.match(out, /body logged by mistake/);
  t.notOk(out.includes('"cvc":"987"'), 'no CVC in logs');
  t.match(out, /\[REDACTED\]/);
});
