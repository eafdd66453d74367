// PII (issue #11 item 7) against the real stack: names and emails never reach the logs; an erasure
// request (admin API, by email or customer) is a customer.erased event that nulls the customer's
// personal data and its intents' receipt_email in the read model and the stored events, while the
// amounts, currencies and statuses stay; and the retention job erases idle customers by itself.
import t from 'tap';
import pino from 'pino';
import { Writable } from 'node:stream';
import Stripe from 'stripe';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PII_REDACT } from '../gateway/pii.ts';
import { startStack, eventually } from './helpers/stack.ts';

t.setTimeout(300_000);
const exec = promisify(execFile);

const EMAIL = 'jenny.privacy@example.com';
const NAME = 'Jenny Privacyrosen';
const PHONE = '+15555550199';

t.test('the redact paths censor personal data and keep error names', async (t) => {
  const lines: string[] = [];
  const log = pino({ redact: PII_REDACT }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  log.info({ body: { email: EMAIL, name: NAME, phone: PHONE, amount: 2000, billing_details: { email: EMAIL, address: '1 Road' } }, state: { receipt_email: EMAIL }, err: { name: 'TypeError' } }, 'x');
  log.info({ email: EMAIL, customer: { name: NAME } }, 'y');
  const all = lines.join('');
  t.notOk(all.includes(EMAIL), 'no email');
  t.notOk(all.includes(NAME), 'no name');
  t.notOk(all.includes(PHONE), 'no phone');
  t.notOk(all.includes('1 Road'), 'no address');
  t.ok(all.includes('TypeError'), 'err.name is kept');
  t.ok(all.includes('2000'), 'amounts are kept');
});

t.test('erasure request end to end', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const admin = (path: string, body: unknown, auth = `Bearer ${stack.adminToken}`) =>
    fetch(`${stack.url}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const cus = await stripe.customers.create({ email: EMAIL, name: NAME, phone: PHONE, description: 'likes tea', metadata: { crm: '42' } });
  const bystander = await stripe.customers.create({ email: 'someone.else@example.com', name: 'Someone Else' });
  const newCard = (name: string, email: string) => stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' }, billing_details: { name, email, address: { line1: '1 Tea Lane', city: 'Leeds', postal_code: 'LS1 1AA', country: 'GB' } } });
  const savedCard = await stripe.paymentMethods.attach((await newCard(NAME, EMAIL)).id, { customer: cus.id });
  const bystanderCard = await stripe.paymentMethods.attach((await newCard('Someone Else', 'someone.else@example.com')).id, { customer: bystander.id });
  const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: cus.id, receipt_email: EMAIL, payment_method: 'pm_card_visa', confirm: true });
  t.equal(pi.status, 'succeeded');
  const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 500 });
  t.equal(refund.amount, 500);
  // Wait for the read model to hold the intent with its email (the erasure must scrub it).
  await eventually(async () => (await stripe.paymentIntents.list({ customer: cus.id })).data.find((x) => x.receipt_email === EMAIL && x.amount_received === 2000), 20_000);

  await t.test('logs carry no email, name or phone', async (t) => {
    const logs = stack.logs.join('\n');
    t.ok(stack.logs.length > 0, 'there are logs');
    t.notOk(logs.includes(EMAIL), 'no email in logs');
    t.notOk(logs.includes(NAME), 'no name in logs');
    t.notOk(logs.includes(PHONE), 'no phone in logs');
  });

  await t.test('bad erasure requests', async (t) => {
    t.equal((await admin(`/admin/merchants/${m.merchant_id}/erasures`, { customer: cus.id }, `Bearer ${m.secret_key}`)).status, 401, 'a merchant key cannot erase');
    t.equal((await admin(`/admin/merchants/${m.merchant_id}/erasures`, { customer: cus.id, email: EMAIL })).status, 400, 'not both');
    t.equal((await admin(`/admin/merchants/${m.merchant_id}/erasures`, {})).status, 400, 'one is needed');
    t.equal((await admin(`/admin/merchants/${m.merchant_id}/erasures`, { customer: 'cus_nope' })).status, 404, 'unknown customer');
    t.equal((await admin(`/admin/merchants/acct_nope/erasures`, { email: EMAIL })).status, 404, 'unknown merchant');
    const none = await admin(`/admin/merchants/${m.merchant_id}/erasures`, { email: 'nobody@example.com' });
    t.equal(none.status, 200);
    t.strictSame(((await none.json()) as { customers: string[] }).customers, []);
  });

  const res = await admin(`/admin/merchants/${m.merchant_id}/erasures`, { email: EMAIL });
  t.equal(res.status, 200);
  const body = (await res.json()) as { customers: string[]; object: string };
  t.equal(body.object, 'erasure');
  t.strictSame(body.customers, [cus.id], 'the customer with that email, and only it');
  t.strictSame((body as unknown as { payment_intents: string[] }).payment_intents, [pi.id], 'and its intents');
  t.notOk(JSON.stringify(body).includes(EMAIL), 'the answer does not echo the email');

  await t.test('the customer object shows null personal data; the rest stays', async (t) => {
    const c = (await stripe.customers.retrieve(cus.id)) as Stripe.Customer;
    t.equal(c.email, null);
    t.equal(c.name, null);
    t.equal(c.phone, null);
    t.equal(c.description, null);
    t.strictSame(c.metadata, { crm: '42' });
    t.equal(c.id, cus.id);
    const listed = await eventually(async () => (await stripe.customers.list({ limit: 100 })).data.find((x) => x.id === cus.id && x.email === null), 20_000);
    t.equal(listed.name, null, 'the projection too');
    const other = (await stripe.customers.retrieve(bystander.id)) as Stripe.Customer;
    t.equal(other.email, 'someone.else@example.com', 'another customer is untouched');
  });

  await t.test('the customer’s saved cards lose their billing details; the cards stay', async (t) => {
    const pm = await stripe.paymentMethods.retrieve(savedCard.id);
    t.match(pm.billing_details, { name: null, email: null, phone: null }, 'no name or email on the card');
    t.strictSame(pm.billing_details.address, { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, 'no address either');
    t.equal(pm.customer, cus.id, 'still the customer’s card');
    t.equal(pm.card?.last4, '4242');
    t.same((await stripe.customers.listPaymentMethods(cus.id)).data.map((x) => x.billing_details.name), [null], 'the customer’s list shows none either');
    t.match((await stripe.paymentMethods.retrieve(bystanderCard.id)).billing_details, { name: 'Someone Else', email: 'someone.else@example.com' }, 'another customer’s card is untouched');
  });

  await t.test('the ledger of amounts stays; receipt_email is gone from the read model', async (t) => {
    const listed = await eventually(async () => (await stripe.paymentIntents.list({ customer: cus.id })).data.find((x) => x.id === pi.id && x.receipt_email === null), 20_000);
    t.equal(listed.amount, 2000);
    t.equal(listed.amount_received, 2000);
    t.equal(listed.currency, 'usd');
    t.equal(listed.status, 'succeeded');
    const retrieved = await stripe.paymentIntents.retrieve(pi.id);
    t.equal(retrieved.receipt_email, null, 'the intent actor forgot it too (intent.pii_erased)');
    t.equal(retrieved.amount_received, 2000);
    const refunds = await stripe.refunds.list({ payment_intent: pi.id });
    t.strictSame(refunds.data.map((r) => [r.amount, r.currency, r.status]), [[500, 'usd', 'succeeded']]);
    const charges = await stripe.charges.list({ payment_intent: pi.id });
    t.equal(charges.data[0]?.amount, 2000);
    t.equal(charges.data[0]?.amount_refunded, 500);
  });

  await t.test('stored Stripe events no longer carry the email or name', async (t) => {
    const events = await stripe.events.list({ limit: 100 });
    t.ok(events.data.some((e) => e.type === 'customer.created'), 'the customer.created event is still listed');
    const text = JSON.stringify(events.data);
    t.notOk(text.includes(EMAIL), 'no email in /v1/events');
    t.notOk(text.includes(NAME), 'no name in /v1/events');
    t.ok(text.includes('someone.else@example.com'), 'other customers’ events are untouched');
    t.ok(events.data.some((e) => e.type === 'payment_method.attached' && (e.data.object as Stripe.PaymentMethod).id === savedCard.id), 'the saved card’s payment_method.attached is still listed');
    // The domain events the read model keeps (not served by the API): the saved card's billing details are gone too.
    const domain = await stack.node.database!.db.selectFrom('events').select(['type', 'data']).where('kind', '=', 'domain').where('aggregate_id', '=', cus.id).execute();
    t.ok(domain.some((r) => r.type === 'customer.payment_method_attached'), 'the attach event is kept');
    const domainText = JSON.stringify(domain);
    t.notOk(domainText.includes(EMAIL) || domainText.includes(NAME), 'with no email or name in it');
  });

  await t.test('ops erase (the CLI) erases by customer id', async (t) => {
    const other = await stripe.customers.create({ email: 'cli.erased@example.com', name: 'Cli Person' });
    const env = { ...process.env, NATS_URL: stack.nats.url, GATEWAY_URL: stack.url, ADMIN_TOKEN: stack.adminToken, DATA_DIR: stack.dataDir };
    const r = await exec(path.resolve('node_modules/.bin/tsx'), ['ops/cli.ts', 'erase', '--merchant', m.merchant_id, '--customer', other.id, '--json'], { env, timeout: 120_000 });
    t.strictSame((JSON.parse(r.stdout) as { customers: string[] }).customers, [other.id]);
    t.equal(((await stripe.customers.retrieve(other.id)) as Stripe.Customer).email, null);
    const help = await exec(path.resolve('node_modules/.bin/tsx'), ['ops/cli.ts', 'erase', '--help'], { env, timeout: 120_000 });
    t.match(help.stdout, /--email ADDRESS/);
  });

  await t.test('erasing again writes nothing and still answers', async (t) => {
    const again = await admin(`/admin/merchants/${m.merchant_id}/erasures`, { customer: cus.id });
    t.equal(again.status, 200);
  });

  t.notOk(stack.logs.join('\n').includes(EMAIL), 'still no email in logs after the erasure');
});

t.test('retention erases idle customers by itself', async (t) => {
  // 0.00003 days = 2.6 s; the job runs every 300 ms.
  const stack = await startStack(t, { PII_RETENTION_DAYS: '0.00003', PII_RETENTION_INTERVAL_MS: '300', DISPUTE_POLL_MS: '150' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const cus = await stripe.customers.create({ email: 'old.customer@example.com', name: 'Old Customer' });
  const card = await stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' }, billing_details: { name: 'Old Customer', email: 'old.customer@example.com' } });
  await stripe.paymentMethods.attach(card.id, { customer: cus.id });
  const pi = await stripe.paymentIntents.create({ amount: 1234, currency: 'eur', customer: cus.id, receipt_email: 'old.customer@example.com' });
  // Guests: a Checkout Session with only an email, an intent with only shipping details.
  const session = await stripe.checkout.sessions.create({ mode: 'payment', customer_email: 'guest@example.com', success_url: 'https://shop.example/ok', line_items: [{ price_data: { currency: 'eur', unit_amount: 900, product_data: { name: 'Mug' } }, quantity: 1 }] });
  const shipped = await stripe.paymentIntents.create({ amount: 2100, currency: 'eur', shipping: { name: 'Guest Person', address: { line1: '1 Guest Rd', country: 'FR' } } });
  const fresh = (await stripe.customers.retrieve(cus.id)) as Stripe.Customer;
  t.equal(fresh.email, 'old.customer@example.com', 'kept while recent');
  const gone = await eventually(async () => {
    const c = (await stripe.customers.retrieve(cus.id)) as Stripe.Customer;
    return c.email === null ? c : null;
  }, 30_000, 200);
  t.equal(gone.name, null);
  const listed = await eventually(async () => (await stripe.paymentIntents.list({ customer: cus.id })).data.find((x) => x.receipt_email === null), 20_000);
  t.equal(listed.id, pi.id);
  t.equal(listed.amount, 1234, 'amount stays');
  const retrieved = await eventually(async () => {
    const x = await stripe.paymentIntents.retrieve(pi.id);
    return x.receipt_email === null ? x : null;
  }, 20_000);
  t.equal(retrieved.amount, 1234, 'the intent actor forgot it too; the amount stays');
  t.equal(listed.currency, 'eur');
  t.ok(stack.logs.some((l) => l.includes('personal data erased by retention')), 'the job logs what it did');
  const guestSession = await eventually(async () => {
    const x = await stripe.checkout.sessions.retrieve(session.id);
    return x.customer_email === null ? x : null;
  }, 20_000, 200);
  t.equal(guestSession.amount_total, 900, 'a guest Checkout Session loses its email, keeps its amount');
  const listedSession = await eventually(async () => (await stripe.checkout.sessions.list({ payment_intent: session.payment_intent as string })).data.find((x) => x.customer_email === null), 20_000);
  t.equal(listedSession.id, session.id, 'the read model too');
  const guestShipping = await eventually(async () => {
    const x = await stripe.paymentIntents.retrieve(shipped.id);
    return x.shipping === null ? x : null;
  }, 20_000, 200);
  t.equal(guestShipping.amount, 2100, 'a guest intent loses its shipping details, keeps its amount');
  // A guest payment disputed, whose only personal data is the evidence the merchant gave.
  const disputedPi = await stripe.paymentIntents.create({ amount: 1500, currency: 'eur', payment_method: 'pm_card_createDispute', confirm: true });
  const dispute = await eventually(async () => (await stripe.disputes.list({ payment_intent: disputedPi.id })).data[0], 20_000, 100);
  await stripe.disputes.update(dispute.id, { evidence: { customer_name: 'Guest Disputer', uncategorized_text: 'signed for at the door' } });
  const scrubbed = await eventually(async () => {
    const x = await stripe.disputes.retrieve(dispute.id);
    return x.evidence.customer_name === null ? x : null;
  }, 20_000, 200);
  t.equal(scrubbed.evidence.uncategorized_text, 'signed for at the door', "retention clears the evidence's personal fields, keeps the rest");
  t.equal(scrubbed.amount, 1500);
  // No gateway took part: the reconcile role erased the saved card's billing details from the commit.
  const pm = await eventually(async () => {
    const x = await stripe.paymentMethods.retrieve(card.id);
    return x.billing_details.name === null ? x : null;
  }, 20_000, 200);
  t.match(pm.billing_details, { name: null, email: null }, 'the saved card’s billing details are erased too');
});
