// API keys against the real stack with the official stripe SDK: restricted keys (per-resource
// read/write, Stripe's 403), rolling a key with an overlap and without, revocation seen at once,
// last use recorded, and the admin API refusing every merchant key.
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';
import { allows, checkPermission, invalidPermissions, resourceOf } from '../gateway/permissions.ts';

t.test('permissions (pure)', async (t) => {
  // given a route URL, then its resource; a sub-collection names its own; unknown routes have none
  t.equal(resourceOf('/v1/payment_intents/:id/confirm'), 'payment_intents');
  t.equal(resourceOf('/v1/charges/:id/refunds'), 'refunds');
  t.equal(resourceOf('/stripe/intend'), 'payment_intents');
  t.equal(resourceOf('/v1/payouts'), null);
  // given permissions, then write includes read, read is not write, absent is none
  t.ok(allows({ charges: 'write' }, 'charges', 'read'));
  t.notOk(allows({ charges: 'read' }, 'charges', 'write'));
  t.notOk(allows({}, 'charges', 'read'));
  // when a restricted key calls a route its permissions do not name, then 403; an unknown route is closed
  t.throws(() => checkPermission({ charges: 'write' }, 'GET', '/v1/customers', 'rk_test_…', 'acct_1'), /required permissions/);
  t.throws(() => checkPermission({ charges: 'write' }, 'GET', '/v1/new_thing', 'rk_test_…', 'acct_1'), /required permissions/);
  t.doesNotThrow(() => checkPermission({ customers: 'read' }, 'GET', '/v1/customers/:id', 'rk_test_…', 'acct_1'));
  t.equal(invalidPermissions({ charges: 'read' }), null);
  t.match(invalidPermissions({ payouts: 'read' }), /unknown resource/);
  t.match(invalidPermissions([]), /must be an object/);
});

type Onboarded = Awaited<ReturnType<Awaited<ReturnType<typeof startStack>>['onboard']>> & { live_secret_key: string; live_publishable_key: string };

const fails = <T>(p: Promise<T>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

t.test('restricted keys, rotation, revocation, last use, admin-only', async (t) => {
  const stack = await startStack(t);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const admin = async (method: string, path: string, body?: unknown, token = stack.adminToken) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const m = (await stack.onboard()) as Onboarded;

  t.test('a restricted key does only what its permissions say', async (t) => {
    const created = await admin('POST', `/admin/merchants/${m.merchant_id}/keys`, { name: 'reporting', permissions: { payment_intents: 'write', customers: 'read' } });
    t.equal(created.status, 201);
    t.match(created.body.secret, /^rk_test_[A-Za-z0-9]{32}$/);
    t.same(created.body.permissions, { payment_intents: 'write', customers: 'read' });
    const rk = sdk(created.body.secret);
    const pi = await rk.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    t.equal(pi.status, 'succeeded', 'payment_intents write: create and confirm');
    t.equal((await rk.paymentIntents.retrieve(pi.id)).id, pi.id, 'write includes read');
    t.type((await rk.customers.list()).data, Array, 'customers read: list');

    const noWrite = await fails(rk.customers.create({ email: 'a@b.co' }));
    t.ok(noWrite instanceof Stripe.errors.StripePermissionError, 'customers read only: create is a StripePermissionError');
    t.equal(noWrite?.statusCode, 403);
    t.match(noWrite?.message, /does not have the required permissions.*rak_customer_write/);
    t.notMatch(noWrite?.message, new RegExp(created.body.secret), 'the key is shown redacted');

    for (const [what, call] of [
      ['charges', () => rk.charges.list()],
      ['refunds', () => rk.refunds.list()],
      ['events', () => rk.events.list()],
      ['webhook_endpoints', () => rk.webhookEndpoints.list()],
      ['payment_methods', () => rk.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } })],
    ] as const) {
      const e = await fails((call as () => Promise<unknown>)());
      t.equal(e?.statusCode, 403, `no ${what} permission → 403`);
    }
    // A charge's refunds are refunds: /v1/charges/:id/refunds needs refunds read.
    const raw = await fetch(`${stack.url}/v1/charges/${pi.latest_charge as string}/refunds`, { headers: { authorization: `Bearer ${created.body.secret}` } });
    t.equal(raw.status, 403);
    t.equal(((await raw.json()) as any).error.type, 'invalid_request_error');

    const bad = await admin('POST', `/admin/merchants/${m.merchant_id}/keys`, { permissions: { payouts: 'write' } });
    t.equal(bad.status, 400, 'unknown resource refused');
    const badAccess = await admin('POST', `/admin/merchants/${m.merchant_id}/keys`, { permissions: { charges: 'admin' } });
    t.equal(badAccess.status, 400, 'unknown access level refused');
    const liveRk = await admin('POST', `/admin/merchants/${m.merchant_id}/keys`, { mode: 'live', permissions: { payment_intents: 'read' } });
    t.match(liveRk.body.secret, /^rk_live_/);
    t.equal((await fails(sdk(liveRk.body.secret).paymentIntents.retrieve(pi.id)))?.statusCode, 404, 'a live restricted key does not see test objects');
  });

  t.test('rolling the secret key with an overlap: both work, then the old one expires', async (t) => {
    const old = sdk(m.secret_key);
    await old.paymentIntents.create({ amount: 100, currency: 'usd' });
    const rolled = await admin('POST', `/admin/merchants/${m.merchant_id}/keys/roll`, { mode: 'test', expires_in: 3 });
    t.equal(rolled.status, 201);
    t.match(rolled.body.secret, /^sk_test_/);
    t.not(rolled.body.secret, m.secret_key);
    t.equal(rolled.body.previous.length, 1);
    t.equal(rolled.body.previous[0].status, 'active', 'the old key is still active during the overlap');
    const fresh = sdk(rolled.body.secret);
    t.ok((await fresh.paymentIntents.create({ amount: 200, currency: 'usd' })).id, 'the new key works at once');
    t.ok((await old.paymentIntents.create({ amount: 300, currency: 'usd' })).id, 'the old key still works during the overlap');
    const e = await eventually(async () => {
      const err = await fails(old.paymentIntents.list());
      return err?.statusCode === 401 ? err : null;
    }, 15_000, 200);
    t.ok(e instanceof Stripe.errors.StripeAuthenticationError);
    t.equal(e.code, 'api_key_expired', 'after the overlap the old key is expired');
    t.ok((await fresh.paymentIntents.list()).data.length >= 2, 'the new key sees the objects the old one made');

    // No overlap: the old key stops now.
    const again = await admin('POST', `/admin/merchants/${m.merchant_id}/keys/roll`, { mode: 'test' });
    t.equal(again.status, 201);
    t.equal(again.body.previous[0].status, 'revoked');
    t.equal((await fails(fresh.paymentIntents.list()))?.statusCode, 401, 'rolled without overlap: the old key is refused at once');
    t.ok((await sdk(again.body.secret).paymentIntents.list()).object);
    m.secret_key = again.body.secret;
  });

  t.test('revocation and last use', async (t) => {
    const created = await admin('POST', `/admin/merchants/${m.merchant_id}/keys`, { permissions: { payment_intents: 'read' } });
    const rk = sdk(created.body.secret);
    await rk.paymentIntents.list();
    const listed = await eventually(async () => {
      const l = await admin('GET', `/admin/merchants/${m.merchant_id}/keys`);
      const k = l.body.data.find((x: any) => x.id === created.body.id);
      return k?.last_used ? l : null;
    });
    const k = listed.body.data.find((x: any) => x.id === created.body.id);
    t.ok(Math.abs(k.last_used - Date.now() / 1000) < 60, 'last use recorded');
    t.notOk(JSON.stringify(listed.body).includes(created.body.secret), 'the list never shows a key');
    t.notOk(JSON.stringify(listed.body).includes('hash'), 'nor its hash');
    t.ok(listed.body.data.some((x: any) => x.type === 'publishable'), 'onboarding keys are listed');

    const del = await admin('DELETE', `/admin/merchants/${m.merchant_id}/keys/${created.body.id}`);
    t.equal(del.status, 200);
    t.equal(del.body.status, 'revoked');
    const e = await fails(rk.paymentIntents.list());
    t.equal(e?.statusCode, 401, 'a revoked key is refused at once (the cache is dropped)');
    t.equal(e?.code, 'api_key_invalid');
    t.equal((await admin('DELETE', `/admin/merchants/${m.merchant_id}/keys/key_nope`)).status, 404);
  });

  // Last: it blocks 127.0.0.1 for a moment.
  t.test('a flood of made-up keys from one address is throttled (429) before any lookup', async (t) => {
    let unauthorized = 0;
    let throttled: Response | null = null;
    for (let i = 0; i < 80 && !throttled; i++) {
      const r = await fetch(`${stack.url}/v1/payment_intents`, { headers: { authorization: `Bearer sk_test_${'x'.repeat(20)}${i}` } });
      if (r.status === 401) unauthorized++;
      if (r.status === 429) throttled = r;
      else await r.arrayBuffer();
    }
    t.ok(unauthorized >= 40, `${unauthorized} refused as 401 first`);
    t.ok(throttled, 'then 429');
    t.equal(((await throttled!.json()) as any).error.type, 'rate_limit_error');
    const wait = Number(throttled!.headers.get('retry-after'));
    t.ok(wait >= 1);
    await new Promise((r) => setTimeout(r, wait * 1000 + 200));
    t.ok((await sdk(m.secret_key).paymentIntents.list()).object, 'after Retry-After a good key works again');
  });

  t.test('a Stripe-Account header naming another account is refused (no Connect platforms here)', async (t) => {
    const other = (await stack.onboard({ name: 'Connected?' })) as Onboarded;
    const e = await sdk(m.secret_key)
      .customers.create({ email: 'x@example.com' }, { stripeAccount: other.merchant_id })
      .then(() => null, (err: Stripe.errors.StripeError) => err);
    t.match(e, { statusCode: 400, type: 'StripeInvalidRequestError', code: 'platform_account_required' });
    t.equal((await sdk(other.secret_key).customers.list({ email: 'x@example.com' })).data.length, 0, 'nothing was made on the other account');
    t.equal((await sdk(m.secret_key).customers.list({ email: 'x@example.com' })).data.length, 0, 'nor on the caller\'s');
    const own = await sdk(m.secret_key).customers.create({ email: 'own@example.com' }, { stripeAccount: m.merchant_id });
    t.match(own, { object: 'customer', email: 'own@example.com' }, 'naming its own account is fine');
  });

  t.test('admin actions never accept a merchant key', async (t) => {
    const other = (await stack.onboard({ name: 'Other' })) as Onboarded;
    const rk = (await admin('POST', `/admin/merchants/${other.merchant_id}/keys`, { permissions: { payment_intents: 'write', customers: 'write', charges: 'write', refunds: 'write', payment_methods: 'write', events: 'write', webhook_endpoints: 'write' } })).body.secret as string;
    const merchantKeys = [other.secret_key, other.publishable_key, other.live_secret_key, other.live_publishable_key, rk];
    const routes: [string, string, unknown?][] = [
      ['POST', '/admin/merchants', { name: 'x', address: 'y', gst_id: 'z' }],
      ['GET', `/admin/merchants/${other.merchant_id}`],
      ['GET', `/admin/merchants/${other.merchant_id}/keys`],
      ['POST', `/admin/merchants/${other.merchant_id}/keys`, { permissions: { charges: 'write' } }],
      ['POST', `/admin/merchants/${other.merchant_id}/keys/roll`, { mode: 'test' }],
      ['DELETE', `/admin/merchants/${other.merchant_id}/keys/key_x`],
      ['GET', `/admin/merchants/${other.merchant_id}/security`],
      ['POST', `/admin/merchants/${other.merchant_id}/security`, { pci_validated: true }],
      ['POST', '/admin/encryption_keys/rotate'],
    ];
    for (const [method, path, body] of routes) {
      for (const key of merchantKeys) {
        for (const auth of [`Bearer ${key}`, `Basic ${Buffer.from(`${key}:`).toString('base64')}`]) {
          const res = await fetch(`${stack.url}${path}`, { method, headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
          if (res.status !== 401) t.fail(`${method} ${path} with ${key.slice(0, 8)}… → ${res.status}`);
        }
      }
    }
    t.pass('every admin route refused every merchant key');
    const s = await admin('GET', `/admin/merchants/${other.merchant_id}/security`);
    t.equal(s.body.pci_validated, false, 'nothing changed');
    t.ok((await sdk(other.secret_key).paymentIntents.list()).object, "the merchant's secret key was not rolled");
  });
});
