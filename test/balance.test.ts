// GET /v1/balance and POST /v1/refunds/:id/cancel through the official stripe SDK against the real
// stack: an empty balance lists the account's default currency at 0; captured charges are pending
// for BALANCE_PENDING_DAYS and then available; an uncaptured or declined charge adds nothing; a
// refund is taken from the available funds at once; the modes are apart; restricted keys need the
// balance permission; balance transactions (one per captured charge and per refund) are listed,
// retrieved and expanded. A card refund cannot be canceled (only requires_action refunds can, at Stripe).
import t from 'tap';
import Stripe from 'stripe';
import { eventually, startStack } from './helpers/stack.ts';
import { databaseEnv } from './helpers/postgres.ts';

const fails = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

// 0.0002 days = 17.28 s: long enough that a charge read right after it was made is surely pending,
// short enough to see it become available within the test.
const PENDING_S = 0.0002 * 86_400;

// On PGlite (npm start's default) and on Postgres (DATABASE_URL): the balance's sums and the balance
// transactions' one list over two tables are SQL of their own.
for (const database of ['pglite', 'postgres'] as const) t.test(`the balance, and refund cancel (${database})`, async (t) => {
  const env = await databaseEnv(t, database, 'paynats_balance');
  if (!env) return;
  const stack = await startStack(t, { ...env, BALANCE_PENDING_DAYS: '0.0002' });
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });
  const m = (await stack.onboard({ name: 'Balance Store' })) as Awaited<ReturnType<typeof stack.onboard>> & { live_secret_key: string };
  const stripe = sdk(m.secret_key);
  const amountsOf = (b: Stripe.Balance, part: 'available' | 'pending') => Object.fromEntries(b[part].map((x) => [x.currency, x.amount]));

  const empty = await stripe.balance.retrieve();
  t.same(
    empty,
    { object: 'balance', available: [{ amount: 0, currency: 'inr', source_types: { card: 0 } }], livemode: false, pending: [{ amount: 0, currency: 'inr', source_types: { card: 0 } }] },
    'nothing captured yet: the account’s default currency (INR for a GSTIN) at 0',
  );

  const startedAt = Date.now();
  const paid = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
  t.equal(paid.status, 'succeeded');
  await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: 'pm_card_mastercard', confirm: true });
  await stripe.paymentIntents.create({ amount: 900, currency: 'eur', payment_method: 'pm_card_visa', confirm: true });
  const held = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
  t.equal(held.status, 'requires_capture');
  t.match(await fails(stripe.paymentIntents.create({ amount: 400, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true })), { statusCode: 402 });

  // The balance reads the projection: read-your-writes waits for it, but at most a second (a busy
  // machine can lag more), so the reads here wait for what they expect, as a client would.
  const balanceWhen = (ok: (b: Stripe.Balance) => boolean) =>
    eventually(async () => {
      const b = await stripe.balance.retrieve();
      return ok(b) ? b : null;
    }, 10_000, 100);
  const pending = await balanceWhen((b) => amountsOf(b, 'pending').usd === 3500 && amountsOf(b, 'pending').eur === 900);
  t.ok(Date.now() - startedAt < PENDING_S * 1000, 'read within the pending window (else the machine is too slow for this check)');
  t.same(amountsOf(pending, 'pending'), { inr: 0, eur: 900, usd: 3500 }, 'captured charges are pending; the uncaptured and the declined one add nothing');
  t.same(amountsOf(pending, 'available'), { inr: 0, eur: 0, usd: 0 }, 'nothing available yet');
  t.same(pending.pending.find((x) => x.currency === 'usd')?.source_types, { card: 3500 }, 'all from cards');

  const refund = await stripe.refunds.create({ payment_intent: paid.id, amount: 500 });
  const refunded = await balanceWhen((b) => amountsOf(b, 'available').usd !== 0);
  t.same(amountsOf(refunded, 'available'), { inr: 0, eur: 0, usd: -500 }, 'a refund is taken from the available funds at once (which may go negative, as at Stripe)');
  t.same(amountsOf(refunded, 'pending'), { inr: 0, eur: 900, usd: 3500 });

  // Balance transactions: derived from the charges and refunds, one per captured charge and per refund.
  const charge = await stripe.charges.retrieve(paid.latest_charge as string, { expand: ['balance_transaction'] });
  const chargeTxn = charge.balance_transaction as Stripe.BalanceTransaction;
  t.match(chargeTxn, { object: 'balance_transaction', type: 'charge', reporting_category: 'charge', amount: 2000, fee: 0, net: 2000, currency: 'usd', source: charge.id, status: 'pending', fee_details: [] }, 'a captured charge’s balance transaction, expanded');
  t.match(chargeTxn.id, /^txn_/);
  t.ok(Math.abs(chargeTxn.available_on - (charge.created + Math.round(PENDING_S))) <= 1, 'available after the pending window');
  t.equal((await stripe.charges.retrieve(held.latest_charge as string)).balance_transaction, null, 'an uncaptured charge has none');
  const viaIntent = await stripe.paymentIntents.retrieve(paid.id, { expand: ['latest_charge.balance_transaction'] });
  t.same(((viaIntent.latest_charge as Stripe.Charge).balance_transaction as Stripe.BalanceTransaction).id, chargeTxn.id, 'expand latest_charge.balance_transaction on the intent');
  const refundTxn = (await stripe.refunds.retrieve(refund.id, { expand: ['balance_transaction'] })).balance_transaction as Stripe.BalanceTransaction;
  t.match(refundTxn, { type: 'refund', amount: -500, net: -500, source: refund.id, status: 'available' }, 'a refund leaves the available balance at once');
  t.same(await stripe.balanceTransactions.retrieve(chargeTxn.id), { ...chargeTxn }, 'retrieve by id');
  const txns = await stripe.balanceTransactions.list({ limit: 10 });
  t.same(txns.data.map((x) => x.type), ['refund', 'charge', 'charge', 'charge'], 'listed newest first: three captured charges and the refund');
  t.same(txns.data.map((x) => x.amount).sort((a, b) => a - b), [-500, 900, 1500, 2000]);
  t.same((await stripe.balanceTransactions.list({ type: 'refund' })).data.map((x) => x.id), [refundTxn.id], 'type filter');
  t.same((await stripe.balanceTransactions.list({ source: charge.id })).data.map((x) => x.id), [chargeTxn.id], 'source filter');
  t.same((await stripe.balanceTransactions.list({ currency: 'eur' })).data.map((x) => x.amount), [900], 'currency filter');
  t.same((await stripe.balanceTransactions.list({ type: 'payout' })).data, [], 'no payouts are made');
  const first = await stripe.balanceTransactions.list({ limit: 2 });
  t.equal(first.has_more, true);
  const rest = await stripe.balanceTransactions.list({ limit: 2, starting_after: first.data[1]!.id });
  t.same([...first.data, ...rest.data].map((x) => x.id), txns.data.map((x) => x.id), 'pages by starting_after');
  t.equal(rest.has_more, false);
  const back = await stripe.balanceTransactions.list({ limit: 2, ending_before: rest.data[0]!.id });
  t.same(back.data.map((x) => x.id), first.data.map((x) => x.id), 'and back by ending_before');
  t.match(await fails(stripe.balanceTransactions.retrieve('txn_nope')), { statusCode: 404, code: 'resource_missing' }, 'an unknown balance transaction is 404');
  t.same((await sdk(m.live_secret_key).balanceTransactions.list()).data, [], 'the other mode has none');

  const e = await fails(stripe.refunds.cancel(refund.id));
  t.match(e, { statusCode: 400, type: 'StripeInvalidRequestError' }, 'a card refund cannot be canceled');
  t.match(e?.message, new RegExp(`status of \`${refund.status}\``), 'the answer names its status');
  t.equal((await stripe.refunds.retrieve(refund.id)).status, refund.status, 'the refund is unchanged');
  t.match(await fails(stripe.refunds.cancel('re_nope')), { statusCode: 404, code: 'resource_missing' }, 'an unknown refund is 404');

  // The other mode has its own balance.
  const live = await sdk(m.live_secret_key).balance.retrieve();
  t.match(live, { livemode: true, available: [{ amount: 0, currency: 'inr' }], pending: [{ amount: 0, currency: 'inr' }] }, 'live mode sees none of the test charges');
  t.equal(live.available.length, 1);

  // Keys: the publishable key cannot; a restricted key needs rak_balance_read.
  t.match(await fails(sdk(m.publishable_key).balance.retrieve()), { statusCode: 401 }, 'not with the publishable key');
  const rk = async (permissions: Record<string, string>) => {
    const res = await fetch(`${stack.url}/admin/merchants/${m.merchant_id}/keys`, { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ permissions }) });
    return ((await res.json()) as { secret: string }).secret;
  };
  const denied = await fails(sdk(await rk({ charges: 'read' })).balance.retrieve());
  t.match(denied, { statusCode: 403, type: 'StripePermissionError' }, 'a restricted key without the balance permission is refused');
  t.match(denied?.message, /rak_balance_read/);
  t.same(amountsOf(await sdk(await rk({ balance: 'read' })).balance.retrieve(), 'pending'), { inr: 0, eur: 900, usd: 3500 }, 'with it, the same balance');

  // After the pending window the captured funds are available.
  const settled = await eventually(
    async () => {
      const b = await stripe.balance.retrieve();
      // Every currency's window: the EUR charge was made after the USD ones, so it settles later.
      return Object.values(amountsOf(b, 'pending')).every((v) => v === 0) ? b : null;
    },
    PENDING_S * 1000 + 20_000,
    500,
  );
  t.same(amountsOf(settled, 'available'), { inr: 0, eur: 900, usd: 3000 }, 'available: what was captured, less the refund');
  t.same(amountsOf(settled, 'pending'), { inr: 0, eur: 0, usd: 0 });
  t.equal((await stripe.balanceTransactions.retrieve(chargeTxn.id)).status, 'available', 'and its balance transaction is available');
});
