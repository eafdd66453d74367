// customers: one row per customer, from the customer aggregate's snapshot. The columns are for
// filtering and sorting; `state` holds the snapshot the API returns.
import type { Generated, Insertable, Kysely, Selectable } from 'kysely';
import type { Customer } from '../actors/mod.ts';
import { chunks, fromUnix, int8, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import type { CreatedFilter, Page } from './payment-intents.ts';

export interface CustomersTable {
  id: string;
  merchant_id: string;
  livemode: Generated<boolean>;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: string | null;
  metadata: Json<Record<string, string>>;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<Customer>;
}

export type CustomerRow = Selectable<CustomersTable>;
export type NewCustomerRow = Insertable<CustomersTable>;

/** A customer row as a reader sees it: the columns converted, and the snapshot. */
export interface CustomerRecord {
  id: string;
  merchant_id: string;
  livemode: boolean;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: string | null;
  metadata: Record<string, string>;
  created_at: Date;
  last_seq: number;
  state: Customer;
}

export function customerRowFromState(s: Customer, seq: number): NewCustomerRow {
  return {
    id: s.id,
    merchant_id: s.merchant_id,
    livemode: s.livemode,
    email: s.email,
    name: s.name,
    description: s.description,
    phone: s.phone,
    metadata: json(s.metadata),
    created_at: fromUnix(s.created),
    last_seq: seq,
    state: json(s),
  };
}

export function toCustomerRecord(r: CustomerRow): CustomerRecord {
  return { ...r, last_seq: int8(r.last_seq) };
}

const COLUMNS = 11;

/** Inserts or replaces customers; a row only changes when the incoming sequence is newer than its own. */
export async function upsertCustomers(db: Kysely<Database>, rows: readonly NewCustomerRow[]): Promise<void> {
  for (const part of chunks(rows, COLUMNS)) {
    await db
      .insertInto('customers')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            livemode: eb.ref('excluded.livemode'),
            email: eb.ref('excluded.email'),
            name: eb.ref('excluded.name'),
            description: eb.ref('excluded.description'),
            phone: eb.ref('excluded.phone'),
            metadata: eb.ref('excluded.metadata'),
            created_at: eb.ref('excluded.created_at'),
            last_seq: eb.ref('excluded.last_seq'),
            state: eb.ref('excluded.state'),
          }))
          .whereRef('customers.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListCustomersOptions {
  merchantId: string;
  /** The key's mode: only customers of that mode are listed. */
  livemode: boolean;
  limit: number;
  /** A customer id: the page of customers older than it. */
  startingAfter?: string;
  /** A customer id: the page of customers newer than it (still returned newest first). */
  endingBefore?: string;
  /** Stripe's filter: the exact (case-sensitive) email. */
  email?: string;
  created?: CreatedFilter;
}

/**
 * A merchant's customers of one mode, newest first (created_at desc, id desc), as snapshots. A
 * cursor names a customer of the same merchant and mode; an unknown cursor yields an empty page.
 */
export async function listCustomers(db: Kysely<Database>, o: ListCustomersOptions): Promise<Page<Customer>> {
  if (o.startingAfter !== undefined && o.endingBefore !== undefined) {
    throw new RangeError('listCustomers: give startingAfter or endingBefore, not both');
  }
  if (!Number.isSafeInteger(o.limit) || o.limit < 1) throw new RangeError(`listCustomers: limit must be a positive integer, got ${o.limit}`);
  const backwards = o.endingBefore !== undefined;
  const cursor = o.startingAfter ?? o.endingBefore;
  let q = db.selectFrom('customers').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.email !== undefined) q = q.where('email', '=', o.email);
  const c = o.created;
  if (c?.gt !== undefined) q = q.where('created_at', '>', fromUnix(c.gt));
  if (c?.gte !== undefined) q = q.where('created_at', '>=', fromUnix(c.gte));
  if (c?.lt !== undefined) q = q.where('created_at', '<', fromUnix(c.lt));
  if (c?.lte !== undefined) q = q.where('created_at', '<=', fromUnix(c.lte));
  if (cursor !== undefined) {
    q = q.where((eb) =>
      eb(
        eb.refTuple('created_at', 'id'),
        backwards ? '>' : '<',
        eb
          .selectFrom('customers as cursor')
          .select(['cursor.created_at', 'cursor.id'])
          .where('cursor.id', '=', cursor)
          .where('cursor.merchant_id', '=', o.merchantId)
          .where('cursor.livemode', '=', o.livemode)
          .$asTuple('created_at', 'id'),
      ),
    );
  }
  const dir = backwards ? 'asc' : 'desc';
  const rows = await q.orderBy('created_at', dir).orderBy('id', dir).limit(o.limit + 1).execute();
  const hasMore = rows.length > o.limit;
  const page = rows.slice(0, o.limit);
  if (backwards) page.reverse();
  return { data: page.map((r) => r.state), hasMore };
}

/** One customer snapshot of a merchant, or undefined. */
export async function getCustomer(db: Kysely<Database>, merchantId: string, customerId: string): Promise<Customer | undefined> {
  const row = await db.selectFrom('customers').select('state').where('merchant_id', '=', merchantId).where('id', '=', customerId).executeTakeFirst();
  return row?.state;
}
