// The demo store's own database: its orders (the merchant-side transaction record) live apart from
// the processor's. PGlite under <DATA_DIR>/store/pglite by default; with a Postgres URL, the schema
// `store` of that database. The table is created on open (the store's one and only migration).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Kysely, PostgresDialect, sql, type Dialect, type Generated } from 'kysely';
import { postgresPool } from '../storage/database.ts';

export type OrderStatus = 'pending' | 'paid' | 'failed';

export interface OrdersTable {
  id: string;
  product_id: string;
  amount: number;
  currency: string;
  payment_intent_id: string | null;
  status: OrderStatus;
  last_error: string | null;
  paid_event_id: string | null;
  created_at: Generated<Date>;
  paid_at: Date | null;
}

export interface StoreDatabase {
  store_orders: OrdersTable;
}

export type Order = {
  id: string;
  product_id: string;
  amount: number;
  currency: string;
  payment_intent_id: string | null;
  status: OrderStatus;
  last_error: string | null;
  paid_event_id: string | null;
  created_at: Date;
  paid_at: Date | null;
};

export interface StoreDb {
  db: Kysely<StoreDatabase>;
  kind: 'pglite' | 'postgres';
  close(): Promise<void>;
  /** Every row of every store table as text: for the tests' "no card number here" check. */
  dump(): Promise<string>;
}

export interface OpenStoreDbOptions {
  /** <DATA_DIR>/store: PGlite lives in its pglite/ folder. */
  dir: string;
  databaseUrl?: string | undefined;
}

const SCHEMA = 'store';

export async function openStoreDb(o: OpenStoreDbOptions): Promise<StoreDb> {
  let dialect: Dialect;
  let kind: StoreDb['kind'];
  if (o.databaseUrl) {
    kind = 'postgres';
    dialect = new PostgresDialect({ pool: postgresPool(o.databaseUrl, 4) });
  } else {
    kind = 'pglite';
    const dir = path.join(o.dir, 'pglite');
    await mkdir(dir, { recursive: true });
    const { PGlite } = await import('@electric-sql/pglite');
    const client = await PGlite.create({ dataDir: dir });
    const { pgliteDialect } = await import('../storage/pglite-dialect.ts');
    dialect = pgliteDialect(client);
  }
  const root = new Kysely<StoreDatabase>({ dialect });
  let db = root;
  if (kind === 'postgres') {
    await sql`create schema if not exists ${sql.id(SCHEMA)}`.execute(root);
    db = root.withSchema(SCHEMA);
  }
  await db.schema
    .createTable('store_orders')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('product_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('payment_intent_id', 'text', (c) => c.unique())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('last_error', 'text')
    .addColumn('paid_event_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('paid_at', 'timestamptz')
    .execute();
  let closed: Promise<void> | undefined;
  return {
    db,
    kind,
    close: () => (closed ??= root.destroy()),
    async dump() {
      const rows = await db.selectFrom('store_orders').selectAll().execute();
      return JSON.stringify(rows);
    },
  };
}
