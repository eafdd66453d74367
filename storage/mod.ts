// The read model: Postgres (or PGlite) tables projected from the streams, and the reads the API makes.
export { openDatabase, redactUrl, type Database, type DatabaseKind, type OpenDatabaseOptions, type OpenedDatabase } from './database.ts';
export { migrateToLatest, createMigrator, migrations, MigrationError } from './migrator.ts';
export { type Int8, type Timestamp, type Json } from './columns.ts';
export {
  projectCommits,
  projectReceipts,
  startProjector,
  startReceiptsProjector,
  storedCommitOf,
  receiptMessageOf,
  checkpointNames,
  type ProjectorOptions,
} from './projector.ts';
export {
  listIntents,
  checkoutStatusIs,
  getIntent,
  getIntentWithAttempts,
  type PaymentIntentsTable,
  type IntentRecord,
  type IntentWithAttempts,
  type ListIntentsOptions,
} from './payment-intents.ts';
export { keysetPage, type CreatedFilter, type Page, type PageOptions, type Keyset } from './pages.ts';
export { listAttempts, type PaymentAttemptsTable, type AttemptRecord } from './payment-attempts.ts';
export { listRefunds, type RefundsTable, type RefundRecord, type ListRefundsOptions } from './refunds.ts';
export { listEarlyFraudWarnings, type EarlyFraudWarningRecord, type ListEarlyFraudWarningsOptions } from './early-fraud-warnings.ts';
export { listDisputes, disputeFunds, type DisputesTable, type DisputeRecord, type ListDisputesOptions } from './disputes.ts';
export { balanceOf, listBalanceTransactions, type BalanceFunds, type BalanceTransactionSource, type ListBalanceTransactionsOptions } from './balance.ts';
export { listCharges, type ChargeEntry, type ListChargesOptions } from './charges.ts';
export { getMerchant, type MerchantsTable, type MerchantRecord } from './merchants.ts';
export { listCoupons, couponRedemptions, listPromotionCodes, promotionCodeRedemptions, type ListCouponsOptions, type ListPromotionCodesOptions } from './coupons.ts';
export { listPaymentLinks, type ListPaymentLinksOptions } from './payment-links.ts';
export { listProducts, listPrices, type ProductRecord, type ListProductsOptions, type ListPricesOptions } from './products.ts';
export { listSetupIntents, type SetupIntentsTable, type ListSetupIntentsOptions } from './setup-intents.ts';
export { listCustomers, getCustomer, type CustomersTable, type CustomerRecord, type ListCustomersOptions } from './customers.ts';
export { listEvents, getEvent, listStripeEvents, getStripeEvent, type EventsTable, type EventRecord, type ListEventsOptions, type ListStripeEventsOptions } from './events.ts';
export {
  listDeliveries,
  getDelivery,
  foldDelivery,
  type WebhookDeliveriesTable,
  type DeliveryRecord,
  type DeliveryStatus,
  type ListDeliveriesOptions,
  type ReceiptMessage,
} from './webhook-deliveries.ts';
export { getCheckpoint, listCheckpoints, advanceCheckpoint, type ProjectionCheckpointsTable, type Checkpoint } from './checkpoints.ts';
export { webhookTryRowFromReceipt, insertWebhookTries, listWebhookTries, queryWebhookTries, type QueryTriesOptions, type WebhookTryRecord, type WebhookAttemptsTable } from './webhook-attempts.ts';
export { queryDeliveries, pendingWebhooks, type QueryDeliveriesOptions } from './webhook-deliveries.ts';
