// Transport: the gateway serves TLS from TLS_CERT_FILE/TLS_KEY_FILE (the stripe SDK talks to it
// unmodified) and sends HSTS over it; behind a TLS-terminating proxy (TRUST_PROXY) X-Forwarded-Proto
// counts only when the proxy is trusted. Configuration errors are clear.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { ConfigError, loadConfig } from '../config/config.ts';
import { startStack } from './helpers/stack.ts';

function request(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; ca: Buffer }): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: o.method ?? 'GET', headers: o.headers, ca: o.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

t.test('configuration', async (t) => {
  t.throws(() => loadConfig({ TLS_CERT_FILE: 'c.pem' }), ConfigError, 'a certificate without a key');
  t.throws(() => loadConfig({ TLS_KEY_FILE: 'k.pem' }), /TLS_CERT_FILE/);
  t.same(loadConfig({}).tls, undefined);
  t.equal(loadConfig({}).trustProxy, false);
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
  t.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1']);
  t.throws(() => loadConfig({ TRUST_PROXY: 'everyone' }), /TRUST_PROXY/);
});

t.test('TLS with the stripe SDK, and HSTS', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paynats-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const ca = await readFile(cert);
  const stack = await startStack(t, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
  t.match(stack.url, /^https:\/\//);
  const onboard = await request(`${stack.url}/admin/merchants`, {
    method: 'POST',
    ca,
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'TLS Store', address: '1 Test Road', gst_id: '29ABCDE1234F1Z5' }),
  });
  t.equal(onboard.status, 201);
  t.match(onboard.headers['strict-transport-security'], /max-age=\d+/, 'HSTS over TLS');
  const m = JSON.parse(onboard.body) as { secret_key: string };
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'https', httpAgent: new https.Agent({ ca }), maxNetworkRetries: 0 });
  const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
  t.equal(pi.status, 'succeeded', 'the SDK pays over TLS');
  await t.rejects(
    new Promise((resolve, reject) => https.get(`${stack.url}/healthz`, (r) => resolve(r.statusCode)).on('error', reject)),
    'an untrusted certificate is refused by a client (the server really is TLS)',
  );
});

t.test('behind a TLS-terminating proxy', async (t) => {
  const trusted = await startStack(t, { TRUST_PROXY: 'loopback' });
  const h = async (url: string, headers: Record<string, string> = {}) => (await fetch(`${url}/healthz`, { headers })).headers.get('strict-transport-security');
  t.match(await h(trusted.url, { 'x-forwarded-proto': 'https' }), /max-age/, 'a trusted proxy says https: HSTS');
  t.equal(await h(trusted.url), null, 'plain http: no HSTS');
  const untrusted = await startStack(t);
  t.equal(await h(untrusted.url, { 'x-forwarded-proto': 'https' }), null, 'X-Forwarded-Proto from an untrusted peer is ignored');
});
