// Checkout in a real browser (Debian's Chromium through playwright-core): the demo store's Buy Now,
// our card element (checkout.js + the card frame), declines, 3-D Secure, and the guarantees around
// them: the card number never reaches the merchant's page, network traffic or server; the frame's
// CSP/frame-ancestors keep other sites out; postMessage from a wrong origin is ignored.
// Screenshots of every final screen go to test-output/checkout/.
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import pino from 'pino';
import Stripe from 'stripe';
import { chromium, type BrowserContext, type Page, type Request } from 'playwright-core';
import { ensureChromium } from '../scripts/chromium.mjs';
import { startStore, type RunningStore } from '../store/app.ts';
import { eventually, startStack } from './helpers/stack.ts';

t.setTimeout(900_000);

const OUT = path.resolve('test-output/checkout');
const FIXTURES = path.resolve('test/fixtures/checkout');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // shop.test (an origin on the merchant's record) and evil.test (not) are this machine.
  '--host-resolver-rules=MAP shop.test 127.0.0.1, MAP evil.test 127.0.0.1',
];
const GOOD = '4242424242424242';
const DECLINED = '4000000000000002';
const THREE_DS_OK = '4000002760003184';
const THREE_DS_FAIL = '4000000000003220';
const PANS = [GOOD, DECLINED, THREE_DS_OK, THREE_DS_FAIL, '4242424242424241'];
const spaced = (pan: string) => pan.replace(/(\d{4})(?=\d)/g, '$1 ');
const containsPan = (s: string) => PANS.some((p) => s.includes(p) || s.includes(spaced(p)));

/** Serves the fixture pages (a merchant page, an attacker frame, a framer) on every host name. */
async function startHarness(tt: Test) {
  const state = { gateway: '' };
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'application/javascript; charset=utf-8' };
  const server = http.createServer((req, res) => {
    const name = path.basename(new URL(req.url ?? '/', 'http://x').pathname);
    const ext = path.extname(name);
    if (!/^[a-z]+\.(html|js)$/.test(name)) return res.writeHead(404).end();
    let body: string;
    try {
      body = readFileSync(path.join(FIXTURES, name), 'utf8');
    } catch {
      return res.writeHead(404).end();
    }
    res.writeHead(200, { 'content-type': types[ext]!, 'cache-control': 'no-store' }).end(body.replaceAll('__GATEWAY__', state.gateway));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tt.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { state, port: (server.address() as { port: number }).port };
}

function sink(into: string[]) {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) into.push(line);
      cb();
    },
  });
}

t.test('checkout in a real browser', async (t) => {
  const executablePath = ensureChromium((s) => t.comment(s));
  if (!executablePath) throw new Error('Chromium is not installed and could not be installed (apt-get install -y chromium)');
  await fs.mkdir(OUT, { recursive: true });

  const harness = await startHarness(t);
  const stack = await startStack(t);
  harness.state.gateway = stack.url;
  const gatewayOrigin = new URL(stack.url).origin;
  const shopOrigin = `http://shop.test:${harness.port}`;
  const evilOrigin = `http://evil.test:${harness.port}`;
  // Right after start the partitions may still be being claimed: onboarding says so with a retryable error.
  const m = (await eventually(() => stack.onboard({ allowed_origins: [shopOrigin] }).catch(() => null), 60_000, 500)) as Awaited<ReturnType<typeof stack.onboard>> & { live_publishable_key: string };
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });

  const storeLogs: string[] = [];
  const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-store-'));
  const store: RunningStore = await startStore({
    gatewayUrl: stack.url,
    secretKey: m.secret_key,
    publishableKey: m.publishable_key,
    dir: storeDir,
    host: '127.0.0.1',
    port: 0,
    log: pino({ level: 'debug' }, sink(storeLogs)),
  });
  t.teardown(async () => {
    await store.close();
    await fs.rm(storeDir, { recursive: true, force: true });
  });

  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ARGS,
    viewport: { width: 900, height: 760 },
  });
  t.teardown(async () => {
    await context.close();
    await fs.rm(userDataDir, { recursive: true, force: true });
  });
  context.setDefaultTimeout(30_000);

  // Everything the browser sends, and every message the top-level page receives.
  const requests: Request[] = [];
  context.on('request', (r) => requests.push(r));
  const topMessages: string[] = [];
  await context.exposeBinding('__recordMessage', (_source, data: string) => {
    topMessages.push(data);
  });
  await context.addInitScript(() => {
    if (window.top !== window) return;
    const record = (window as unknown as { __recordMessage(s: string): void }).__recordMessage;
    window.addEventListener('message', (e) => {
      try {
        void record(JSON.stringify(e.data));
      } catch {
        void record(String(e.data));
      }
    }, true);
  });

  const cardFrame = (page: Page) => page.frameLocator('#card-element iframe');

  async function typeCard(page: Page, pan: string, exp = '1234', cvc = '123') {
    const f = cardFrame(page);
    await f.locator('#number').fill('');
    await f.locator('#number').pressSequentially(pan);
    await f.locator('#exp').fill('');
    await f.locator('#exp').pressSequentially(exp);
    await f.locator('#cvc').fill('');
    await f.locator('#cvc').pressSequentially(cvc);
  }

  async function buy(page: Page): Promise<string> {
    await page.goto(store.url);
    await page.locator('#sku_mug button.buy').click();
    await page.waitForURL(/\/checkout\/ord_[0-9a-f]+$/);
    await page.locator('#pay:not([disabled])').waitFor();
    return page.url().split('/checkout/')[1]!;
  }

  const order = (id: string) => store.db.db.selectFrom('store_orders').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  async function paid(t: Test, page: Page, id: string, shot: string) {
    await page.waitForURL(new RegExp(`/orders/${id}$`));
    await page.locator('#result', { hasText: 'Payment successful' }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(OUT, `${shot}.png`) });
    const o = await order(id);
    t.equal(o.status, 'paid', 'the order is paid in the store database');
    t.match(o.paid_event_id, /^evt_/, 'marked paid by a signed webhook event');
    const pi = await stripe.paymentIntents.retrieve(o.payment_intent_id!);
    t.equal(pi.status, 'succeeded');
    t.equal(pi.metadata.order_id, id);
  }

  /** The merchant's page (top frame): no card number in its DOM, storage, inputs or received messages. */
  async function parentIsClean(t: Test, page: Page) {
    const html = await page.content();
    t.notOk(containsPan(html), 'no card number in the merchant page DOM');
    const state = await page.evaluate(() => {
      let frameDoc: unknown = null;
      try {
        const f = document.querySelector('#card-element iframe') as HTMLIFrameElement | null;
        frameDoc = f ? f.contentDocument : null;
      } catch {
        frameDoc = null;
      }
      return {
        storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
        cookie: document.cookie,
        inputs: Array.from(document.querySelectorAll('input')).map((i) => i.value),
        frameDocReadable: frameDoc !== null,
        text: document.body.innerText,
      };
    });
    const seen = topMessages.slice();
    t.notOk(state.frameDocReadable, 'the page cannot read the card frame');
    t.ok(seen.length > 0, 'the page did hear from the card frame');
    t.notOk(containsPan(JSON.stringify(state)), 'no card number in storage, cookies, inputs or text the page can see');
    t.notOk(containsPan(seen.join('\n')), 'nor in any message a merchant page received');
  }

  t.test('the library and the frame carry their security headers', async (t) => {
    const lib = await fetch(`${stack.url}/js/v1/checkout.js`);
    t.equal(lib.status, 200);
    t.match(lib.headers.get('content-type'), /^application\/javascript/);
    t.match(lib.headers.get('content-security-policy'), /default-src 'none'/);
    t.equal(lib.headers.get('x-content-type-options'), 'nosniff');
    const libText = await lib.text();
    t.notMatch(libText, /https?:\/\/(?!shop|x\b)[a-z]/i, 'the library loads nothing from third parties');

    const frameUrl = (key: string, origin: string) => `${stack.url}/checkout/v1/card-frame.html?key=${encodeURIComponent(key)}&origin=${encodeURIComponent(origin)}`;
    const ok = await fetch(frameUrl(m.publishable_key, shopOrigin));
    t.equal(ok.status, 200);
    const csp = ok.headers.get('content-security-policy') ?? '';
    t.match(csp, new RegExp(`frame-ancestors [^;]*${shopOrigin.replace(/\./g, '\\.')}`), 'frame-ancestors names the merchant origin');
    t.match(csp, /frame-ancestors [^;]*http:\/\/127\.0\.0\.1:\*/, 'and loopback, in test mode');
    t.match(csp, /script-src 'self'(;|$)/, 'only our own scripts');
    t.notMatch(csp, /unsafe-inline|unsafe-eval|\*\.|https?:\/\/\*/, 'no unsafe sources');
    const html = await ok.text();
    t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    t.notMatch(html, /\bstyle=|<style/, 'no inline style');
    t.notMatch(html, /(src|href)="(?!\/)/, 'every resource from our own origin');
    t.notMatch(html, /pk_|sk_|secret/, 'no key or secret in the page');

    const evil = await fetch(frameUrl(m.publishable_key, evilOrigin));
    t.equal(evil.status, 403, 'an origin not on the merchant record gets no card frame');
    t.match(evil.headers.get('content-security-policy'), /frame-ancestors 'none'/);
    const sk = await fetch(frameUrl(m.secret_key, shopOrigin));
    t.equal(sk.status, 400, 'a secret key is refused');
    t.notMatch(await sk.text(), m.secret_key, 'and not echoed');
    const live = await fetch(frameUrl(m.live_publishable_key, 'http://127.0.0.1:3000'));
    t.equal(live.status, 403, 'live mode does not allow loopback');
    const liveShop = await fetch(frameUrl(m.live_publishable_key, shopOrigin));
    t.equal(liveShop.status, 200);
    t.match(liveShop.headers.get('content-security-policy'), new RegExp(`frame-ancestors ${shopOrigin.replace(/\./g, '\\.')}(;|$)`), 'live: exactly the merchant origins');
    const ret = await fetch(`${stack.url}/checkout/v1/3ds-return.html?key=${m.publishable_key}&origin=${encodeURIComponent(shopOrigin)}&payment_intent=pi_x&redirect_status=succeeded`);
    t.equal(ret.status, 200);
    t.match(ret.headers.get('content-security-policy'), new RegExp(`frame-ancestors 'self' ${shopOrigin.replace(/\./g, '\\.')}`), 'the 3DS return page: inside our frame inside the merchant page');
    t.equal((await fetch(`${stack.url}/checkout/v1/3ds-return.html?key=${m.publishable_key}&origin=${encodeURIComponent(evilOrigin)}`)).status, 403);
  });

  t.test('a publishable key cannot do secret-key things', async (t) => {
    const pk = new Stripe(m.publishable_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
    const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd' });
    const refusals: Array<[string, () => Promise<unknown>]> = [
      ['create an intent', () => pk.paymentIntents.create({ amount: 100, currency: 'usd' })],
      ['list intents', () => pk.paymentIntents.list()],
      ['update an intent', () => pk.paymentIntents.update(pi.id, { amount: 1 })],
      ['capture', () => pk.paymentIntents.capture(pi.id)],
      ['cancel', () => pk.paymentIntents.cancel(pi.id)],
      ['list charges', () => pk.charges.list()],
      ['refund', () => pk.refunds.create({ payment_intent: pi.id })],
      ['list webhook endpoints', () => pk.webhookEndpoints.list()],
      ['create a webhook endpoint', () => pk.webhookEndpoints.create({ url: 'https://x.example/h', enabled_events: ['*'] })],
      ['list events', () => pk.events.list()],
      ['create a customer', () => pk.customers.create({ email: 'a@b.co' })],
    ];
    for (const [what, call] of refusals) {
      const err = (await call().then(() => null, (e: unknown) => e)) as Stripe.errors.StripeError | null;
      t.equal(err?.statusCode, 401, `cannot ${what}`);
    }
    const noSecret = (await pk.paymentIntents.retrieve(pi.id).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    t.equal(noSecret.statusCode, 400, 'reading an intent needs its client secret');
    const wrong = (await pk.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa', client_secret: `${pi.id}_secret_wrong` } as Stripe.PaymentIntentConfirmParams).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    t.equal(wrong.statusCode, 400, 'confirming needs the right client secret');
    const read = await pk.paymentIntents.retrieve(pi.id, { client_secret: pi.client_secret! } as Stripe.PaymentIntentRetrieveParams);
    t.equal(read.status, 'requires_payment_method', 'with it, the intent can be read');
  });

  t.test('Buy Now, type the card, Payment successful after the webhook', async (t) => {
    const page = await context.newPage();
    const id = await buy(page);
    t.equal((await order(id)).status, 'pending', 'the store recorded the order with its intent');
    const storeCsp = (await fetch(`${store.url}/checkout/${id}`)).headers.get('content-security-policy') ?? '';
    t.match(storeCsp, new RegExp(`script-src 'self' ${gatewayOrigin.replace(/\./g, '\\.')}(;|$)`), "the store's page runs only its own and our scripts");
    t.match(storeCsp, new RegExp(`frame-src ${gatewayOrigin.replace(/\./g, '\\.')}(;|$)`), 'and frames only our card frame');
    t.notMatch(storeCsp, /unsafe/);
    t.match((await order(id)).payment_intent_id, /^pi_/);
    // Validation as the shopper types, inside the frame; the page only hears the sentence.
    const f = cardFrame(page);
    await f.locator('#number').pressSequentially('4242424242424241');
    await f.locator('#message', { hasText: 'Your card number is invalid.' }).waitFor();
    await page.locator('#card-errors', { hasText: 'Your card number is invalid.' }).waitFor();
    t.equal(await f.locator('#brand').textContent(), 'visa', 'brand detected');
    await f.locator('#number').fill('');
    await f.locator('#number').pressSequentially('3782');
    t.equal(await f.locator('#brand').textContent(), 'amex');
    await f.locator('#exp').pressSequentially('0120');
    await f.locator('#message', { hasText: 'in the past' }).waitFor();
    await typeCard(page, GOOD);
    t.equal(await f.locator('#number').inputValue(), '4242 4242 4242 4242', 'formatted as typed');
    t.equal(await page.locator('#card-errors').textContent(), '', 'no error once valid');
    await page.screenshot({ path: path.join(OUT, 'checkout.png') });
    await parentIsClean(t, page);
    await page.locator('#pay').click();
    await paid(t, page, id, 'paid');
    await parentIsClean(t, page);
    await page.close();
  });

  t.test('a decline shows the network message; a retry with a good card pays', async (t) => {
    const page = await context.newPage();
    const id = await buy(page);
    await typeCard(page, DECLINED);
    await page.locator('#pay').click();
    await page.locator('#card-errors', { hasText: 'Your card was declined.' }).waitFor();
    await page.screenshot({ path: path.join(OUT, 'declined.png') });
    t.equal(await page.locator('#pay').isDisabled(), false, 'the shopper may try again');
    t.equal((await order(id)).status, 'pending');
    await eventually(async () => (await order(id)).last_error === 'Your card was declined.', 30_000, 200);
    t.pass('the store heard payment_intent.payment_failed');
    await typeCard(page, GOOD);
    await page.locator('#pay').click();
    await paid(t, page, id, 'declined-then-paid');
    const pi = await stripe.paymentIntents.retrieve((await order(id)).payment_intent_id!);
    // Charges are listed from the projection (eventually consistent).
    const charges = await eventually(async () => {
      const l = await stripe.charges.list({ payment_intent: pi.id });
      return l.data.length >= 2 && l;
    }, 30_000, 200);
    t.same(charges.data.map((c) => c.status).sort(), ['failed', 'succeeded'], 'two attempts on the one intent: declined, then paid');
    await page.close();
  });

  t.test('3-D Secure completed in the modal', async (t) => {
    const page = await context.newPage();
    const id = await buy(page);
    await typeCard(page, THREE_DS_OK);
    await page.locator('#pay').click();
    await page.locator('[data-paynats-modal]').waitFor();
    const challenge = cardFrame(page).frameLocator('#challenge-frame');
    await challenge.locator('#complete').waitFor();
    await page.screenshot({ path: path.join(OUT, '3ds-challenge.png') });
    await challenge.locator('#complete').click();
    await paid(t, page, id, '3ds-complete');
    t.equal(await page.locator('[data-paynats-modal]').count(), 0, 'the modal is gone');
    await page.close();
  });

  t.test('3-D Secure failed: the message, then a retry', async (t) => {
    const page = await context.newPage();
    const id = await buy(page);
    await typeCard(page, THREE_DS_FAIL);
    await page.locator('#pay').click();
    const challenge = cardFrame(page).frameLocator('#challenge-frame');
    await challenge.locator('#fail').click();
    await page.locator('#card-errors', { hasText: 'failed authentication' }).waitFor();
    await page.locator('[data-paynats-modal]').waitFor({ state: 'detached' });
    await page.screenshot({ path: path.join(OUT, '3ds-failed.png') });
    t.equal((await order(id)).status, 'pending', 'not paid');
    const pi = await stripe.paymentIntents.retrieve((await order(id)).payment_intent_id!);
    t.equal(pi.status, 'requires_payment_method');
    t.equal(pi.last_payment_error?.code, 'payment_intent_authentication_failure');
    await typeCard(page, GOOD);
    await page.locator('#pay').click();
    await paid(t, page, id, '3ds-failed-then-paid');
    await page.close();
  });

  t.test('a disallowed parent origin cannot embed the card frame', async (t) => {
    // A page on the merchant's configured origin works (not loopback: the merchant record's origin).
    const good = await context.newPage();
    await good.goto(`${shopOrigin}/merchant.html?pk=${m.publishable_key}`);
    await good.locator('#state', { hasText: 'ready' }).waitFor();
    t.pass('shop.test (on the merchant record) mounts the card element');
    await good.close();

    // checkout.js on evil.test: the gateway refuses the frame for that origin.
    const viaLib = await context.newPage();
    const refused = viaLib.waitForResponse((r) => r.url().includes('/checkout/v1/card-frame.html'));
    await viaLib.goto(`${evilOrigin}/merchant.html?pk=${m.publishable_key}`);
    t.equal((await refused).status(), 403, 'the gateway refused the frame for evil.test');
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(await cardFrame(viaLib).locator('#number').count(), 0, 'no card fields');
    t.equal(await viaLib.locator('#state').textContent(), 'loading', 'never ready');
    await viaLib.screenshot({ path: path.join(OUT, 'blocked-origin.png') });
    await viaLib.close();

    // evil.test framing the frame directly and lying about its origin: the browser enforces frame-ancestors.
    const framer = await context.newPage();
    const blocked: string[] = [];
    framer.on('console', (msg) => {
      if (/frame-ancestors/.test(msg.text())) blocked.push(msg.text());
    });
    const direct = `${stack.url}/checkout/v1/card-frame.html?key=${m.publishable_key}&origin=${encodeURIComponent(shopOrigin)}`;
    await framer.goto(`${evilOrigin}/framer.html?frame=${encodeURIComponent(direct)}`);
    await eventually(async () => blocked.length > 0, 15_000, 100);
    t.match(blocked[0], /violates the following Content Security Policy directive: "frame-ancestors[^"]*". The request has been blocked/, 'Chromium refused to frame it (frame-ancestors)');
    t.equal(await framer.frameLocator('#direct').locator('#number').count(), 0, 'no card fields rendered');
    t.same(await framer.evaluate(() => (window as unknown as { __messages: unknown[] }).__messages), [], 'no message from a frame');
    await framer.close();
  });

  t.test('postMessage from a wrong origin is ignored both ways', async (t) => {
    const pi = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd' });
    const page = await context.newPage();
    await page.goto(`${shopOrigin}/merchant.html?pk=${m.publishable_key}&cs=${encodeURIComponent(pi.client_secret!)}&attacker=${encodeURIComponent(`${evilOrigin}/attacker.html`)}`);
    await page.locator('#state', { hasText: 'ready' }).waitFor();
    await typeCard(page, GOOD);
    const attacker = await eventually(async () => page.frames().find((f) => f.url().startsWith(`${evilOrigin}/attacker.html`)), 15_000, 100);
    await attacker.waitForLoadState();
    t.equal(await attacker.evaluate(() => (window as unknown as { __fire(): boolean }).__fire()), true, 'the attacker frame sent its messages');
    await new Promise((r) => setTimeout(r, 2000));
    t.equal((await stripe.paymentIntents.retrieve(pi.id)).status, 'requires_payment_method', 'the card frame did not pay for another origin');
    const heard = await page.evaluate(() => {
      const w = window as unknown as { __events: Array<{ type: string; e?: { brand?: string } }>; __result?: unknown };
      return { events: w.__events, result: w.__result ?? null };
    });
    t.notOk(heard.events.some((e) => e.e?.brand === 'evil'), 'the library ignored a forged change event');
    t.equal(heard.result, null, 'and a forged result');
    // The real parent at the right origin still works.
    const r = await page.evaluate((cs) => (window as unknown as { __confirm(cs: string): Promise<{ paymentIntent?: { status: string }; error?: unknown }> }).__confirm(cs), pi.client_secret!);
    t.equal(r.paymentIntent?.status, 'succeeded', 'the page at the checked origin pays');
    t.notOk(containsPan(JSON.stringify(r)), 'the outcome carries no card number');
    await parentIsClean(t, page);
    await page.close();
  });

  t.test('the card number never left the card frame', async (t) => {
    const withPan = requests.filter((r) => containsPan(r.url() + (r.postData() ?? '')));
    t.ok(withPan.length >= 5, `the card frame sent card numbers (${withPan.length} requests)`);
    for (const r of withPan) {
      const u = new URL(r.url());
      t.equal(`${u.origin}${u.pathname}`, `${gatewayOrigin}/v1/payment_methods`, 'only to our tokenization endpoint');
      t.match(r.frame().url(), new RegExp(`^${gatewayOrigin.replace(/\./g, '\\.')}/checkout/v1/card-frame\\.html`), 'sent by the card frame');
    }
    const toMerchant = requests.filter((r) => new URL(r.url()).origin !== gatewayOrigin);
    t.ok(toMerchant.length > 10, 'the merchant pages made requests of their own');
    t.notOk(toMerchant.some((r) => containsPan(r.url() + (r.postData() ?? '') + JSON.stringify(r.headers()))), 'none of them carries a card number');
    t.notOk(containsPan(await store.db.dump()), 'no card number in the store database');
    t.ok(storeLogs.length > 10, 'the store logged');
    t.notOk(containsPan(storeLogs.join('\n')), 'no card number in the store logs');
    t.notOk(containsPan(stack.logs.join('\n')), 'nor in the gateway logs');
  });
});
