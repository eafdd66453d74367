// The read model's database: Postgres when DATABASE_URL is set, otherwise PGlite (Postgres in WASM)
// under <dataDir>/pglite. Both speak the same SQL and return the same row shapes: int8 as a string
// (kysely's advice for node-postgres; PGlite is told to do the same), timestamptz as a Date.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Kysely, PostgresDialect, sql, type Dialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EventsTable } from './events.ts';
import type { MerchantsTable } from './merchants.ts';
import type { PaymentAttemptsTable } from './payment-attempts.ts';
import type { PaymentIntentsTable } from './payment-intents.ts';
import type { ProjectionCheckpointsTable } from './checkpoints.ts';
import type { WebhookDeliveriesTable } from './webhook-deliveries.ts';
import type { RefundsTable } from './refunds.ts';
import type { DisputesTable } from './disputes.ts';
import type { EarlyFraudWarningsTable } from './early-fraud-warnings.ts';
import type { CustomersTable } from './customers.ts';
import type { WebhookAttemptsTable } from './webhook-attempts.ts';
import type { SetupIntentsTable } from './setup-intents.ts';
import type { PricesTable, ProductsTable } from './products.ts';
import type { PaymentLinksTable } from './payment-links.ts';
import type { CouponsTable, PromotionCodesTable } from './coupons.ts';

export interface Database {
  merchants: MerchantsTable;
  payment_intents: PaymentIntentsTable;
  payment_attempts: PaymentAttemptsTable;
  events: EventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  projection_checkpoints: ProjectionCheckpointsTable;
  refunds: RefundsTable;
  disputes: DisputesTable;
  early_fraud_warnings: EarlyFraudWarningsTable;
  customers: CustomersTable;
  webhook_attempts: WebhookAttemptsTable;
  setup_intents: SetupIntentsTable;
  products: ProductsTable;
  prices: PricesTable;
  payment_links: PaymentLinksTable;
  coupons: CouponsTable;
  promotion_codes: PromotionCodesTable;
}

export type DatabaseKind = 'postgres' | 'pglite';

export interface OpenDatabaseOptions {
  /** postgres://… ; unset: PGlite under `<dataDir>/pglite`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  logger?: Logger | undefined;
}

export interface OpenedDatabase {
  db: Kysely<Database>;
  kind: DatabaseKind;
  close(): Promise<void>;
  /** true when a trivial query answers. */
  ping(): Promise<boolean>;
}

export async function openDatabase(o: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const started = Date.now();
  let dialect: Dialect;
  let kind: DatabaseKind;
  let where: string;
  if (o.databaseUrl) {
    kind = 'postgres';
    dialect = new PostgresDialect({ pool: postgresPool(o.databaseUrl, 8, o.logger) });
    where = redactUrl(o.databaseUrl);
  } else {
    kind = 'pglite';
    const dir = path.join(o.dataDir, 'pglite');
    await mkdir(dir, { recursive: true });
    // On a thread of its own, beside the event loop (storage/pglite-dialect.ts says why).
    const { PGliteThread, pgliteDialect } = await import('./pglite-dialect.ts');
    dialect = pgliteDialect(await PGliteThread.open(dir, o.logger));
    where = dir;
  }
  const db = new Kysely<Database>({ dialect });
  o.logger?.info({ kind, where, ms: Date.now() - started }, 'database open');
  let closed: Promise<void> | undefined;
  return {
    db,
    kind,
    close: () => (closed ??= db.destroy()),
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch (err) {
        o.logger?.warn({ err }, 'database ping failed');
        return false;
      }
    },
  };
}

/**
 * A node-postgres pool that survives its server going away. pg-pool listens for errors only on idle
 * clients; a client checked out between two statements (a transaction in progress, kysely holding it)
 * has no listener, and the FATAL a backend sends when its postmaster dies ("terminating connection
 * due to unexpected postmaster exit", sent exactly while it waits for the next statement) was an
 * unhandled 'error' event that ended the process. Every client gets a listener when it connects: the
 * broken client fails its next statement (the transaction rolls back as a rejection the caller
 * handles) and pg-pool discards it on release, since it is no longer queryable.
 */
export function postgresPool(connectionString: string, max: number, logger?: Logger): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server is reported here.
  pool.on('error', (err) => logger?.warn({ err }, 'postgres pool: idle client error'));
  pool.on('connect', (client) => client.on('error', (err) => logger?.warn({ err }, 'postgres pool: a client lost its connection (its next statement fails; the pool drops it)')));
  return pool;
}

/** postgres://user:secret@host/db → postgres://user:***@host/db, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
