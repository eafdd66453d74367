// Checkout without a browser: who may embed the card frame (checkout/policy.ts), the card checks the
// frame runs as the shopper types (checkout/card.js, run here in a VM context), and the gateway's
// checkout routes with a merchant's allowed_origins changed through the admin API.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import vm from 'node:vm';
import t, { type Test } from 'tap';
import { freshDatabase, postgresUnreachable } from './helpers/postgres.ts';
import { cardFrameCsp, configuredOrigins, frameAncestors, normalizeOrigin, originAllowed, returnPageCsp } from '../checkout/policy.ts';
import { openStoreDb, type StoreDb } from '../store/db.ts';
import { eventually, startStack } from './helpers/stack.ts';

interface CardFacts {
  brandOf(pan: string): string;
  luhnValid(pan: string): boolean;
  checkNumber(raw: string): { pan: string; brand: string; complete: boolean; error: string | null };
  checkExpiry(raw: string, now: Date): { complete: boolean; error: string | null; month?: number; year?: number };
  checkCvc(raw: string, brand: string): { complete: boolean; error: string | null };
  formatNumber(pan: string, brand: string): string;
}

function loadCardJs(): CardFacts {
  const sandbox: { self?: { PaynatsCard?: CardFacts } } = {};
  sandbox.self = sandbox as { PaynatsCard?: CardFacts };
  vm.runInNewContext(readFileSync(new URL('../checkout/card.js', import.meta.url), 'utf8'), sandbox);
  return sandbox.self.PaynatsCard!;
}

t.test('policy: origins and frame-ancestors', async (t) => {
  t.equal(normalizeOrigin('https://shop.example'), 'https://shop.example');
  t.equal(normalizeOrigin('https://shop.example/'), 'https://shop.example', 'a trailing slash is still an origin');
  t.equal(normalizeOrigin('HTTPS://Shop.Example:443'), 'https://shop.example', 'default port and case normalized');
  t.equal(normalizeOrigin('http://shop.example:8080'), 'http://shop.example:8080');
  for (const bad of ['https://shop.example/pay', 'https://shop.example?x=1', 'javascript:alert(1)', 'ftp://x.test', 'https://u:p@x.test', 'not a url', "https://a.test; script-src *"]) {
    t.equal(normalizeOrigin(bad), null, `not an origin: ${bad}`);
  }
  t.same(configuredOrigins(['https://a.test', 'https://a.test/', 'https://a.test; frame-ancestors *', 'https://b.test']), ['https://a.test', 'https://b.test'], 'malformed entries never reach a header');

  t.ok(originAllowed('https://a.test', ['https://a.test'], 'live'));
  t.notOk(originAllowed('https://b.test', ['https://a.test'], 'live'));
  t.notOk(originAllowed('http://a.test', ['https://a.test'], 'live'), 'the scheme counts');
  t.notOk(originAllowed('https://a.test/', ['https://a.test'], 'live'), 'only an exact origin (what location.origin gives)');
  t.ok(originAllowed('http://localhost:3000', [], 'test'), 'test mode: loopback');
  t.ok(originAllowed('http://127.0.0.1:5173', [], 'test'));
  t.notOk(originAllowed('http://localhost:3000', [], 'live'), 'live mode: never loopback unless listed');
  t.notOk(originAllowed('http://localhost.evil.test', [], 'test'));

  t.equal(frameAncestors([], 'live'), "'none'", 'live without origins: nobody may frame');
  t.equal(frameAncestors(['https://a.test'], 'live'), 'https://a.test');
  t.match(frameAncestors(['https://a.test'], 'test'), /^https:\/\/a\.test http:\/\/localhost:\* http:\/\/127\.0\.0\.1:\*/);
  const csp = cardFrameCsp(['https://a.test'], 'live');
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-src 'self'", "base-uri 'none'", 'frame-ancestors https://a.test']) t.ok(csp.includes(d), d);
  t.notMatch(csp, /unsafe/);
  t.match(returnPageCsp(['https://a.test'], 'live'), /frame-ancestors 'self' https:\/\/a\.test$/);
  t.match(returnPageCsp([], 'live'), /frame-ancestors 'self'$/);
});

t.test('card.js: brand, Luhn, expiry and CVC as the shopper types', async (t) => {
  const c = loadCardJs();
  const brands: Array<[string, string]> = [
    ['4242424242424242', 'visa'],
    ['5555555555554444', 'mastercard'],
    ['2223003122003222', 'mastercard'],
    ['378282246310005', 'amex'],
    ['6011111111111117', 'discover'],
    ['3056930009020004', 'diners'],
    ['3566002020360505', 'jcb'],
    ['6200000000000005', 'unionpay'],
    ['9999', 'unknown'],
  ];
  for (const [pan, brand] of brands) t.equal(c.brandOf(pan), brand, `${pan.slice(0, 4)}… is ${brand}`);
  t.ok(c.luhnValid('4242424242424242'));
  t.notOk(c.luhnValid('4242424242424241'));

  t.same(c.checkNumber('4242 4242 4242 4242'), { pan: '4242424242424242', brand: 'visa', complete: true, error: null });
  t.equal(c.checkNumber('4242424242424241').error, 'Your card number is invalid.', 'a full-length number failing Luhn is wrong at once');
  t.equal(c.checkNumber('424242').error, null, 'a partial number is not an error while typing');
  t.equal(c.checkNumber('424242').complete, false);
  t.equal(c.checkNumber('37828224631000').complete, false, 'amex needs 15 digits');
  t.equal(c.checkNumber('378282246310005').complete, true);
  t.equal(c.checkNumber('4242abc').error, 'Your card number is invalid.');

  const now = new Date(Date.UTC(2026, 10, 25));
  t.match(c.checkExpiry('12 / 34', now), { complete: true, error: null, month: 12, year: 2034 });
  t.match(c.checkExpiry('11 / 26', now), { complete: true }, 'good through the end of its month');
  t.match(c.checkExpiry('10 / 26', now), { complete: false, error: "Your card's expiration year is in the past." });
  t.match(c.checkExpiry('13', now), { complete: false, error: "Your card's expiration date is invalid." });
  t.match(c.checkExpiry('1', now), { complete: false, error: null });
  t.match(c.checkExpiry('12 / 99', now), { complete: false, error: "Your card's expiration year is invalid." }, 'more than 50 years ahead');

  t.match(c.checkCvc('123', 'visa'), { complete: true });
  t.match(c.checkCvc('12', 'visa'), { complete: false, error: null });
  t.match(c.checkCvc('1234', 'visa'), { complete: false, error: "Your card's security code is invalid." });
  t.match(c.checkCvc('1234', 'amex'), { complete: true }, 'amex has a 4-digit CVC');
  t.match(c.checkCvc('123', 'amex'), { complete: false, error: null });

  t.equal(c.formatNumber('4242424242424242', 'visa'), '4242 4242 4242 4242');
  t.equal(c.formatNumber('378282246310005', 'amex'), '3782 822463 10005');
});

t.test('gateway: the library, the frame, and allowed_origins from the admin API', async (t) => {
  const stack = await startStack(t);
  const m = (await eventually(() => stack.onboard().catch(() => null), 60_000, 500)) as Awaited<ReturnType<typeof stack.onboard>> & { live_publishable_key: string };
  const admin = (method: string, p: string, body?: unknown) =>
    fetch(`${stack.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const frame = (key: string, origin: string) => fetch(`${stack.url}/checkout/v1/card-frame.html?key=${encodeURIComponent(key)}&origin=${encodeURIComponent(origin)}`);
  const shop = 'https://shop.example:8443';

  const lib = await fetch(`${stack.url}/js/v1/checkout.js`);
  t.equal(lib.status, 200);
  t.equal(lib.headers.get('cross-origin-resource-policy'), 'cross-origin', 'loadable from merchant pages');
  t.match(await lib.text(), /confirmCardPayment/);
  for (const a of ['card.js', 'card-frame.js', 'card-frame.css', '3ds-return.js']) {
    const r = await fetch(`${stack.url}/checkout/v1/${a}`);
    t.equal(r.status, 200, a);
    t.equal(r.headers.get('x-content-type-options'), 'nosniff');
    t.match(r.headers.get('content-security-policy'), /default-src 'none'/);
  }

  // A publishable key tokenizes but cannot read the payment method back.
  const tok = await fetch(`${stack.url}/v1/payment_methods`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.publishable_key}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034&card[cvc]=123',
  });
  t.equal(tok.status, 200, 'a publishable key creates a payment method');
  const pmId = ((await tok.json()) as { id: string }).id;
  t.equal((await fetch(`${stack.url}/v1/payment_methods/${pmId}`, { headers: { authorization: `Bearer ${m.publishable_key}` } })).status, 401, 'but cannot read it back');
  t.equal((await fetch(`${stack.url}/v1/payment_methods/${pmId}`, { headers: { authorization: `Bearer ${m.secret_key}` } })).status, 200, 'the secret key can');

  t.equal((await frame(m.live_publishable_key, shop)).status, 403, 'live: not allowed before it is configured');
  const unknown = await frame('pk_test_000000000000000000000000', shop);
  t.equal(unknown.status, 401, 'an unknown key');
  t.equal((await fetch(`${stack.url}/checkout/v1/card-frame.html?origin=x`)).status, 400, 'no key: a Stripe-shaped 400');

  t.equal((await admin('POST', `/admin/merchants/${m.merchant_id}`, { allowed_origins: ['https://shop.example/pay'] })).status, 400, 'a path is not an origin');
  const noToken = await fetch(`${stack.url}/admin/merchants/${m.merchant_id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"allowed_origins":[]}' });
  t.equal(noToken.status, 401, 'the admin token is needed');
  t.equal((await admin('POST', '/admin/merchants/acct_nobody', { allowed_origins: [shop] })).status, 404);

  const upd = await admin('POST', `/admin/merchants/${m.merchant_id}`, { allowed_origins: [`${shop}/`, shop] });
  t.equal(upd.status, 200, upd.status === 200 ? 'updated' : await upd.clone().text());
  t.same(((await upd.json()) as { allowed_origins: string[] }).allowed_origins, [shop], 'normalized and de-duplicated');
  t.same(((await (await admin('GET', `/admin/merchants/${m.merchant_id}`)).json()) as { allowed_origins: string[] }).allowed_origins, [shop]);

  const live = await frame(m.live_publishable_key, shop);
  t.equal(live.status, 200, 'the configured origin may embed the frame');
  t.match(live.headers.get('content-security-policy'), new RegExp(`frame-ancestors ${shop.replace(/\./g, '\\.')}(;|$)`));
  t.equal(live.headers.get('cache-control'), 'no-store');
  t.equal((await frame(m.live_publishable_key, 'https://other.example')).status, 403);

  const cleared = await admin('POST', `/admin/merchants/${m.merchant_id}`, { allowed_origins: [] });
  t.equal(cleared.status, 200);
  t.equal((await frame(m.live_publishable_key, shop)).status, 403, 'removing the origin takes effect at once');
  const testMode = await frame(m.publishable_key, 'http://localhost:3000');
  t.equal(testMode.status, 200, 'test mode still allows loopback');
  t.match(testMode.headers.get('content-security-policy'), /frame-ancestors http:\/\/localhost:\*/);

  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  t.match(metrics, /paynats_checkout_frames_total\{page="card_frame",outcome="origin_not_allowed"\} [1-9]/, 'refusals are counted');
  t.match(metrics, /paynats_checkout_frames_total\{page="card_frame",outcome="served"\} [1-9]/);
});

/** The store's own table, whichever database it is in. */
async function orderRoundTrip(t: Test, store: StoreDb) {
  const id = `ord_${randomBytes(12).toString('hex')}`;
  await store.db.insertInto('store_orders').values({ id, product_id: 'sku_mug', amount: 1999, currency: 'usd', payment_intent_id: `pi_${id}`, status: 'pending', last_error: null, paid_event_id: null, paid_at: null }).execute();
  await store.db.updateTable('store_orders').set({ status: 'paid', paid_event_id: 'evt_1', paid_at: new Date() }).where('payment_intent_id', '=', `pi_${id}`).execute();
  const row = await store.db.selectFrom('store_orders').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  t.match(row, { id, amount: 1999, status: 'paid', paid_event_id: 'evt_1' });
  t.ok(row.created_at instanceof Date);
  t.match(await store.dump(), new RegExp(id));
  const dup = await store.db.insertInto('store_orders').values({ id: `${id}x`, product_id: 'sku_mug', amount: 1, currency: 'usd', payment_intent_id: `pi_${id}`, status: 'pending', last_error: null, paid_event_id: null, paid_at: null }).execute().then(() => null, (e: unknown) => e);
  t.ok(dup, 'one order per payment intent');
}

t.test('the store keeps its orders in its own database (PGlite)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-storedb-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const store = await openStoreDb({ dir });
  t.equal(store.kind, 'pglite');
  await orderRoundTrip(t, store);
  await store.close();
  const again = await openStoreDb({ dir });
  t.equal((await again.db.selectFrom('store_orders').select('id').execute()).length, 1, 'kept across restarts (create table if not exists)');
  await again.close();
});

const unreachable = await postgresUnreachable();

t.test('the store keeps its orders in schema "store" (Postgres)', { skip: unreachable ? `Postgres is unreachable (${unreachable})` : false }, async (t) => {
  const fresh = await freshDatabase('paynats_store');
  const store = await openStoreDb({ dir: os.tmpdir(), databaseUrl: fresh.url });
  t.teardown(async () => {
    await store.close();
    await fresh.drop();
  });
  t.equal(store.kind, 'postgres');
  await orderRoundTrip(t, store);
  const { rows } = await sql<{ schemaname: string }>`select schemaname from pg_tables where tablename = 'store_orders'`.execute(store.db);
  t.same(rows.map((r) => r.schemaname), ['store'], 'in its own schema, apart from the processor\'s tables');
});
