// customers: one row per customer, from the customer aggregate's snapshot. The columns are for
// filtering and sorting; `state` holds the snapshot the API returns.
import type { Generated, Insertable, Kysely, Selectable } from 'kysely';
import type { Customer } from '../actors/mod.ts';
import { chunks, fromUnix, int8, json, type Int8, type Json, type Timestamp, type WithNumbers } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';

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
  /** Deleted: kept (its last_seq guards against an older commit redelivered), never listed. */
  deleted: Generated<boolean>;
}

export type CustomerRow = Selectable<CustomersTable>;
export type NewCustomerRow = Insertable<CustomersTable>;

/** A customer row as a reader sees it: the columns converted, and the snapshot. */
export type CustomerRecord = WithNumbers<CustomerRow, 'last_seq'>;

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
    deleted: s.deleted === true,
  };
}

export function toCustomerRecord(r: CustomerRow): CustomerRecord {
  return { ...r, last_seq: int8(r.last_seq) };
}

const COLUMNS = 12;

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
            deleted: eb.ref('excluded.deleted'),
          }))
          .whereRef('customers.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListCustomersOptions extends PageOptions {
  merchantId: string;
  /** The key's mode: only customers of that mode are listed. */
  livemode: boolean;
  /** Stripe's filter: the exact (case-sensitive) email. */
  email?: string;
}

/**
 * A merchant's customers of one mode, newest first (created_at desc, id desc), as snapshots. A
 * cursor names a customer of the same merchant and mode; an unknown cursor yields an empty page.
 */
export async function listCustomers(db: Kysely<Database>, o: ListCustomersOptions): Promise<Page<Customer>> {
  let q = db.selectFrom('customers').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode).where('deleted', '=', false);
  if (o.email !== undefined) q = q.where('email', '=', o.email);
  const page = await keysetPage('listCustomers', q, o, {
    keys: ['created_at', 'id'],
    cursorTable: 'customers',
    cursorScope: { merchant_id: o.merchantId, livemode: o.livemode },
  });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

/** One customer snapshot of a merchant, or undefined. */
export async function getCustomer(db: Kysely<Database>, merchantId: string, customerId: string): Promise<Customer | undefined> {
  const row = await db.selectFrom('customers').select('state').where('merchant_id', '=', merchantId).where('id', '=', customerId).executeTakeFirst();
  return row?.state;
}
