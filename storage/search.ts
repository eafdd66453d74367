// Stripe's search (stripe/search.ts parses the query) over the read model: each clause becomes a
// condition on its table's column (metadata: the jsonb key), joined by AND or OR, newest first,
// paged by the last id of a page (Stripe's next_page). Like Stripe's search, it reads what has been
// projected, a moment behind the writes.
import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { Customer, Intent, Price } from '../actors/mod.ts';
import type { ProductRecord } from './products.ts';
import type { Clause, SearchQuery } from '../stripe/search.ts';
import { fromUnix } from './columns.ts';
import type { Database } from './database.ts';
import { chargesOf, chargesPage, type ChargeEntry } from './charges.ts';
import { keysetPage, type Page } from './pages.ts';

/** A field: a column name, or an SQL expression (charges' fields computed from their row and intent). */
type Columns = Record<string, string | Expression<unknown>>;

/** A clause as SQL on `columns` (field → column); a negated one also holds where the column is null. */
function condition(c: Clause, columns: Columns): Expression<SqlBool> {
  const ref = (f: string) => {
    const x = columns[f]!;
    return typeof x === 'string' ? sql.ref(x) : x;
  };
  const col = c.field === 'metadata' ? sql`${columns.metadata ? ref('metadata') : sql.ref('metadata')}->>${c.key!}` : ref(c.field);
  let e: Expression<SqlBool>;
  if (c.bool) {
    // A true/false field is a condition of its own.
    e = c.value === 'true' ? sql<SqlBool>`coalesce(${col}, false)` : sql<SqlBool>`not coalesce(${col}, false)`;
  } else if (c.cmp === '~') {
    const pattern = `%${String(c.value).replace(/[\\%_]/g, (x) => `\\${x}`)}%`;
    e = sql<SqlBool>`${col} ilike ${pattern}`;
  } else {
    // created_at holds whole seconds (fromUnix of the object's created), as the lists' created filter compares it.
    const v = c.field === 'created' ? fromUnix(c.value as number) : c.field === 'currency' ? String(c.value).toLowerCase() : c.value;
    e = sql<SqlBool>`${col} ${sql.raw(c.cmp === ':' ? '=' : c.cmp)} ${v}`;
  }
  return c.negate ? sql<SqlBool>`not coalesce(${e}, false)` : e;
}

function where(q: SearchQuery, columns: Columns): Expression<SqlBool> {
  const parts = q.clauses.map((c) => condition(c, columns));
  return sql<SqlBool>`(${sql.join(parts, sql.raw(q.join === 'AND' ? ' and ' : ' or '))})`;
}

export interface SearchOptions {
  merchantId: string;
  livemode: boolean;
  query: SearchQuery;
  limit: number;
  /** The last id of the page before (Stripe's `page`, from next_page). */
  after?: string;
}

const INTENT_COLUMNS: Columns = { amount: 'amount', currency: 'currency', customer: 'customer', status: 'status', created: 'created_at' };
const CUSTOMER_COLUMNS: Columns = { email: 'email', name: 'name', phone: 'phone', created: 'created_at' };

export async function searchIntents(db: Kysely<Database>, o: SearchOptions): Promise<Page<Intent>> {
  const q = db.selectFrom('payment_intents').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode).where(where(o.query, INTENT_COLUMNS));
  const page = await keysetPage('searchIntents', q, { limit: o.limit, ...(o.after ? { startingAfter: o.after } : {}) }, { keys: ['created_at', 'id'], cursorTable: 'payment_intents', cursorScope: { merchant_id: o.merchantId } });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

/**
 * Charges (payment_attempts) with their intent: the customer is the intent's; the metadata is what
 * the charge shows (its own after a charge update, else its intent's); refunded as the charge says it; disputed once a dispute of it is in the read model.
 */
const CHARGE_COLUMNS: Columns = {
  amount: 'pa.amount',
  created: 'pa.created_at',
  currency: 'pa.currency',
  customer: 'pi.customer',
  status: 'pa.status',
  payment_intent: 'pa.intent_id',
  'payment_method_details.card.last4': 'pa.card_last4',
  'payment_method_details.card.brand': 'pa.card_brand',
  refunded: sql<boolean>`(${sql.ref('pa.captured')} and ${sql.ref('pa.amount_captured')} > 0 and ${sql.ref('pa.amount_refunded')} >= ${sql.ref('pa.amount_captured')})`,
  disputed: sql<boolean>`exists (select 1 from disputes as d where ${sql.ref('d.charge_id')} = ${sql.ref('pa.id')})`,
  metadata: sql`coalesce((select ${sql.ref('x.value')}->'metadata' from jsonb_array_elements(${sql.ref('pi.state')}->'attempts') as x where ${sql.ref('x.value')}->>'id' = ${sql.ref('pa.id')}), ${sql.ref('pi.metadata')})`,
};

/** Charges newest first, as listCharges gives them (the id and its intent's snapshot). */
export async function searchCharges(db: Kysely<Database>, o: SearchOptions): Promise<Page<ChargeEntry>> {
  const q = chargesOf(db, o.merchantId, o.livemode).where(where(o.query, CHARGE_COLUMNS));
  return chargesPage('searchCharges', q, o.merchantId, { limit: o.limit, ...(o.after ? { startingAfter: o.after } : {}) });
}

export async function searchCustomers(db: Kysely<Database>, o: SearchOptions): Promise<Page<Customer>> {
  const q = db
    .selectFrom('customers')
    .select(['id', 'state'])
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode)
    .where('deleted', '=', false)
    .where(where(o.query, CUSTOMER_COLUMNS));
  const page = await keysetPage('searchCustomers', q, { limit: o.limit, ...(o.after ? { startingAfter: o.after } : {}) }, { keys: ['created_at', 'id'], cursorTable: 'customers', cursorScope: { merchant_id: o.merchantId, livemode: o.livemode } });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

const PRODUCT_COLUMNS: Columns = {
  active: 'active',
  created: 'created_at',
  shippable: 'shippable',
  url: 'url',
  name: sql`${sql.ref('state')}->>'name'`,
  description: sql`${sql.ref('state')}->>'description'`,
  metadata: sql`${sql.ref('state')}->'metadata'`,
};

export async function searchProducts(db: Kysely<Database>, o: SearchOptions): Promise<Page<ProductRecord>> {
  const q = db
    .selectFrom('products')
    .select(['id', 'state'])
    .where('merchant_id', '=', o.merchantId)
    .where('livemode', '=', o.livemode)
    .where('deleted', '=', false)
    .where(where(o.query, PRODUCT_COLUMNS));
  const page = await keysetPage('searchProducts', q, { limit: o.limit, ...(o.after ? { startingAfter: o.after } : {}) }, { keys: ['created_at', 'id'], cursorTable: 'products', cursorScope: { merchant_id: o.merchantId, livemode: o.livemode } });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

const PRICE_COLUMNS: Columns = {
  active: 'active',
  created: 'created_at',
  currency: 'currency',
  lookup_key: 'lookup_key',
  product: 'product_id',
  type: 'type',
  metadata: sql`${sql.ref('state')}->'metadata'`,
};

export async function searchPrices(db: Kysely<Database>, o: SearchOptions): Promise<Page<{ price: Price; product: string }>> {
  const q = db.selectFrom('prices').select(['id', 'state', 'product_id']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode).where(where(o.query, PRICE_COLUMNS));
  const page = await keysetPage('searchPrices', q, { limit: o.limit, ...(o.after ? { startingAfter: o.after } : {}) }, { keys: ['created_at', 'id'], cursorTable: 'prices', cursorScope: { merchant_id: o.merchantId, livemode: o.livemode } });
  return { data: page.data.map((r) => ({ price: r.state, product: r.product_id })), hasMore: page.hasMore };
}
