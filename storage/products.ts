// products and prices: one row per product and one per price, from the product aggregate's snapshot
// (a product holds its prices). The columns are for filtering and sorting; `state` holds what the
// API returns (the product without its prices; the price).
import type { Generated, Insertable, Kysely } from 'kysely';
import type { Price, Product } from '../actors/mod.ts';
import { chunks, fromUnix, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

/** A product as it is listed: its snapshot without the prices (they have rows of their own). */
export type ProductRecord = Omit<Product, 'prices'>;

export interface ProductsTable {
  merchant_id: string;
  id: string;
  livemode: boolean;
  active: boolean;
  shippable: boolean | null;
  url: string | null;
  /** Deleted: kept (its last_seq guards against an older commit redelivered), never listed. */
  deleted: Generated<boolean>;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<ProductRecord>;
}

export interface PricesTable {
  id: string;
  merchant_id: string;
  product_id: string;
  livemode: boolean;
  active: boolean;
  currency: string;
  type: 'one_time' | 'recurring';
  recurring_interval: string | null;
  lookup_key: string | null;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<Price>;
}

export function productRowFromState(s: Product, seq: number): Insertable<ProductsTable> {
  const { prices: _prices, ...product } = s;
  return {
    merchant_id: s.merchant_id,
    id: s.id,
    livemode: s.livemode,
    active: s.active,
    shippable: s.shippable,
    url: s.url,
    deleted: s.deleted === true,
    created_at: fromUnix(s.created),
    last_seq: seq,
    state: json(product),
  };
}

export function priceRowsFromState(s: Product, seq: number): Insertable<PricesTable>[] {
  return s.prices.map((p) => ({
    id: p.id,
    merchant_id: s.merchant_id,
    product_id: s.id,
    livemode: s.livemode,
    active: p.active,
    currency: p.currency,
    type: p.recurring ? 'recurring' : 'one_time',
    recurring_interval: p.recurring?.interval ?? null,
    lookup_key: p.lookup_key,
    created_at: fromUnix(p.created),
    last_seq: seq,
    state: json(p),
  }));
}

/** Inserts or replaces products; a row only changes when the incoming sequence is newer than its own. */
export async function upsertProducts(db: Kysely<Database>, rows: readonly Insertable<ProductsTable>[]): Promise<void> {
  for (const part of chunks(rows, 10)) {
    await db
      .insertInto('products')
      .values(part)
      .onConflict((oc) =>
        oc
          .columns(['merchant_id', 'id'])
          .doUpdateSet((eb) => ({
            active: eb.ref('excluded.active'),
            shippable: eb.ref('excluded.shippable'),
            url: eb.ref('excluded.url'),
            deleted: eb.ref('excluded.deleted'),
            last_seq: eb.ref('excluded.last_seq'),
            state: eb.ref('excluded.state'),
          }))
          .whereRef('products.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

/** Inserts or replaces prices, as upsertProducts does. */
export async function upsertPrices(db: Kysely<Database>, rows: readonly Insertable<PricesTable>[]): Promise<void> {
  for (const part of chunks(rows, 12)) {
    await db
      .insertInto('prices')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            active: eb.ref('excluded.active'),
            lookup_key: eb.ref('excluded.lookup_key'),
            last_seq: eb.ref('excluded.last_seq'),
            state: eb.ref('excluded.state'),
          }))
          .whereRef('prices.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListProductsOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  active?: boolean;
  ids?: string[];
  shippable?: boolean;
  url?: string;
}

/** A merchant's products of one mode, newest first (created_at desc, id desc); deleted ones are not listed. */
export async function listProducts(db: Kysely<Database>, o: ListProductsOptions): Promise<Page<ProductRecord>> {
  let q = db.selectFrom('products').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode).where('deleted', '=', false);
  if (o.active !== undefined) q = q.where('active', '=', o.active);
  if (o.ids !== undefined) q = o.ids.length === 0 ? q.where('id', '=', '') : q.where('id', 'in', o.ids);
  if (o.shippable !== undefined) q = q.where('shippable', '=', o.shippable);
  if (o.url !== undefined) q = q.where('url', '=', o.url);
  const page = await keysetPage('listProducts', q, o, {
    keys: ['created_at', 'id'],
    cursorTable: 'products',
    cursorScope: { merchant_id: o.merchantId, livemode: o.livemode },
  });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

export interface ListPricesOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  active?: boolean;
  currency?: string;
  product?: string;
  type?: 'one_time' | 'recurring';
  recurringInterval?: string;
  lookupKeys?: string[];
}

/** A merchant's prices of one mode, newest first, each with the id of its product. */
export async function listPrices(db: Kysely<Database>, o: ListPricesOptions): Promise<Page<{ price: Price; product: string }>> {
  let q = db.selectFrom('prices').select(['id', 'state', 'product_id']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.active !== undefined) q = q.where('active', '=', o.active);
  if (o.currency !== undefined) q = q.where('currency', '=', o.currency);
  if (o.product !== undefined) q = q.where('product_id', '=', o.product);
  if (o.type !== undefined) q = q.where('type', '=', o.type);
  if (o.recurringInterval !== undefined) q = q.where('recurring_interval', '=', o.recurringInterval);
  if (o.lookupKeys !== undefined) q = o.lookupKeys.length === 0 ? q.where('id', '=', '') : q.where('lookup_key', 'in', o.lookupKeys);
  const page = await keysetPage('listPrices', q, o, {
    keys: ['created_at', 'id'],
    cursorTable: 'prices',
    cursorScope: { merchant_id: o.merchantId, livemode: o.livemode },
  });
  return { data: page.data.map((r) => ({ price: r.state, product: r.product_id })), hasMore: page.hasMore };
}
