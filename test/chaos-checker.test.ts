// The invariant checker can fail: a clean stack passes every invariant; each kind of damage (a lost
// acknowledged payment, a second charge at the network, a stale read model row, an undelivered
// event, a status that went backwards) is caught by the invariant that owns it.
import t from 'tap';
import Stripe from 'stripe';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { jetstream } from '@nats-io/jetstream';
import { encodeCommit } from '../streams/codec.ts';
import type { Commit } from '../streams/envelope.ts';
import type { WireTransaction } from '../epn/wire.ts';
import { checkInvariants, readHistories, type CheckInputs, type ProjectionRow } from '../chaos/invariants.ts';
import type { PaymentRecord } from '../chaos/load.ts';
import { startWebhookReceiver } from '../chaos/load.ts';
import { eventually, startStack } from './helpers/stack.ts';

t.test('invariant checker: passes on a clean run, fails on each kind of damage', async (t) => {
  const stack = await startStack(t);
  const secrets: string[] = [];
  const receiver = await startWebhookReceiver(() => secrets);
  t.teardown(() => receiver.close());
  const m = await stack.onboard({ call_back_url: receiver.url });
  secrets.push(m.webhook_secret);
  const sk = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });
  const records: PaymentRecord[] = [];
  for (let n = 0; n < 3; n++) {
    const pi = await sk.paymentIntents.create({ amount: 1500 + n, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    t.equal(pi.status, 'succeeded');
    records.push({ n, merchant_id: m.merchant_id, intent_id: pi.id, acked_status: pi.status, acked_at: Date.now(), declined_first: false, requests: 1, retries: 0, gave_up: null });
  }
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const db = stack.node.database!.db;
  const projection = async () =>
    (await sql<ProjectionRow>`select id, merchant_id, status, amount, amount_received, currency, last_seq from payment_intents where merchant_id = ${m.merchant_id}`.execute(db)).rows;
  const ledger = async () => ((await (await fetch(`${stack.epnUrl}/v1/ledger?merchant_id=${m.merchant_id}`)).json()) as { data: WireTransaction[] }).data;
  const base: CheckInputs = { nc, merchants: [m.merchant_id], records, projection, ledger, delivered: new Set() };
  const violated = async (x: Partial<CheckInputs>) =>
    Object.fromEntries((await checkInvariants({ ...base, delivered: new Set(receiver.received.keys()), ...x })).map((r) => [r.name, r.violations]));

  // Clean: wait for the projector and the webhooks, then nothing is wrong.
  const clean = await eventually(async () => {
    const v = await violated({});
    return Object.values(v).every((x) => x.length === 0) ? v : null;
  }, 20_000);
  t.same(Object.values(clean).flat(), [], 'a clean run passes every invariant');
  t.equal(Object.keys(clean).length, 5, 'five invariants checked');

  const lost = await violated({ records: [...records, { ...records[0]!, n: 99, intent_id: 'pi_never_written' }] });
  t.match(lost['acknowledged payments exist and are final']!.join('\n'), /pi_never_written.*not in the stream/, 'an acknowledged payment missing from the stream is caught');

  const doubled = await violated({
    ledger: async () => {
      const l = await ledger();
      return [...l, { ...l[0]!, network_ref: 'nr_second', reference: 'second' }];
    },
  });
  t.match(doubled['no double charge; network money = booked money']!.join('\n'), /2 live network transactions/, 'a second charge at the network is caught');

  const stale = await violated({ projection: async () => (await projection()).map((r, i) => (i === 0 ? { ...r, status: 'processing' } : r)) });
  t.match(stale['read model = replay of the stream']!.join('\n'), /read model status=processing, stream succeeded/, 'a stale read model row is caught');

  const undelivered = await violated({ delivered: new Set() });
  t.ok(undelivered['every subscribed event delivered or dead-lettered']!.length >= 3, 'undelivered events are caught');

  // A status that went backwards: fake an acknowledgement of `canceled` for a succeeded intent.
  const backwards = await violated({ records: [{ ...records[1]!, acked_status: 'canceled' }] });
  t.match(backwards['acknowledged payments exist and are final']!.join('\n'), /acknowledged canceled, now succeeded/, 'a terminal status that changed is caught');

  const histories = await readHistories(nc);
  t.ok([...histories.keys()].some((s) => s.includes(records[0]!.intent_id!)), 'the stream reader sees every intent subject');

  // Last, destructive: a forged commit (no decider would write it) moves a succeeded intent back.
  const [subject, commits] = [...histories].find(([s]) => s.includes(records[2]!.intent_id!))!;
  const last = commits[commits.length - 1]!.commit;
  const forged = { ...last, id: `${last.id}_forged`, state: { ...last.state, status: 'requires_payment_method' } } as Commit;
  await jetstream(nc).publish(subject, encodeCommit(forged));
  const back = await violated({});
  t.match(back['no terminal status went backwards']!.join('\n'), /succeeded → requires_payment_method/, 'a terminal status going backwards in the stream is caught');
});
