// One process of the system, running the roles it is given (gateway, actors, projector, webhooks, reconcile).
// `npm start` runs them all in one process by default; with DATABASE_URL set they can be split
// across processes (ROLES=actors for extra workers; they need no database).
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Intent, Merchant } from '../actors/mod.ts';
import type { Config } from '../config/config.ts';
import { createEpnClient } from '../epn/client/mod.ts';
import { buildApp } from '../gateway/app.ts';
import { createKeyIndex } from '../gateway/auth.ts';
import { createIdempotency } from '../gateway/idempotency.ts';
import { createCatalogueIndex, createPayIndex } from '../gateway/pay-index.ts';
import { balanceOf, listBalanceTransactions, listCharges, listDisputes, listEarlyFraudWarnings, listRefunds, listSetupIntents } from '../storage/mod.ts';
import { buckets, bucketStream, connectNats, declareTopology, durables, runConsumer, type ConsumerLoop } from '../nats/mod.ts';
import { getStripeEvent, listIntents, listStripeEvents, migrateToLatest, openDatabase, startProjector, startReceiptsProjector, type OpenedDatabase } from '../storage/mod.ts';
import { EVENTS_STREAM, RECONCILE_STREAM, subjects } from '../streams/subjects.ts';
import type { Coupon, Customer, PaymentLink, Product, SetupIntent } from '../actors/mod.ts';
import { couponRedemptions, listCoupons, listPromotionCodes, promotionCodeRedemptions, listCustomers, listPaymentLinks, listPrices, listProducts } from '../storage/mod.ts';
import { createReadYourWrites } from '../storage/read-your-writes.ts';
import { startCheckoutExpiry } from '../checkout/expiry.ts';
import { searchCharges, searchCustomers, searchIntents, searchPrices, searchProducts } from '../storage/search.ts';
import { createVault, loadMasterKey } from '../vault/mod.ts';
import { startFanout, startWebhookWorker } from '../webhooks/worker.ts';
import { createWebhookAdmin } from '../webhooks/admin.ts';
import { createReconciler, drainLegacyReconcile } from '../reconcile/worker.ts';
import { startReconciliation, type ReconciliationService } from '../reconcile/service.ts';
import { registerReconciliationAdmin } from '../reconcile/admin.ts';
import { registerOpsWeb } from '../ops/web/routes.ts';
import { asReconDb } from '../reconcile/store.ts';
import { CHARGEBACK_FEED_CURSOR, FRAUD_REPORT_FEED_CURSOR, kvFeedCursor, startDisputeFeed } from '../reconcile/disputes.ts';
import { createAggregateStore } from './aggregates.ts';
import { createCommandClient } from './client.ts';
import { startRetention } from '../privacy/retention.ts';
import { migrateWithRole } from '../privacy/db-roles.ts';
import { startActorWorker, type ActorWorker } from './worker.ts';
import { registerNatsMetrics, registerPartitionMetrics } from '../metrics/nats.ts';
import { serveMetrics } from '../metrics/server.ts';
import { createMerchantSecurity } from '../gateway/merchant-security.ts';
import { createRateLimiter } from '../gateway/rate-limit.ts';
import { createEncryptionKeys } from '../gateway/jwe.ts';
import { loadKeyRingFromKv } from '../vault/kek.ts';
import { createArchiveReader, openArchive, readIntentWithArchive, readSetupIntentWithArchive, startArchiveRole, type ArchiveRole } from '../archive/mod.ts';
import { RecentCommits } from '../streams/recent.ts';

export interface RunningNode {
  url: string | null;
  /** GET /metrics of a process without the gateway when METRICS_PORT is set (ops). */
  metricsUrl?: string | null;
  worker: ActorWorker | null;
  stop(): Promise<void>;
  /** The read model this process opened (gateway, projector or archive roles). */
  database?: OpenedDatabase | null;
  /** The archive role, when this process runs it. */
  archive?: ArchiveRole | null;
}

export async function startNode(config: Config, log: Logger): Promise<RunningNode> {
  if (!config.natsUrl) throw new Error('NATS_URL is not set (scripts/start.ts starts a server and sets it)');
  const roles = new Set(config.roles);
  const nc = await connectNats(config.natsUrl, `paynats-${config.workerId}`);
  log.info({ nats: config.natsUrl, server: nc.info?.version, roles: [...roles] }, 'connected to nats');
  await declareTopology(nc, { eventMaxAgeS: config.eventMaxAgeS, leaseMs: config.leaseMs, webhookAckWaitMs: config.webhookAckWaitMs, replicas: config.natsReplicas });
  // A restarted nats-server has lost its memory-storage buckets (in-flight idempotency claims, CVCs,
  // rate buckets): declare the topology again on every reconnect (idempotent for the file ones).
  // degrade: `natsUp` is false from a disconnect until the reconnect's topology is declared again;
  // meanwhile the gateway answers 503 at once (gateway/app.ts brokerUp) instead of waiting out timeouts.
  let natsUp = true;
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === 'disconnect' || st.type === 'close') {
        // 'close' is our own drain at stop (or reconnects given up): nothing to warn about.
        if (natsUp && st.type === 'disconnect') log.warn({ status: st.type }, 'nats disconnected: the gateway answers 503 until it is back');
        natsUp = false;
      }
      if (st.type !== 'reconnect') continue;
      // A cluster may still be electing leaders right after a reconnect: try again for a minute.
      for (let i = 1; i <= 60 && !nc.isClosed(); i++) {
        const ok = await declareTopology(nc, { eventMaxAgeS: config.eventMaxAgeS, leaseMs: config.leaseMs, webhookAckWaitMs: config.webhookAckWaitMs, replicas: config.natsReplicas }).then(
          () => true,
          (err: unknown) => (log.warn({ err: (err as Error).message, try: i }, 'nats reconnected: declaring the topology failed; trying again'), false),
        );
        if (ok) {
          log.info('nats reconnected: topology declared again');
          break;
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
      if (!nc.isClosed()) natsUp = true;
    }
  })();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  // The KEK from config opens the keyring root in KV (vault/kek.ts); every working key derives from the root.
  const ring = await loadKeyRingFromKv(await kvm.open(buckets.security), loadMasterKey(config.dataDir), async () =>
    (await jsm.streams.info(EVENTS_STREAM)).state.messages > 0 || (await jsm.streams.info(bucketStream(buckets.keys))).state.messages > 0);
  const vault = createVault(await kvm.open(buckets.vault), ring, await kvm.open(buckets.vaultCvc));
  // Commits this process appends, handed to its projector and fan-out without a second decode.
  const recent = new RecentCommits();
  const store = createAggregateStore(js, jsm, config.workerId, { recent });
  const stops: (() => Promise<void>)[] = [];

  // The database first: PGlite's first open blocks the event loop for seconds, which would starve
  // the partition leases' renewals.
  let database: OpenedDatabase | null = null;
  if (roles.has('gateway') || roles.has('projector')) {
    database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: log });
    await migrateWithRole(config, database.db, log, migrateToLatest);
  }
  // The archive role moves aged rows out of the read model: it needs the database too.
  if (roles.has('archive') && !database) {
    database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: log });
    await migrateToLatest(database.db);
  }
  let worker: ActorWorker | null = null;
  if (roles.has('actors')) {
    if (!config.epnUrl) throw new Error('EPN_URL is not set');
    const epn = createEpnClient({ baseUrl: config.epnUrl, timeoutMs: config.epnTimeoutMs });
    worker = startActorWorker({
      nc,
      owners: await kvm.open(buckets.owners),
      deps: { store, vault, epn, log: log.child({ component: 'actors' }) },
      workerId: config.workerId,
      partitions: config.partitions,
      leaseMs: config.leaseMs,
      log: log.child({ component: 'partitions', worker: config.workerId }),
    });
    await worker.ready;
    stops.push(() => worker!.stop());
  }

  const loops: ConsumerLoop[] = [];
  if (roles.has('projector') && database) {
    loops.push(startProjector({ js, db: database.db, log, commits: recent }));
    loops.push(startReceiptsProjector({ js, db: database.db, log }));
    const retention = startRetention({ db: database.db, commands: createCommandClient(nc, { partitions: config.partitions, timeoutMs: 15_000 }), log: log.child({ component: 'retention' }), retentionDays: config.piiRetentionDays, intervalMs: config.piiRetentionIntervalMs });
    stops.push(() => retention.stop());
    const expiry = startCheckoutExpiry({ db: database.db, commands: createCommandClient(nc, { partitions: config.partitions, timeoutMs: 15_000 }), log: log.child({ component: 'checkout-expiry' }), intervalMs: config.checkoutExpiryIntervalMs });
    stops.push(() => expiry.stop());
  }

  const readMerchant = async (id: string) => (await store.readLast<Merchant>(subjects.merchant(id))).state;
  if (roles.has('webhooks')) {
    loops.push(...(await startWebhookWorker({ nc, js, jsm, kvm, ring, config, readMerchant, log: log.child({ component: 'webhooks' }), commits: recent })));
  }

  if (roles.has('reconcile')) {
    if (!config.epnUrl) throw new Error('EPN_URL is not set');
    const rlog = log.child({ component: 'reconcile' });
    const reconcile = createReconciler({
      epn: createEpnClient({ baseUrl: config.epnUrl, timeoutMs: config.epnTimeoutMs }),
      commands: createCommandClient(nc, { partitions: config.partitions, timeoutMs: 15_000 }),
      vault,
      backoffMs: config.reconcileBackoffMs,
      deadlineMs: config.reconcileDeadlineMs,
      inquiryAfterMs: config.reconInquiryAfterMs,
      log: rlog,
    });
    loops.push(runConsumer(js, RECONCILE_STREAM, durables.reconcile, reconcile, rlog, { concurrency: 16 }));
    // Its work arrives through the fan-out: run it here too when this process has no webhooks role.
    if (!roles.has('webhooks')) loops.push(startFanout({ nc, js, readMerchant, log: log.child({ component: 'webhooks' }), commits: recent }));
    const legacy = await drainLegacyReconcile(js, jsm, reconcile, rlog);
    if (legacy) loops.push(legacy);
    // Disputes: the network's chargeback feed, read on from a cursor all reconcile processes share.
    if (config.disputePollMs > 0) {
      const indexKv = await kvm.open(buckets.index);
      const feed = startDisputeFeed({
        epn: createEpnClient({ baseUrl: config.epnUrl, timeoutMs: config.epnTimeoutMs }),
        commands: createCommandClient(nc, { partitions: config.partitions, timeoutMs: 15_000 }),
        index: createPayIndex(indexKv),
        cursor: kvFeedCursor(indexKv, CHARGEBACK_FEED_CURSOR),
        fraudCursor: kvFeedCursor(indexKv, FRAUD_REPORT_FEED_CURSOR),
        log: rlog.child({ component: 'disputes' }),
        intervalMs: config.disputePollMs,
      });
      stops.unshift(() => feed.stop());
    }
  }

  // Settlement reconciliation and the stuck-attempt sweep (scheduled with the reconcile role), and
  // their admin API on the gateway: wherever the read model is.
  let recon: ReconciliationService | null = null;
  if (database && config.epnUrl && (roles.has('reconcile') || roles.has('gateway'))) {
    recon = startReconciliation({
      db: asReconDb(database.db),
      epn: createEpnClient({ baseUrl: config.epnUrl, timeoutMs: config.epnTimeoutMs }),
      commands: createCommandClient(nc, { partitions: config.partitions, timeoutMs: 30_000 }),
      log: log.child({ component: 'settlement' }),
      intervalMs: roles.has('reconcile') ? config.reconSettlementIntervalMs : 0,
      graceMs: config.reconSettlementGraceMs,
      stuckAfterMs: config.reconStuckAfterMs,
      deadlineMs: config.reconcileDeadlineMs,
    });
    const service = recon;
    stops.unshift(() => service.stop());
  }

  let archive: ArchiveRole | null = null;
  if (roles.has('archive')) {
    archive = startArchiveRole({ js, jsm, archive: await openArchive(config, nc, ring), config, db: database?.db ?? null, log });
    loops.push(archive);
  }

  let url: string | null = null;
  if (roles.has('gateway') && database) {
    const db = database.db;
    const archived = await openArchive(config, nc, ring);
    const archiveReader = createArchiveReader(db, archived.store, archived.privacy);
    const indexKv = await kvm.open(buckets.index);
    const payIndex = createPayIndex(indexKv);
    const securityKv = await kvm.open(buckets.security);
    const settings = createMerchantSecurity(securityKv);
    await settings.ready;
    const security = {
      settings,
      limiter: createRateLimiter({ kv: await kvm.open(buckets.rate), defaults: { live: config.rateLimitLive, test: config.rateLimitTest }, overrideOf: (m: string) => settings.get(m)?.rate_limit }),
      encryption: createEncryptionKeys(securityKv, ring),
    };
    // One per process start: a crashed gateway's claims are taken over after 3 missed heartbeats.
    const idempotency = createIdempotency(await kvm.open(buckets.idempotency), await kvm.open(buckets.idempotencyInFlight), {
      secret: ring.idempotencyKey,
      instance: `${config.workerId}.${randomBytes(4).toString('hex')}`,
      resultsDirect: await kvm.open(buckets.idempotency, { allow_direct: true }),
    });
    stops.push(async () => idempotency.stop());
    // A list waits (bounded) for the projection to hold this gateway's writes for its merchant.
    const ryw = createReadYourWrites(db, { maxWaitMs: config.listWaitMs });
    const app = buildApp({
      config,
      log,
      commands: createCommandClient(nc, {
        partitions: config.partitions,
        timeoutMs: config.epnTimeoutMs + 15_000,
        wrote: (merchantId, seq) => ryw.wrote(merchantId, seq),
        ...(worker ? { local: (req) => worker!.local(req) } : {}),
      }),
      keys: createKeyIndex(await kvm.open(buckets.keys), ring),
      idempotency,
      vault,
      ring,
      readIntent: readIntentWithArchive(async (merchantId, intentId) => (await store.readLast<Intent>(subjects.intent(merchantId, intentId))).state, db, archiveReader),
      readMerchant,
      listIntents: (merchantId, livemode, q, only) =>
        ryw.after(merchantId, () =>
          listIntents(db, {
          merchantId,
          livemode,
          limit: q.limit ?? 10,
          ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
          ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
          ...(q.customer ? { customer: q.customer } : {}),
          ...(q.created !== undefined ? { created: typeof q.created === 'number' ? { gte: q.created, lte: q.created } : q.created } : {}),
          ...only,
        }),
        ),
      readCustomer: async (merchantId, customerId) => (await store.readLast<Customer>(subjects.customer(merchantId, customerId))).state,
      readSetupIntent: readSetupIntentWithArchive(async (merchantId, id) => (await store.readLast<SetupIntent>(subjects.setupIntent(merchantId, id))).state, db, archiveReader),
      listSetupIntents: (o) => ryw.after(o.merchantId, () => listSetupIntents(db, o)),
      readProduct: async (merchantId, productId) => (await store.readLast<Product>(subjects.product(merchantId, productId))).state,
      listProducts: (o) => ryw.after(o.merchantId, () => listProducts(db, o)),
      listPrices: (o) => ryw.after(o.merchantId, () => listPrices(db, o)),
      readPaymentLink: async (merchantId, linkId) => (await store.readLast<PaymentLink>(subjects.paymentLink(merchantId, linkId))).state,
      listPaymentLinks: (o) => ryw.after(o.merchantId, () => listPaymentLinks(db, o)),
      readCoupon: async (merchantId, couponId) => (await store.readLast<Coupon>(subjects.coupon(merchantId, couponId))).state,
      listCoupons: (o) => ryw.after(o.merchantId, () => listCoupons(db, o)),
      couponRedemptions: (merchantId, ids) => ryw.after(merchantId, () => couponRedemptions(db, merchantId, ids)),
      listPromotionCodes: (o) => ryw.after(o.merchantId, () => listPromotionCodes(db, o)),
      promotionCodeRedemptions: (merchantId, ids) => ryw.after(merchantId, () => promotionCodeRedemptions(db, merchantId, ids)),
      catalogue: createCatalogueIndex(indexKv),
      listCustomers: (merchantId, livemode, q) =>
        ryw.after(merchantId, () =>
          listCustomers(db, {
          merchantId,
          livemode,
          limit: q.limit ?? 10,
          ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
          ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
          ...(q.email !== undefined ? { email: q.email } : {}),
          ...(q.created !== undefined ? { created: typeof q.created === 'number' ? { gte: q.created, lte: q.created } : q.created } : {}),
        }),
        ),
      listEvents: (o) => ryw.after(o.merchantId, () => listStripeEvents(db, o)),
      searchIntents: (o) => searchIntents(db, o),
      searchCustomers: (o) => searchCustomers(db, o),
      searchCharges: (o) => searchCharges(db, o),
      searchProducts: (o) => searchProducts(db, o),
      searchPrices: (o) => searchPrices(db, o),
      readEvent: async (merchantId, livemode, eventId, notBefore) => (await getStripeEvent(db, merchantId, livemode, eventId, notBefore)) ?? null,
      readIndex: (id) => payIndex.read(id),
      writeIndex: (id, entry) => payIndex.write(id, entry),
      listCharges: (o) => ryw.after(o.merchantId, () => listCharges(db, o)),
      listRefunds: (o) => ryw.after(o.merchantId, () => listRefunds(db, o)),
      listDisputes: (o) => ryw.after(o.merchantId, () => listDisputes(db, o)),
      listEarlyFraudWarnings: (o) => ryw.after(o.merchantId, () => listEarlyFraudWarnings(db, o)),
      readBalance: (merchantId, livemode) => ryw.after(merchantId, () => balanceOf(db, merchantId, livemode, new Date(), config.balancePendingDays)),
      listBalanceTransactions: (o) => ryw.after(o.merchantId, () => listBalanceTransactions(db, o)),
      webhooks: createWebhookAdmin({ db, js, jsm, readMerchant }),
      health: async () => ({
        // degrade: a flush while disconnected waits for the reconnect; the health check must not.
        nats: natsUp && !nc.isClosed() && (await Promise.race([nc.flush().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000).unref())])),
        database: await database!.ping(),
      }),
      security,
      brokerUp: () => natsUp && !nc.isClosed(),
    });
    if (recon) registerReconciliationAdmin(app, { adminToken: config.adminToken, db: asReconDb(db), service: recon, commands: createCommandClient(nc, { partitions: config.partitions, timeoutMs: 30_000 }) });
    registerOpsWeb(app, { adminToken: config.adminToken, db, recon, readMerchant }); // ops: the /ops page and GET /admin/ops/summary
    url = await app.listen({ host: config.host, port: config.port });
    log.info({ url }, 'gateway listening');
    stops.unshift(() => app.close());
  }

  // ops: metrics from every process: consumer lag, streams, partitions; METRICS_PORT where there is no gateway.
  const unregisterMetrics = [registerNatsMetrics(jsm, await kvm.open(buckets.owners), config.partitions, log.child({ component: 'metrics' }))];
  if (worker) {
    const w = worker;
    unregisterMetrics.push(registerPartitionMetrics({ owned: () => w.owned(), workerId: config.workerId }));
  }
  stops.push(async () => unregisterMetrics.forEach((u) => u()));
  let metricsUrl: string | null = null;
  if (!roles.has('gateway') && config.metricsPort > 0) {
    const ms = await serveMetrics(config.host, config.metricsPort);
    metricsUrl = ms.url;
    log.info({ url: ms.url }, 'metrics listening');
    stops.unshift(() => ms.close());
  }

  return {
    url,
    metricsUrl,
    worker,
    database,
    archive,
    async stop() {
      for (const s of stops) await s().catch((err: unknown) => log.error({ err }, 'stop failed'));
      await Promise.allSettled(loops.map((l) => l.stop()));
      await database?.close().catch(() => {});
      await nc.drain().catch(() => {});
    },
  };
}
