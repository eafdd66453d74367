// The ledger with its cache smaller than its contents: every answer read back from the file (or,
// without a file, from the kept lines) equals the one the all-in-memory ledger gave.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { createLedger, type Ledger, type LedgerOptions } from '../epn/mod.ts';
import type { AuthorizeInput } from '../epn/sim/ledger.ts';

const input = (reference: string, over: Partial<AuthorizeInput> = {}): AuthorizeInput => ({
  reference,
  merchant_id: 'acct_a',
  amount: 1000,
  currency: 'usd',
  capture: true,
  brand: 'visa',
  last4: '4242',
  outcome: { approved: true },
  intent_id: `pi_${reference}`,
  ...over,
});

function exercise(t: Test, make: (o: LedgerOptions) => Ledger, restart?: (o: LedgerOptions) => Ledger) {
  let clock = Date.parse('2026-11-25T23:59:58Z') / 1000;
  let n = 0;
  const opts: LedgerOptions = { now: () => clock, newNetworkRef: () => `epn_${String(++n).padStart(24, '0')}` };
  const l = make(opts);
  const first = l.authorize(input('att_1'));
  const auth = l.authorize(input('att_2', { capture: false }));
  clock += 5; // the next day
  for (let i = 3; i < 40; i++) l.authorize(input(`att_${i}`));
  const declined = l.authorize(input('att_d', { outcome: { approved: false, failure_code: 'card_declined', decline_code: 'generic_decline' } }));
  const dup = l.authorize(input('att_1', { duplicate: true }));

  t.equal(l.has('att_1'), true);
  t.equal(l.has('att_nope'), false);
  t.same(l.findByReference('att_1'), first.tx, 'the first booking answers for its reference, read back');
  t.same(l.findAllByReference('att_1').map((x) => x.network_ref), [first.tx.network_ref, dup.tx.network_ref]);
  const again = l.authorize(input('att_1'));
  t.equal(again.replayed, true);
  t.same(again.tx, first.tx);
  t.throws(() => l.authorize(input('att_1', { amount: 5 })), { code: 'reference_conflict' });
  t.same(l.get(declined.tx.network_ref), declined.tx);
  t.equal(l.get('epn_unknown'), undefined);

  const cap = l.capture(auth.tx.network_ref, 700);
  t.equal(cap.status, 'captured');
  t.same(l.capture(auth.tx.network_ref, 700), cap, 'a retried capture answers the capture');
  const r1 = l.refund(first.tx.network_ref, 300, 'rf_1');
  t.equal(r1.tx.status, 'partially_refunded');
  t.equal(l.refund(first.tx.network_ref, 300, 'rf_1').replayed, true);
  t.throws(() => l.refund(cap.network_ref, 300, 'rf_1'), { code: 'reference_conflict' }, 'a refund reference used on another transaction');
  t.throws(() => l.void(first.tx.network_ref), { code: 'invalid_state' });
  t.throws(() => l.capture('epn_unknown', 1), { code: 'resource_missing' });

  const all = l.all();
  t.equal(all.length, 41);
  t.same(all.map((x) => x.reference).slice(0, 3), ['att_1', 'att_2', 'att_3'], 'booking order');
  t.same(l.ofDay('2026-11-25').map((x) => x.reference), ['att_1', 'att_2']);
  t.equal(l.ofDay('2026-11-26').length, 39);
  t.same(l.ofDay('2026-02-30'), []);
  t.equal(l.get(first.tx.network_ref)?.amount_refunded, 300);
  const mutated = l.get(first.tx.network_ref)!;
  mutated.refunds.length = 0;
  t.equal(l.get(first.tx.network_ref)?.refunds.length, 1, 'answers are copies');

  if (restart) {
    l.close();
    const l2 = restart(opts);
    t.same(l2.all(), all, 'a restart reads the same ledger back');
    t.equal(l2.authorize(input('att_1')).tx.network_ref, first.tx.network_ref, 'idempotency survives a restart');
    t.equal(l2.refund(first.tx.network_ref, 300, 'rf_1').replayed, true, 'refund idempotency survives a restart');
    t.same(l2.findAllByReference('att_1').map((x) => x.network_ref), [first.tx.network_ref, dup.tx.network_ref]);
    t.equal(l2.refund(first.tx.network_ref, 200, 'rf_2').tx.amount_refunded, 500);
    l2.close();
  }
}

for (const cacheMax of [0, 3, 1000]) {
  t.test(`memory only, cache ${cacheMax}`, async (t) => {
    exercise(t, (o) => createLedger({ ...o, cacheMax }));
  });
  t.test(`file, cache ${cacheMax}`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'epn-ledger-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'ledger.jsonl');
    exercise(t, (o) => createLedger({ ...o, path: file, cacheMax }), (o) => createLedger({ ...o, path: file, cacheMax }));
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((x) => JSON.parse(x) as { v: number });
    t.ok(lines.every((x) => x.v === 1), 'the file keeps its format');
  });
}

t.test('many transactions: the index grows and every one is found', async (t) => {
  const l = createLedger({ cacheMax: 10 });
  const refs: string[] = [];
  for (let i = 0; i < 5000; i++) refs.push(l.authorize(input(`att_many_${i}`)).tx.network_ref);
  let ok = 0;
  for (let i = 0; i < 5000; i++) if (l.findByReference(`att_many_${i}`)?.network_ref === refs[i] && l.get(refs[i]!)?.reference === `att_many_${i}`) ok++;
  t.equal(ok, 5000);
  t.equal(l.has('att_many_5000'), false);
});
