// The product aggregate: Stripe's Product and the Prices it is sold at. A price belongs to one
// product for its whole life, so the product is the single writer of both: a product made with its
// default price (default_price_data) is one commit, a product with prices cannot be deleted, and
// its default price is always one of its own active prices. Pure: ids, the mode and `now` (unix
// seconds) ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';

export type RecurringInterval = 'day' | 'week' | 'month' | 'year';
export type TaxBehavior = 'inclusive' | 'exclusive' | 'unspecified';

/** Stripe's Price (billing_scheme per_unit): a unit amount in minor units of one currency. */
export interface Price {
  id: string; // price_…
  active: boolean;
  currency: string;
  unit_amount: number;
  nickname: string | null;
  /** Unique per merchant and mode among prices that have one (the gateway keeps the index). */
  lookup_key: string | null;
  metadata: Record<string, string>;
  /** null: a one-time price; else what a subscription would bill at (kept and shown; nothing bills it here). */
  recurring: { interval: RecurringInterval; interval_count: number } | null;
  tax_behavior: TaxBehavior;
  created: number;
}

export interface Product {
  id: string; // prod_… or the merchant's own id
  merchant_id: string;
  /** Live or test mode: a product of one mode is invisible to keys of the other. */
  livemode: boolean;
  name: string;
  active: boolean;
  description: string | null;
  images: string[];
  url: string | null;
  statement_descriptor: string | null;
  unit_label: string | null;
  shippable: boolean | null;
  tax_code: string | null;
  metadata: Record<string, string>;
  /** One of `prices`, active; null when none was chosen. */
  default_price: string | null;
  created: number;
  updated: number;
  /** Its prices, oldest first (at most MAX_PRICES). */
  prices: Price[];
  /** The command that created it: a merchant's second create with the same id is refused, a repeat of the first is not. */
  created_by: string;
  /** Deleted (Stripe's DELETE /v1/products/:id): it answers as a deleted stub and takes no more changes. */
  deleted?: true;
}

export type ProductState = Product | null;

/** The product fields a create sets and an update changes (null unsets). */
export interface ProductFields {
  name?: string;
  active?: boolean;
  description?: string | null;
  images?: string[];
  url?: string | null;
  statement_descriptor?: string | null;
  unit_label?: string | null;
  shippable?: boolean | null;
  tax_code?: string | null;
}

/** A price as a command brings it (its id chosen by the gateway). */
export type NewPrice = Omit<Price, 'created'>;

/** The price fields an update may change (Stripe lets only these change: the amount never does). */
export interface PriceChanges {
  active?: boolean;
  nickname?: string | null;
  lookup_key?: string | null;
  tax_behavior?: TaxBehavior;
}

export type ProductCommand =
  | {
      type: 'Create';
      productId: string;
      merchantId: string;
      livemode: boolean;
      commandId: string;
      name: string;
      fields: Omit<ProductFields, 'name'>;
      metadata: Record<string, string>;
      /** Prices made with it: default_price_data's (then `defaultPrice` names it), or a price whose product_data made the product. */
      prices: NewPrice[];
      defaultPrice: string | null;
      now: number;
    }
  /** `defaultPrice`: one of its active prices, or null (none). */
  | { type: 'Update'; changes: ProductFields; metadata?: MetadataPatch; defaultPrice?: string | null; now: number }
  /** Stripe's DELETE /v1/products/:id: refused while it has prices. Deleting a deleted product writes nothing. */
  | { type: 'Delete'; now: number }
  /** POST /v1/prices (and price_data that names this product): the same price id twice writes nothing. */
  | { type: 'AddPrice'; price: NewPrice; now: number }
  | { type: 'UpdatePrice'; priceId: string; changes: PriceChanges; metadata?: MetadataPatch; now: number };

export type ProductEvent =
  | { type: 'product.created'; at: number; data: Omit<Product, 'prices' | 'deleted'> }
  | { type: 'product.updated'; at: number; data: ProductFields & { metadata?: Record<string, string>; default_price?: string | null } }
  | { type: 'product.deleted'; at: number; data: Record<string, never> }
  | { type: 'price.created'; at: number; data: Price }
  | { type: 'price.updated'; at: number; data: PriceChanges & { id: string; metadata?: Record<string, string> } };

export type ProductEventType = ProductEvent['type'];

/** Prices per product: each commit carries the product's state, prices and all. */
export const MAX_PRICES = 100;

const gone = (param = 'id') => new DomainError('resource_missing', 'No such product.', param, 404);

const PRODUCT_FIELDS = ['name', 'active', 'description', 'images', 'url', 'statement_descriptor', 'unit_label', 'shippable', 'tax_code'] as const;
const PRICE_FIELDS = ['active', 'nickname', 'lookup_key', 'tax_behavior'] as const;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function priceOf(s: Product, id: string): Price {
  const p = s.prices.find((x) => x.id === id);
  if (!p) throw new DomainError('resource_missing', `No such price: '${id}'`, 'price', 404);
  return p;
}

function decide(cmd: ProductCommand, s: ProductState): ProductEvent[] {
  if (s?.deleted && cmd.type !== 'Create' && cmd.type !== 'Delete') throw gone(cmd.type === 'AddPrice' ? 'product' : 'id');
  switch (cmd.type) {
    case 'Create': {
      if (s !== null) {
        if (s.created_by === cmd.commandId) return []; // the same create delivered twice writes nothing
        throw new DomainError('resource_already_exists', 'Product already exists.', 'id');
      }
      checkMetadata(cmd.metadata);
      if (cmd.defaultPrice !== null && !cmd.prices.some((p) => p.id === cmd.defaultPrice)) throw new DomainError('resource_missing', `No such price: '${cmd.defaultPrice}'`, 'default_price');
      const created: ProductEvent = {
        type: 'product.created',
        at: cmd.now,
        data: {
          id: cmd.productId,
          merchant_id: cmd.merchantId,
          livemode: cmd.livemode,
          name: cmd.name,
          active: cmd.fields.active ?? true,
          description: cmd.fields.description ?? null,
          images: cmd.fields.images ?? [],
          url: cmd.fields.url ?? null,
          statement_descriptor: cmd.fields.statement_descriptor ?? null,
          unit_label: cmd.fields.unit_label ?? null,
          shippable: cmd.fields.shippable ?? null,
          tax_code: cmd.fields.tax_code ?? null,
          metadata: { ...cmd.metadata },
          default_price: cmd.defaultPrice,
          created: cmd.now,
          updated: cmd.now,
          created_by: cmd.commandId,
        },
      };
      return [created, ...cmd.prices.map((p): ProductEvent => ({ type: 'price.created', at: cmd.now, data: { ...p, created: cmd.now } }))];
    }
    case 'Update': {
      if (s === null) throw gone();
      const data: Extract<ProductEvent, { type: 'product.updated' }>['data'] = {};
      for (const f of PRODUCT_FIELDS) {
        const v = cmd.changes[f];
        if (v !== undefined && !same(v, s[f])) (data as Record<string, unknown>)[f] = v;
      }
      if (cmd.defaultPrice !== undefined && cmd.defaultPrice !== s.default_price) {
        if (cmd.defaultPrice !== null) {
          const p = s.prices.find((x) => x.id === cmd.defaultPrice);
          if (!p) throw new DomainError('resource_missing', `No such price: '${cmd.defaultPrice}'`, 'default_price');
          if (!p.active) throw new DomainError('parameter_invalid', 'The price specified is inactive. This field only accepts active prices.', 'default_price');
        }
        data.default_price = cmd.defaultPrice;
      }
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(s.metadata, cmd.metadata);
        if (!same(metadata, s.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      return Object.keys(data).length === 0 ? [] : [{ type: 'product.updated', at: cmd.now, data }];
    }
    case 'Delete': {
      if (s === null) throw gone();
      if (s.deleted) return [];
      if (s.prices.length > 0) {
        throw new DomainError('product_has_prices', 'This product cannot be deleted because it has one or more user-created prices.', 'id');
      }
      return [{ type: 'product.deleted', at: cmd.now, data: {} }];
    }
    case 'AddPrice': {
      if (s === null) throw gone('product');
      if (s.prices.some((p) => p.id === cmd.price.id)) return [];
      if (s.prices.length >= MAX_PRICES) {
        throw new DomainError('parameter_invalid', `A product can have at most ${MAX_PRICES} prices here; archive prices by making new products instead.`, 'product');
      }
      checkMetadata(cmd.price.metadata);
      return [{ type: 'price.created', at: cmd.now, data: { ...cmd.price, created: cmd.now } }];
    }
    case 'UpdatePrice': {
      if (s === null) throw gone('product');
      const p = priceOf(s, cmd.priceId);
      const data: Extract<ProductEvent, { type: 'price.updated' }>['data'] = { id: p.id };
      for (const f of PRICE_FIELDS) {
        const v = cmd.changes[f];
        if (v !== undefined && !same(v, p[f])) (data as unknown as Record<string, unknown>)[f] = v;
      }
      if (data.active === false && s.default_price === p.id) {
        throw new DomainError('parameter_invalid', 'This price cannot be archived because it is the default price of its product.', 'active');
      }
      if (data.tax_behavior !== undefined && p.tax_behavior !== 'unspecified') {
        throw new DomainError('parameter_invalid', 'tax_behavior cannot be changed once it is specified.', 'tax_behavior');
      }
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(p.metadata, cmd.metadata);
        if (!same(metadata, p.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      return Object.keys(data).length === 1 ? [] : [{ type: 'price.updated', at: cmd.now, data }];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(s: ProductState, e: ProductEvent): ProductState {
  switch (e.type) {
    case 'product.created':
      return { ...e.data, metadata: { ...e.data.metadata }, images: [...e.data.images], prices: [] };
    case 'product.updated':
      return s && { ...s, ...e.data, updated: e.at };
    case 'product.deleted':
      return s && { ...s, deleted: true, active: false, default_price: null, updated: e.at };
    case 'price.created':
      return s && { ...s, prices: [...s.prices, { ...e.data, metadata: { ...e.data.metadata } }] };
    case 'price.updated': {
      if (s === null) return s;
      const { id, ...changes } = e.data;
      return { ...s, prices: s.prices.map((p) => (p.id === id ? { ...p, ...changes } : p)) };
    }
    default:
      return assertNever(e);
  }
}

export const productDecider: Decider<ProductCommand, ProductEvent, ProductState> = {
  initialState: null,
  decide,
  evolve,
};

/** The price of a product state, or undefined. */
export const priceIn = (s: Product | null, priceId: string): Price | undefined => s?.prices.find((p) => p.id === priceId);
