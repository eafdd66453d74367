// EPN chargebacks end to end over real HTTP: the dispute test cards are disputed once captured, the
// feed pages by position, representments and acceptances move a case, deadlines and decisions come
// due on feed reads, a disputed capture cannot be refunded, and a ledger file keeps it all.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import {
  disputeOf,
  type AuthorizeParams,
  type EpnChargeback,
  type EpnClient,
} from '../epn/mod.ts';
import { authorizeParams, clock, ref, rejected, startEpn as start } from './helpers/epn-sim.ts';

const FRAUD = '4000000000000259';
const NOT_RECEIVED = '4000000000002685';
const INQUIRY = '4000000000001976';
const PLAIN = '4242424242424242';
const DAY = 86_400;

const params = (number: string, over: Partial<AuthorizeParams> = {}): AuthorizeParams => authorizeParams('acct_cb', number, over);

/** Authorize (and capture, by default) a card; the case the network filed for it, if any. */
async function disputed(client: EpnClient, number: string, over: Partial<AuthorizeParams> = {}) {
  const auth = await client.authorize(params(number, over));
  const feed = await client.chargebacks(0, 1000);
  return { auth, cases: feed.data.filter((c) => c.networkRef === auth.networkRef) };
}

async function onlyCase(t: Test, client: EpnClient, number: string, over: Partial<AuthorizeParams> = {}): Promise<EpnChargeback> {
  const { auth, cases } = await disputed(client, number, over);
  t.equal(auth.status, 'approved', `${number} approved`);
  t.equal(cases.length, 1, `${number}: one case`);
  return cases[0]!;
}

t.test('the dispute card table', async (t) => {
  t.same(disputeOf(FRAUD), { reason: 'fraudulent', inquiry: false });
  t.same(disputeOf(NOT_RECEIVED), { reason: 'product_not_received', inquiry: false });
  t.same(disputeOf(INQUIRY), { reason: 'general', inquiry: true });
  t.equal(disputeOf(PLAIN), null);
  t.equal(disputeOf('4000000000000002'), null);
});

t.test('each dispute card is charged back once, only when captured', async (t) => {
  const c = clock();
  const { client, url } = await start(t, { now: c.now });
  t.same(await client.chargebacks(0), { data: [], next: 0 }, 'an empty feed');

  // Captured at authorization.
  const expected: Array<[string, string, boolean]> = [
    [FRAUD, 'fraudulent', false],
    [NOT_RECEIVED, 'product_not_received', false],
    [INQUIRY, 'general', true],
  ];
  let lastSeq = 0;
  for (const [pan, reason, inquiry] of expected) {
    const p = params(pan, { amount: 2500 });
    const auth = await client.authorize(p);
    t.equal(auth.status, 'approved');
    t.equal(auth.captured, true);
    const feed = await client.chargebacks(lastSeq);
    t.equal(feed.data.length, 1, `${pan}: one new case`);
    const cb = feed.data[0]!;
    t.match(cb.chargebackRef, /^cb_[0-9a-f]{24}$/);
    t.same(
      { ...cb, chargebackRef: 'x' },
      {
        chargebackRef: 'x',
        networkRef: auth.networkRef,
        reference: p.reference,
        intentId: p.intentId,
        merchantId: 'acct_cb',
        amount: 2500,
        currency: 'usd',
        reason,
        inquiry,
        status: 'open',
        dueBy: c.seconds() + 7 * DAY,
        representments: 0,
        seq: lastSeq + 1,
        createdAt: c.seconds(),
        updatedAt: c.seconds(),
      },
      `${pan}: the case`,
    );
    t.equal(feed.next, cb.seq);
    t.same(await client.chargeback(cb.chargebackRef), cb, 'the same case by its reference');
    // A repeat of the authorization (same reference) files nothing new.
    await client.authorize(p);
    t.same((await client.chargebacks(cb.seq)).data, [], 'a replayed authorization files no second case');
    lastSeq = cb.seq;
  }

  // Manual capture: nothing until the capture, then one case for the captured amount.
  const manual = await client.authorize(params(FRAUD, { capture: false, amount: 3000 }));
  t.equal(manual.captured, false);
  t.same((await client.chargebacks(lastSeq)).data, [], 'no case for an authorization not captured');
  c.advance(60);
  await client.capture({ networkRef: manual.networkRef, amount: 2000 });
  const afterCapture = await client.chargebacks(lastSeq);
  t.equal(afterCapture.data.length, 1);
  t.equal(afterCapture.data[0]!.networkRef, manual.networkRef);
  t.equal(afterCapture.data[0]!.amount, 2000, 'the captured amount is disputed');
  t.equal(afterCapture.data[0]!.createdAt, c.seconds(), 'filed at the capture');
  t.equal(afterCapture.data[0]!.dueBy, c.seconds() + 7 * DAY);
  await client.capture({ networkRef: manual.networkRef, amount: 2000 }); // a retried capture
  t.same((await client.chargebacks(afterCapture.next)).data, [], 'a retried capture files no second case');
  lastSeq = afterCapture.next;

  // A voided disputed authorization and an ordinary card: never a case.
  const voided = await client.authorize(params(NOT_RECEIVED, { capture: false }));
  await client.void({ networkRef: voided.networkRef });
  const plain = await client.authorize(params(PLAIN));
  t.equal(plain.captured, true);
  const plainManual = await client.authorize(params(PLAIN, { capture: false }));
  await client.capture({ networkRef: plainManual.networkRef, amount: 1000 });
  t.same(await client.chargebacks(lastSeq), { data: [], next: lastSeq }, 'no case for 4242 nor for a void');

  const all = await client.chargebacks(0);
  t.equal(all.data.length, 4);
  t.same(all.data.map((x) => x.seq), [1, 2, 3, 4]);

  // The issuer's intent is not part of the transaction's answer.
  const raw = (await (await fetch(`${url}/v1/transactions/${manual.networkRef}`)).json()) as Record<string, unknown>;
  t.equal(raw.network_ref, manual.networkRef);
  t.notOk('dispute' in raw, 'no dispute field on the wire transaction');
  t.notOk('cb' in raw);

  const missing = await rejected(client.chargeback('cb_000000000000000000000000'));
  t.equal(missing.status, 404);
  t.equal(missing.code, 'resource_missing');
});

t.test('feed paging with after, next and limit', async (t) => {
  const { client, url } = await start(t);
  const refs: string[] = [];
  for (let i = 0; i < 5; i++) refs.push((await onlyCase(t, client, i % 2 ? NOT_RECEIVED : FRAUD)).chargebackRef);

  const p1 = await client.chargebacks(0, 2);
  t.same(p1.data.map((c) => c.chargebackRef), refs.slice(0, 2));
  t.equal(p1.next, 2);
  const p2 = await client.chargebacks(p1.next, 2);
  t.same(p2.data.map((c) => c.chargebackRef), refs.slice(2, 4));
  t.equal(p2.next, 4);
  const p3 = await client.chargebacks(p2.next, 2);
  t.same(p3.data.map((c) => c.chargebackRef), refs.slice(4));
  t.equal(p3.next, 5);
  t.same(await client.chargebacks(p3.next, 2), { data: [], next: 5 }, 'nothing after the end: next stays');
  t.same(await client.chargebacks(99), { data: [], next: 99 });
  t.same((await client.chargebacks(0)).data.map((c) => c.chargebackRef), refs, 'the default limit covers all');
  t.equal((await client.chargebacks(0, 1)).data.length, 1);

  // A change moves the case to the end of the feed, once, under a new position.
  const accepted = await client.acceptChargeback(refs[1]!);
  t.equal(accepted.seq, 6);
  const moved = await client.chargebacks(0);
  t.same(moved.data.map((c) => c.chargebackRef), [refs[0], refs[2], refs[3], refs[4], refs[1]]);
  t.same(moved.data.map((c) => c.seq), [1, 3, 4, 5, 6]);
  t.equal(moved.next, 6);
  t.same((await client.chargebacks(5)).data.map((c) => [c.chargebackRef, c.status]), [[refs[1], 'lost']]);

  for (const q of ['limit=0', 'limit=1001', 'after=-1', 'after=abc', 'limit=1.5']) {
    const res = await fetch(`${url}/v1/chargebacks?${q}`);
    t.equal(res.status, 400, q);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request', q);
  }
  const max = await fetch(`${url}/v1/chargebacks?after=0&limit=1000`);
  t.equal(max.status, 200);
  t.equal(((await max.json()) as { data: unknown[] }).data.length, 5);
});

t.test('representments: winning, losing, plain evidence, repeats', async (t) => {
  const c = clock();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const { client } = await start(t, { now: c.now, logger: pino({ level: 'trace' }, sink) });

  const win = await onlyCase(t, client, FRAUD);
  const secret = 'receipt #8812, shipped to the cardholder; winning_evidence';
  const review = await client.represent(win.chargebackRef, { reference: 'rep_win_1', evidence: secret });
  t.equal(review.status, 'under_review', 'answered under review, not yet decided');
  t.equal(review.representments, 1);
  t.ok(review.seq > win.seq, 'under_review is a change of its own');
  const decided = await client.chargebacks(review.seq - 1);
  t.equal(decided.data.length, 1);
  t.equal(decided.data[0]!.chargebackRef, win.chargebackRef);
  t.equal(decided.data[0]!.status, 'won', 'the decision came with the next feed read');
  t.ok(decided.data[0]!.seq > review.seq, 'the decision is a later change than under_review');
  t.equal(decided.data[0]!.representments, 1);
  t.same((await client.chargebacks(decided.next)).data, [], 'decided once');
  t.equal((await client.represent(win.chargebackRef, { reference: 'rep_win_1', evidence: secret })).status, 'won', 'a repeat after the decision answers the decided case');
  const afterWin = await rejected(client.represent(win.chargebackRef, { reference: 'rep_win_2', evidence: 'more' }));
  t.equal(afterWin.status, 409);
  t.equal(afterWin.code, 'invalid_state');
  const acceptWon = await rejected(client.acceptChargeback(win.chargebackRef));
  t.equal(acceptWon.status, 409);
  t.equal(acceptWon.code, 'invalid_state');

  const lose = await onlyCase(t, client, NOT_RECEIVED);
  t.equal((await client.represent(lose.chargebackRef, { reference: 'rep_lose', evidence: 'losing_evidence' })).status, 'under_review');
  const lostFeed = await client.chargebacks(lose.seq);
  t.same(lostFeed.data.map((x) => [x.chargebackRef, x.status]), [[lose.chargebackRef, 'lost']]);
  const afterLoss = await rejected(client.represent(lose.chargebackRef, { reference: 'rep_lose_2', evidence: 'winning_evidence' }));
  t.equal(afterLoss.status, 409);
  t.equal(afterLoss.code, 'invalid_state');

  const plain = await onlyCase(t, client, FRAUD);
  const p1 = await client.represent(plain.chargebackRef, { reference: 'rep_plain_1', evidence: 'we shipped it' });
  t.equal(p1.status, 'under_review');
  c.advance(3 * DAY);
  const stays = await client.chargebacks(plain.seq);
  t.same(stays.data.map((x) => [x.chargebackRef, x.status, x.seq]), [[plain.chargebackRef, 'under_review', p1.seq]], 'no decision on plain evidence');
  c.advance(10 * DAY);
  t.same((await client.chargebacks(stays.next)).data, [], 'under review is not lost at due_by');
  t.equal((await client.chargeback(plain.chargebackRef)).status, 'under_review');
  const p2 = await client.represent(plain.chargebackRef, { reference: 'rep_plain_2', evidence: 'a second try: winning_evidence' });
  t.equal(p2.representments, 2, 'a new reference is a new representment');
  t.equal((await client.chargebacks(p2.seq)).data[0]?.status, 'won');

  // The evidence never reaches a log line; the representment is logged.
  const text = logs.join('');
  t.match(text, /representment/);
  t.notMatch(text, /receipt #8812/, 'evidence kept out of the logs');
  t.notMatch(text, /we shipped it/);
});

t.test('representment validation', async (t) => {
  const { url, client } = await start(t);
  const cb = await onlyCase(t, client, FRAUD);
  const post = (body: unknown) =>
    fetch(`${url}/v1/chargebacks/${cb.chargebackRef}/representment`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const cases: Array<[string, unknown]> = [
    ['no reference', { evidence: 'x' }],
    ['empty reference', { reference: '', evidence: 'x' }],
    ['long reference', { reference: 'r'.repeat(256), evidence: 'x' }],
    ['no evidence', { reference: 'r' }],
    ['evidence not text', { reference: 'r', evidence: 5 }],
    ['evidence too long', { reference: 'r', evidence: 'e'.repeat(150_001) }],
  ];
  for (const [name, body] of cases) {
    const res = await post(body);
    t.equal(res.status, 400, name);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request', name);
  }
  t.equal((await client.chargeback(cb.chargebackRef)).representments, 0, 'nothing was received');
  const longest = await post({ reference: 'r'.repeat(255), evidence: 'e'.repeat(150_000) });
  t.equal(longest.status, 200, 'the longest evidence is taken');
  const missing = await rejected(client.represent('cb_000000000000000000000000', { reference: 'r', evidence: 'x' }));
  t.equal(missing.status, 404);
  t.equal(missing.code, 'resource_missing');
  const missingAccept = await rejected(client.acceptChargeback('cb_000000000000000000000000'));
  t.equal(missingAccept.status, 404);
  t.equal(missingAccept.code, 'resource_missing');
});

t.test('a decision takes effect after the decision delay', async (t) => {
  const c = clock();
  const { client } = await start(t, { now: c.now, chargebackDecisionMs: 60_000 });
  const cb = await onlyCase(t, client, FRAUD);
  const review = await client.represent(cb.chargebackRef, { reference: 'rep', evidence: 'winning_evidence' });
  const repeat = await client.represent(cb.chargebackRef, { reference: 'rep', evidence: 'other text, losing_evidence' });
  t.same(repeat, review, 'a repeated representment answers the case unchanged');
  const early = await client.chargebacks(cb.seq);
  t.same(early.data.map((x) => [x.status, x.seq]), [['under_review', review.seq]], 'under review until the decision is due');
  c.advance(59);
  t.same((await client.chargebacks(early.next)).data, [], 'not yet');
  t.equal((await client.chargeback(cb.chargebackRef)).status, 'under_review');
  c.advance(1);
  const late = await client.chargebacks(early.next);
  t.same(late.data.map((x) => [x.status, x.seq]), [['won', review.seq + 1]]);
  t.equal(late.data[0]!.updatedAt, c.seconds());
});

t.test('accept, and an open case past due_by', async (t) => {
  const c = clock();
  const { client } = await start(t, { now: c.now });
  const a = await onlyCase(t, client, FRAUD);
  const accepted = await client.acceptChargeback(a.chargebackRef);
  t.equal(accepted.status, 'lost');
  t.ok(accepted.seq > a.seq);
  t.same(await client.acceptChargeback(a.chargebackRef), accepted, 'a repeat answers the case unchanged');
  const closed = await rejected(client.represent(a.chargebackRef, { reference: 'late', evidence: 'winning_evidence' }));
  t.equal(closed.status, 409);
  t.equal(closed.code, 'invalid_state');

  const accepting = await onlyCase(t, client, NOT_RECEIVED);
  await client.represent(accepting.chargebackRef, { reference: 'r1', evidence: 'nothing decisive' });
  t.equal((await client.acceptChargeback(accepting.chargebackRef)).status, 'lost', 'a case under review can be accepted');

  const due = await onlyCase(t, client, NOT_RECEIVED);
  const inquiry = await onlyCase(t, client, INQUIRY);
  const start0 = (await client.chargebacks(0)).next;
  c.advance(7 * DAY);
  t.same(await client.chargebacks(start0), { data: [], next: start0 }, 'still open on due_by itself');
  c.advance(1);
  const expired = await client.chargebacks(start0);
  t.same(
    expired.data.map((x) => [x.chargebackRef, x.status]),
    [
      [due.chargebackRef, 'lost'],
      [inquiry.chargebackRef, 'lost'],
    ],
    'open cases past due_by are lost, each once',
  );
  t.same(expired.data.map((x) => x.seq), [start0 + 1, start0 + 2]);
  t.same((await client.chargebacks(expired.next)).data, [], 'lost once');
  const late = await rejected(client.represent(due.chargebackRef, { reference: 'late', evidence: 'winning_evidence' }));
  t.equal(late.code, 'invalid_state', 'too late to represent');
});

t.test('a disputed capture cannot be refunded; an inquiry or a won case can', async (t) => {
  const { client } = await start(t);
  const { auth } = await disputed(client, FRAUD);
  const err = await rejected(client.refund({ networkRef: auth.networkRef, amount: 500, refundReference: ref('rf') }));
  t.equal(err.status, 409);
  t.equal(err.code, 'charge_disputed');
  t.equal(err.message, `Transaction ${auth.networkRef} has been charged back; it cannot be refunded.`);
  const tx = await client.retrieve(auth.networkRef);
  t.equal(tx.amountRefunded, 0, 'nothing refunded');
  t.equal(tx.status, 'captured');

  // Manual capture of a disputed card: refused too.
  const manual = await client.authorize(params(NOT_RECEIVED, { capture: false }));
  await client.capture({ networkRef: manual.networkRef, amount: 1000 });
  t.equal((await rejected(client.refund({ networkRef: manual.networkRef, amount: 1000, refundReference: ref('rf') }))).code, 'charge_disputed');

  const inq = await disputed(client, INQUIRY);
  t.equal(inq.cases.length, 1);
  const r = await client.refund({ networkRef: inq.auth.networkRef, amount: 1000, refundReference: ref('rf') });
  t.equal(r.transaction.status, 'refunded', 'an inquiry can be refunded');

  const plain = await client.authorize(params(PLAIN));
  t.equal((await client.refund({ networkRef: plain.networkRef, amount: 400, refundReference: ref('rf') })).transaction.status, 'partially_refunded');

  // Won: the money came back to the merchant, so it can be refunded.
  const won = await disputed(client, FRAUD);
  await client.represent(won.cases[0]!.chargebackRef, { reference: 'w', evidence: 'winning_evidence' });
  t.equal((await rejected(client.refund({ networkRef: won.auth.networkRef, amount: 100, refundReference: ref('rf') }))).code, 'charge_disputed', 'not while under review');
  await client.chargebacks(0);
  t.equal((await client.refund({ networkRef: won.auth.networkRef, amount: 100, refundReference: ref('rf') })).transaction.amountRefunded, 100);

  // Lost: refused.
  const lost = await disputed(client, NOT_RECEIVED);
  await client.acceptChargeback(lost.cases[0]!.chargebackRef);
  t.equal((await rejected(client.refund({ networkRef: lost.auth.networkRef, amount: 100, refundReference: ref('rf') }))).code, 'charge_disputed');
});

t.test('a ledger file keeps the cases, the feed position and the pending intents', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'epn-cb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ledgerPath = path.join(dir, 'ledger.jsonl');
  const c = clock();
  const first = await start(t, { now: c.now, ledgerPath, chargebackDecisionMs: 3_600_000 });
  const a = await onlyCase(t, first.client, FRAUD);
  const b = await onlyCase(t, first.client, NOT_RECEIVED);
  const i = await onlyCase(t, first.client, INQUIRY);
  await first.client.acceptChargeback(a.chargebackRef);
  const review = await first.client.represent(b.chargebackRef, { reference: 'rep_b', evidence: 'confidential: winning_evidence' });
  const pending = await first.client.authorize(params(FRAUD, { capture: false, amount: 700 }));
  const before = await first.client.chargebacks(0);
  t.equal(before.next, 5);
  await first.close();

  const file = readFileSync(ledgerPath, 'utf8');
  t.notMatch(file, new RegExp(FRAUD), 'no card number in the ledger');
  t.notMatch(file, /confidential/, 'no evidence text in the ledger');

  const second = await start(t, { now: c.now, ledgerPath, chargebackDecisionMs: 3_600_000 });
  t.same(await second.client.chargebacks(0), before, 'the same cases at the same positions');
  t.same(await second.client.chargeback(i.chargebackRef), i);
  t.same(await second.client.represent(b.chargebackRef, { reference: 'rep_b', evidence: 'again' }), review, 'representment references survive');
  t.equal((await rejected(second.client.refund({ networkRef: a.networkRef, amount: 1, refundReference: ref('rf') }))).code, 'charge_disputed');

  // The pending decision survives and comes due.
  c.advance(3600);
  const decided = await second.client.chargebacks(before.next);
  t.same(decided.data.map((x) => [x.chargebackRef, x.status, x.seq]), [[b.chargebackRef, 'won', 6]], 'the next position, not a reused one');

  // The issuer's intent of an authorization not yet captured survives: its capture files the case.
  await second.client.capture({ networkRef: pending.networkRef, amount: 700 });
  const filed = await second.client.chargebacks(decided.next);
  t.equal(filed.data.length, 1);
  t.same([filed.data[0]!.networkRef, filed.data[0]!.amount, filed.data[0]!.seq, filed.data[0]!.reason], [pending.networkRef, 700, 7, 'fraudulent']);
  await second.close();

  const third = await start(t, { now: c.now, ledgerPath });
  const all = await third.client.chargebacks(0);
  t.same(all.data.map((x) => [x.chargebackRef, x.status, x.seq]), [
    [i.chargebackRef, 'open', 3],
    [a.chargebackRef, 'lost', 4],
    [b.chargebackRef, 'won', 6],
    [filed.data[0]!.chargebackRef, 'open', 7],
  ]);
  t.equal(all.next, 7);
  t.equal((await third.client.acceptChargeback(i.chargebackRef)).seq, 8);
});
