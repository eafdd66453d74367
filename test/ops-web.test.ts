// The ops web page in a real browser (Debian's Chromium through playwright-core): a stack, two
// payments (one declined), /ops opened, the admin token entered; the page must show the streams with
// their message counts, consumer lag, the failed payment and SVG charts drawn by our own script, under
// a CSP that lets only our script run. Without the token the data call answers 401 and the shell
// holds no data.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import Stripe from 'stripe';
import { chromium, type BrowserContext, type Request } from 'playwright-core';
import { ensureChromium } from '../scripts/chromium.mjs';
import { eventually, startStack } from './helpers/stack.ts';

t.setTimeout(600_000);

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUT = path.resolve('test-output/ops-web');

interface Summary {
  nats: { streams: { stream: string; messages: number }[]; consumers: { durable: string; pending: number }[] } | null;
  payments: { recent_failed: { charge: string; intent: string; decline_code: string | null }[]; attempts_by_status: Record<string, number> };
  webhooks: { deliveries_by_status: Record<string, number> };
  reconciliation: { stuck_attempts: unknown[]; open_discrepancies: unknown[] } | null;
}

t.test('the /ops page shows streams, lag, webhooks, reconciliation and failed payments', async (t) => {
  const executablePath = ensureChromium((s) => t.comment(s));
  if (!executablePath) throw new Error('Chromium is not installed (apt-get install -y chromium)');
  await fs.mkdir(OUT, { recursive: true });
  const stack = await startStack(t);
  const m = await eventually(() => stack.onboard().catch(() => null), 60_000, 500);
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 2 });
  const pk = new Stripe(m.publishable_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });

  // A merchant endpoint that never answers (nothing listens on port 1): its deliveries fail, then
  // dead-letter (WEBHOOK_BACKOFF_MS of the stack: 3 retries); the merchant then disables it.
  const broken = await stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:1/hooks', enabled_events: ['payment_intent.payment_failed'] });

  // One good payment, one decline.
  const good = await pk.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
  const ok = await stripe.paymentIntents.create({ amount: 2500, currency: 'inr', payment_method: good.id, confirm: true });
  t.equal(ok.status, 'succeeded');
  const bad = await pk.paymentMethods.create({ type: 'card', card: { number: '4000000000000002', exp_month: 12, exp_year: 2034, cvc: '123' } });
  const declinedIntent = await stripe.paymentIntents.create({ amount: 1300, currency: 'inr' });
  const err = await stripe.paymentIntents.confirm(declinedIntent.id, { payment_method: bad.id }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof Stripe.errors.StripeCardError, 'the decline raises StripeCardError');

  // Without the token (or with a wrong one) the data call is refused; the shell itself holds no data.
  const anon = await fetch(`${stack.url}/admin/ops/summary`);
  t.equal(anon.status, 401, 'summary without a token: 401');
  t.equal(((await anon.json()) as { error: { type: string } }).error.type, 'authentication_error');
  const wrong = await fetch(`${stack.url}/admin/ops/summary`, { headers: { authorization: 'Bearer adm_wrong' } });
  t.equal(wrong.status, 401, 'summary with a wrong token: 401');
  const shell = await fetch(`${stack.url}/ops/`);
  t.equal(shell.status, 200);
  const csp = shell.headers.get('content-security-policy') ?? '';
  t.match(csp, /script-src 'self'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval/);
  t.match(csp, /frame-ancestors 'none'/);
  const html = await shell.text();
  t.notMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script in the shell');
  t.notMatch(html, new RegExp(declinedIntent.id), 'the shell carries no data');
  t.notMatch(html, /https?:\/\//, 'no third-party resources');

  // The summary with the token, once the projection has caught up with both payments. Its counts are
  // separate reads, not one snapshot: a projector batch can land between the attempts count and the
  // failed list, so wait for both rather than infer one from the other.
  const auth = { authorization: `Bearer ${stack.adminToken}` };
  const summary = await eventually(async () => {
    const r = await fetch(`${stack.url}/admin/ops/summary`, { headers: auth });
    const s = (await r.json()) as Summary;
    return s.payments.recent_failed.some((f) => f.intent === declinedIntent.id) && (s.payments.attempts_by_status.succeeded ?? 0) >= 1 && s.nats ? s : null;
  }, 60_000, 500);
  t.ok(summary.nats!.streams.find((s) => s.stream === 'PAY_EVENTS')!.messages > 0, 'PAY_EVENTS has messages');
  t.ok(summary.nats!.consumers.length > 0, 'consumers listed');
  t.equal(summary.payments.recent_failed.find((f) => f.intent === declinedIntent.id)!.decline_code, 'generic_decline');
  t.ok((summary.payments.attempts_by_status.succeeded ?? 0) >= 1, 'a succeeded attempt is counted');
  t.ok(summary.reconciliation, 'reconciliation runs in this stack');
  // The broken endpoint's delivery ends in the dead-letter subject; then the merchant disables it.
  const dead = await eventually(async () => {
    const r = await fetch(`${stack.url}/admin/ops/summary`, { headers: auth });
    const s = (await r.json()) as Summary & { webhooks: { dead_letters: number; failing_endpoints: { endpoint: string; status: string | null }[] } };
    return s.webhooks.dead_letters >= 1 && (s.webhooks.deliveries_by_status.dead ?? 0) >= 1 && s.webhooks.failing_endpoints.some((e) => e.endpoint === broken.id) ? s : null;
  }, 60_000, 500);
  t.ok(dead.webhooks.dead_letters >= 1, 'the dead letter is counted');
  await stripe.webhookEndpoints.update(broken.id, { disabled: true });

  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: ARGS, viewport: { width: 1280, height: 1000 } });
  t.teardown(async () => {
    await context.close();
    await fs.rm(userDataDir, { recursive: true, force: true });
  });
  context.setDefaultTimeout(30_000);
  const requests: Request[] = [];
  context.on('request', (r) => requests.push(r));
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  const failures: { url: string; status: number }[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) failures.push({ url: new URL(r.url()).pathname, status: r.status() });
  });

  await page.goto(`${stack.url}/ops`);
  await page.locator('#token').waitFor({ state: 'visible' });
  t.equal(await page.locator('#main').isHidden(), true, 'nothing shown before the token');

  // A wrong token is refused and the form comes back.
  await page.fill('#token', 'adm_wrong');
  await page.click('#login button[type=submit]');
  await page.locator('#status', { hasText: 'refused' }).waitFor();
  t.equal(await page.evaluate(() => sessionStorage.getItem('paynats.ops.token')), null, 'a refused token is not kept');

  await page.fill('#token', stack.adminToken);
  await page.click('#login button[type=submit]');
  await page.locator('#main').waitFor({ state: 'visible' });
  await page.locator('#streams table').waitFor();

  const streamsText = await page.locator('#streams').innerText();
  t.match(streamsText, /PAY_EVENTS/);
  t.match(streamsText, /PAY_WEBHOOKS/);
  const eventsRow = await page.locator('#streams tr', { hasText: 'PAY_EVENTS' }).locator('td').allInnerTexts();
  t.ok(Number(eventsRow[1]!.replace(/[^\d]/g, '')) > 0, `PAY_EVENTS message count shown (${eventsRow[1]})`);

  const consumersText = await page.locator('#consumers').innerText();
  t.match(consumersText, /Pending \(lag\)/);
  for (const c of summary.nats!.consumers) t.match(consumersText, c.durable, `consumer ${c.durable} shown`);
  const lagBars = await page.locator('#consumers svg.chart rect.bar').count();
  t.equal(lagBars, summary.nats!.consumers.length, 'one lag bar per consumer');

  const payments = page.locator('#payments');
  await payments.locator('td', { hasText: declinedIntent.id }).waitFor();
  const failedRow = await payments.locator('tr', { hasText: declinedIntent.id }).innerText();
  t.match(failedRow, /generic_decline/, 'the failed payment with its decline code');
  t.match(failedRow, /13\.00 INR/);
  t.notMatch(await payments.innerText(), new RegExp(ok.id), 'the good payment is not among the failed');

  // Charts: SVG drawn by our script, bars carry the numbers they show.
  t.ok((await page.locator('svg.chart').count()) >= 3, 'charts rendered');
  const failedBar = await page.locator('#payments svg.chart rect[data-label="failed"]').getAttribute('data-value');
  t.ok(Number(failedBar) >= 1, `failed attempts bar (${failedBar})`);
  t.ok(Number(await page.locator('#payments svg.chart rect[data-label="failed"]').getAttribute('width')) > 0, 'the failed bar has a width');
  const webhooks = page.locator('#webhooks');
  t.match(await webhooks.innerText(), /Dead letters/);
  t.ok(Number(await page.locator('#dlq-depth').innerText()) >= 1, 'DLQ depth shown');
  const brokenRow = await webhooks.locator('tr', { hasText: broken.id }).innerText();
  t.match(brokenRow, /127\.0\.0\.1:1\/hooks/, 'the failing endpoint with its URL');
  t.match(brokenRow, /disabled/, 'and its status: disabled');
  t.ok(Number(await page.locator('#webhooks svg.chart rect[data-label="dead"]').getAttribute('data-value')) >= 1, 'dead deliveries bar');
  t.match(await page.locator('#reconciliation').innerText(), /Stuck attempts \(\d+\)/);
  t.match(await page.locator('#reconciliation').innerText(), /Open discrepancies \(\d+\)/);

  // Only our origin was contacted, the token went only to the summary, and nothing broke.
  const origin = new URL(stack.url).origin;
  t.same(requests.filter((r) => new URL(r.url()).origin !== origin).map((r) => r.url()), [], 'no third-party requests');
  const withToken = await Promise.all(requests.map(async (r) => ({ url: new URL(r.url()).pathname, auth: (await r.allHeaders()).authorization })));
  t.same([...new Set(withToken.filter((r) => r.auth).map((r) => r.url))], ['/admin/ops/summary'], 'the token is sent only to the summary');
  // The one expected failure is the wrong token's 401.
  t.same(problems.filter((p) => !/status of 401/.test(p)), [], 'no console errors or CSP violations');
  t.same(failures, [{ url: '/admin/ops/summary', status: 401 }], 'the only failed response is the wrong token');

  await page.screenshot({ path: path.join(OUT, 'ops.png'), fullPage: true });

  // Forget token: back to the form, nothing kept.
  await page.click('#signout');
  await page.locator('#token').waitFor({ state: 'visible' });
  t.equal(await page.evaluate(() => sessionStorage.getItem('paynats.ops.token')), null);
});
