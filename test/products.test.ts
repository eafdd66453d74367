// Products and Prices through the official SDK against the real stack: create (with default_price_data,
// with the merchant's own id), retrieve, update, list with filters, delete (refused while priced);
// prices on a product or with product_data, unit_amount_decimal, recurring, update (what may change),
// lookup keys unique per merchant and mode (refused, or moved with transfer_lookup_key), list by
// lookup_keys; expand; events; a Checkout Session for catalogue prices; another merchant sees none of
// it (every route and the other mode: test/tenant-isolation.test.ts).
import t from 'tap';
import Stripe from 'stripe';
import { startStack, eventually } from './helpers/stack.ts';

const fails = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Stripe.errors.StripeError,
  );

t.test('products and prices', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });

  t.test('a product with its default price, in one request', async (t) => {
    const prod = await stripe.products.create({
      name: 'Gold plan',
      description: 'The best one',
      metadata: { tier: 'gold' },
      default_price_data: { currency: 'usd', unit_amount: 2000 },
      expand: ['default_price'],
    });
    t.match(prod.id, /^prod_[0-9a-f]{14}$/);
    t.equal(prod.object, 'product');
    t.equal(prod.active, true);
    t.equal(prod.name, 'Gold plan');
    t.strictSame(prod.metadata, { tier: 'gold' });
    const dp = prod.default_price as Stripe.Price;
    t.equal(dp.object, 'price', 'default_price expanded');
    t.match(dp.id, /^price_[0-9a-f]{24}$/);
    t.equal(dp.unit_amount, 2000);
    t.equal(String(dp.unit_amount_decimal), '2000', 'unit_amount_decimal: the same amount as a decimal');
    t.equal(dp.currency, 'usd');
    t.equal(dp.type, 'one_time');
    t.equal(dp.product, prod.id);
    const again = await stripe.products.retrieve(prod.id);
    t.equal(again.default_price, dp.id, 'retrieve names it');
    t.equal((await stripe.prices.retrieve(dp.id)).unit_amount, 2000, 'the price is found by its id');
    const deleted = await fails(stripe.products.del(prod.id));
    t.equal(deleted?.statusCode, 400, 'a product with prices cannot be deleted');
    t.match(deleted?.message, /cannot be deleted because it has one or more user-created prices/);
    t.equal((await stripe.products.retrieve(prod.id)).active, true, 'and nothing changed');
  });

  t.test('the merchant’s own id; a second product with it is refused', async (t) => {
    const p = await stripe.products.create({ id: 'basic-plan', name: 'Basic' });
    t.equal(p.id, 'basic-plan');
    t.equal(p.default_price, null);
    const dup = await fails(stripe.products.create({ id: 'basic-plan', name: 'Other' }));
    t.equal(dup?.statusCode, 400);
    t.equal(dup?.code, 'resource_already_exists');
    t.equal((await stripe.products.retrieve('basic-plan')).name, 'Basic', 'the first stays');
    // Keyed: the same request again is answered again, not refused.
    const key = `prod-${Date.now()}`;
    const a = await stripe.products.create({ id: 'keyed-plan', name: 'Keyed' }, { idempotencyKey: key });
    const b = await stripe.products.create({ id: 'keyed-plan', name: 'Keyed' }, { idempotencyKey: key });
    t.equal(b.id, a.id);
    t.equal(b.created, a.created);
  });

  t.test('update, archive, delete', async (t) => {
    const p = await stripe.products.create({ name: 'Mug', url: 'https://example.com/mug', images: ['https://example.com/mug.png'] });
    const u = await stripe.products.update(p.id, { name: 'Big mug', description: 'Ceramic', metadata: { color: 'blue' }, shippable: true });
    t.equal(u.name, 'Big mug');
    t.equal(u.description, 'Ceramic');
    t.equal(u.shippable, true);
    t.strictSame(u.images, ['https://example.com/mug.png']);
    t.ok(u.updated >= p.updated);
    const cleared = await stripe.products.update(p.id, { description: '', url: '' });
    t.equal(cleared.description, null, "'' unsets");
    t.equal(cleared.url, null);
    t.equal((await stripe.products.update(p.id, { active: false })).active, false, 'archived');
    const del = await stripe.products.del(p.id);
    t.strictSame(del, { id: p.id, object: 'product', deleted: true });
    t.strictSame(await stripe.products.retrieve(p.id), { id: p.id, object: 'product', deleted: true }, 'a deleted product answers as a stub');
    t.equal((await fails(stripe.products.update(p.id, { name: 'x' })))?.statusCode, 404, 'and takes no changes');
    t.equal((await fails(stripe.products.retrieve('prod_nope')))?.code, 'resource_missing');
  });

  t.test('prices: on a product, with product_data, recurring, decimal amounts; what may change', async (t) => {
    const prod = await stripe.products.create({ name: 'Widget' });
    const p1 = await stripe.prices.create({ product: prod.id, currency: 'EUR', unit_amount: 1500, nickname: 'standard', metadata: { a: '1' } });
    t.equal(p1.currency, 'eur', 'currency lowercased');
    t.equal(p1.product, prod.id);
    t.equal(p1.nickname, 'standard');
    t.equal(p1.billing_scheme, 'per_unit');
    t.equal(p1.tax_behavior, 'unspecified');
    const p2 = await stripe.prices.create({ product: prod.id, currency: 'usd', unit_amount_decimal: Stripe.Decimal.from('999'), recurring: { interval: 'month' } });
    t.equal(p2.unit_amount, 999, 'unit_amount_decimal of whole minor units');
    t.equal(p2.type, 'recurring');
    t.match(p2.recurring, { interval: 'month', interval_count: 1, usage_type: 'licensed' });
    const frac = await fails(stripe.prices.create({ product: prod.id, currency: 'usd', unit_amount_decimal: Stripe.Decimal.from('10.5') }));
    t.equal(frac?.param, 'unit_amount_decimal', 'a fraction of a cent is refused');
    const none = await fails(stripe.prices.create({ product: prod.id, currency: 'usd' }));
    t.equal(none?.code, 'parameter_missing');
    t.equal(none?.param, 'unit_amount');
    const noProduct = await fails(stripe.prices.create({ currency: 'usd', unit_amount: 100 }));
    t.equal(noProduct?.param, 'product');
    const missing = await fails(stripe.prices.create({ product: 'prod_missing', currency: 'usd', unit_amount: 100 }));
    t.equal(missing?.statusCode, 400);
    t.equal(missing?.code, 'resource_missing');
    const badCurrency = await fails(stripe.prices.create({ product: prod.id, currency: 'xyz', unit_amount: 100 }));
    t.equal(badCurrency?.param, 'currency');
    const withData = await stripe.prices.create({ currency: 'usd', unit_amount: 500, product_data: { name: 'Sticker' }, expand: ['product'] });
    const made = withData.product as Stripe.Product;
    t.equal(made.name, 'Sticker', 'product_data makes the product, expanded');
    t.equal(made.default_price, null, 'not as its default');
    t.equal((await stripe.prices.retrieve(withData.id)).product, made.id);

    const up = await stripe.prices.update(p1.id, { nickname: 'old', active: false, metadata: { b: '2' } });
    t.equal(up.active, false);
    t.equal(up.nickname, 'old');
    t.strictSame(up.metadata, { a: '1', b: '2' }, 'metadata merged');
    t.equal(up.unit_amount, 1500, 'the amount never changes');
    const amount = await fails(stripe.prices.update(p1.id, { unit_amount: 1 } as Stripe.PriceUpdateParams));
    t.equal(amount?.code, 'parameter_unknown', 'unit_amount is not an update parameter');
    const asDefault = await fails(stripe.products.update(prod.id, { default_price: p1.id }));
    t.match(asDefault?.message, /inactive/, 'an archived price cannot be the default');
    const d = await stripe.products.update(prod.id, { default_price: p2.id });
    t.equal(d.default_price, p2.id);
    const archiveDefault = await fails(stripe.prices.update(p2.id, { active: false }));
    t.equal(archiveDefault?.param, 'active', 'the default price cannot be archived');
    const other = await stripe.products.create({ name: 'Other' });
    const foreign = await fails(stripe.products.update(other.id, { default_price: p1.id }));
    t.equal(foreign?.param, 'default_price', 'a price of another product cannot be its default');

    const listed = await eventually(async () => {
      const l = await stripe.prices.list({ product: prod.id, limit: 10 });
      return l.data.length === 2 && l.data.some((x) => x.id === p1.id && x.active === false) ? l : null;
    }, 20_000);
    t.strictSame(listed.data.map((x) => x.id).sort(), [p2.id, p1.id].sort(), 'both (made in the same second: their order is by id)');
    t.strictSame((await stripe.prices.list({ product: prod.id, active: true })).data.map((x) => x.id), [p2.id], 'active filter');
    t.strictSame((await stripe.prices.list({ product: prod.id, type: 'recurring' })).data.map((x) => x.id), [p2.id], 'type filter');
    t.strictSame((await stripe.prices.list({ product: prod.id, currency: 'eur' })).data.map((x) => x.id), [p1.id], 'currency filter');
    const exp = await stripe.prices.list({ product: prod.id, expand: ['data.product'], limit: 1 });
    t.equal((exp.data[0]!.product as Stripe.Product).name, 'Widget', 'data.product expanded');
    const products = await eventually(async () => {
      const l = await stripe.products.list({ ids: [prod.id, other.id] });
      return l.data.length === 2 ? l : null;
    }, 20_000);
    t.strictSame(products.data.map((x) => x.id).sort(), [prod.id, other.id].sort(), 'products by ids');
    // Stripe's search over the catalogue.
    const found = await eventually(async () => {
      const r = await stripe.products.search({ query: "name~'Widg' AND active:'true'" });
      return r.data.length === 1 ? r : null;
    }, 20_000);
    t.equal(found.data[0]!.id, prod.id, 'products by name substring');
    const euros = await stripe.prices.search({ query: `product:'${prod.id}' AND currency:'eur'` });
    t.strictSame(euros.data.map((x) => x.id), [p1.id], 'prices by product and currency');
    const byMeta = await stripe.prices.search({ query: "metadata['b']:'2'" });
    t.ok(byMeta.data.some((x) => x.id === p1.id), 'prices by metadata');
    const badField = await fails(stripe.products.search({ query: "amount>5" }));
    t.equal(badField?.param, 'query', 'a field products do not have is refused');
    // Auto-pagination walks every product.
    const all: string[] = [];
    for await (const p of stripe.products.list({ limit: 2 })) all.push(p.id);
    t.ok(all.includes(prod.id) && all.includes(other.id) && new Set(all).size === all.length, 'auto-pagination: each product once');
  });

  t.test('lookup keys: unique per merchant and mode, moved by transfer_lookup_key', async (t) => {
    const prod = await stripe.products.create({ name: 'Seat' });
    const a = await stripe.prices.create({ product: prod.id, currency: 'usd', unit_amount: 1000, lookup_key: 'seat_monthly' });
    t.equal(a.lookup_key, 'seat_monthly');
    const clash = await fails(stripe.prices.create({ product: prod.id, currency: 'usd', unit_amount: 1200, lookup_key: 'seat_monthly' }));
    t.equal(clash?.statusCode, 400);
    t.equal(clash?.param, 'lookup_key');
    t.match(clash?.message, new RegExp(`A price \\(\`${a.id}\`\\) already uses that lookup key`));
    const b = await stripe.prices.create({ product: prod.id, currency: 'usd', unit_amount: 1200, lookup_key: 'seat_monthly', transfer_lookup_key: true });
    t.equal(b.lookup_key, 'seat_monthly');
    t.equal((await stripe.prices.retrieve(a.id)).lookup_key, null, 'moved off the old price');
    const found = await eventually(async () => {
      const l = await stripe.prices.list({ lookup_keys: ['seat_monthly'] });
      return l.data.length === 1 && l.data[0]!.id === b.id ? l : null;
    }, 20_000);
    t.equal(found.data[0]!.unit_amount, 1200, 'list by lookup_keys finds the one holding it');
    // Freed by an update: another price may take it.
    await stripe.prices.update(b.id, { lookup_key: '' });
    const c = await stripe.prices.update(a.id, { lookup_key: 'seat_monthly' });
    t.equal(c.lookup_key, 'seat_monthly', 'a freed key can be taken');
    const test2 = await stack.onboard();
    const other = new Stripe(test2.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 1 });
    const op = await other.products.create({ name: 'Their seat' });
    const theirs = await other.prices.create({ product: op.id, currency: 'usd', unit_amount: 1, lookup_key: 'seat_monthly' });
    t.equal(theirs.lookup_key, 'seat_monthly', 'another merchant has its own lookup keys');
    t.equal((await fails(other.prices.retrieve(c.id)))?.statusCode, 404, 'and sees none of our prices');
    t.equal((await fails(other.products.retrieve(prod.id)))?.statusCode, 404, 'or products');
    t.equal((await fails(other.prices.create({ product: prod.id, currency: 'usd', unit_amount: 1 })))?.code, 'resource_missing', 'nor can price them');
  });

  t.test('a Checkout Session for catalogue prices', async (t) => {
    const prod = await stripe.products.create({ name: 'Poster', description: 'A1 print', default_price_data: { currency: 'usd', unit_amount: 1250 } });
    const price = prod.default_price as string;
    const extra = await stripe.products.create({ name: 'Frame' });
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      success_url: 'https://example.com/ok?session={CHECKOUT_SESSION_ID}',
      line_items: [
        { price, quantity: 2 },
        { price_data: { currency: 'usd', unit_amount: 800, product: extra.id }, quantity: 1 },
      ],
    });
    t.equal(session.amount_total, 3300, '2 × 12.50 + 8.00');
    const items = await stripe.checkout.sessions.listLineItems(session.id);
    t.equal(items.data[0]!.price!.id, price, 'the catalogue price');
    t.equal(items.data[0]!.price!.product, prod.id);
    t.equal(items.data[0]!.price!.active, true);
    t.equal(items.data[0]!.description, 'Poster');
    t.equal(items.data[1]!.price!.product, extra.id, 'price_data with a product of the catalogue');
    t.equal(items.data[1]!.description, 'Frame');
    const recurring = await stripe.prices.create({ product: prod.id, currency: 'usd', unit_amount: 100, recurring: { interval: 'year' } });
    const r = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: [{ price: recurring.id, quantity: 1 }] }));
    t.equal(r?.param, 'line_items[0][price]');
    t.match(r?.message, /recurring price/);
    const nope = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: [{ price: 'price_000000000000000000000000', quantity: 1 }] }));
    t.equal(nope?.code, 'resource_missing');
    const eur = await stripe.prices.create({ product: prod.id, currency: 'eur', unit_amount: 100 });
    const mixed = await fails(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://example.com/ok', line_items: [{ price, quantity: 1 }, { price: eur.id, quantity: 1 }] }));
    t.match(mixed?.message, /same currency/);
  });

  t.test('events: product.* and price.*', async (t) => {
    const prod = await stripe.products.create({ name: 'Evented', default_price_data: { currency: 'usd', unit_amount: 300 } });
    await stripe.products.update(prod.id, { name: 'Evented 2' });
    const created = await eventually(async () => (await stripe.events.list({ type: 'product.created', limit: 20 })).data.find((e) => (e.data.object as Stripe.Product).id === prod.id), 20_000);
    t.equal((created.data.object as Stripe.Product).name, 'Evented');
    const updated = await eventually(async () => (await stripe.events.list({ type: 'product.updated', limit: 20 })).data.find((e) => (e.data.object as Stripe.Product).id === prod.id), 20_000);
    t.equal((updated.data.object as Stripe.Product).name, 'Evented 2');
    const price = await eventually(async () => (await stripe.events.list({ type: 'price.created', limit: 20 })).data.find((e) => (e.data.object as Stripe.Price).id === prod.default_price), 20_000);
    t.equal((price.data.object as Stripe.Price).unit_amount, 300);
  });
});
