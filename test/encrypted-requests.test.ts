// Encrypted requests: the merchant side uses the official `jose` library only (fetch our JWKS,
// CompactEncrypt with RSA-OAEP-256 + A256GCM), the gateway opens it; key ids and rotation (a
// retired key keeps working until removed); plain card numbers refused server-side in live mode
// unless the merchant is PCI-validated; the private keys are sealed at rest.
import t from 'tap';
import Stripe from 'stripe';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { startStack } from './helpers/stack.ts';

type Onboarded = Awaited<ReturnType<Awaited<ReturnType<typeof startStack>>['onboard']>> & { live_secret_key: string; live_publishable_key: string };

const CARD = { type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } };

t.test('JWE round trip, key rotation, the raw-card rule', async (t) => {
  const stack = await startStack(t);
  const m = (await stack.onboard()) as Onboarded;
  const admin = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${stack.url}${p}`, { method, headers: { authorization: `Bearer ${stack.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: r.status, body: (await r.json()) as any };
  };
  const jwks = async () => (await (await fetch(`${stack.url}/v1/encryption_keys`)).json()) as { keys: JWK[] };

  /** The merchant's side: encrypt a JSON body to our first (active) key with jose. */
  async function encrypt(body: unknown, jwk?: JWK, opts: { cty?: string; raw?: string } = {}): Promise<string> {
    const k = jwk ?? (await jwks()).keys[0]!;
    const pub = await importJWK(k, 'RSA-OAEP-256');
    return new CompactEncrypt(new TextEncoder().encode(opts.raw ?? JSON.stringify(body)))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: k.kid!, ...(opts.cty ? { cty: opts.cty } : {}) })
      .encrypt(pub);
  }
  const post = async (key: string, path: string, body: string, type: string) => {
    const r = await fetch(`${stack.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': type }, body });
    return { status: r.status, body: (await r.json()) as any };
  };

  const first = await jwks();
  t.equal(first.keys.length, 1);
  const k0 = first.keys[0]!;
  t.match(k0, { kty: 'RSA', alg: 'RSA-OAEP-256', use: 'enc', kid: /^ek_/ });
  t.notOk('d' in k0 || 'p' in k0 || 'q' in k0, 'the JWKS holds public keys only');
  t.same((await (await fetch(`${stack.url}/.well-known/jwks.json`)).json()), first, 'also at /.well-known/jwks.json');

  t.test('plain card data server-side: refused in live mode, unless PCI-validated', async (t) => {
    const live = await post(m.live_secret_key, '/v1/payment_methods', JSON.stringify(CARD), 'application/json');
    t.equal(live.status, 403);
    t.equal(live.body.error.code, 'unencrypted_card_data');
    const sdkErr = await new Stripe(m.live_secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 }).paymentMethods.create(CARD as Stripe.PaymentMethodCreateParams).catch((e: Stripe.errors.StripeError) => e);
    t.ok(sdkErr instanceof Stripe.errors.StripePermissionError, 'the SDK sees a permission error');
    t.equal((await post(m.secret_key, '/v1/payment_methods', JSON.stringify(CARD), 'application/json')).status, 200, 'test mode accepts it (test cards)');
    t.equal((await post(m.live_publishable_key, '/v1/payment_methods', JSON.stringify(CARD), 'application/json')).status, 200, "the browser's publishable key tokenizes as Stripe.js does");
    t.equal((await admin('POST', `/admin/merchants/${m.merchant_id}/security`, { pci_validated: true })).status, 200);
    t.equal((await post(m.live_secret_key, '/v1/payment_methods', JSON.stringify(CARD), 'application/json')).status, 200, 'a PCI-validated merchant may');
    await admin('POST', `/admin/merchants/${m.merchant_id}/security`, { pci_validated: false });
    t.equal((await post(m.live_secret_key, '/v1/payment_methods', JSON.stringify(CARD), 'application/json')).status, 403, 'and the flag can be taken back');
  });

  t.test('a JWE body made with jose is accepted in live mode', async (t) => {
    const res = await post(m.live_secret_key, '/v1/payment_methods', await encrypt(CARD), 'application/jose');
    t.equal(res.status, 200, JSON.stringify(res.body));
    t.match(res.body, { object: 'payment_method', livemode: true, card: { last4: '4242', brand: 'visa' } });
    t.notOk(JSON.stringify(res.body).includes('4242424242424242'));
    // A form body inside the JWE (cty says so).
    const form = await post(m.live_secret_key, '/v1/payment_methods', await encrypt(null, undefined, { cty: 'application/x-www-form-urlencoded', raw: 'type=card&card[number]=5555555555554444&card[exp_month]=1&card[exp_year]=2041&card[cvc]=321' }), 'application/jose');
    t.equal(form.status, 200);
    t.equal(form.body.card.brand, 'mastercard');
    // The validation still applies to what was inside.
    const bad = await post(m.live_secret_key, '/v1/payment_methods', await encrypt({ ...CARD, surprise: 1 }), 'application/jose');
    t.equal(bad.status, 400);
    t.equal(bad.body.error.code, 'parameter_unknown');
  });

  t.test('tampered, wrong-algorithm and unknown-key bodies are refused (400, never 5xx)', async (t) => {
    const good = await encrypt(CARD);
    const parts = good.split('.');
    parts[3] = parts[3]!.slice(0, -4) + (parts[3]!.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const tampered = await post(m.live_secret_key, '/v1/payment_methods', parts.join('.'), 'application/jose');
    t.equal(tampered.status, 400);
    t.equal(tampered.body.error.code, 'encrypted_body_invalid');
    t.equal((await post(m.live_secret_key, '/v1/payment_methods', 'not.a.jwe', 'application/jose')).status, 400);
    const unknownKid = await encrypt(CARD, { ...k0, kid: 'ek_nope' });
    const r = await post(m.live_secret_key, '/v1/payment_methods', unknownKid, 'application/jose');
    t.equal(r.status, 400);
    t.match(r.body.error.message, /Unknown encryption key/);
    // alg=dir / RSA1_5 are not ours to accept.
    const pub = await importJWK(k0, 'RSA-OAEP');
    const oaep1 = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(CARD))).setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: k0.kid! }).encrypt(pub);
    t.equal((await post(m.live_secret_key, '/v1/payment_methods', oaep1, 'application/jose')).status, 400, 'RSA-OAEP (SHA-1) refused');
  });

  t.test('rotation: a new active key; the retired one works until removed', async (t) => {
    const rot = await admin('POST', '/admin/encryption_keys/rotate');
    t.equal(rot.status, 200);
    t.equal(rot.body.retired, k0.kid);
    const after = (await jwks()).keys;
    t.equal(after[0]!.kid, rot.body.active, 'the new key is listed first');
    t.ok(after.some((k) => k.kid === k0.kid), 'the retired key is still published');
    t.equal((await post(m.live_secret_key, '/v1/payment_methods', await encrypt(CARD, after[0]), 'application/jose')).status, 200, 'new key works');
    t.equal((await post(m.live_secret_key, '/v1/payment_methods', await encrypt(CARD, k0), 'application/jose')).status, 200, 'retired key still works');
    t.equal((await admin('DELETE', `/admin/encryption_keys/${rot.body.active}`)).status, 404, 'the active key cannot be removed');
    t.equal((await admin('DELETE', `/admin/encryption_keys/${k0.kid}`)).status, 200);
    // The JWKS cache is per process: this one dropped it on removal.
    t.notOk((await jwks()).keys.some((k) => k.kid === k0.kid), 'the removed key is no longer published');
    const r = await post(m.live_secret_key, '/v1/payment_methods', await encrypt(CARD, k0), 'application/jose');
    t.equal(r.status, 400, 'a removed key no longer decrypts');
  });

  t.test('private keys are sealed at rest', async (t) => {
    const nc = await connect({ servers: stack.nats.url });
    t.teardown(() => nc.close());
    const kv = await new Kvm(nc).open('pay_security');
    let seen = 0;
    for await (const k of await kv.keys('jwe.*')) {
      const e = await kv.get(k);
      const s = e!.string();
      t.notMatch(s, /"d"\s*:/, `${k}: no private exponent in clear`);
      t.match(JSON.parse(s), { private_sealed: String });
      seen++;
    }
    t.ok(seen >= 1);
  });
});
