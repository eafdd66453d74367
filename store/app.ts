// The demo merchant store: a product page with Buy Now, a checkout page that mounts paynats' card
// element, and a webhook endpoint that marks orders paid. Its backend talks to paynats only through
// the official `stripe` SDK, keeps its orders in its own database (db.ts) and never sees a card.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import Stripe from 'stripe';
import { PRODUCTS, productById } from './catalog.ts';
import { openStoreDb, type Order, type StoreDb } from './db.ts';
import { checkoutPage, notFoundPage, orderPage, productPage, unavailablePage } from './pages.ts';

export interface StoreOptions {
  /** The paynats gateway, as the store's server and the shopper's browser reach it. */
  gatewayUrl: string;
  secretKey: string;
  publishableKey: string;
  /** <DATA_DIR>/store: the store's PGlite and its webhook endpoint record. */
  dir: string;
  /** Postgres instead of PGlite (schema `store`). */
  databaseUrl?: string | undefined;
  host: string;
  port: number;
  log: Logger;
}

export interface RunningStore {
  url: string;
  app: FastifyInstance;
  db: StoreDb;
  stripe: Stripe;
  webhookEndpointId: string;
  close(): Promise<void>;
}

const EVENTS: Stripe.WebhookEndpointCreateParams.EnabledEvent[] = ['payment_intent.succeeded', 'payment_intent.payment_failed'];

export function stripeFor(gatewayUrl: string, secretKey: string): Stripe {
  const u = new URL(gatewayUrl);
  return new Stripe(secretKey, {
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    protocol: u.protocol === 'https:' ? 'https' : 'http',
    // Retries honour Stripe-Should-Retry (a partition changing hands, a broker restart): about 12 s of them.
    maxNetworkRetries: 5,
    appInfo: { name: 'paynats-demo-store' },
  });
}

interface EndpointRecord {
  id: string;
  url: string;
  secret: string;
}

/**
 * The store's webhook endpoint at paynats, registered once through /v1/webhook_endpoints and kept
 * (id, url, signing secret) in <dir>/webhook-endpoint.json (0600). A later start reuses it, moving
 * its URL if the store's port changed; a deleted endpoint is registered anew.
 */
export async function ensureWebhookEndpoint(stripe: Stripe, dir: string, url: string): Promise<EndpointRecord> {
  const file = path.join(dir, 'webhook-endpoint.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as EndpointRecord;
    try {
      const ep = await stripe.webhookEndpoints.retrieve(saved.id);
      if (ep.url !== url || ep.status !== 'enabled') await stripe.webhookEndpoints.update(saved.id, { url, disabled: false });
      const rec = { ...saved, url };
      save(file, rec);
      return rec;
    } catch (err) {
      if (!(err instanceof Stripe.errors.StripeInvalidRequestError) || err.statusCode !== 404) throw err;
    }
  }
  const ep = await stripe.webhookEndpoints.create({ url, enabled_events: EVENTS, description: 'demo store orders' });
  const rec = { id: ep.id, url, secret: ep.secret! };
  save(file, rec);
  return rec;
}

function save(file: string, rec: EndpointRecord): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

const orderId = () => `ord_${randomBytes(12).toString('hex')}`;
const ORDER_ID = '^ord_[0-9a-f]{24}$';
const OrderParams = { type: 'object', properties: { id: { type: 'string', pattern: ORDER_ID } }, required: ['id'] } as const;

export async function startStore(o: StoreOptions): Promise<RunningStore> {
  await mkdir(o.dir, { recursive: true });
  const db = await openStoreDb({ dir: o.dir, databaseUrl: o.databaseUrl });
  const stripe = stripeFor(o.gatewayUrl, o.secretKey);
  const gatewayOrigin = new URL(o.gatewayUrl).origin;
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${gatewayOrigin}`,
    `frame-src ${gatewayOrigin}`,
    "connect-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  let webhookSecret: string | null = null;

  const app = Fastify({ loggerInstance: o.log.child({ component: 'store' }) }) as unknown as FastifyInstance;
  await app.register(formbody);
  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', csp);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'strict-origin-when-cross-origin');
  });

  const html = (reply: FastifyReply, body: string, code = 200) => reply.code(code).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);
  const readOrder = async (id: string) => ((await db.db.selectFrom('store_orders').selectAll().where('id', '=', id).executeTakeFirst()) as Order | undefined) ?? null;

  const pub = path.join(path.dirname(new URL(import.meta.url).pathname), 'public');
  const statics: Record<string, { body: string; type: string }> = {
    'store.js': { body: readFileSync(path.join(pub, 'store.js'), 'utf8'), type: 'application/javascript; charset=utf-8' },
    'store.css': { body: readFileSync(path.join(pub, 'store.css'), 'utf8'), type: 'text/css; charset=utf-8' },
  };
  app.get<{ Params: { name: string } }>('/static/:name', async (req, reply) => {
    const f = statics[req.params.name];
    if (!f) return html(reply, notFoundPage(), 404);
    return reply.header('cache-control', 'public, max-age=60').type(f.type).send(f.body);
  });

  app.get('/', async (_req, reply) => html(reply, productPage(PRODUCTS)));

  // Buy Now: the order, then its PaymentIntent at paynats (through the stripe SDK), then the checkout page.
  app.post<{ Body: { product_id?: string } }>('/buy', async (req, reply) => {
    const product = productById(String(req.body?.product_id ?? ''));
    if (!product) return html(reply, notFoundPage(), 404);
    const id = orderId();
    await db.db.insertInto('store_orders').values({ id, product_id: product.id, amount: product.amount, currency: product.currency, payment_intent_id: null, status: 'pending', last_error: null, paid_event_id: null, paid_at: null }).execute();
    let pi: Stripe.PaymentIntent;
    try {
      pi = await stripe.paymentIntents.create(
        { amount: product.amount, currency: product.currency, description: `${product.name} (order ${id})`, metadata: { order_id: id, product_id: product.id } },
        { idempotencyKey: `store-order-${id}` },
      );
    } catch (err) {
      req.log.error({ order_id: id, err: (err as Error).message }, 'creating the payment intent failed');
      await db.db.updateTable('store_orders').set({ status: 'failed', last_error: (err as Error).message.slice(0, 500) }).where('id', '=', id).execute();
      return html(reply, unavailablePage(), 502);
    }
    await db.db.updateTable('store_orders').set({ payment_intent_id: pi.id }).where('id', '=', id).execute();
    req.log.info({ order_id: id, payment_intent: pi.id, amount: product.amount, currency: product.currency }, 'order created');
    return reply.redirect(`/checkout/${id}`, 303);
  });

  app.get<{ Params: { id: string } }>('/checkout/:id', { schema: { params: OrderParams } }, async (req, reply) => {
    const order = await readOrder(req.params.id);
    const product = order && productById(order.product_id);
    if (!order || !product) return html(reply, notFoundPage(), 404);
    if (order.status === 'paid') return reply.redirect(`/orders/${order.id}`, 303);
    return html(reply, checkoutPage(order, product, gatewayOrigin));
  });

  // What the checkout page needs: the publishable key and the intent's client secret (never stored here).
  app.get<{ Params: { id: string } }>('/api/orders/:id/payment', { schema: { params: OrderParams } }, async (req, reply) => {
    const order = await readOrder(req.params.id);
    if (!order || !order.payment_intent_id) return reply.code(404).send({ error: 'no such order' });
    const pi = await stripe.paymentIntents.retrieve(order.payment_intent_id);
    return reply.header('cache-control', 'no-store').send({ publishable_key: o.publishableKey, client_secret: pi.client_secret, status: order.status, amount: order.amount, currency: order.currency });
  });

  app.get<{ Params: { id: string } }>('/api/orders/:id', { schema: { params: OrderParams } }, async (req, reply) => {
    const order = await readOrder(req.params.id);
    if (!order) return reply.code(404).send({ error: 'no such order' });
    return reply.header('cache-control', 'no-store').send({ id: order.id, status: order.status, last_error: order.last_error, paid_at: order.paid_at });
  });

  app.get<{ Params: { id: string } }>('/orders/:id', { schema: { params: OrderParams } }, async (req, reply) => {
    const order = await readOrder(req.params.id);
    if (!order) return html(reply, notFoundPage(), 404);
    return html(reply, orderPage(order, productById(order.product_id)));
  });

  // paynats' webhooks: only a correctly signed event counts (stripe.webhooks.constructEvent).
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/webhooks/paynats', async (req, reply) => {
      const sig = req.headers['stripe-signature'];
      let event: Stripe.Event;
      try {
        if (!webhookSecret) throw new Error('webhook endpoint not registered yet');
        event = stripe.webhooks.constructEvent(req.body as Buffer, typeof sig === 'string' ? sig : '', webhookSecret);
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, 'webhook refused: bad signature');
        return reply.code(400).send({ error: 'invalid signature' });
      }
      if (event.type === 'payment_intent.succeeded') {
        const pi = event.data.object;
        const order = pi.metadata?.order_id ? await readOrder(pi.metadata.order_id) : null;
        if (!order || order.payment_intent_id !== pi.id) {
          req.log.warn({ event: event.id, payment_intent: pi.id }, 'webhook for no order of ours');
        } else if (pi.amount_received < order.amount || pi.currency !== order.currency) {
          req.log.error({ order_id: order.id, amount: pi.amount_received, currency: pi.currency }, 'payment does not match the order; not marked paid');
        } else if (order.status !== 'paid') {
          await db.db.updateTable('store_orders').set({ status: 'paid', paid_at: new Date(), paid_event_id: event.id, last_error: null }).where('id', '=', order.id).where('status', '!=', 'paid').execute();
          req.log.info({ order_id: order.id, payment_intent: pi.id, event: event.id }, 'order paid');
        }
      } else if (event.type === 'payment_intent.payment_failed') {
        const pi = event.data.object;
        const message = pi.last_payment_error?.message ?? 'payment failed';
        await db.db.updateTable('store_orders').set({ last_error: message }).where('payment_intent_id', '=', pi.id).where('status', '=', 'pending').execute();
        req.log.info({ payment_intent: pi.id, event: event.id, decline_code: pi.last_payment_error?.decline_code ?? null }, 'payment attempt failed');
      }
      return reply.send({ received: true });
    });
  });

  let url: string;
  try {
    const addr = await app.listen({ host: o.host, port: o.port });
    const port = new URL(addr).port;
    url = `http://${o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host}:${port}`;
    const ep = await ensureWebhookEndpoint(stripe, o.dir, `${url}/webhooks/paynats`);
    webhookSecret = ep.secret;
    o.log.info({ url, webhook_endpoint: ep.id }, 'demo store listening');
    return {
      url,
      app,
      db,
      stripe,
      webhookEndpointId: ep.id,
      async close() {
        await app.close();
        await db.close();
      },
    };
  } catch (err) {
    await app.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}
