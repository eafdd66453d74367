// Runs the read model's migrations. The provider is static, an object of imported migrations, so a
// bundled or relocated build runs exactly the migrations it was built with (no folder scan).
// Keys sort in the order migrations run: name them `YYYY_MM_DD_NNNN_what`.
import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Logger } from 'pino';
import * as m20261125_0001 from './migrations/2026_11_25_0001_initial.ts';
import * as m20261125_0002 from './migrations/2026_11_25_0002_livemode.ts';
import * as m20261125_0003 from './migrations/2026_11_25_0003_customers.ts';
import * as m20261125_0004 from './migrations/2026_11_25_0004_refunds.ts';
import * as m20261125_0005 from './migrations/2026_11_25_0005_stripe_events.ts';
import * as m20261125_0007 from './migrations/2026_11_25_0007_webhook_attempts.ts';
import * as m20261125_0006 from './migrations/2026_11_25_0006_reconciliation.ts';
import * as m20261125_0008 from './migrations/2026_11_25_0008_archive_index.ts';
import * as m20261125_0010 from './migrations/2026_11_25_0010_pii_erasure.ts';
import * as m20261126_0011 from './migrations/2026_11_26_0011_customer_deleted.ts';
import * as m20261126_0012 from './migrations/2026_11_26_0012_setup_intents.ts';
import * as m20261127_0013 from './migrations/2026_11_27_0013_archive_setup_intents.ts';
import * as m20261127_0014 from './migrations/2026_11_27_0014_checkout_sessions.ts';
import * as m20261127_0015 from './migrations/2026_11_27_0015_products.ts';
import * as m20261127_0016 from './migrations/2026_11_27_0016_payment_links.ts';
import * as m20261127_0017 from './migrations/2026_11_27_0017_coupons.ts';
import * as m20261127_0018 from './migrations/2026_11_27_0018_promotion_codes.ts';
import * as m20261127_0019 from './migrations/2026_11_27_0019_disputes.ts';
import * as m20261127_0020 from './migrations/2026_11_27_0020_early_fraud_warnings.ts';

export const migrations: Record<string, Migration> = {
  '2026_11_25_0001_initial': m20261125_0001,
  '2026_11_25_0002_livemode': m20261125_0002,
  '2026_11_25_0003_customers': m20261125_0003,
  '2026_11_25_0004_refunds': m20261125_0004,
  '2026_11_25_0005_stripe_events': m20261125_0005,
  '2026_11_25_0007_webhook_attempts': m20261125_0007,
  '2026_11_25_0006_reconciliation': m20261125_0006,
  '2026_11_25_0008_archive_index': m20261125_0008,
  '2026_11_25_0010_pii_erasure': m20261125_0010,
  '2026_11_26_0011_customer_deleted': m20261126_0011,
  '2026_11_26_0012_setup_intents': m20261126_0012,
  '2026_11_27_0013_archive_setup_intents': m20261127_0013,
  '2026_11_27_0014_checkout_sessions': m20261127_0014,
  '2026_11_27_0015_products': m20261127_0015,
  '2026_11_27_0016_payment_links': m20261127_0016,
  '2026_11_27_0017_coupons': m20261127_0017,
  '2026_11_27_0018_promotion_codes': m20261127_0018,
  '2026_11_27_0019_disputes': m20261127_0019,
  '2026_11_27_0020_early_fraud_warnings': m20261127_0020,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly results: MigrationResultSet['results'],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: new StaticMigrationProvider() });
}

/** Brings the schema to the latest migration; throws MigrationError naming the migration that failed. */
export async function migrateToLatest(db: Kysely<any>, logger?: Logger): Promise<void> {
  const { error, results } = await createMigrator(db).migrateToLatest();
  for (const r of results ?? []) {
    if (r.status === 'Success') logger?.info({ migration: r.migrationName }, 'migration applied');
    else if (r.status === 'Error') logger?.error({ migration: r.migrationName }, 'migration failed');
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const why = error instanceof Error ? error.message : String(error);
    throw new MigrationError(
      failed ? `migration ${failed} failed: ${why}` : `migrations could not run: ${why}`,
      results ?? [],
      { cause: error },
    );
  }
}
