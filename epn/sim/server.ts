// HTTP face of the simulated card network. Handlers are thin: the issuer decision is cards.ts,
// the record of what happened is ledger.ts. Request bodies are never logged (they carry cards).
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type RawServerDefault } from 'fastify';
import { pino, type ChildLoggerOptions, type Logger } from 'pino';
import type {
  WireAuthorizeRequest,
  WireVerifyRequest,
  WireVerifyResponse,
  WireAuthorizeResponse,
  WireCaptureRequest,
  WireChargeback,
  WireChargebackFeed,
  WireError,
  WireFraudReportFeed,
  WireInquiryResponse,
  WireLatencyRequest,
  WireLatencyResponse,
  WireRefundRequest,
  WireRefundResponse,
  WireRepresentmentRequest,
  WireTransaction,
  WireVoidRequest,
} from '../wire.ts';
import { brandOf, cardOutcome, declineMessage, disputeOf, fraudReportOf, last4, THREE_DS_REQUIRED } from './cards.ts';
import {
  CHARGEBACK_FEED_LIMIT_DEFAULT,
  CHARGEBACK_FEED_LIMIT_MAX,
  createLedger,
  FRAUD_FEED_LIMIT_DEFAULT,
  FRAUD_FEED_LIMIT_MAX,
  LedgerError,
  type Ledger,
} from './ledger.ts';
import { applyFault, createFaults, FaultConfigError, NO_FAULTS, type FaultConfig, type Faults } from './faults.ts';
import { settlementRows, txDate } from './settlement.ts';
import { scrubPan, withCardRedaction } from './log.ts';

export interface EpnServerOptions {
  /** Delay added to every /v1 answer, after the ledger has changed (see the onSend hook). */
  latencyMs: number;
  /** JSON-lines ledger file; omitted → in memory only. */
  ledgerPath?: string;
  /** Any pino logger; card redaction is added on top. Omitted → silent. */
  logger?: Logger;
  /** Clock for card expiry and ledger timestamps (tests). */
  now?: () => Date;
  /** Injected faults at start (EPN_FAULTS); changed at run time with PUT /admin/faults. */
  faults?: FaultConfig;
  /** How long after a representment the network's decision on it takes effect, ms (EPN_CHARGEBACK_DECISION_MS). Default 0: the next feed read. */
  chargebackDecisionMs?: number;
}

const str = (max = 255) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const amount = { type: 'integer', minimum: 1, maximum: 99_999_999 } as const;
const networkRef = str(64);

const wireCard = {
  type: 'object',
  required: ['number', 'exp_month', 'exp_year'],
  properties: {
    number: { type: 'string', pattern: '^[0-9]{12,19}$' },
    exp_month: { type: 'integer', minimum: 1, maximum: 12 },
    exp_year: { type: 'integer', minimum: 0, maximum: 9999 },
    cvc: { type: 'string', pattern: '^[0-9]{3,4}$' },
  },
} as const;

const verifySchema = {
  body: {
    type: 'object',
    required: ['reference', 'merchant_id', 'card'],
    properties: {
      reference: str(),
      merchant_id: str(),
      card: wireCard,
      three_d_secure: { type: 'object', required: ['authenticated'], properties: { authenticated: { type: 'boolean' } } },
    },
  },
} as const;

const authorizeSchema = {
  body: {
    type: 'object',
    required: ['reference', 'merchant_id', 'amount', 'currency', 'capture', 'card'],
    properties: {
      reference: str(),
      merchant_id: str(),
      amount,
      currency: { type: 'string', pattern: '^[a-z]{3}$' },
      capture: { type: 'boolean' },
      card: wireCard,
      three_d_secure: { type: 'object', required: ['authenticated'], properties: { authenticated: { type: 'boolean' } } },
      intent_id: str(),
    },
  },
} as const;

const captureSchema = {
  body: { type: 'object', required: ['network_ref', 'amount'], properties: { network_ref: networkRef, amount } },
} as const;

const voidSchema = {
  body: { type: 'object', required: ['network_ref'], properties: { network_ref: networkRef } },
} as const;

const refundSchema = {
  body: {
    type: 'object',
    required: ['network_ref', 'amount', 'refund_reference'],
    properties: { network_ref: networkRef, amount, refund_reference: str() },
  },
} as const;

const byRefSchema = {
  params: { type: 'object', required: ['network_ref'], properties: { network_ref: networkRef } },
} as const;

const byReferenceSchema = {
  querystring: { type: 'object', required: ['reference'], properties: { reference: str() } },
} as const;

const ledgerQuerySchema = {
  querystring: {
    type: 'object',
    properties: { merchant_id: str(), date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } },
  },
} as const;

const settlementSchema = {
  params: { type: 'object', required: ['date'], properties: { date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } } },
  querystring: { type: 'object', properties: { merchant_id: str() } },
} as const;

const chargebackRef = str(64);

// Query strings are strings (no type coercion here): the numbers are checked as digits, then read.
// The same for every feed (chargebacks, fraud reports).
const chargebackFeedSchema = {
  querystring: {
    type: 'object',
    properties: { after: { type: 'string', pattern: '^[0-9]{1,15}$' }, limit: { type: 'string', pattern: '^[0-9]{1,4}$' } },
  },
} as const;

const chargebackSchema = {
  params: { type: 'object', required: ['chargeback_ref'], properties: { chargeback_ref: chargebackRef } },
} as const;

const representmentSchema = {
  params: chargebackSchema.params,
  body: {
    type: 'object',
    required: ['reference', 'evidence'],
    properties: { reference: str(), evidence: { type: 'string', maxLength: 150_000 } },
  },
} as const;

const latencySchema = {
  body: {
    type: 'object',
    required: ['latency_ms'],
    properties: { latency_ms: { type: 'integer', minimum: 0, maximum: 600_000 } },
  },
} as const;

function authorizeResponse(tx: WireTransaction): WireAuthorizeResponse {
  const out: WireAuthorizeResponse = {
    network_ref: tx.network_ref,
    reference: tx.reference,
    status: tx.status === 'declined' ? 'declined' : 'approved',
    captured: tx.amount_captured > 0,
    brand: tx.brand,
    last4: tx.last4,
  };
  if (tx.decline_code !== null) {
    out.decline_code = tx.decline_code;
    out.message = declineMessage(tx.decline_code);
  }
  if (tx.failure_code !== null) out.failure_code = tx.failure_code;
  return out;
}

function errorBody(code: string, message: string): WireError {
  return { error: { code, message: scrubPan(message) } };
}

/** The fastify instance, typed with the pino logger it carries. */
export type EpnServer = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

export function buildEpnServer(opts: EpnServerOptions): EpnServer {
  const now = opts.now ?? (() => new Date());
  let latencyMs = opts.latencyMs;
  const faults: Faults = createFaults(opts.faults ?? NO_FAULTS);
  // Late executions of timed-out requests not yet done (cleared on close).
  const pending = new Set<NodeJS.Timeout>();
  const ledger: Ledger = createLedger({
    ...(opts.ledgerPath !== undefined ? { path: opts.ledgerPath } : {}),
    now: () => Math.floor(now().getTime() / 1000),
    ...(opts.chargebackDecisionMs !== undefined ? { chargebackDecisionMs: opts.chargebackDecisionMs } : {}),
  });
  // Chargeback deadlines and decisions are read against the clock to the millisecond.
  const nowSeconds = (): number => now().getTime() / 1000;

  const app = Fastify({
    loggerInstance: withCardRedaction(opts.logger ?? pino({ level: 'silent' })),
    // Strict types: "100" is not an amount and "true" is not a boolean.
    ajv: { customOptions: { coerceTypes: false } },
    // Close must not wait on clients' keep-alive sockets (a request a client gave up on leaves
    // one that 'idle' does not reap). A cut connection is just another "outcome unknown".
    forceCloseConnections: true,
    childLoggerFactory: lazyChildLogger,
    // Every call the network answers is logged once by its handler (authorize, capture, …), and a
    // refused one below: fastify's two lines per request doubled the simulator's CPU under load.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode >= 400) req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request refused');
  });

  app.addHook('onClose', async () => ledger.close());

  // The delay is added after the handler has run: a caller that gives up still leaves the
  // network's effect behind, which is exactly the "outcome unknown" case callers must handle.
  app.addHook('onSend', async (req, _reply, payload) => {
    const extra = latencyMs + faults.config().latency_ms;
    if (extra > 0 && req.url.startsWith('/v1/')) await sleep(extra);
    return payload;
  });

  // A full outage: every network call is refused, nothing is executed.
  app.addHook('onRequest', async (req, reply) => {
    if (faults.config().outage && req.url.startsWith('/v1/')) {
      return reply.code(503).send(errorBody('outage', 'The network is unavailable.'));
    }
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof LedgerError) {
      return reply.code(err.status).send(errorBody(err.code, err.message));
    }
    if (err.validation) {
      return reply.code(400).send(errorBody('invalid_request', err.message));
    }
    const status = err.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send(errorBody('invalid_request', err.message));
    }
    req.log.error({ err }, 'epn request failed');
    return reply.code(500).send(errorBody('internal_error', 'Internal error.'));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('route_not_found', `No route ${req.method} ${req.url.split('?')[0] ?? ''}`));
  });

  app.get('/healthz', async () => ({ ok: true }));

  // Account verification (a SetupIntent's card check): the issuer's answer for the card, 3-D Secure
  // included, with nothing authorized, held or booked in the ledger or the settlement file.
  app.post<{ Body: WireVerifyRequest }>('/v1/verify', { schema: verifySchema }, async (req) => {
    const { card, reference } = req.body;
    const base = { reference, brand: brandOf(card.number), last4: last4(card.number) };
    if (THREE_DS_REQUIRED.has(card.number) && !req.body.three_d_secure?.authenticated) {
      req.log.info({ reference }, 'verify: authentication required');
      return { ...base, status: 'authentication_required' } satisfies WireVerifyResponse;
    }
    const outcome = cardOutcome(card, now(), 'verify');
    req.log.info({ reference, approved: outcome.approved }, 'verify');
    if (outcome.approved) return { ...base, status: 'approved' } satisfies WireVerifyResponse;
    return { ...base, status: 'declined', decline_code: outcome.decline_code, failure_code: outcome.failure_code, message: outcome.message } satisfies WireVerifyResponse;
  });

  app.post<{ Body: WireAuthorizeRequest }>('/v1/authorize', { schema: authorizeSchema }, async (req, reply) => {
    const { card, reference, merchant_id, amount: amt, currency, capture } = req.body;
    // The issuer wants 3-D Secure first: nothing is authorized or recorded until it is passed.
    if (THREE_DS_REQUIRED.has(card.number) && !req.body.three_d_secure?.authenticated && !ledger.has(reference)) {
      req.log.info({ reference }, 'authentication required');
      const r: WireAuthorizeResponse = { network_ref: '', reference, status: 'authentication_required', captured: false, brand: brandOf(card.number), last4: last4(card.number) };
      return r;
    }
    const input = {
      reference,
      merchant_id,
      amount: amt,
      currency,
      capture,
      brand: brandOf(card.number),
      last4: last4(card.number),
      outcome: cardOutcome(card, now()),
      intent_id: req.body.intent_id ?? null,
      dispute: disputeOf(card.number),
      fraud: fraudReportOf(card.number),
    };
    // A repeat of a reference already booked is an inquiry: no fault is drawn for it.
    const fault = ledger.has(reference) ? { kind: null, executed: true, delayMs: 0 } : faults.draw();
    if (fault.kind === 'error') {
      ledger.recordFault({ reference, merchant_id, kind: 'error', executed: false, delay_ms: 0, network_ref: null });
      return reply.code(503).send(errorBody('internal_error', 'The network failed to process the request.'));
    }
    if (fault.kind === 'timeout') {
      // Hang until the caller gives up; the request is executed later (maybe) or never.
      const rec = ledger.recordFault({ reference, merchant_id, kind: 'timeout', executed: fault.executed, delay_ms: fault.delayMs, network_ref: null });
      if (fault.executed) {
        const t = setTimeout(() => {
          try {
            const { tx } = ledger.authorize(input);
            req.log.info({ network_ref: tx.network_ref, reference, status: tx.status, delay_ms: rec.delay_ms }, 'timed-out request executed late');
          } catch (err) {
            req.log.warn({ err, reference }, 'late execution failed');
          }
        }, fault.delayMs);
        pending.add(t);
        t.unref();
      }
      await hang(req.socket, faults.config().hang_ms);
      reply.hijack();
      reply.raw.destroy();
      return reply;
    }
    const { tx, replayed } = ledger.authorize(input);
    if (fault.kind === 'duplicate') {
      const dup = ledger.authorize({ ...input, duplicate: true }).tx;
      ledger.recordFault({ reference, merchant_id, kind: 'duplicate', executed: true, delay_ms: 0, network_ref: dup.network_ref });
      req.log.info({ reference, network_ref: tx.network_ref, duplicate: dup.network_ref }, 'executed twice');
    }
    if (fault.kind === 'late_success') {
      ledger.recordFault({ reference, merchant_id, kind: 'late_success', executed: true, delay_ms: fault.delayMs, network_ref: tx.network_ref });
      await sleep(fault.delayMs);
    }
    if (replayed) reply.header('idempotent-replayed', 'true');
    req.log.info({ network_ref: tx.network_ref, status: tx.status, replayed }, 'authorize');
    return authorizeResponse(tx);
  });

  app.post<{ Body: WireCaptureRequest }>('/v1/capture', { schema: captureSchema }, async (req): Promise<WireTransaction> => {
    const tx = ledger.capture(req.body.network_ref, req.body.amount);
    req.log.info({ network_ref: tx.network_ref, amount_captured: tx.amount_captured }, 'capture');
    return tx;
  });

  app.post<{ Body: WireVoidRequest }>('/v1/void', { schema: voidSchema }, async (req): Promise<WireTransaction> => {
    const tx = ledger.void(req.body.network_ref);
    req.log.info({ network_ref: tx.network_ref }, 'void');
    return tx;
  });

  app.post<{ Body: WireRefundRequest }>('/v1/refund', { schema: refundSchema }, async (req, reply): Promise<WireRefundResponse> => {
    const { network_ref, amount: amt, refund_reference } = req.body;
    const { tx, refund, replayed } = ledger.refund(network_ref, amt, refund_reference);
    if (replayed) reply.header('idempotent-replayed', 'true');
    req.log.info({ network_ref, amount_refunded: tx.amount_refunded, replayed }, 'refund');
    return { refund, transaction: tx };
  });

  app.get<{ Params: { network_ref: string } }>('/v1/transactions/:network_ref', { schema: byRefSchema }, async (req) => {
    const tx = ledger.get(req.params.network_ref);
    if (!tx) throw new LedgerError('resource_missing', `No such transaction: '${req.params.network_ref}'`, 404);
    return tx;
  });

  // Every transaction booked under the reference: the first is the answer the caller got; more
  // than one means the network executed the request twice.
  app.get<{ Querystring: { reference: string } }>('/v1/transactions', { schema: byReferenceSchema }, async (req): Promise<WireInquiryResponse> => {
    return { data: ledger.findAllByReference(req.query.reference) };
  });

  // The chargeback feed: the cases changed after a feed position, each once in its newest state.
  app.get<{ Querystring: { after?: string; limit?: string } }>('/v1/chargebacks', { schema: chargebackFeedSchema }, async (req, reply): Promise<WireChargebackFeed | WireError> => {
    const after = req.query.after === undefined ? 0 : Number(req.query.after);
    const limit = req.query.limit === undefined ? CHARGEBACK_FEED_LIMIT_DEFAULT : Number(req.query.limit);
    if (limit < 1 || limit > CHARGEBACK_FEED_LIMIT_MAX) {
      return reply.code(400).send(errorBody('invalid_request', `querystring/limit must be between 1 and ${CHARGEBACK_FEED_LIMIT_MAX}`));
    }
    const feed = ledger.feed(after, limit, nowSeconds());
    // Read every second by each reconcile process: only a read that returned cases is worth a line.
    if (feed.data.length > 0) req.log.info({ after, count: feed.data.length, next: feed.next }, 'chargeback feed');
    return feed;
  });

  // The fraud report feed: the reports filed after a feed position (a report never changes).
  app.get<{ Querystring: { after?: string; limit?: string } }>('/v1/fraud_reports', { schema: chargebackFeedSchema }, async (req, reply): Promise<WireFraudReportFeed | WireError> => {
    const after = req.query.after === undefined ? 0 : Number(req.query.after);
    const limit = req.query.limit === undefined ? FRAUD_FEED_LIMIT_DEFAULT : Number(req.query.limit);
    if (limit < 1 || limit > FRAUD_FEED_LIMIT_MAX) {
      return reply.code(400).send(errorBody('invalid_request', `querystring/limit must be between 1 and ${FRAUD_FEED_LIMIT_MAX}`));
    }
    const feed = ledger.fraudFeed(after, limit);
    // Read every second by each reconcile process: only a read that returned reports is worth a line.
    if (feed.data.length > 0) req.log.info({ after, count: feed.data.length, next: feed.next }, 'fraud report feed');
    return feed;
  });

  app.get<{ Params: { chargeback_ref: string } }>('/v1/chargebacks/:chargeback_ref', { schema: chargebackSchema }, async (req): Promise<WireChargeback> => {
    const cb = ledger.chargeback(req.params.chargeback_ref, nowSeconds());
    if (!cb) throw new LedgerError('resource_missing', `No such chargeback: '${req.params.chargeback_ref}'`, 404);
    return cb;
  });

  // The evidence is never logged: only its size.
  app.post<{ Params: { chargeback_ref: string }; Body: WireRepresentmentRequest }>(
    '/v1/chargebacks/:chargeback_ref/representment',
    { schema: representmentSchema },
    async (req): Promise<WireChargeback> => {
      const { reference, evidence } = req.body;
      const cb = ledger.represent(req.params.chargeback_ref, { reference, evidence }, nowSeconds());
      req.log.info({ chargeback_ref: cb.chargeback_ref, reference, evidence_chars: evidence.length, status: cb.status, representments: cb.representments }, 'representment');
      return cb;
    },
  );

  app.post<{ Params: { chargeback_ref: string } }>('/v1/chargebacks/:chargeback_ref/accept', { schema: chargebackSchema }, async (req): Promise<WireChargeback> => {
    const cb = ledger.accept(req.params.chargeback_ref, nowSeconds());
    req.log.info({ chargeback_ref: cb.chargeback_ref, status: cb.status }, 'chargeback accepted');
    return cb;
  });

  // The ledger, filtered by merchant and by UTC day of booking.
  app.get<{ Querystring: { merchant_id?: string; date?: string } }>('/v1/ledger', { schema: ledgerQuerySchema }, async (req) => {
    const { merchant_id, date } = req.query;
    const data = (date === undefined ? ledger.all() : ledger.ofDay(date))
      .filter((tx) => (merchant_id === undefined || tx.merchant_id === merchant_id) && (date === undefined || txDate(tx) === date))
      .sort((a, b) => a.created_at - b.created_at || a.network_ref.localeCompare(b.network_ref));
    return { data };
  });

  // The daily settlement file: JSON lines, one per transaction booked that UTC day.
  app.get<{ Params: { date: string }; Querystring: { merchant_id?: string } }>('/v1/settlements/:date', { schema: settlementSchema }, async (req, reply) => {
    const rows = settlementRows(ledger.ofDay(req.params.date), req.params.date, req.query.merchant_id);
    reply.header('content-type', 'application/x-ndjson; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="settlement-${req.params.date}.jsonl"`);
    return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
  });

  // Unauthenticated on purpose: the simulator binds to localhost and this exists for tests and chaos drills.
  app.put<{ Body: WireLatencyRequest }>('/admin/latency', { schema: latencySchema }, async (req): Promise<WireLatencyResponse> => {
    latencyMs = req.body.latency_ms;
    req.log.info({ latency_ms: latencyMs }, 'latency changed');
    return { latency_ms: latencyMs };
  });

  app.get('/admin/faults', async () => faults.config());

  // Any subset of the fault fields; the rest keep their values.
  app.put<{ Body: Record<string, unknown> }>('/admin/faults', { schema: { body: { type: 'object' } } }, async (req, reply) => {
    const next = faults.config();
    try {
      for (const [k, v] of Object.entries(req.body)) applyFault(next, k, v);
      faults.set(next);
    } catch (err) {
      if (err instanceof FaultConfigError) return reply.code(400).send(errorBody('invalid_request', err.message));
      throw err;
    }
    req.log.info({ faults: next }, 'faults changed');
    return faults.config();
  });

  app.get<{ Querystring: { reference?: string } }>('/admin/faults/log', async (req) => ({
    data: ledger.faults().filter((f) => req.query.reference === undefined || f.reference === req.query.reference),
  }));

  app.addHook('onClose', async () => {
    for (const t of pending) clearTimeout(t);
  });

  return app;
}

/**
 * Fastify's per-request logger, made only when a line is written at a level that is on. Creating a
 * pino child per request (bindings, level, redaction) cost several % of the simulator's CPU, while
 * under the usual LOG_LEVEL (warn in the bench) a request writes no line at all. Levels that are off
 * are the parent's no-ops; a line at a level that is on goes through the real child (with reqId), as
 * before. With info on, every request logs, so the child is made at once.
 */
function lazyChildLogger(parent: FastifyBaseLogger, bindings: Record<string, unknown>, opts: ChildLoggerOptions): FastifyBaseLogger {
  const logger = parent as unknown as Logger;
  if (logger.isLevelEnabled('info')) return logger.child(bindings, opts);
  let real: Logger | undefined;
  const child = (): Logger => (real ??= logger.child(bindings, opts));
  const lazy = Object.create(logger) as Record<string, unknown>;
  for (const level of ['fatal', 'error', 'warn'] as const) {
    if (logger.isLevelEnabled(level)) lazy[level] = (...args: Parameters<Logger['info']>) => child()[level](...args);
  }
  lazy.child = (b: Record<string, unknown>, o?: ChildLoggerOptions) => child().child(b, o);
  return lazy as unknown as FastifyBaseLogger;
}

/** Resolves when the caller hangs up, or after ms. */
function hang(socket: import('node:net').Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      socket.off('close', done);
      resolve();
    }
    socket.once('close', done);
  });
}
