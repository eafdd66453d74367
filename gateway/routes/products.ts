// /v1/products and /v1/prices: Stripe's catalogue. A product holds its prices (actors/product: one
// single writer for both), so a product made with its default price is one commit and a product with
// prices cannot be deleted. A price id finds its product through pay_index (written before the
// price); a lookup_key is unique per merchant and mode (claimed there by compare-and-set). Secret
// keys only; a product or price of another merchant or of the other mode does not exist for the key.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { priceIn, type NewPrice, type Price, type Product, type ProductCommand, type ProductFields } from '../../actors/mod.ts';
import { cannotExpand, expandOnly, invalidParam, noSuch, onlyOneOf } from '../../stripe/errors.ts';
import { MAX_AMOUNT } from '../../stripe/currencies.ts';
import { renderPrice, renderProduct } from '../../stripe/objects.ts';
import { ID_PATTERN } from '../../streams/subjects.ts';
import type { ProductRecord } from '../../storage/mod.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type CommandIdem, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import type { PriceEntry } from '../pay-index.ts';
import { claimUniqueName } from '../unique-names.ts';
import { checkCursors, itemExpand, listObject, searchResult } from '../lists.ts';
import { parseSearchQuery } from '../../stripe/search.ts';
import { checkCurrency } from './payment-intents.ts';
import {
  CreatePriceBody,
  CreateProductBody,
  IdParams,
  ListPricesQuery,
  ListProductsQuery,
  RetrieveCustomerQuery as RetrieveExpand,
  SearchQuery,
  UpdatePriceBody,
  UpdateProductBody,
} from '../schemas.ts';

const now = () => Math.floor(Date.now() / 1000);
const emptyToNull = <T>(v: T | '' | undefined): T | null | undefined => (v === undefined ? undefined : v === '' ? null : v);
const livemodeOf = (p: Principal) => p.mode === 'live';

/** A product of this key's merchant and mode (deleted ones too), or null. */
export async function readOwnProduct(deps: Pick<GatewayDeps, 'readProduct'>, p: Principal, id: string): Promise<Product | null> {
  if (!ID_PATTERN.test(id)) return null;
  const s = await deps.readProduct(p.merchant_id, id);
  return s && s.merchant_id === p.merchant_id && s.livemode === livemodeOf(p) ? s : null;
}

/** A price of this key's merchant and mode, with the product holding it, or null. */
export async function readOwnPrice(deps: Pick<GatewayDeps, 'readProduct' | 'catalogue'>, p: Principal, id: string): Promise<{ price: Price; product: Product } | null> {
  const e = await deps.catalogue.read<PriceEntry>('price', id);
  if (!e || e.merchant_id !== p.merchant_id || e.livemode !== livemodeOf(p)) return null;
  const product = await readOwnProduct(deps, p, e.product_id);
  const price = priceIn(product, id);
  return price && product ? { price, product } : null;
}

/** A unit amount as sent (unit_amount, or unit_amount_decimal holding a whole number of minor units). */
function unitAmountOf(b: { unit_amount?: number; unit_amount_decimal?: string }, at = ''): number {
  if (b.unit_amount !== undefined && b.unit_amount_decimal !== undefined) throw onlyOneOf(`${at}unit_amount`, `${at}unit_amount_decimal`);
  let amount = b.unit_amount;
  if (b.unit_amount_decimal !== undefined) {
    const [whole, frac = ''] = b.unit_amount_decimal.split('.');
    if (/[1-9]/.test(frac)) throw invalidParam(`${at}unit_amount_decimal`, 'unit_amount_decimal must be a whole number of the currency\'s minor unit here (no fractions of a cent).');
    amount = Number(whole);
  }
  if (amount === undefined) throw invalidParam(`${at}unit_amount`, `Missing required param: ${at}unit_amount.`, 'parameter_missing');
  if (amount > MAX_AMOUNT) throw invalidParam(`${at}unit_amount`, `Amount must be no more than ${MAX_AMOUNT}.`, 'amount_too_large');
  return amount;
}

type PriceInput = {
  currency: string;
  unit_amount?: number;
  unit_amount_decimal?: string;
  recurring?: { interval: string; interval_count?: number };
  tax_behavior?: 'inclusive' | 'exclusive' | 'unspecified';
  metadata?: Record<string, string> | '';
  active?: boolean;
  nickname?: string;
  lookup_key?: string;
};

/** A new price from what a request gives; `at` prefixes the params it names (default_price_data[…]). */
function newPrice(id: string, b: PriceInput, at = ''): NewPrice {
  return {
    id,
    active: b.active ?? true,
    currency: checkCurrency(b.currency),
    unit_amount: unitAmountOf(b, at),
    nickname: b.nickname ?? null,
    lookup_key: b.lookup_key ?? null,
    metadata: b.metadata || {},
    recurring: b.recurring ? { interval: b.recurring.interval as NonNullable<NewPrice['recurring']>['interval'], interval_count: b.recurring.interval_count ?? 1 } : null,
    tax_behavior: b.tax_behavior ?? 'unspecified',
  };
}

/** The product fields a create or update gives, '' as null. */
function fieldsOf(b: CreateProductBody | UpdateProductBody): ProductFields {
  const f: ProductFields = {};
  if (b.name !== undefined) f.name = b.name;
  if (b.active !== undefined) f.active = b.active;
  for (const k of ['description', 'url', 'statement_descriptor', 'unit_label', 'tax_code'] as const) {
    const v = emptyToNull(b[k]);
    if (v !== undefined) f[k] = v;
  }
  if (b.images !== undefined) f.images = b.images || [];
  if (b.shippable !== undefined) f.shippable = b.shippable;
  return f;
}

function renderProductExpanded(s: Product, expand: readonly string[] | undefined): Record<string, unknown> {
  expandOnly(expand, 'default_price');
  const o = renderProduct(s);
  const price = expand?.length && s.default_price ? priceIn(s, s.default_price) : undefined;
  if (price) o.default_price = renderPrice(price, s);
  return o;
}

function renderPriceExpanded(price: Price, product: Product, expand: readonly string[] | undefined): Record<string, unknown> {
  expandOnly(expand, 'product');
  return renderPrice(price, expand?.includes('product') ? { id: product.id, livemode: product.livemode, expanded: renderProduct(product) } : product);
}

/**
 * Claims a lookup key for a price before the price is written. The key held by a price that still has
 * it: refused, or (transfer_lookup_key) taken from it first. Held by this very price (a retried
 * request) or by nothing live: taken.
 */
async function claimLookupKey(deps: GatewayDeps, req: FastifyRequest, p: Principal, key: string, priceId: string, productId: string, transfer: boolean, idem: CommandIdem | undefined): Promise<void> {
  await claimUniqueName(deps.catalogue, 'lookup_key', p.merchant_id, livemodeOf(p), key, { id: priceId, holder: productId }, {
    param: 'lookup_key',
    stillHolds: async (e) => priceIn(await readOwnProduct(deps, p, e.holder), e.id)?.lookup_key === key,
    held: async (e) => {
      if (!transfer) throw invalidParam('lookup_key', `A price (\`${e.id}\`) already uses that lookup key.`, 'lookup_key_in_use');
      const cmdId = commandId(scopeOf(p), `lookup_key transfer ${key} ${e.id} → ${priceId}`, idempotencyKeyOf(req));
      await deps.commands.send({
        op: 'product.change',
        merchantId: p.merchant_id,
        productId: e.holder,
        command: { type: 'UpdatePrice', priceId: e.id, changes: { lookup_key: null }, now: now() },
        ctx: commandCtx(req, p, cmdId),
      }, idem?.trace);
    },
  });
}

export function registerProducts(app: FastifyInstance, deps: GatewayDeps): void {
  async function send(req: FastifyRequest, p: Principal, productId: string, command: Exclude<ProductCommand, { type: 'Create' }>, cmdId: string, idem: CommandIdem | undefined): Promise<Product> {
    return (await deps.commands.send({ op: 'product.change', merchantId: p.merchant_id, productId, command, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace)) as Product;
  }

  /** Creates a product (with the prices made with it: default_price_data's, or the one whose product_data it is). */
  async function createProduct(req: FastifyRequest, p: Principal, cmdId: string, productId: string, b: { name: string; metadata?: Record<string, string> | '' }, fields: ProductFields, prices: NewPrice[], defaultPrice: string | null, idem: CommandIdem | undefined): Promise<Product> {
    for (const price of prices) await deps.catalogue.write(price.id, { merchant_id: p.merchant_id, product_id: productId, livemode: livemodeOf(p) });
    const { name: _name, ...rest } = fields;
    return (await deps.commands.send({
      op: 'product.create',
      merchantId: p.merchant_id,
      productId,
      command: { type: 'Create', productId, merchantId: p.merchant_id, livemode: livemodeOf(p), commandId: cmdId, name: b.name, fields: rest, metadata: b.metadata || {}, prices, defaultPrice, now: now() },
      ctx: commandCtx(req, p, cmdId, idem),
    }, idem?.trace)) as Product;
  }

  app.post<{ Body: CreateProductBody }>('/v1/products', { schema: { body: CreateProductBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const fields = fieldsOf(b);
    const cmdId = commandId(scopeOf(p), 'POST /v1/products', idempotencyKeyOf(req));
    const productId = b.id ?? `prod_${derivedId('p', cmdId).slice(2, 16)}`;
    const dp = b.default_price_data ? newPrice(derivedId('price', cmdId), b.default_price_data, 'default_price_data[') : null;
    if (dp && b.default_price_data?.unit_amount === undefined && b.default_price_data?.unit_amount_decimal === undefined) throw invalidParam('default_price_data[unit_amount]', 'Missing required param: default_price_data[unit_amount].', 'parameter_missing');
    expandOnly(b.expand, 'default_price');
    return idempotentCommands(req, reply, deps, async (idem) => {
      const s = await createProduct(req, p, cmdId, productId, b, fields, dp ? [dp] : [], dp?.id ?? null, idem);
      return { status: 200, body: renderProductExpanded(s, b.expand) };
    });
  });

  /** A listed product; default_price expanded needs the price, which the product's own snapshot holds. */
  async function renderListedProduct(p: Principal, s: ProductRecord, expand: readonly string[]): Promise<Record<string, unknown>> {
    return expand.length ? renderProductExpanded((await readOwnProduct(deps, p, s.id)) ?? { ...s, prices: [] }, expand) : renderProduct(s);
  }

  // Stripe's search (stripe/search.ts): active, created, description, name, shippable, url, metadata.
  app.get<{ Querystring: SearchQuery }>('/v1/products/search', { schema: { querystring: SearchQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const expand = itemExpand(q.expand);
    expandOnly(expand, 'default_price');
    const page = await deps.searchProducts({ merchantId: p.merchant_id, livemode: livemodeOf(p), query: parseSearchQuery('products', q.query), limit: q.limit ?? 10, ...(q.page ? { after: q.page } : {}) });
    const data = await Promise.all(page.data.map((s) => renderListedProduct(p, s, expand)));
    return searchResult('/v1/products/search', data, page.hasMore, page.data.at(-1)?.id);
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpand }>('/v1/products/:id', { schema: { params: IdParams, querystring: RetrieveExpand } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const s = await readOwnProduct(deps, p, req.params.id);
    if (!s) throw noSuch('product', req.params.id);
    return renderProductExpanded(s, req.query.expand);
  });

  app.post<{ Params: IdParams; Body: UpdateProductBody }>('/v1/products/:id', { schema: { params: IdParams, body: UpdateProductBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const id = req.params.id;
    const changes = fieldsOf(b);
    expandOnly(b.expand, 'default_price');
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/products/${id}`, idempotencyKeyOf(req));
      const s = await send(req, p, id, { type: 'Update', changes, ...(b.metadata !== undefined ? { metadata: b.metadata } : {}), ...(b.default_price !== undefined ? { defaultPrice: b.default_price || null } : {}), now: now() }, cmdId, idem);
      return { status: 200, body: renderProductExpanded(s, b.expand) };
    });
  });

  // Stripe's delete: refused while the product has prices (archive it with active=false instead).
  app.delete<{ Params: IdParams }>('/v1/products/:id', { schema: { params: IdParams } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const id = req.params.id;
    const before = await readOwnProduct(deps, p, id);
    if (!before) throw noSuch('product', id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      // Deleted already: only the repeat of the request that deleted it gets its answer again.
      if (before.deleted && !idem) throw noSuch('product', id);
      const cmdId = commandId(scopeOf(p), `DELETE /v1/products/${id}`, idempotencyKeyOf(req));
      const s = await send(req, p, id, { type: 'Delete', now: now() }, cmdId, idem);
      if (before.deleted && !idem?.trace.replayed) throw noSuch('product', id);
      return { status: 200, body: renderProduct(s) };
    });
  });

  app.get<{ Querystring: ListProductsQuery }>('/v1/products', { schema: { querystring: ListProductsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    const expand = (q.expand ?? []).map((e) => {
      if (!e.startsWith('data.')) throw cannotExpand(e);
      return e.slice(5);
    });
    const page = await deps.listProducts({
      merchantId: p.merchant_id,
      livemode: livemodeOf(p),
      limit: q.limit ?? 10,
      ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
      ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
      ...(q.active !== undefined ? { active: q.active } : {}),
      ...(q.ids !== undefined ? { ids: q.ids } : {}),
      ...(q.shippable !== undefined ? { shippable: q.shippable } : {}),
      ...(q.url !== undefined ? { url: q.url } : {}),
      ...(q.created !== undefined ? { created: typeof q.created === 'number' ? { gte: q.created, lte: q.created } : q.created } : {}),
    });
    return listObject('/v1/products', await Promise.all(page.data.map((s) => renderListedProduct(p, s, expand))), page.hasMore);
  });

  app.post<{ Body: CreatePriceBody }>('/v1/prices', { schema: { body: CreatePriceBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    if (b.product !== undefined && b.product_data !== undefined) throw onlyOneOf('product', 'product_data');
    if (b.product === undefined && b.product_data === undefined) throw invalidParam('product', 'Missing required param: product.', 'parameter_missing');
    expandOnly(b.expand, 'product');
    const cmdId = commandId(scopeOf(p), 'POST /v1/prices', idempotencyKeyOf(req));
    const price = newPrice(derivedId('price', cmdId), b);
    let product: Product | null = null;
    if (b.product !== undefined) {
      product = await readOwnProduct(deps, p, b.product);
      if (!product || product.deleted) throw invalidParam('product', `No such product: '${b.product}'`, 'resource_missing');
    }
    const pd = b.product_data;
    const productId = product?.id ?? pd?.id ?? `prod_${derivedId('p', cmdId).slice(2, 16)}`;
    return idempotentCommands(req, reply, deps, async (idem) => {
      if (price.lookup_key) await claimLookupKey(deps, req, p, price.lookup_key, price.id, productId, b.transfer_lookup_key === true, idem);
      let s: Product;
      if (pd) {
        const fields: ProductFields = { ...(pd.active !== undefined ? { active: pd.active } : {}), ...(pd.statement_descriptor ? { statement_descriptor: pd.statement_descriptor } : {}), ...(pd.tax_code ? { tax_code: pd.tax_code } : {}), ...(pd.unit_label ? { unit_label: pd.unit_label } : {}) };
        s = await createProduct(req, p, `${cmdId}_product`, productId, { name: pd.name, ...(pd.metadata !== undefined ? { metadata: pd.metadata } : {}) }, fields, [price], null, idem);
      } else {
        await deps.catalogue.write(price.id, { merchant_id: p.merchant_id, product_id: productId, livemode: livemodeOf(p) });
        s = await send(req, p, productId, { type: 'AddPrice', price, now: now() }, cmdId, idem);
      }
      const stored = priceIn(s, price.id);
      if (!stored) throw noSuch('price', price.id);
      return { status: 200, body: renderPriceExpanded(stored, s, b.expand) };
    });
  });

  // Stripe's search: active, created, currency, lookup_key, product, type, metadata.
  app.get<{ Querystring: SearchQuery }>('/v1/prices/search', { schema: { querystring: SearchQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const expand = itemExpand(q.expand);
    expandOnly(expand, 'product');
    const page = await deps.searchPrices({ merchantId: p.merchant_id, livemode: livemodeOf(p), query: parseSearchQuery('prices', q.query), limit: q.limit ?? 10, ...(q.page ? { after: q.page } : {}) });
    const data = await Promise.all(page.data.map((x) => renderListedPrice(p, x, expand)));
    return searchResult('/v1/prices/search', data, page.hasMore, page.data.at(-1)?.price.id);
  });

  /** A listed price (its row names its product), the product expanded when asked. */
  async function renderListedPrice(p: Principal, x: { price: Price; product: string }, expand: readonly string[]): Promise<Record<string, unknown>> {
    if (expand.length === 0) return renderPrice(x.price, { id: x.product, livemode: livemodeOf(p) });
    const product = await readOwnProduct(deps, p, x.product);
    return product ? renderPriceExpanded(x.price, product, expand) : renderPrice(x.price, { id: x.product, livemode: livemodeOf(p) });
  }

  app.get<{ Params: IdParams; Querystring: RetrieveExpand }>('/v1/prices/:id', { schema: { params: IdParams, querystring: RetrieveExpand } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const r = await readOwnPrice(deps, p, req.params.id);
    if (!r) throw noSuch('price', req.params.id);
    return renderPriceExpanded(r.price, r.product, req.query.expand);
  });

  app.post<{ Params: IdParams; Body: UpdatePriceBody }>('/v1/prices/:id', { schema: { params: IdParams, body: UpdatePriceBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const id = req.params.id;
    expandOnly(b.expand, 'product');
    const r = await readOwnPrice(deps, p, id);
    if (!r) throw noSuch('price', id);
    const lookupKey = emptyToNull(b.lookup_key);
    const nickname = emptyToNull(b.nickname);
    return idempotentCommands(req, reply, deps, async (idem) => {
      if (lookupKey && lookupKey !== r.price.lookup_key) await claimLookupKey(deps, req, p, lookupKey, id, r.product.id, b.transfer_lookup_key === true, idem);
      const cmdId = commandId(scopeOf(p), `POST /v1/prices/${id}`, idempotencyKeyOf(req));
      const changes = {
        ...(b.active !== undefined ? { active: b.active } : {}),
        ...(nickname !== undefined ? { nickname } : {}),
        ...(lookupKey !== undefined ? { lookup_key: lookupKey } : {}),
        ...(b.tax_behavior !== undefined ? { tax_behavior: b.tax_behavior } : {}),
      };
      const s = await send(req, p, r.product.id, { type: 'UpdatePrice', priceId: id, changes, ...(b.metadata !== undefined ? { metadata: b.metadata } : {}), now: now() }, cmdId, idem);
      return { status: 200, body: renderPriceExpanded(priceIn(s, id)!, s, b.expand) };
    });
  });

  app.get<{ Querystring: ListPricesQuery }>('/v1/prices', { schema: { querystring: ListPricesQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    const expand = (q.expand ?? []).map((e) => {
      if (e !== 'data.product') throw cannotExpand(e);
      return 'product';
    });
    const page = await deps.listPrices({
      merchantId: p.merchant_id,
      livemode: livemodeOf(p),
      limit: q.limit ?? 10,
      ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
      ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
      ...(q.active !== undefined ? { active: q.active } : {}),
      ...(q.currency !== undefined ? { currency: q.currency.toLowerCase() } : {}),
      ...(q.product !== undefined ? { product: q.product } : {}),
      ...(q.type !== undefined ? { type: q.type } : {}),
      ...(q.recurring?.interval !== undefined ? { recurringInterval: q.recurring.interval } : {}),
      ...(q.lookup_keys !== undefined ? { lookupKeys: q.lookup_keys } : {}),
      ...(q.created !== undefined ? { created: typeof q.created === 'number' ? { gte: q.created, lte: q.created } : q.created } : {}),
    });
    return listObject('/v1/prices', await Promise.all(page.data.map((x) => renderListedPrice(p, x, expand))), page.hasMore);
  });
}
