// Stripe Checkout Sessions (mode=payment): the merchant's backend creates a session for its line items
// (POST /v1/checkout/sessions) and sends the customer to its `url`, a page we serve (/c/pay/:id) where
// the card is typed; the card goes to us only (never to the merchant), is tokenized and the session's
// PaymentIntent confirmed, and the customer is sent on to success_url. The session is held by its
// PaymentIntent (actors/payment-intent: one single writer), so it completes with the intent's successful
// charge (checkout.session.completed) and expires by ExpireCheckout (checkout.session.expired; asked
// here, or reconcile/checkout-expiry.ts once expires_at has passed). A decline stays on the page and
// is retried as a new attempt under the same intent; 3-D Secure goes through the challenge and back.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { checkoutStatus, couponUnusable, discountOf, promotionCodeUnusable, type CheckoutDiscount, type Intent, type LineItem } from '../../actors/mod.ts';
import { ApiError, cannotExpand, noSuch, onlyOneOf } from '../../stripe/errors.ts';
import { displayAmount } from '../../stripe/currencies.ts';
import { lineDiscounts, renderCheckoutSession, renderCustomer, renderLineItems, renderPaymentIntent } from '../../stripe/objects.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type GatewayDeps } from '../app.ts';
import type { Principal } from '../auth.ts';
import { requireSecret, scopeOf } from '../auth.ts';
import { commandId } from '../ids.ts';
import { checkCursors, listObject, pageOfItems } from '../lists.ts';
import { shippingOf } from '../shipping.ts';
import { checkAmount, checkCurrency, confirmIntent, createIntent } from './payment-intents.ts';
import { cardOfData } from './payment-methods.ts';
import { emailParam } from './customers.ts';
import { readOwnPrice, readOwnProduct } from './products.ts';
import { readOwnCoupon } from './coupons.ts';
import { readOwnPromotionCode } from './promotion-codes.ts';
import { expiryCommandId } from '../../checkout/expiry.ts';
import {
  CreateCheckoutSessionBody,
  ExpireCheckoutSessionBody,
  IdParams,
  ListCheckoutSessionsQuery,
  RetrieveExpandQuery,
} from '../schemas.ts';

/** A line item as the session's create gives it to the intent (ids of ad-hoc prices and products are the session's to make). */
type CheckoutLine = Omit<LineItem, 'id' | 'price' | 'product'> & Partial<Pick<LineItem, 'price' | 'product'>>;

/** Declined attempts after which the hosted page takes no more cards for a session (card testing). */
const MAX_PAGE_DECLINES = 10;

/** Stripe: a session expires 24 hours after its creation unless told otherwise (30 minutes at the least). */
const DEFAULT_TTL_S = 24 * 3600;
const MIN_TTL_S = 30 * 60;

const now = () => Math.floor(Date.now() / 1000);
const param = (p: string, message: string, code = 'parameter_invalid') => new ApiError(400, 'invalid_request_error', code, message, p);

/** Where the customer pays while the session is open. */
export const checkoutUrl = (req: FastifyRequest, sessionId: string) => `${req.protocol}://${req.headers.host ?? req.hostname}/c/pay/${sessionId}`;

/** A URL the customer is sent to: http(s), no whitespace or quotes (it goes into a Location header and an href). */
export function checkUrl(name: string, v: string | undefined): string | null {
  if (v === undefined) return null;
  let ok = /^https?:\/\/[^\s"'<>\\]+$/.test(v);
  try {
    new URL(v);
  } catch {
    ok = false;
  }
  if (!ok) throw param(name, `Invalid URL: ${name} must be an http or https URL.`, 'url_invalid');
  return v;
}

/** The line items a create request gives, checked as Stripe checks them: one currency; prices of the catalogue (one-time, active) or ad hoc. */
async function lineItemsOf(deps: GatewayDeps, p: Principal, b: CreateCheckoutSessionBody): Promise<{ currency: string; items: CheckoutLine[] }> {
  const sent = b.line_items ?? [];
  if (sent.length === 0) throw param('line_items', 'Missing required param: line_items.', 'parameter_missing');
  let currency: string | null = null;
  const items: CheckoutLine[] = [];
  for (const [n, li] of sent.entries()) {
    const at = `line_items[${n}]`;
    if (li.price !== undefined && li.price_data !== undefined) throw onlyOneOf(`${at}[price]`, `${at}[price_data]`);
    if (li.quantity === undefined) throw param(`${at}[quantity]`, `Missing required param: ${at}[quantity].`, 'parameter_missing');
    let line: CheckoutLine;
    let c: string;
    if (li.price !== undefined) {
      const r = await readOwnPrice(deps, p, li.price);
      if (!r) throw param(`${at}[price]`, `No such price: '${li.price}'`, 'resource_missing');
      if (!r.price.active) throw param(`${at}[price]`, 'The price specified is inactive. This field only accepts active prices.');
      if (!r.product.active) throw param(`${at}[price]`, `The price specified belongs to an inactive product (\`${r.product.id}\`).`);
      if (r.price.recurring) throw param(`${at}[price]`, 'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.');
      c = r.price.currency;
      line = { price: r.price.id, product: r.product.id, catalog: true, name: r.product.name, description: r.product.description, unit_amount: r.price.unit_amount, quantity: li.quantity };
    } else {
      const pd = li.price_data;
      if (!pd) throw param(`${at}[price_data]`, `Missing required param: ${at}[price_data].`, 'parameter_missing');
      if (pd.product !== undefined && pd.product_data !== undefined) throw onlyOneOf(`${at}[price_data][product]`, `${at}[price_data][product_data]`);
      c = checkCurrency(pd.currency);
      if (pd.product !== undefined) {
        const product = await readOwnProduct(deps, p, pd.product);
        if (!product || product.deleted) throw param(`${at}[price_data][product]`, `No such product: '${pd.product}'`, 'resource_missing');
        line = { product: product.id, name: product.name, description: product.description, unit_amount: pd.unit_amount, quantity: li.quantity };
      } else {
        if (!pd.product_data) throw param(`${at}[price_data][product_data]`, `Missing required param: ${at}[price_data][product_data].`, 'parameter_missing');
        line = { name: pd.product_data.name, description: pd.product_data.description ?? null, unit_amount: pd.unit_amount, quantity: li.quantity };
      }
    }
    if (currency !== null && c !== currency) throw param(`${at}[${li.price !== undefined ? 'price' : 'price_data][currency'}]`, 'All line items must have the same currency.');
    currency = c;
    items.push(line);
  }
  return { currency: currency!, items };
}

/**
 * A discount (a coupon, or the promotion code naming one), checked as Stripe checks it: a coupon of the
 * merchant's, usable now (not deleted, not past redeem_by, under max_redemptions), in the session's
 * currency when it is an amount off; a promotion code active, not expired, under its own
 * max_redemptions and reaching its minimum amount. `at` names the parameter an error is about.
 */
async function discountFor(deps: GatewayDeps, p: Principal, d: { coupon?: string; promotion_code?: string }, subtotal: number, currency: string, at?: string): Promise<CheckoutDiscount> {
  if (d.coupon !== undefined && d.promotion_code !== undefined) throw onlyOneOf('discounts[0][coupon]', 'discounts[0][promotion_code]');
  at ??= d.promotion_code !== undefined ? 'discounts[0][promotion_code]' : 'discounts[0][coupon]';
  let couponId = d.coupon;
  let promotionCode: string | undefined;
  if (d.promotion_code !== undefined) {
    const r = await readOwnPromotionCode(deps, p, d.promotion_code);
    if (!r) throw param(at, `No such promotion code: '${d.promotion_code}'`, 'resource_missing');
    const unusable = promotionCodeUnusable(r.promotionCode, now(), ((await deps.promotionCodeRedemptions(p.merchant_id, [r.promotionCode.id])).get(r.promotionCode.id) ?? 0), subtotal, currency);
    if (unusable) throw param(at, unusable);
    couponId = r.coupon.id;
    promotionCode = r.promotionCode.id;
  }
  if (couponId === undefined) throw param(at, `Missing required param: ${at}.`, 'parameter_missing');
  const c = await readOwnCoupon(deps, p, couponId);
  if (!c || c.deleted) throw param(at, `No such coupon: '${couponId}'`, 'resource_missing');
  const unusable = couponUnusable(c, now(), ((await deps.couponRedemptions(p.merchant_id, [c.id])).get(c.id) ?? 0));
  if (unusable) throw param(at, unusable);
  const amount = discountOf(c, subtotal, currency);
  if (amount === null) throw param(at, `The coupon's currency (${c.currency}) must match the Checkout Session's (${currency}).`);
  return { coupon: c.id, ...(promotionCode ? { promotion_code: promotionCode } : {}), amount };
}

/** The discount a create asks for (discounts[0]), or none; allow_promotion_codes leaves it to the customer instead. */
async function discountOfParams(deps: GatewayDeps, p: Principal, b: CreateCheckoutSessionBody, subtotal: number, currency: string): Promise<CheckoutDiscount | null> {
  const d = b.discounts?.[0];
  if (d && b.allow_promotion_codes === true) throw onlyOneOf('allow_promotion_codes', 'discounts');
  return d ? discountFor(deps, p, d, subtotal, currency) : null;
}

/** A session id's intent (pay_index names it), or null when there is no such session. */
async function sessionIntent(deps: GatewayDeps, id: string): Promise<Intent | null> {
  const e = /^cs_(test|live)_[0-9a-f]{32}$/.test(id) ? await deps.readIndex(id) : null;
  const i = e ? await deps.readIntent(e.merchant_id, e.intent_id) : null;
  return i && i.checkout?.id === id && i.livemode === e!.livemode ? i : null;
}

/** The session a key of this merchant and mode may see; anything else does not exist for the key. */
async function readOwnSession(deps: GatewayDeps, p: Pick<Principal, 'merchant_id' | 'mode'>, id: string): Promise<Intent> {
  const i = await sessionIntent(deps, id);
  if (!i || i.merchant_id !== p.merchant_id || i.livemode !== (p.mode === 'live')) throw noSuch('checkout.session', id);
  return i;
}

async function render(deps: GatewayDeps, req: FastifyRequest, i: Intent, expand: readonly string[] | undefined): Promise<Record<string, unknown>> {
  const o = renderCheckoutSession(i, checkoutUrl(req, i.checkout!.id), (expand ?? []).includes('line_items'));
  for (const path of expand ?? []) {
    if (path === 'line_items') continue;
    if (path === 'payment_intent') o.payment_intent = renderPaymentIntent(i);
    else if (path === 'customer') {
      const c = i.customer ? await deps.readCustomer(i.merchant_id, i.customer) : null;
      o.customer = c && c.livemode === i.livemode ? renderCustomer(c) : i.customer;
    } else throw cannotExpand(path);
  }
  return o;
}

function expire(deps: GatewayDeps, req: FastifyRequest, p: Pick<Principal, 'merchant_id' | 'mode'>, i: Intent, cmdId: string, byRequest = false): Promise<Intent> {
  return deps.commands.send({
    op: 'intent.expire_checkout',
    merchantId: p.merchant_id,
    intentId: i.id,
    command: { type: 'ExpireCheckout', ...(byRequest ? { byRequest } : {}), now: now() },
    ctx: commandCtx(req, p as Principal, cmdId),
  }) as Promise<Intent>;
}

export function registerCheckoutSessions(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateCheckoutSessionBody }>('/v1/checkout/sessions', { schema: { body: CreateCheckoutSessionBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const mode = b.mode ?? 'payment';
    if (mode !== 'payment') throw param('mode', `mode=${mode} is not supported here: only mode=payment (one-time card payments).`);
    if (b.customer && b.customer_email) throw param('customer_email', 'You may only specify one of these parameters: customer, customer_email.');
    const customerEmail = emailParam(b.customer_email, 'customer_email');
    const success = checkUrl('success_url', b.success_url);
    const cancel = checkUrl('cancel_url', b.cancel_url);
    const { currency, items } = await lineItemsOf(deps, p, b);
    const subtotal = items.reduce((n, li) => n + li.unit_amount * li.quantity, 0);
    const discount = await discountOfParams(deps, p, b, subtotal, currency);
    const total = subtotal - (discount?.amount ?? 0);
    checkAmount(total, currency, discount ? (discount.promotion_code ? 'discounts[0][promotion_code]' : 'discounts[0][coupon]') : 'line_items');
    const created = now();
    const expiresAt = b.expires_at ?? created + DEFAULT_TTL_S;
    if (expiresAt < created + MIN_TTL_S || expiresAt > created + DEFAULT_TTL_S) {
      throw param('expires_at', 'The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.');
    }
    const pid = b.payment_intent_data ?? {};
    return idempotentCommands(req, reply, deps, async (idem) => {
      const i = await createIntent(deps, req, p, 'POST /v1/checkout/sessions', {
        amount: total,
        currency,
        captureMethod: pid.capture_method ?? 'automatic',
        paymentMethod: null,
        metadata: pid.metadata || {},
        description: pid.description ?? null,
        receiptEmail: pid.receipt_email ?? null,
        customer: b.customer ?? null,
        userEmail: null,
        productId: null,
        confirm: false,
        returnUrl: null,
        setupFutureUsage: pid.setup_future_usage ?? null,
        shipping: shippingOf(pid.shipping) ?? null,
        statementDescriptor: pid.statement_descriptor || null,
        statementDescriptorSuffix: pid.statement_descriptor_suffix || null,
        checkout: {
          success_url: success,
          cancel_url: cancel,
          client_reference_id: b.client_reference_id ?? null,
          customer_email: customerEmail ?? null,
          line_items: items,
          metadata: b.metadata || {},
          expires_at: expiresAt,
          ...(discount ? { discount } : {}),
          ...(b.allow_promotion_codes === true ? { allow_promotion_codes: true as const } : {}),
        },
      }, idem);
      return { status: 200, body: await render(deps, req, i, b.expand) };
    });
  });

  app.get<{ Querystring: ListCheckoutSessionsQuery }>('/v1/checkout/sessions', { schema: { querystring: ListCheckoutSessionsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    // Cursors are session ids; the list pages by their intents.
    const cursor = async (id: string | undefined) => (id ? (await readOwnSession(deps, p, id).catch(() => null))?.id ?? 'pi_none' : undefined);
    const [after, before] = [await cursor(q.starting_after), await cursor(q.ending_before)];
    const page = await deps.listIntents(
      p.merchant_id,
      p.mode === 'live',
      { limit: q.limit, ...(after ? { starting_after: after } : {}), ...(before ? { ending_before: before } : {}), ...(q.customer ? { customer: q.customer } : {}), ...(q.created !== undefined ? { created: q.created } : {}) },
      { checkout: true, ...(q.payment_intent ? { id: q.payment_intent } : {}), ...(q.status ? { checkoutStatus: q.status } : {}), ...(q.payment_link ? { paymentLink: q.payment_link } : {}) },
    );
    const expand = (q.expand ?? []).filter((e) => e.startsWith('data.')).map((e) => e.slice(5));
    return listObject('/v1/checkout/sessions', await Promise.all(page.data.map((i) => render(deps, req, i, expand))), page.hasMore);
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>('/v1/checkout/sessions/:id', { schema: { params: IdParams, querystring: RetrieveExpandQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    return render(deps, req, await readOwnSession(deps, p, req.params.id), req.query.expand);
  });

  const LineItemsQuery = Type.Object(
    { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), starting_after: Type.Optional(Type.String({ maxLength: 255 })), ending_before: Type.Optional(Type.String({ maxLength: 255 })), expand: Type.Optional(Type.Array(Type.String())) },
    { additionalProperties: false },
  );
  app.get<{ Params: IdParams; Querystring: Static<typeof LineItemsQuery> }>('/v1/checkout/sessions/:id/line_items', { schema: { params: IdParams, querystring: LineItemsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    const i = await readOwnSession(deps, p, req.params.id);
    const page = pageOfItems(i.checkout!.line_items, q);
    const discounts = lineDiscounts(i.checkout!).slice(page.from, page.from + page.items.length);
    return renderLineItems(i, `/v1/checkout/sessions/${i.checkout!.id}/line_items`, page.items, page.hasMore, discounts);
  });

  app.post<{ Params: IdParams; Body: ExpireCheckoutSessionBody }>('/v1/checkout/sessions/:id/expire', { schema: { params: IdParams, body: ExpireCheckoutSessionBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    return idempotentCommands(req, reply, deps, async () => {
      const i = await readOwnSession(deps, p, req.params.id);
      const done = await expire(deps, req, p, i, commandId(scopeOf(p), `POST /v1/checkout/sessions/${i.checkout!.id}/expire`, idempotencyKeyOf(req)), true);
      return { status: 200, body: await render(deps, req, done, req.body.expand) };
    });
  });

  registerHostedPage(app, deps);
}

// ── The hosted page ───────────────────────────────────────────────────

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Its own origin only; the form posts here and is then redirected to the merchant's pages (form-action allows that). */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'";

const STYLE = `body{font:16px system-ui,sans-serif;max-width:30rem;margin:2.5rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.1rem;margin:0 0 .2rem}.total{font-size:1.8rem;font-weight:600;margin:.2rem 0 1.2rem}
table{width:100%;border-collapse:collapse;margin-bottom:1.2rem}td{padding:.3rem 0;border-bottom:1px solid #eee}td.n{text-align:right}
label{display:block;font-size:.85rem;margin:.7rem 0 .2rem;color:#555}input{font:inherit;width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #bbb;border-radius:6px}
.row{display:flex;gap:.6rem}.row>div{flex:1}button{font:inherit;width:100%;margin-top:1.2rem;padding:.7rem;border:0;border-radius:6px;background:#0a5cd8;color:#fff;cursor:pointer}
.err{background:#fdecea;color:#8a1c13;padding:.6rem;border-radius:6px;margin-bottom:.8rem}.note{color:#666;font-size:.8rem;margin-top:1rem}a{color:#0a5cd8}`;

export function pageHtml(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">
<title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

function payPage(i: Intent, merchantName: string, error: string | null, email: string): string {
  const c = i.checkout!;
  const rows =
    c.line_items.map((li) => `<tr><td>${esc(li.name)}${li.quantity > 1 ? ` × ${li.quantity}` : ''}</td><td class="n">${esc(displayAmount(li.unit_amount * li.quantity, i.currency))}</td></tr>`).join('') +
    (c.discount ? `<tr><td>Discount (${esc(c.discount.promotion_code ? 'promotion code' : c.discount.coupon)})</td><td class="n">−${esc(displayAmount(c.discount.amount, i.currency))}</td></tr>` : '');
  const askEmail = !c.customer_email && !i.customer;
  return pageHtml(
    `Pay ${merchantName}`,
    `<h1>${esc(merchantName)}</h1><div class="total">${esc(displayAmount(i.amount, i.currency))}</div><table>${rows}</table>
${error ? `<div class="err" role="alert">${esc(error)}</div>` : ''}
${c.allow_promotion_codes ? `<form method="post" action="/c/pay/${esc(c.id)}/code" class="row"><div><label for="code">Promotion code</label><input id="code" name="code" autocomplete="off" maxlength="500"></div><div style="flex:0 0 6rem;align-self:end"><button type="submit" id="apply">Apply</button></div></form>` : ''}
<form method="post" action="/c/pay/${esc(c.id)}" autocomplete="on">
${askEmail ? `<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="email" required value="${esc(email)}">` : ''}
<label for="number">Card number</label><input id="number" name="number" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" required>
<div class="row"><div><label for="exp">Expiry (MM / YY)</label><input id="exp" name="exp" autocomplete="cc-exp" placeholder="MM / YY" required></div>
<div><label for="cvc">CVC</label><input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" required></div></div>
<label for="name">Name on card</label><input id="name" name="name" autocomplete="cc-name">
<button type="submit">Pay ${esc(displayAmount(i.amount, i.currency))}</button></form>
${c.cancel_url ? `<p class="note"><a href="${esc(c.cancel_url)}">← Back to ${esc(merchantName)}</a></p>` : ''}
${i.livemode ? '' : '<p class="note">Test mode: 4242 4242 4242 4242, any future date, any CVC.</p>'}`,
  );
}

const successUrl = (i: Intent) => (i.checkout!.success_url ?? '').replace(/\{CHECKOUT_SESSION_ID\}/g, i.checkout!.id);

/** The session behind a hosted-page URL, acted on as its merchant in its mode; null when there is none. */
async function sessionOfPage(deps: GatewayDeps, id: string): Promise<{ i: Intent; p: Principal } | null> {
  const i = await sessionIntent(deps, id);
  return i ? { i, p: { merchant_id: i.merchant_id, key_id: 'checkout_session', kind: 'secret', mode: i.livemode ? 'live' : 'test', created: 0 } } : null;
}

/** The page's card form, as the browser posts it (form-encoded); anything missing is asked again. */
interface PayForm {
  email?: unknown;
  name?: unknown;
  number?: unknown;
  exp?: unknown;
  cvc?: unknown;
}

/** "MM/YY", "MM / YYYY", "MMYY": month and year, or null. */
function expiryOf(s: string): { exp_month: number; exp_year: number } | null {
  const m = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(s);
  return m ? { exp_month: Number(m[1]), exp_year: Number(m[2]) } : null;
}

function registerHostedPage(app: FastifyInstance, deps: GatewayDeps): void {
  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).header('cache-control', 'no-store').send(body);
  /** The merchant's name for the page, read once per request and only when the page shows it. */
  const nameOf = (i: Intent) => {
    let name: Promise<string> | undefined;
    return () => (name ??= deps.readMerchant(i.merchant_id).then((m) => m?.name ?? 'Checkout'));
  };

  /** What the page shows for a session that is not open: on to success_url once paid, a notice once expired. */
  async function closed(reply: FastifyReply, i: Intent, merchantName: () => Promise<string>): Promise<FastifyReply | null> {
    const status = checkoutStatus(i);
    if (status === 'complete') {
      if (i.checkout!.success_url) return reply.code(303).header('location', successUrl(i)).header('cache-control', 'no-store').send();
      // A payment link's hosted confirmation shows the merchant's message.
      const message = i.checkout!.confirmation_message ? `<p>${esc(i.checkout!.confirmation_message)}</p>` : '';
      return html(reply, 200, pageHtml('Paid', `<h1>${esc(await merchantName())}</h1><p>Payment complete: ${esc(displayAmount(i.amount, i.currency))}. You can close this page.</p>${message}`));
    }
    if (status === 'expired' || i.status === 'canceled') {
      const back = i.checkout!.cancel_url ? `<p><a href="${esc(i.checkout!.cancel_url)}">Return to ${esc(await merchantName())}</a></p>` : '';
      return html(reply, 410, pageHtml('Expired', `<h1>This checkout session has expired</h1>${back}`));
    }
    // The network has not answered yet (reconciliation settles it): no second card meanwhile.
    if (i.status === 'processing') {
      return html(reply, 202, pageHtml('Processing', `<h1>${esc(await merchantName())}</h1><p>Your payment is being processed. Refresh this page in a moment.</p>`));
    }
    return null;
  }

  /** An open session past its expires_at is expired now (the sweeper would soon): nobody pays it. */
  async function current(req: FastifyRequest, s: { i: Intent; p: Principal }): Promise<Intent> {
    if (checkoutStatus(s.i) === 'open' && s.i.checkout!.expires_at <= now() && s.i.status !== 'processing') {
      return expire(deps, req, s.p, s.i, expiryCommandId(s.i.checkout!.id));
    }
    return s.i;
  }

  /** The page's session as it is now, or the answer already given (no such session, or not open any more). */
  async function openSession(req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<{ s: { i: Intent; p: Principal }; merchantName: () => Promise<string> } | FastifyReply> {
    const found = await sessionOfPage(deps, req.params.id);
    if (!found) return html(reply, 404, pageHtml('Not found', '<h1>No such checkout session</h1>'));
    const i = await current(req, found);
    const merchantName = nameOf(i);
    return (await closed(reply, i, merchantName)) ?? { s: { i, p: found.p }, merchantName };
  }

  const PageParams = Type.Object({ id: Type.String({ maxLength: 80 }) }, { additionalProperties: false });
  const PageQuery = Type.Object({}, { additionalProperties: true });

  app.get<{ Params: Static<typeof PageParams> }>('/c/pay/:id', { schema: { params: PageParams, querystring: PageQuery } }, async (req, reply) => {
    const open = await openSession(req, reply);
    if (!('s' in open)) return open;
    const { s: { i }, merchantName } = open;
    // Back from a 3-D Secure challenge that failed: say so, and ask again.
    const failed = i.last_payment_error ? i.last_payment_error.message : null;
    return html(reply, 200, payPage(i, await merchantName(), failed, ''));
  });

  // A promotion code typed on the page of a session that allows them (allow_promotion_codes): found by
  // its text (the merchant's active code, case-insensitively), checked as discounts[0][promotion_code]
  // is, and applied to the session's intent (its amount becomes the subtotal less the discount).
  app.post<{ Params: Static<typeof PageParams>; Body: { code?: unknown } }>('/c/pay/:id/code', { schema: { params: PageParams } }, async (req, reply) => {
    const open = await openSession(req, reply);
    if (!('s' in open)) return open;
    const { s, merchantName } = open;
    const i = s.i;
    const again = async (message: string, status = 400) => html(reply, status, payPage(i, await merchantName(), message, ''));
    if (!i.checkout!.allow_promotion_codes) return again('This checkout takes no promotion codes.');
    const code = typeof req.body?.code === 'string' ? req.body.code.trim() : '';
    if (!/^[A-Za-z0-9_-]{1,500}$/.test(code)) return again('Enter a promotion code.');
    const { entry } = await deps.catalogue.readName('promotion_code', i.merchant_id, i.livemode, code);
    const found = entry ? await readOwnPromotionCode(deps, s.p, entry.id) : null;
    if (!found || !found.promotionCode.active || found.promotionCode.code.toUpperCase() !== code.toUpperCase()) return again('This code is invalid.');
    const subtotal = i.checkout!.line_items.reduce((n, li) => n + li.unit_amount * li.quantity, 0);
    try {
      const discount = await discountFor(deps, s.p, { promotion_code: found.promotionCode.id }, subtotal, i.currency, 'promotion_code');
      checkAmount(subtotal - discount.amount, i.currency, 'promotion_code');
      await deps.commands.send({
        op: 'intent.checkout_discount',
        merchantId: i.merchant_id,
        intentId: i.id,
        command: { type: 'ApplyCheckoutDiscount', discount, now: now() },
        ctx: commandCtx(req, s.p, commandId(scopeOf(s.p), `POST /c/pay/${i.checkout!.id}/code ${found.promotionCode.id}`, undefined)),
      });
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) return again(err.message, err.status);
      throw err;
    }
    return reply.code(303).header('location', checkoutUrl(req, i.checkout!.id)).header('cache-control', 'no-store').send();
  });

  app.post<{ Params: Static<typeof PageParams>; Body: PayForm }>('/c/pay/:id', { schema: { params: PageParams } }, async (req, reply) => {
    const open = await openSession(req, reply);
    if (!('s' in open)) return open;
    const { s, merchantName } = open;
    const i = s.i;
    const b: PayForm = req.body && typeof req.body === 'object' ? req.body : {};
    const name = await merchantName();
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    const again = (message: string, status = 402) => html(reply, status, payPage(i, name, message, str(b.email)));
    if (i.attempts.filter((a) => a.status === 'failed').length >= MAX_PAGE_DECLINES) {
      return html(reply, 429, pageHtml('Too many attempts', `<h1>Too many declined cards</h1><p>This checkout takes no more cards. Contact ${esc(name)}.</p>`));
    }
    const exp = expiryOf(str(b.exp));
    if (!exp) return again("Your card's expiration date is incomplete.", 400);
    const email = i.checkout!.customer_email ?? (str(b.email) || null);
    const body = {
      payment_method_data: {
        type: 'card' as const,
        card: { number: str(b.number).replace(/[\s-]/g, ''), ...exp, cvc: str(b.cvc).trim() },
        billing_details: { ...(email ? { email } : {}), ...(str(b.name) ? { name: str(b.name) } : {}) },
      },
      ...(email && !i.receipt_email ? { receipt_email: email } : {}),
      return_url: checkoutUrl(req, i.checkout!.id),
    };
    try {
      const paid = await confirmIntent(deps, req, s.p, i.id, body, cardOfData(body, s.p), undefined);
      if (paid.status === 'requires_action' && paid.next_action?.type === 'redirect_to_url') {
        return reply.code(303).header('location', paid.next_action.redirect_to_url.url).header('cache-control', 'no-store').send();
      }
      return (await closed(reply, paid, merchantName)) ?? again(paid.last_payment_error?.message ?? 'Your card was declined.');
    } catch (err) {
      // A decline, or a card the network or our checks refuse: the page asks again (a new attempt, same intent).
      if (err instanceof ApiError && err.status < 500) return again(err.message, err.status);
      throw err;
    }
  });
}
