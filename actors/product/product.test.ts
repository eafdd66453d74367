import t from 'tap';
import { spec } from '../testing.ts';
import { MAX_PRICES, productDecider, type NewPrice, type ProductCommand, type ProductEvent } from './product.ts';

const it = spec(productDecider);

const T0 = 1_700_000_000;

const price = (id: string, o: Partial<NewPrice> = {}): NewPrice => ({
  id,
  active: true,
  currency: 'usd',
  unit_amount: 2000,
  nickname: null,
  lookup_key: null,
  metadata: {},
  recurring: null,
  tax_behavior: 'unspecified',
  ...o,
});

const create: Extract<ProductCommand, { type: 'Create' }> = {
  type: 'Create',
  productId: 'prod_1',
  merchantId: 'acct_1',
  livemode: false,
  commandId: 'cmd_1',
  name: 'T-shirt',
  fields: { description: 'Cotton' },
  metadata: { sku: 'ts-1' },
  prices: [],
  defaultPrice: null,
  now: T0,
};

const created: ProductEvent = {
  type: 'product.created',
  at: T0,
  data: {
    id: 'prod_1',
    merchant_id: 'acct_1',
    livemode: false,
    name: 'T-shirt',
    active: true,
    description: 'Cotton',
    images: [],
    url: null,
    statement_descriptor: null,
    unit_label: null,
    shippable: null,
    tax_code: null,
    metadata: { sku: 'ts-1' },
    default_price: null,
    created: T0,
    updated: T0,
    created_by: 'cmd_1',
  },
};

const priced = (id: string, o: Partial<NewPrice> = {}): ProductEvent => ({ type: 'price.created', at: T0 + 1, data: { ...price(id, o), created: T0 + 1 } });
const addPrice = (id: string, o: Partial<NewPrice> = {}): ProductCommand => ({ type: 'AddPrice', price: price(id, o), now: T0 + 1 });

t.test('a new product: created, with no prices and no default price', async (t) => {
  it.given(t, []).when(create).then([created]).thenState({ name: 'T-shirt', active: true, prices: [], default_price: null });
});

t.test('default_price_data: the product and its default price in one decision', async (t) => {
  it.given(t, [])
    .when({ ...create, prices: [price('price_1')], defaultPrice: 'price_1' })
    .then([{ ...created, data: { ...(created.data as object), default_price: 'price_1' } } as ProductEvent, { type: 'price.created', at: T0, data: { ...price('price_1'), created: T0 } }])
    .thenState((s) => s?.default_price === 'price_1' && s.prices.length === 1 && s.prices[0]!.unit_amount === 2000);
});

t.test('product_data: a product made with a price that is not its default', async (t) => {
  it.given(t, [])
    .when({ ...create, prices: [price('price_1')] })
    .then([created, { type: 'price.created', at: T0, data: { ...price('price_1'), created: T0 } }])
    .thenState((s) => s?.default_price === null && s.prices.length === 1);
  it.given(t, []).when({ ...create, prices: [], defaultPrice: 'price_1' }).thenThrows('resource_missing', { param: 'default_price' });
});

t.test('the same create twice writes nothing; another create with the id is refused', async (t) => {
  it.given(t, [created]).when(create).thenNothing();
  it.given(t, [created]).when({ ...create, commandId: 'cmd_2' }).thenThrows('resource_already_exists', { param: 'id', status: 400 });
});

t.test('update: only what changed; metadata merged; nothing changed writes nothing', async (t) => {
  it.given(t, [created])
    .when({ type: 'Update', changes: { name: 'Tee', description: 'Cotton' }, metadata: { color: 'red' }, now: T0 + 5 })
    .then([{ type: 'product.updated', at: T0 + 5, data: { name: 'Tee', metadata: { sku: 'ts-1', color: 'red' } } }])
    .thenState({ name: 'Tee', updated: T0 + 5 });
  it.given(t, [created]).when({ type: 'Update', changes: { name: 'T-shirt' }, metadata: { sku: 'ts-1' }, now: T0 + 5 }).thenNothing();
  it.given(t, []).when({ type: 'Update', changes: { name: 'x' }, now: T0 }).thenThrows('resource_missing', { status: 404 });
});

t.test('default_price must be one of its own active prices', async (t) => {
  it.given(t, [created, priced('price_1')])
    .when({ type: 'Update', changes: {}, defaultPrice: 'price_1', now: T0 + 2 })
    .then([{ type: 'product.updated', at: T0 + 2, data: { default_price: 'price_1' } }]);
  it.given(t, [created]).when({ type: 'Update', changes: {}, defaultPrice: 'price_other', now: T0 + 2 }).thenThrows('resource_missing', { param: 'default_price' });
  it.given(t, [created, priced('price_1', { active: false })])
    .when({ type: 'Update', changes: {}, defaultPrice: 'price_1', now: T0 + 2 })
    .thenThrows('parameter_invalid', { param: 'default_price' });
});

t.test('prices: added once, at most MAX_PRICES, only to a product that exists', async (t) => {
  it.given(t, [created]).when(addPrice('price_1')).then([priced('price_1')]).thenState((s) => s?.prices.map((p) => p.id).join() === 'price_1');
  it.given(t, [created, priced('price_1')]).when(addPrice('price_1')).thenNothing();
  it.given(t, []).when(addPrice('price_1')).thenThrows('resource_missing', { param: 'product', status: 404 });
  const full = [created, ...Array.from({ length: MAX_PRICES }, (_, n) => priced(`price_${n}`))];
  it.given(t, full).when(addPrice('price_x')).thenThrows('parameter_invalid', { param: 'product' });
});

t.test('price update: only what may change; the default price cannot be archived; tax_behavior set once', async (t) => {
  it.given(t, [created, priced('price_1')])
    .when({ type: 'UpdatePrice', priceId: 'price_1', changes: { active: false, nickname: 'old' }, metadata: { a: '1' }, now: T0 + 3 })
    .then([{ type: 'price.updated', at: T0 + 3, data: { id: 'price_1', active: false, nickname: 'old', metadata: { a: '1' } } }])
    .thenState((s) => s?.prices[0]?.active === false && s.prices[0].unit_amount === 2000);
  it.given(t, [created, priced('price_1')]).when({ type: 'UpdatePrice', priceId: 'price_1', changes: { active: true }, now: T0 + 3 }).thenNothing();
  it.given(t, [created, priced('price_1'), { type: 'product.updated', at: T0 + 2, data: { default_price: 'price_1' } }])
    .when({ type: 'UpdatePrice', priceId: 'price_1', changes: { active: false }, now: T0 + 3 })
    .thenThrows('parameter_invalid', { param: 'active' });
  it.given(t, [created, priced('price_1', { tax_behavior: 'exclusive' })])
    .when({ type: 'UpdatePrice', priceId: 'price_1', changes: { tax_behavior: 'inclusive' }, now: T0 + 3 })
    .thenThrows('parameter_invalid', { param: 'tax_behavior' });
  it.given(t, [created, priced('price_1')])
    .when({ type: 'UpdatePrice', priceId: 'price_1', changes: { tax_behavior: 'inclusive' }, now: T0 + 3 })
    .then([{ type: 'price.updated', at: T0 + 3, data: { id: 'price_1', tax_behavior: 'inclusive' } }]);
  it.given(t, [created]).when({ type: 'UpdatePrice', priceId: 'price_9', changes: { active: false }, now: T0 + 3 }).thenThrows('resource_missing', { status: 404 });
});

t.test('delete: refused while it has prices; a deleted product takes no more changes', async (t) => {
  it.given(t, [created, priced('price_1')]).when({ type: 'Delete', now: T0 + 9 }).thenThrows('product_has_prices', { status: 400 });
  const deleted: ProductEvent = { type: 'product.deleted', at: T0 + 9, data: {} };
  it.given(t, [created]).when({ type: 'Delete', now: T0 + 9 }).then([deleted]).thenState({ deleted: true, active: false });
  it.given(t, [created, deleted]).when({ type: 'Delete', now: T0 + 10 }).thenNothing();
  it.given(t, [created, deleted]).when({ type: 'Update', changes: { name: 'x' }, now: T0 + 10 }).thenThrows('resource_missing', { status: 404 });
  it.given(t, [created, deleted]).when(addPrice('price_2')).thenThrows('resource_missing', { param: 'product' });
});
