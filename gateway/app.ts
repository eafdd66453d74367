// The HTTP edge. buildApp(deps) wires parsers, the request id, auth, idempotency and routes, and
// installs the one error handler that speaks Stripe's error body. server.ts only listens.
import type { SearchOptions } from '../storage/search.ts';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import qs from 'qs';
import type { Logger } from 'pino';
import type { Intent, Merchant } from '../actors/mod.ts';
import type { Config } from '../config/config.ts';
import type { Vault, KeyRing } from '../vault/mod.ts';
import type { CommandClient, ReplayTrace } from '../runtime/client.ts';
import type { Ctx } from '../runtime/protocol.ts';
import { ApiError, keyInUse, unavailable } from '../stripe/errors.ts';
import { authenticate, type KeyIndex, type Principal } from './auth.ts';
import { errorToApi } from './errors.ts';
import { fingerprint, mismatch, type Idempotency } from './idempotency.ts';
import { requestId } from './ids.ts';
import { registerAdmin } from './routes/admin.ts';
import { registerIntents } from './routes/payment-intents.ts';
import { registerPaymentMethods } from './routes/payment-methods.ts';
import { registerTokens } from './routes/tokens.ts';
import { registerCustomers } from './routes/customers.ts';
import { registerAccount } from './routes/account.ts';
import { registerBalance } from './routes/balance.ts';
import { registerSetupIntents } from './routes/setup-intents.ts';
import { registerProducts } from './routes/products.ts';
import { registerPaymentLinks } from './routes/payment-links.ts';
import { registerCoupons } from './routes/coupons.ts';
import { registerPromotionCodes } from './routes/promotion-codes.ts';
import { registerWebhookEndpoints } from './routes/webhook-endpoints.ts';
import type { Coupon, Customer, PaymentLink, Price, Product, PromotionCode, SetupIntent } from '../actors/mod.ts';
import type { ListCustomersQuery } from './schemas.ts';
import { registerHealth } from './routes/health.ts';
import { registerObservability } from './observability.ts';
import { registerCharges } from './routes/charges.ts';
import { registerCheckoutSessions } from './routes/checkout-sessions.ts';
import { registerRefunds } from './routes/refunds.ts';
import { registerDisputes } from './routes/disputes.ts';
import { registerEarlyFraudWarnings } from './routes/early-fraud-warnings.ts';
import type { CatalogueIndex, IndexEntry } from './pay-index.ts';
import type { BalanceFunds, BalanceTransactionSource, ListBalanceTransactionsOptions, ChargeEntry, ListChargesOptions, ListRefundsOptions, ListDisputesOptions, DisputeRecord, ListEarlyFraudWarningsOptions, EarlyFraudWarningRecord, ListSetupIntentsOptions, RefundRecord, ListProductsOptions, ListPricesOptions, ProductRecord, ListPaymentLinksOptions, ListCouponsOptions, ListPromotionCodesOptions } from '../storage/mod.ts';
import { registerThreeDSecure } from './routes/three-d-secure.ts';
import { registerEvents } from './routes/events.ts';
import { registerCheckout } from './routes/checkout.ts';
import { openApiDocument, routeCollector, type RouteDoc } from './openapi.ts';
import { clientErrorHandler, defaultSchemas, frameworkErrors, rejectNonFinite } from './edge.ts';
import { API_VERSION, type StripeEvent } from '../stripe/objects.ts';
import type { ListStripeEventsOptions, Page } from '../storage/mod.ts';
import type { ListIntentsQuery } from './schemas.ts';
import type { WebhookAdmin } from '../webhooks/admin.ts';
import { registerWebhookAdmin } from './routes/webhook-admin.ts';
import { accessGuard, type SecurityDeps } from './access.ts';
import { jweParser } from './jwe.ts';
import { registerAdminKeys } from './routes/admin-keys.ts';
import { registerAdminErasures } from './routes/admin-erasures.ts';
import { PII_REDACT } from './pii.ts';
import { registerEncryptionKeys } from './routes/encryption-keys.ts';
import { securityHeaders, tlsOptions } from './hardening.ts';

export interface IntentPage {
  data: Intent[];
  hasMore: boolean;
}

export interface CustomerPage {
  data: Customer[];
  hasMore: boolean;
}

export interface GatewayDeps {
  config: Pick<Config, 'adminToken' | 'partitions'> & Partial<Pick<Config, 'tls' | 'trustProxy' | 'balancePendingDays'>>;
  log: Logger;
  commands: CommandClient;
  keys: KeyIndex;
  idempotency: Idempotency;
  vault: Vault;
  ring: KeyRing;
  readIntent(merchantId: string, intentId: string): Promise<Intent | null>;
  readMerchant(merchantId: string): Promise<Merchant | null>;
  /** `only`: the intents that pay a Checkout Session (and only this one). */
  listIntents(merchantId: string, livemode: boolean, q: ListIntentsQuery, only?: { checkout?: boolean; id?: string; checkoutStatus?: 'open' | 'complete' | 'expired'; paymentLink?: string }): Promise<IntentPage>;
  /** The customer aggregate's last snapshot (any mode; callers check it against the key's). */
  readCustomer(merchantId: string, customerId: string): Promise<Customer | null>;
  listCustomers(merchantId: string, livemode: boolean, q: ListCustomersQuery): Promise<CustomerPage>;
  /** The SetupIntent aggregate's last snapshot (any mode; callers check it against the key's). */
  readSetupIntent(merchantId: string, setupIntentId: string): Promise<SetupIntent | null>;
  listSetupIntents(o: ListSetupIntentsOptions): Promise<Page<SetupIntent>>;
  /** The product aggregate's last snapshot, prices and all (any mode; callers check it against the key's). */
  readProduct(merchantId: string, productId: string): Promise<Product | null>;
  listProducts(o: ListProductsOptions): Promise<Page<ProductRecord>>;
  listPrices(o: ListPricesOptions): Promise<Page<{ price: Price; product: string }>>;
  searchProducts(o: SearchOptions): Promise<Page<ProductRecord>>;
  searchPrices(o: SearchOptions): Promise<Page<{ price: Price; product: string }>>;
  /** The payment link aggregate's last snapshot (any mode; callers check it against the key's). */
  readPaymentLink(merchantId: string, linkId: string): Promise<PaymentLink | null>;
  listPaymentLinks(o: ListPaymentLinksOptions): Promise<Page<PaymentLink>>;
  /** The coupon aggregate's last snapshot (any mode; callers check it against the key's). */
  readCoupon(merchantId: string, couponId: string): Promise<Coupon | null>;
  listCoupons(o: ListCouponsOptions): Promise<Page<Coupon>>;
  /** Checkout Sessions that completed with each coupon (its times_redeemed), in one query; ids with none are absent. */
  couponRedemptions(merchantId: string, couponIds: readonly string[]): Promise<Map<string, number>>;
  listPromotionCodes(o: ListPromotionCodesOptions): Promise<Page<{ promotionCode: PromotionCode; coupon: string }>>;
  /** Checkout Sessions that completed with each promotion code, in one query; ids with none are absent. */
  promotionCodeRedemptions(merchantId: string, promotionCodeIds: readonly string[]): Promise<Map<string, number>>;
  /** pay_index for the catalogue: where a price, promotion code or payment link lives; lookup keys and promotion codes (gateway/pay-index.ts). */
  catalogue: CatalogueIndex;
  /** Stripe's search over the projection (storage/search.ts). */
  searchIntents(o: SearchOptions): Promise<Page<Intent>>;
  searchCustomers(o: SearchOptions): Promise<Page<Customer>>;
  searchCharges(o: SearchOptions): Promise<Page<ChargeEntry>>;
  /** Stripe events from the projection (eventually consistent; see routes/events.ts). */
  listEvents(o: ListStripeEventsOptions): Promise<Page<StripeEvent>>;
  readEvent(merchantId: string, livemode: boolean, eventId: string, notBefore: Date): Promise<StripeEvent | null>;
  /** pay_index: the merchant, intent and mode a charge (ch_…) or refund (re_…) belongs to. */
  readIndex(id: string): Promise<IndexEntry | null>;
  /** Written before the command that creates the charge or refund is sent. */
  writeIndex(id: string, entry: IndexEntry): Promise<void>;
  listCharges(o: ListChargesOptions): Promise<Page<ChargeEntry>>;
  listRefunds(o: ListRefundsOptions): Promise<Page<RefundRecord>>;
  listDisputes(o: ListDisputesOptions): Promise<Page<DisputeRecord>>;
  listEarlyFraudWarnings(o: ListEarlyFraudWarningsOptions): Promise<Page<EarlyFraudWarningRecord>>;
  /** The merchant's funds per currency in one mode (storage/balance.ts). */
  readBalance(merchantId: string, livemode: boolean): Promise<BalanceFunds[]>;
  listBalanceTransactions(o: ListBalanceTransactionsOptions): Promise<Page<BalanceTransactionSource>>;
  health(): Promise<Record<string, boolean>>;
  /** Webhook receipts, dead letters, resend and replay (absent: those routes answer 503). */
  webhooks?: WebhookAdmin;
  /** Rate limits, merchant access settings, encrypted requests (gateway/access.ts); absent = off. */
  security?: SecurityDeps;
  /** degrade: false while the NATS connection is down (every /v1 and /admin request then answers 503 at once). */
  brokerUp?: () => boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** A Stripe-Version we echo: a dated version, optionally named, optionally with beta flags. */
const STRIPE_VERSION = /^\d{4}-\d{2}-\d{2}(\.[a-z0-9_]+)?(; ?[a-z0-9_]+=v\d+)*$/;

const REDACT = ['req.headers.authorization', 'body.card.number', 'body.card.cvc', 'card.number', 'card.cvc', ...PII_REDACT];

export function buildApp(deps: GatewayDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'gateway' }, { redact: REDACT }),
    // A caller's own id is kept as the correlation id (X-Correlation-Id), never trusted as ours.
    genReqId: () => requestId(),
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    routerOptions: { querystringParser: (s: string) => qs.parse(s, { depth: 4, arrayLimit: 100, parameterLimit: 500 }) },
    bodyLimit: 256 * 1024,
    ...tlsOptions(deps.config),
    // Malformed HTTP and undecodable URLs get Stripe's error body too (edge.ts).
    clientErrorHandler,
    frameworkErrors,
    // verbose: an issue carries the value it refused, which Stripe's metadata errors quote the size of (errors.ts).
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false, useDefaults: true, verbose: true } },
  }) as unknown as FastifyInstance;

  // Stripe bodies are form-encoded with bracket nesting (metadata[k]=v, expand[0]=x, expand[]=x).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, qs.parse(body as string, { depth: 4, arrayLimit: 100, parameterLimit: 500 }));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // The per-request hooks are callback-style (no promise and no microtask hop each); a throw in
  // one is caught by fastify's hook runner and answered by the error handler, as a rejection was.
  // A POST or DELETE with no body at all (curl -X POST …) is an empty parameter set, as Stripe takes it.
  app.addHook('preValidation', (req, _reply, done) => {
    if (req.body === undefined && (req.method === 'POST' || req.method === 'DELETE')) req.body = {};
    done();
  });

  app.addHook('onRequest', (req, reply, done) => {
    reply.header('Request-Id', req.id);
    // Stripe-Version: the caller's, echoed (objects render the same for every version), else ours.
    const raw = req.headers['stripe-version'];
    if (raw === undefined) {
      reply.header('Stripe-Version', API_VERSION);
      return done();
    }
    const asked = (Array.isArray(raw) ? raw[0] : raw)?.trim();
    const valid = !!asked && asked.length <= 128 && STRIPE_VERSION.test(asked);
    reply.header('Stripe-Version', valid ? asked : API_VERSION);
    if (asked && !valid) {
      throw new ApiError(400, 'invalid_request_error', undefined, `Invalid Stripe API version: ${asked.slice(0, 128)}`);
    }
    done();
  });

  app.addHook('onResponse', (req, reply, done) => {
    if ((req.log as unknown as Logger).isLevelEnabled('info')) {
      req.log.info({ method: req.method, url: req.routeOptions.url ?? req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    }
    done();
  });

  registerObservability(app, deps); // ops: correlation id on logs, HTTP and idempotency metrics

  // degrade: NATS down (disconnected, reconnecting, or its topology not yet declared again): nothing
  // can be done safely, so 503 service_unavailable with Stripe-Should-Retry at once, before any
  // idempotency claim or command (never a half-done payment). Health and metrics still answer.
  app.addHook('onRequest', (req, _reply, done) => {
    if (!deps.brokerUp || deps.brokerUp()) return done();
    const p = req.url.split('?')[0];
    if (p === '/healthz' || p === '/readyz' || p === '/metrics' || p === '/openapi.json') return done();
    throw unavailable('The message broker is unavailable. Retry with the same Idempotency-Key.');
  });

  app.setErrorHandler((err, req, reply) => {
    const e = errorToApi(err);
    // A 503 is a dependency being down or changing hands (retryable, answered with Stripe-Should-Retry): warn, not error.
    if (e.status === 503) req.log.warn({ err: (err as Error)?.message, code: e.code }, 'request deferred: a dependency is unavailable');
    else if (e.status >= 500) req.log.error({ err }, 'request failed');
    if (e.shouldRetry !== undefined) reply.header('Stripe-Should-Retry', String(e.shouldRetry));
    return reply.code(e.status).type('application/json').send(e.body());
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(404, 'invalid_request_error', undefined, `Unrecognized request URL (${req.method}: ${req.url.split('?')[0]}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`);
    return reply.code(404).send(e.body());
  });

  app.addHook('preHandler', rejectNonFinite);
  // Security: encrypted bodies (application/jose), authentication + rate limit + raw-card rule, response headers.
  app.addContentTypeParser('application/jose', { parseAs: 'string' }, jweParser(() => deps.security?.encryption));
  app.addHook('preHandler', accessGuard(deps));
  app.addHook('onSend', securityHeaders);

  // Every route registered below lands in /openapi.json with the schemas that validate it.
  const routes: RouteDoc[] = [];
  app.addHook('onRoute', defaultSchemas);
  app.addHook('onRoute', routeCollector(routes));
  let openapi: string | undefined;
  app.get('/openapi.json', async (_req, reply) => reply.type('application/json').send((openapi ??= JSON.stringify(openApiDocument(routes)))));

  registerHealth(app, deps);
  registerAdmin(app, deps);
  registerIntents(app, deps);
  registerPaymentMethods(app, deps);
  registerTokens(app, deps);
  registerCharges(app, deps);
  registerCheckoutSessions(app, deps);
  registerRefunds(app, deps);
  registerDisputes(app, deps);
  registerEarlyFraudWarnings(app, deps);
  registerCustomers(app, deps);
  registerAccount(app, deps);
  registerBalance(app, deps);
  registerSetupIntents(app, deps);
  registerProducts(app, deps);
  registerPaymentLinks(app, deps);
  registerCoupons(app, deps);
  registerPromotionCodes(app, deps);
  registerWebhookEndpoints(app, deps);
  registerEvents(app, deps);
  registerThreeDSecure(app, deps);
  registerCheckout(app, deps);
  registerWebhookAdmin(app, deps);
  registerAdminKeys(app, deps);
  registerAdminErasures(app, deps);
  registerEncryptionKeys(app, deps);
  return app;
}

/** Authenticates /v1-style requests; the principal is the merchant and mode everything is scoped to. */
export async function principalOf(req: FastifyRequest, deps: Pick<GatewayDeps, 'keys'>): Promise<Principal> {
  if (!req.principal) req.principal = await authenticate(req, deps.keys);
  return req.principal;
}

export interface Reply {
  status: number;
  body: unknown;
}

/**
 * Runs a mutating request under its Idempotency-Key (when given): the first answer for a key is
 * stored and replayed to every retry.
 */
export async function idempotent(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: Pick<GatewayDeps, 'idempotency'>,
  scope: string,
  run: () => Promise<Reply>,
): Promise<FastifyReply> {
  const key = checkedKey(req);
  if (!key) {
    const r = await run();
    return reply.code(r.status).send(r.body);
  }
  const path = req.routeOptions.url ?? req.url;
  const claim = await deps.idempotency.claim(scope, key, fingerprint(req.method, req.url.split('?')[0] ?? path, req.body));
  if (claim.kind === 'replay') {
    return reply.code(claim.status).header('Idempotent-Replayed', 'true').header('Original-Request', claim.requestId).type('application/json').send(claim.body);
  }
  let r: Reply;
  try {
    r = await run();
  } catch (err) {
    const e = errorToApi(err);
    await claim.finish(e.status, JSON.stringify(e.body()), req.id);
    throw e;
  }
  const body = JSON.stringify(r.body);
  await claim.finish(r.status, body, req.id);
  return reply.code(r.status).type('application/json').send(body);
}

/** A keyed request's part in its commands: the fingerprint they carry, and what they were answered with. */
export interface CommandIdem {
  key: string;
  fingerprint: string;
  trace: ReplayTrace;
}

/**
 * Idempotency for a request whose only writes are commands to one aggregate (PaymentIntents,
 * refunds, customers; a payment method's card record plays the aggregate's part), with no record of its own: each command carries the request's keyed
 * fingerprint; the aggregate records it in its commit and answers a repeat from that commit
 * (runtime/aggregates.ts). A repeat then runs the route again and renders the first answers: the
 * same status and body, marked Idempotent-Replayed. Other parameters under the key: 400
 * idempotency_error, nothing executed. A repeat that reaches the aggregate's owner while the first
 * is still queued or running there gets 409 idempotency_key_in_use (Stripe-Should-Retry), as at
 * Stripe; its retry is then the replay. Not stored, as at Stripe: a refusal before any command ran
 * (validation) and a 5xx; a command its aggregate refused (a 400 for its state) is decided again.
 * Unlike the KV path, a key used again on another endpoint or another object is a new request.
 */
export async function idempotentCommands(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: Pick<GatewayDeps, 'idempotency'>,
  run: (idem: CommandIdem | undefined) => Promise<Reply>,
): Promise<FastifyReply> {
  const key = checkedKey(req);
  const idem: CommandIdem | undefined = key
    ? { key, fingerprint: deps.idempotency.commandFingerprint(fingerprint(req.method, req.url.split('?')[0] ?? '', req.body)), trace: {} }
    : undefined;
  const replayed = () => {
    const r = idem?.trace.replayed;
    if (!r || idem.trace.fresh) return;
    void reply.header('Idempotent-Replayed', 'true');
    if (r.request_id) void reply.header('Original-Request', r.request_id);
  };
  let r: Reply;
  try {
    r = await run(idem);
  } catch (err) {
    if (idem && err instanceof ApiError && err.type === 'idempotency_error') throw mismatch(idem.key);
    if (idem && err instanceof ApiError && err.code === 'idempotency_key_in_use') throw keyInUse(idem.key);
    if (err instanceof ApiError && err.status < 500) replayed();
    throw err;
  }
  replayed();
  return reply.code(r.status).send(r.body);
}

/** The ctx of a command a request sends: its ids, the key's mode, the time, and its fingerprint when keyed. */
export function commandCtx(req: FastifyRequest, p: Principal, cmdId: string, idem?: CommandIdem): Ctx {
  const { requestId, correlationId } = correlationOf(req);
  return { commandId: cmdId, livemode: p.mode === 'live', requestId, correlationId, now: Math.floor(Date.now() / 1000), ...(idem ? { fingerprint: idem.fingerprint } : {}) };
}

/** The request's Idempotency-Key, refused when longer than Stripe allows; undefined when absent or empty. */
function checkedKey(req: FastifyRequest): string | undefined {
  const key = idempotencyKeyOf(req);
  if (!key) return undefined;
  if (key.length > 255) throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'Idempotency-Key must be at most 255 characters.');
  return key;
}

export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  return Array.isArray(raw) ? raw[0] : raw;
}

export function correlationOf(req: FastifyRequest): { requestId: string; correlationId: string | null } {
  const c = req.headers['x-correlation-id'] ?? req.headers['x-request-id'];
  const v = Array.isArray(c) ? c[0] : c;
  return { requestId: req.id, correlationId: v && /^[\w.:-]{1,128}$/.test(v) ? v : null };
}
