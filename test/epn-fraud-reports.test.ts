// EPN fraud reports (early fraud warnings) end to end over real HTTP: the fraud test cards are
// reported once captured (the fraudulent dispute card charged back as well), the feed pages by its
// own position, a ledger file keeps the reports, the feed position and the pending intents, and
// the feed's query is validated.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import {
  APPROVED_TEST_CARDS,
  disputeOf,
  fraudReportOf,
  type AuthorizeParams,
  type EpnClient,
  type EpnFraudReport,
} from '../epn/mod.ts';
import { authorizeParams, clock, rejected, startEpn as start } from './helpers/epn-sim.ts';
import { epnSeconds, meterEpn } from '../metrics/payments.ts';

const EFW = '4000000000005423';
const FRAUD_DISPUTE = '4000000000000259';
const NOT_RECEIVED = '4000000000002685';
const PLAIN = '4242424242424242';

const params = (number: string, over: Partial<AuthorizeParams> = {}): AuthorizeParams => authorizeParams('acct_fr', number, over);

/** Authorize and capture a card; the one report the network filed for it. */
async function onlyReport(t: Test, client: EpnClient, number: string): Promise<EpnFraudReport> {
  const auth = await client.authorize(params(number));
  t.equal(auth.status, 'approved', `${number} approved`);
  const reports = (await client.fraudReports(0, 1000)).data.filter((r) => r.networkRef === auth.networkRef);
  t.equal(reports.length, 1, `${number}: one report`);
  return reports[0]!;
}

t.test('the fraud card table', async (t) => {
  t.same(fraudReportOf(EFW), { fraud_type: 'made_with_stolen_card' });
  t.same(fraudReportOf(FRAUD_DISPUTE), { fraud_type: 'unauthorized_use_of_card' });
  t.equal(fraudReportOf(PLAIN), null);
  t.equal(fraudReportOf(NOT_RECEIVED), null, 'a non-fraud dispute card is not reported');
  t.equal(fraudReportOf('4000000000000002'), null);
  t.equal(disputeOf(EFW), null, 'the early fraud warning card is not charged back');
  t.same(disputeOf(FRAUD_DISPUTE), { reason: 'fraudulent', inquiry: false });
  t.ok(APPROVED_TEST_CARDS.includes(EFW), 'listed among the approved cards');
  const a = fraudReportOf(EFW)!;
  a.fraud_type = 'misc';
  t.equal(fraudReportOf(EFW)!.fraud_type, 'made_with_stolen_card', 'the table hands out copies');
});

t.test('a fraud card is reported once, only when captured', async (t) => {
  const c = clock();
  const { client, url } = await start(t, { now: c.now });
  t.same(await client.fraudReports(0), { data: [], next: 0 }, 'an empty feed');

  // Captured at authorization.
  const p = params(EFW, { amount: 2500 });
  const auth = await client.authorize(p);
  t.equal(auth.status, 'approved', 'approved at authorization');
  t.equal(auth.captured, true);
  const feed = await client.fraudReports(0);
  t.equal(feed.data.length, 1, 'one report');
  const fr = feed.data[0]!;
  t.match(fr.reportRef, /^fr_[0-9a-f]{24}$/);
  t.same(
    { ...fr, reportRef: 'x' },
    {
      reportRef: 'x',
      networkRef: auth.networkRef,
      reference: p.reference,
      intentId: p.intentId,
      merchantId: 'acct_fr',
      fraudType: 'made_with_stolen_card',
      seq: 1,
      createdAt: c.seconds(),
    },
    'the report',
  );
  t.equal(feed.next, 1);
  t.same((await client.chargebacks(0)).data, [], 'no chargeback for the early fraud warning card');
  // A repeat of the authorization (same reference) files nothing new.
  await client.authorize(p);
  t.same(await client.fraudReports(1), { data: [], next: 1 }, 'a replayed authorization files no second report');

  // Manual capture: nothing until the capture, then one report at the capture's time.
  const manual = await client.authorize(params(EFW, { capture: false, amount: 3000 }));
  t.equal(manual.status, 'approved');
  t.equal(manual.captured, false);
  t.same(await client.fraudReports(1), { data: [], next: 1 }, 'no report for an authorization not captured');
  c.advance(90);
  await client.capture({ networkRef: manual.networkRef, amount: 2000 });
  const afterCapture = await client.fraudReports(1);
  t.equal(afterCapture.data.length, 1, 'reported at the capture');
  t.same(
    [afterCapture.data[0]!.networkRef, afterCapture.data[0]!.fraudType, afterCapture.data[0]!.seq, afterCapture.data[0]!.createdAt],
    [manual.networkRef, 'made_with_stolen_card', 2, c.seconds()],
  );
  t.not(afterCapture.data[0]!.createdAt, fr.createdAt, 'the capture time, not the authorization time');
  c.advance(5);
  await client.capture({ networkRef: manual.networkRef, amount: 2000 }); // a retried capture
  t.same(await client.fraudReports(2), { data: [], next: 2 }, 'a retried capture files no second report');

  // The fraudulent dispute card: a report (the warning) and a chargeback, each on its own feed.
  const cbBefore = (await client.chargebacks(0)).next;
  const both = await client.authorize(params(FRAUD_DISPUTE));
  t.equal(both.captured, true);
  const frBoth = await client.fraudReports(2);
  t.same(frBoth.data.map((r) => [r.networkRef, r.fraudType, r.seq]), [[both.networkRef, 'unauthorized_use_of_card', 3]]);
  const cbBoth = await client.chargebacks(cbBefore);
  t.same(cbBoth.data.map((x) => [x.networkRef, x.reason, x.seq]), [[both.networkRef, 'fraudulent', 1]], 'its chargeback, at position 1 of the chargeback feed');

  // Manual capture of the fraudulent dispute card: both filed at the capture.
  const bothManual = await client.authorize(params(FRAUD_DISPUTE, { capture: false }));
  t.same((await client.fraudReports(3)).data, [], 'nothing before the capture');
  t.same((await client.chargebacks(1)).data, []);
  await client.capture({ networkRef: bothManual.networkRef, amount: 1000 });
  t.same((await client.fraudReports(3)).data.map((r) => [r.networkRef, r.seq]), [[bothManual.networkRef, 4]]);
  t.same((await client.chargebacks(1)).data.map((x) => [x.networkRef, x.seq]), [[bothManual.networkRef, 2]]);

  // A voided fraud authorization, an ordinary card, a non-fraud dispute card: never a report.
  const voided = await client.authorize(params(EFW, { capture: false }));
  await client.void({ networkRef: voided.networkRef });
  const plain = await client.authorize(params(PLAIN));
  t.equal(plain.captured, true);
  const plainManual = await client.authorize(params(PLAIN, { capture: false }));
  await client.capture({ networkRef: plainManual.networkRef, amount: 1000 });
  const notReceived = await client.authorize(params(NOT_RECEIVED));
  t.equal(notReceived.captured, true);
  t.same(await client.fraudReports(4), { data: [], next: 4 }, 'no report for 4242, a void or a non-fraud dispute');
  t.equal((await client.chargebacks(2)).data.length, 1, '(the non-fraud dispute card was charged back)');

  const all = await client.fraudReports(0);
  t.same(all.data.map((r) => r.seq), [1, 2, 3, 4]);
  t.same(all.data.map((r) => r.networkRef), [auth.networkRef, manual.networkRef, both.networkRef, bothManual.networkRef]);
  t.equal(new Set(all.data.map((r) => r.reportRef)).size, 4, 'distinct report refs');

  // The issuer's intent is not part of the transaction's answer.
  const raw = (await (await fetch(`${url}/v1/transactions/${voided.networkRef}`)).json()) as Record<string, unknown>;
  t.equal(raw.network_ref, voided.networkRef);
  t.notOk('fraud' in raw, 'no fraud field on the wire transaction');
  t.notOk('fr' in raw);
  const rawWire = (await (await fetch(`${url}/v1/fraud_reports?after=0&limit=1`)).json()) as { data: Array<Record<string, unknown>>; next: number };
  t.same(Object.keys(rawWire.data[0]!).sort(), ['created_at', 'fraud_type', 'intent_id', 'merchant_id', 'network_ref', 'reference', 'report_ref', 'seq'], 'the wire report');
  t.equal(rawWire.next, 1);
});

t.test('the fraud report feed counts apart from the chargeback feed', async (t) => {
  const { client } = await start(t);
  for (let i = 0; i < 3; i++) await client.authorize(params(NOT_RECEIVED));
  const cbs = await client.chargebacks(0);
  t.same(cbs.data.map((x) => x.seq), [1, 2, 3]);
  await client.acceptChargeback(cbs.data[0]!.chargebackRef);
  t.equal((await client.chargebacks(0)).next, 4, 'the chargeback feed moved on');
  t.same(await client.fraudReports(0), { data: [], next: 0 }, 'no report yet');
  const first = await onlyReport(t, client, EFW);
  t.equal(first.seq, 1, 'the first report is position 1 of its own feed');
  const both = await client.authorize(params(FRAUD_DISPUTE));
  t.same((await client.fraudReports(1)).data.map((r) => [r.networkRef, r.seq]), [[both.networkRef, 2]]);
  t.same((await client.chargebacks(4)).data.map((x) => [x.networkRef, x.seq]), [[both.networkRef, 5]]);
});

t.test('a report for each transaction of a duplicate execution, none for a decline', async (t) => {
  const { client, url } = await start(t);
  const put = await fetch(`${url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ duplicate: 1 }) });
  t.equal(put.status, 200);
  const auth = await client.authorize(params(EFW));
  const txs = await client.inquireAll(auth.reference);
  t.equal(txs.length, 2, 'executed twice');
  const reports = (await client.fraudReports(0)).data;
  t.equal(reports.length, 2);
  t.same(reports.map((r) => r.networkRef).sort(), txs.map((x) => x.networkRef).sort(), 'one report per transaction');

  const off = await fetch(`${url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ duplicate: 0 }) });
  t.equal(off.status, 200);
  const expired = await client.authorize(params(EFW, { card: { number: EFW, expMonth: 1, expYear: 2020, cvc: '123' } }));
  t.equal(expired.status, 'declined');
  t.same(await client.fraudReports(2), { data: [], next: 2 }, 'a declined fraud card is not reported');
});

t.test('feed paging with after, next and limit', async (t) => {
  const { client } = await start(t);
  const refs: string[] = [];
  for (let i = 0; i < 5; i++) refs.push((await onlyReport(t, client, i % 2 ? FRAUD_DISPUTE : EFW)).reportRef);

  const p1 = await client.fraudReports(0, 2);
  t.same(p1.data.map((r) => r.reportRef), refs.slice(0, 2));
  t.equal(p1.next, 2);
  const p2 = await client.fraudReports(p1.next, 2);
  t.same(p2.data.map((r) => r.reportRef), refs.slice(2, 4));
  t.equal(p2.next, 4);
  const p3 = await client.fraudReports(p2.next, 2);
  t.same(p3.data.map((r) => r.reportRef), refs.slice(4));
  t.equal(p3.next, 5);
  t.same(await client.fraudReports(p3.next, 2), { data: [], next: 5 }, 'nothing after the end: next stays');
  t.same(await client.fraudReports(99), { data: [], next: 99 }, 'after past the end: next is after');
  t.same((await client.fraudReports(3)).data.map((r) => r.reportRef), refs.slice(3), 'from the middle');
  t.same((await client.fraudReports(0)).data.map((r) => r.reportRef), refs, 'the default limit covers all');
  t.equal((await client.fraudReports(0, 1)).data.length, 1);
  t.same((await client.fraudReports(0, 1)).data[0]!.reportRef, refs[0]);

  // The default page is 100; the maximum 1,000.
  for (let i = 0; i < 96; i++) await client.authorize(params(EFW));
  const def = await client.fraudReports(0);
  t.equal(def.data.length, 100, 'default limit 100');
  t.equal(def.next, 100);
  t.same(def.data.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => i + 1), 'in feed order');
  t.same((await client.fraudReports(def.next)).data.map((r) => r.seq), [101]);
  t.equal((await client.fraudReports(0, 1000)).data.length, 101);
});

t.test('feed validation', async (t) => {
  const { client, url } = await start(t);
  await onlyReport(t, client, EFW);
  for (const q of ['limit=0', 'limit=1001', 'limit=99999', 'after=-1', 'after=abc', 'after=1e3', 'limit=1.5', 'limit=', 'after=']) {
    const res = await fetch(`${url}/v1/fraud_reports?${q}`);
    t.equal(res.status, 400, q);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request', q);
  }
  const max = await fetch(`${url}/v1/fraud_reports?after=0&limit=1000`);
  t.equal(max.status, 200);
  t.same(((await max.json()) as { data: unknown[]; next: number }).next, 1);
  const none = await fetch(`${url}/v1/fraud_reports`);
  t.equal(none.status, 200, 'after and limit are optional');
  t.equal(((await none.json()) as { data: unknown[] }).data.length, 1);
  const err = await rejected(client.fraudReports(0, 0));
  t.equal(err.status, 400);
  t.equal(err.code, 'invalid_request');
});

t.test('a read is logged only when it returned reports', async (t) => {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const { client } = await start(t, { logger: pino({ level: 'info' }, sink) });
  const feedLines = () => logs.filter((l) => l.includes('"fraud report feed"'));
  await client.fraudReports(0);
  await client.fraudReports(0);
  t.equal(feedLines().length, 0, 'empty reads are not logged');
  await client.authorize(params(EFW));
  const read = await client.fraudReports(0);
  t.equal(read.data.length, 1);
  t.equal(feedLines().length, 1, 'a read that returned a report is logged');
  t.match(JSON.parse(feedLines()[0]!), { level: 30, after: 0, count: 1, next: 1 });
  await client.fraudReports(read.next);
  t.equal(feedLines().length, 1, 'an empty read after it is not');
  t.notMatch(logs.join(''), new RegExp(EFW), 'no card number in the logs');
});

t.test('a ledger file keeps the reports, the feed position and the pending intents', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'epn-fr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ledgerPath = path.join(dir, 'ledger.jsonl');
  const c = clock();
  const first = await start(t, { now: c.now, ledgerPath });
  const a = await onlyReport(t, first.client, EFW);
  const b = await onlyReport(t, first.client, FRAUD_DISPUTE);
  const pendingEfw = await first.client.authorize(params(EFW, { capture: false, amount: 700 }));
  const pendingBoth = await first.client.authorize(params(FRAUD_DISPUTE, { capture: false, amount: 800 }));
  const before = await first.client.fraudReports(0);
  t.equal(before.next, 2);
  t.same(before.data, [a, b]);
  const cbBefore = await first.client.chargebacks(0);
  t.equal(cbBefore.next, 1);
  await first.close();

  const file = readFileSync(ledgerPath, 'utf8');
  t.notMatch(file, new RegExp(EFW), 'no card number in the ledger');
  t.notMatch(file, new RegExp(FRAUD_DISPUTE));

  c.advance(600);
  const second = await start(t, { now: c.now, ledgerPath });
  t.same(await second.client.fraudReports(0), before, 'the same reports at the same positions');
  t.same(await second.client.chargebacks(0), cbBefore, 'the chargebacks too');

  // The issuer's intents of authorizations not yet captured survive: their captures file the reports.
  await second.client.capture({ networkRef: pendingEfw.networkRef, amount: 700 });
  await second.client.capture({ networkRef: pendingBoth.networkRef, amount: 800 });
  const filed = await second.client.fraudReports(before.next);
  t.same(
    filed.data.map((r) => [r.networkRef, r.fraudType, r.seq, r.createdAt]),
    [
      [pendingEfw.networkRef, 'made_with_stolen_card', 3, c.seconds()],
      [pendingBoth.networkRef, 'unauthorized_use_of_card', 4, c.seconds()],
    ],
    'the next positions, not reused ones',
  );
  t.same((await second.client.chargebacks(cbBefore.next)).data.map((x) => [x.networkRef, x.seq]), [[pendingBoth.networkRef, 2]]);
  // A capture retried after the restart files nothing new.
  await second.client.capture({ networkRef: a.networkRef, amount: 1000 });
  await second.client.capture({ networkRef: pendingEfw.networkRef, amount: 700 });
  t.same(await second.client.fraudReports(4), { data: [], next: 4 });
  await second.close();

  const third = await start(t, { now: c.now, ledgerPath });
  const all = await third.client.fraudReports(0);
  t.same(all, { data: [...before.data, ...filed.data], next: 4 }, 'all four, once each');
  // Captured before the last restart: nothing pending is left to file again.
  await third.client.capture({ networkRef: pendingBoth.networkRef, amount: 800 });
  const next = await onlyReport(t, third.client, EFW);
  t.equal(next.seq, 5, 'the feed position continues');
});

t.test('the metered client times the fraud report feed', async (t) => {
  const { client } = await start(t);
  const metered = meterEpn(client);
  const count = async () =>
    (await epnSeconds.get()).values.find((v) => v.metricName === 'paynats_epn_request_duration_seconds_count' && v.labels.operation === 'fraud_reports' && v.labels.result === 'ok')?.value ?? 0;
  const before = await count();
  await client.authorize(params(EFW));
  const feed = await metered.fraudReports(0, 10);
  t.equal(feed.data.length, 1);
  t.equal(feed.data[0]!.fraudType, 'made_with_stolen_card');
  t.equal(await count(), before + 1, 'one call timed as fraud_reports');
  t.same(await metered.withHeaders({ 'Request-Id': 'req_1' }).fraudReports(feed.next), { data: [], next: 1 }, 'through withHeaders too');
});
