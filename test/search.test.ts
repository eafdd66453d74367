// Stripe's search: the query language (stripe/search.ts), pure, and GET /v1/payment_intents/search
// and /v1/customers/search through the official stripe SDK against the real stack (metadata,
// numbers, AND / OR, negation, substrings, pages by next_page, errors, another merchant sees nothing).
import t from 'tap';
import Stripe from 'stripe';
import { parseSearchQuery } from '../stripe/search.ts';
import { startStack, eventually } from './helpers/stack.ts';
import { databaseEnv } from './helpers/postgres.ts';

const fails = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

t.test('the query language', async (t) => {
  t.same(parseSearchQuery('payment_intents', "status:'succeeded' AND metadata['order_id']:'6735'"), {
    join: 'AND',
    clauses: [
      { field: 'status', negate: false, cmp: ':', value: 'succeeded' },
      { field: 'metadata', key: 'order_id', negate: false, cmp: ':', value: '6735' },
    ],
  });
  t.same(parseSearchQuery('payment_intents', 'amount>=1000 OR -currency:"usd"'), {
    join: 'OR',
    clauses: [
      { field: 'amount', negate: false, cmp: '>=', value: 1000 },
      { field: 'currency', negate: true, cmp: ':', value: 'usd' },
    ],
  });
  t.same(parseSearchQuery('customers', 'email~"example.com"').clauses[0], { field: 'email', negate: false, cmp: '~', value: 'example.com' });
  t.same(parseSearchQuery('customers', "name:'Jenny Rosen'").clauses[0]!.value, 'Jenny Rosen', 'a quoted value keeps its spaces');
  t.same(parseSearchQuery('charges', "-refunded:'true' AND payment_method_details.card.last4:'4242'").clauses, [
    { field: 'refunded', negate: true, cmp: ':', value: 'true', bool: true },
    { field: 'payment_method_details.card.last4', negate: false, cmp: ':', value: '4242' },
  ], 'true/false fields and dotted field names (charges)');
  for (const q of ["refunded:'yes'", 'refunded>1', "payment_method_details.card.cvc:'1'"]) t.throws(() => parseSearchQuery('charges', q), { code: 'parameter_invalid' }, q);
  const bad = [
    '',
    'status',
    "status:'x' AND amount>1 OR currency:'usd'",
    "nope:'x'",
    "amount:'ten'",
    'amount~100',
    "status>'a'",
    "metadata:'x'",
    "email~'ab'",
    "status:'open",
    "status:'a' AND",
    "status~'succ'",
  ];
  for (const q of bad) {
    const res = (() => {
      try {
        parseSearchQuery(q.includes('email') ? 'customers' : 'payment_intents', q);
        return null;
      } catch (e) {
        return e as { status: number; code: string; param: string };
      }
    })();
    t.match(res, { status: 400, code: 'parameter_invalid', param: 'query' }, `refused: ${JSON.stringify(q)}`);
  }
});

for (const database of ['pglite', 'postgres'] as const) t.test(`search through the official stripe SDK (${database})`, async (t) => {
  const env = await databaseEnv(t, database, 'paynats_search');
  if (!env) return;
  const stack = await startStack(t, env);
  const sdk = (key: string) => new Stripe(key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
  const m = await stack.onboard();
  const other = await stack.onboard({ name: 'Other Store' });
  const stripe = sdk(m.secret_key);
  const jenny = await stripe.customers.create({ email: 'jenny.rosen@example.com', name: 'Jenny Rosen', metadata: { tier: 'gold' } });
  const sam = await stripe.customers.create({ email: 'sam@shop.test', name: 'Sam' });
  const paid = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd', customer: jenny.id, metadata: { order_id: '6735' }, payment_method: 'pm_card_visa', confirm: true });
  const open = await stripe.paymentIntents.create({ amount: 900, currency: 'eur', metadata: { order_id: '6736' } });
  const big = await stripe.paymentIntents.create({ amount: 50_000, currency: 'usd', customer: sam.id, metadata: { order_id: '6737' } });
  const ids = (r: { data: { id: string }[] }) => r.data.map((x) => x.id);
  /** The API's order: newest first, then by id descending (objects made within one second). */
  const newest = (...xs: { id: string; created: number }[]) => [...xs].sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1)).map((x) => x.id);
  // Search reads the projection: a moment behind, as Stripe's is.
  await eventually(async () => (await stripe.paymentIntents.search({ query: "metadata['order_id']:'6737'" })).data.length === 1);

  t.same(ids(await stripe.paymentIntents.search({ query: "metadata['order_id']:'6735'" })), [paid.id], 'by metadata');
  const byStatus = await stripe.paymentIntents.search({ query: "status:'succeeded' AND currency:'usd'" });
  t.same(ids(byStatus), [paid.id]);
  t.equal(byStatus.object, 'search_result');
  t.equal(byStatus.url, '/v1/payment_intents/search');
  t.same(ids(await stripe.paymentIntents.search({ query: 'amount>1000' })), newest(big, paid), 'numbers, newest first');
  t.same(ids(await stripe.paymentIntents.search({ query: `customer:'${sam.id}' OR currency:'eur'` })), newest(big, open), 'OR');
  t.same(ids(await stripe.paymentIntents.search({ query: "-currency:'usd'" })), [open.id], 'negation');
  t.same(ids(await stripe.paymentIntents.search({ query: `-customer:'${sam.id}' AND amount<=2500` })), newest(open, paid), 'a negation holds where the field is empty');

  const first = await stripe.paymentIntents.search({ query: 'amount>0', limit: 2 });
  t.equal(first.has_more, true);
  t.type(first.next_page, 'string');
  const second = await stripe.paymentIntents.search({ query: 'amount>0', limit: 2, page: first.next_page! });
  t.same([...ids(first), ...ids(second)], newest(big, open, paid), 'next_page pages on');
  t.equal(second.next_page, null);
  const all: string[] = [];
  for await (const pi of stripe.paymentIntents.search({ query: 'amount>0', limit: 1 })) all.push(pi.id);
  t.same(all, newest(big, open, paid), 'auto-pagination');
  const expanded = await stripe.paymentIntents.search({ query: "metadata['order_id']:'6735'", expand: ['data.customer'] });
  t.equal((expanded.data[0]!.customer as Stripe.Customer).email, 'jenny.rosen@example.com', 'expand[]=data.customer');

  await eventually(async () => (await stripe.customers.search({ query: "name:'Sam'" })).data.length === 1);
  t.same(ids(await stripe.customers.search({ query: 'email~"example.com"' })), [jenny.id], 'customers by e-mail substring');
  t.same(ids(await stripe.customers.search({ query: "metadata['tier']:'gold'" })), [jenny.id]);
  t.same(ids(await stripe.customers.search({ query: "name~'sam' OR name~'jenny'" })), newest(sam, jenny));

  const e = await stripe.paymentIntents.search({ query: "colour:'red'" }).then(
    () => null,
    (err: unknown) => err as Stripe.errors.StripeError,
  );
  t.match(e, { statusCode: 400, code: 'parameter_invalid', param: 'query' });
  t.same(ids(await sdk(other.secret_key).paymentIntents.search({ query: 'amount>0' })), [], 'another merchant finds nothing of it');

  // Charges: one per attempt, with their intent's customer; metadata as the charge shows it.
  const amex = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', metadata: { order_id: '6738' }, payment_method: 'pm_card_amex', confirm: true });
  const paidCharge = paid.latest_charge as string;
  const amexCharge = amex.latest_charge as string;
  await stripe.refunds.create({ charge: amexCharge });
  await stripe.charges.update(paidCharge, { metadata: { shipped: 'yes' } });
  await eventually(async () => (await stripe.charges.search({ query: "metadata['shipped']:'yes'" })).data.length === 1 && (await stripe.charges.search({ query: 'refunded:"true"' })).data.length === 1);
  const charges = await stripe.charges.search({ query: "status:'succeeded'" });
  t.equal(charges.url, '/v1/charges/search');
  t.same(ids(charges).sort(), [amexCharge, paidCharge].sort(), 'charges by status');
  t.same(ids(await stripe.charges.search({ query: `customer:'${jenny.id}'` })), [paidCharge], 'by the intent’s customer');
  t.same(ids(await stripe.charges.search({ query: "metadata['order_id']:'6735'" })), [paidCharge], 'by the metadata it shows (its intent’s)');
  t.same(ids(await stripe.charges.search({ query: "metadata['shipped']:'yes'" })), [paidCharge], 'and its own after a charge update');
  t.same(ids(await stripe.charges.search({ query: 'refunded:"true"' })), [amexCharge], 'refunded');
  t.same(ids(await stripe.charges.search({ query: '-refunded:"true" AND amount>=700' })), [paidCharge], 'negated');
  t.same(ids(await stripe.charges.search({ query: "payment_method_details.card.last4:'0005'" })), [amexCharge], 'by the card’s last 4');
  t.same(ids(await stripe.charges.search({ query: `payment_intent:'${paid.id}'` })), [paidCharge]);
  t.same(ids(await stripe.charges.search({ query: 'disputed:"true"' })), [], 'nothing is disputed');
  t.match(await fails(stripe.charges.search({ query: "refunded:'maybe'" })), { statusCode: 400, param: 'query' }, 'a true/false field takes true or false');
  t.same(ids(await sdk(other.secret_key).charges.search({ query: 'amount>0' })), [], 'another merchant finds none of them');
});
