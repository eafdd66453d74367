// Graceful degradation, the card network (issue 12 item 3). What a confirm answers while the EPN
// is down depends on whether the network may have executed the authorization:
//  - surely not (503 `outage` refused at its door, or the connection refused: the EPN process is
//    stopped): the attempt fails at once, as Stripe fails a charge its processor could not reach:
//    402 card_error `processing_error`, the intent back to requires_payment_method, nothing booked.
//    The same Idempotency-Key replays that answer; a new confirm after the network is back succeeds.
//  - maybe (it did not answer within EPN_TIMEOUT_MS): the attempt is in doubt, the intent
//    `processing`, and reconciliation settles it by inquiry once the network answers again.
// Either way the network's ledger ends with exactly one authorization per paid intent.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import Stripe from 'stripe';
import { buildEpnServer } from '../epn/sim/server.ts';
import { pickFreePort } from '../nats/server.ts';
import { startStack, eventually, type Onboarded } from './helpers/stack.ts';

const GOOD = '4242424242424242';
const EPN_TIMEOUT_MS = 1_500;

interface LedgerTx {
  network_ref: string;
  reference: string;
  intent_id?: string | null;
  status: string;
  amount: number;
}

/** An EPN simulator we can stop (connection refused) and start again on the same port and ledger. */
async function ownEpn(t: Test) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-epn-down-'));
  const port = await pickFreePort();
  const ledgerPath = path.join(dir, 'ledger.jsonl');
  let server: ReturnType<typeof buildEpnServer> | null = null;
  const up = async () => {
    server = buildEpnServer({ latencyMs: 0, ledgerPath });
    await server.listen({ host: '127.0.0.1', port });
  };
  const down = async () => {
    const s = server;
    server = null;
    await s?.close();
  };
  await up();
  t.teardown(async () => {
    await down();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    up,
    down,
    async faults(body: unknown) {
      const r = await fetch(`${url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!r.ok) throw new Error(`faults: ${r.status} ${await r.text()}`);
    },
    async ledger(merchantId: string): Promise<LedgerTx[]> {
      return ((await (await fetch(`${url}/v1/ledger?merchant_id=${merchantId}`)).json()) as { data: LedgerTx[] }).data;
    },
  };
}

async function setup(t: Test) {
  const epn = await ownEpn(t);
  const stack = await startStack(t, { EPN_URL: epn.url, EPN_TIMEOUT_MS: String(EPN_TIMEOUT_MS), RECONCILE_BACKOFF_MS: '200,400,800', RECONCILE_DEADLINE_MS: '60000', RECON_INQUIRY_AFTER_MS: '200' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  return { epn, stack, m, stripe };
}

/** POST /v1/payment_intents/:id/confirm, raw, timed. */
async function confirmRaw(url: string, m: Onboarded, id: string, pm: string, key: string) {
  const t0 = Date.now();
  const res = await fetch(`${url}/v1/payment_intents/${id}/confirm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': key },
    body: new URLSearchParams({ payment_method: pm }),
  });
  const body = (await res.json()) as { id?: string; status?: string; error?: { type: string; code?: string; charge?: string; payment_intent?: { status: string } } };
  return { status: res.status, body, ms: Date.now() - t0, replayed: res.headers.get('idempotent-replayed') };
}

async function newCardIntent(stripe: Stripe, amount: number) {
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: GOOD, exp_month: 12, exp_year: 2034, cvc: '123' } });
  const pi = await stripe.paymentIntents.create({ amount, currency: 'usd' });
  return { pm: pm.id, pi: pi.id };
}

for (const how of ['outage', 'stopped'] as const) {
  t.test(`EPN ${how === 'outage' ? 'in outage (503 outage)' : 'stopped (connection refused)'}: confirm fails fast with processing_error; after it is back a confirm succeeds once`, async (t) => {
    const { epn, stack, m, stripe } = await setup(t);
    const { pm, pi } = await newCardIntent(stripe, 4200);

    if (how === 'outage') await epn.faults({ outage: true });
    else await epn.down();

    const key = `idem_epn_${how}_${Date.now()}`;
    const first = await confirmRaw(stack.url, m, pi, pm, key);
    t.comment(`EPN ${how}: confirm answered ${first.status} in ${first.ms} ms (EPN timeout ${EPN_TIMEOUT_MS} ms)`);
    t.equal(first.status, 402, 'a card error, as Stripe answers a charge its processor could not reach');
    t.equal(first.body.error?.type, 'card_error');
    t.equal(first.body.error?.code, 'processing_error');
    t.equal(first.body.error?.payment_intent?.status, 'requires_payment_method');
    t.ok(first.ms < EPN_TIMEOUT_MS / 2, `fast: ${first.ms} ms, well under the EPN timeout`);
    const failedCharge = first.body.error?.charge;
    t.ok(failedCharge, 'the failed charge is named');

    const retrieved = await stripe.paymentIntents.retrieve(pi);
    t.equal(retrieved.status, 'requires_payment_method');
    t.equal(retrieved.last_payment_error?.code, 'processing_error');

    // The same Idempotency-Key replays the stored answer (Stripe: an idempotent request's result is saved, errors included).
    const replay = await confirmRaw(stack.url, m, pi, pm, key);
    t.equal(replay.status, 402, 'same key: the same answer');
    t.equal(replay.body.error?.charge, failedCharge, 'same key: the same failed charge');

    // The network is back.
    if (how === 'outage') await epn.faults({ outage: false });
    else await epn.up();
    t.same((await epn.ledger(m.merchant_id)).filter((x) => x.intent_id === pi), [], 'nothing was booked while it was down');

    const back0 = Date.now();
    const again = await confirmRaw(stack.url, m, pi, pm, `${key}_again`);
    t.comment(`EPN back: a new confirm answered ${again.status} in ${Date.now() - back0} ms`);
    t.equal(again.status, 200);
    t.equal(again.body.status, 'succeeded');
    const again2 = await confirmRaw(stack.url, m, pi, pm, `${key}_again`);
    t.equal(again2.status, 200, 'its replay');
    t.equal(again2.body.status, 'succeeded');

    const booked = (await epn.ledger(m.merchant_id)).filter((x) => x.intent_id === pi);
    t.equal(booked.length, 1, 'the network booked exactly one authorization: no double charge');
    t.equal(booked[0]?.amount, 4200);
    const charges = await eventually(async () => {
      const l = await stripe.charges.list({ payment_intent: pi }).catch(() => null);
      return l && l.data.length === 2 ? l : null;
    }, 15_000, 100);
    t.same(charges.data.map((c) => [c.status, c.failure_code ?? null]).sort(), [['failed', 'processing_error'], ['succeeded', null]], 'one failed charge (processing_error), one succeeded');
  });
}

t.test('EPN not answering (maybe received): the intent is processing, reconciliation settles it once after the EPN is back', async (t) => {
  const { epn, stack, m, stripe } = await setup(t);
  const { pm, pi } = await newCardIntent(stripe, 5100);
  // Every answer comes after the client's deadline: the network executes but we cannot know.
  await epn.faults({ latency_ms: EPN_TIMEOUT_MS * 3 });
  const key = `idem_epn_slow_${Date.now()}`;
  const first = await confirmRaw(stack.url, m, pi, pm, key);
  t.comment(`EPN not answering: confirm answered ${first.status} (${first.body.status}) in ${first.ms} ms (EPN timeout ${EPN_TIMEOUT_MS} ms)`);
  t.equal(first.status, 200);
  t.equal(first.body.status, 'processing', 'in doubt: processing, never failed blindly nor retried blindly');
  t.ok(first.ms < EPN_TIMEOUT_MS + 5_000, 'answered soon after the EPN timeout');

  // The EPN goes down entirely for a while; the intent stays processing.
  await epn.down();
  await new Promise((r) => setTimeout(r, 1_500));
  t.equal((await stripe.paymentIntents.retrieve(pi)).status, 'processing', 'still processing while the network is down');
  await epn.up(); // a fresh simulator on the same ledger: no latency fault
  const back0 = Date.now();
  const done = await eventually(async () => {
    const x = await stripe.paymentIntents.retrieve(pi);
    return x.status !== 'processing' ? x : null;
  }, 60_000, 100);
  t.comment(`reconciliation settled the in-doubt attempt ${Date.now() - back0} ms after the EPN was back: ${done.status}`);
  const booked = (await epn.ledger(m.merchant_id)).filter((x) => x.intent_id === pi);
  t.equal(booked.length, 1, 'the network booked it once (it executed the slow request)');
  t.equal(done.status, 'succeeded', 'and the intent says so');
  // The same key replays the first answer; a new confirm of a succeeded intent books nothing more.
  const replay = await confirmRaw(stack.url, m, pi, pm, key);
  t.equal(replay.status, 200);
  t.equal((await epn.ledger(m.merchant_id)).filter((x) => x.intent_id === pi).length, 1, 'still one authorization');
});
