// /v1/payment_links: Stripe's Payment Links, a shareable URL selling prices of the catalogue. The
// link is its own single-writer aggregate (actors/payment-link); its URL (/b/:id, our origin) opens a
// Checkout Session for its line items on every visit and sends the customer to that session's page,
// where the card is typed and the session's PaymentIntent confirmed (gateway/routes/checkout-sessions.ts).
// After the payment: our confirmation page (with the link's custom message), or the link's redirect URL.
// Secret keys only; a link of another merchant or of the other mode does not exist for the key.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { linkTotal, type AfterCompletion, type LinkLineItem, type PaymentLink } from '../../actors/mod.ts';
import { expandOnly, invalidParam, noSuch } from '../../stripe/errors.ts';
import { renderLineItems, renderPaymentLink } from '../../stripe/objects.ts';
import { ID_PATTERN } from '../../streams/subjects.ts';
import { commandCtx, idempotentCommands, idempotencyKeyOf, principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import { checkCursors, listObject, pageOfItems } from '../lists.ts';
import { checkAmount, createIntent } from './payment-intents.ts';
import { PAGE_CSP, checkUrl, checkoutUrl, esc, pageHtml } from './checkout-sessions.ts';
import { readOwnPrice } from './products.ts';
import type { LinkEntry } from '../pay-index.ts';
import { CreatePaymentLinkBody, IdParams, ListPaymentLinksQuery, RetrieveCustomerQuery as RetrieveExpand, UpdatePaymentLinkBody } from '../schemas.ts';

const now = () => Math.floor(Date.now() / 1000);
/** Stripe: a session expires 24 hours after it is opened. */
const SESSION_TTL_S = 24 * 3600;

/** A link of this key's merchant and mode, or null. */
export async function readOwnLink(deps: Pick<GatewayDeps, 'readPaymentLink'>, p: Pick<Principal, 'merchant_id' | 'mode'>, id: string): Promise<PaymentLink | null> {
  if (!ID_PATTERN.test(id)) return null;
  const l = await deps.readPaymentLink(p.merchant_id, id);
  return l && l.merchant_id === p.merchant_id && l.livemode === (p.mode === 'live') ? l : null;
}

function afterCompletionOf(a: CreatePaymentLinkBody['after_completion']): AfterCompletion | undefined {
  if (!a) return undefined;
  if (a.type === 'redirect') {
    if (!a.redirect) throw invalidParam('after_completion[redirect]', 'Missing required param: after_completion[redirect].', 'parameter_missing');
    return { type: 'redirect', url: checkUrl('after_completion[redirect][url]', a.redirect.url)! };
  }
  return { type: 'hosted_confirmation', custom_message: a.hosted_confirmation?.custom_message || null };
}

function checkExpand(expand: readonly string[] | undefined): boolean {
  expandOnly(expand, 'line_items');
  return (expand ?? []).includes('line_items');
}

/** Where this request reached us: a link's URL is shown there. */
const originOf = (req: FastifyRequest) => `${req.protocol}://${req.headers.host ?? req.hostname}`;

/** The merchant's own principal for a visitor of its link (the link's mode). */
const linkPrincipal = (l: PaymentLink): Principal => ({ merchant_id: l.merchant_id, key_id: 'payment_link', kind: 'secret', mode: l.livemode ? 'live' : 'test', created: 0 });

export function registerPaymentLinks(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreatePaymentLinkBody }>('/v1/payment_links', { schema: { body: CreatePaymentLinkBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const expandItems = checkExpand(b.expand);
    const sent = b.line_items ?? [];
    if (sent.length === 0) throw invalidParam('line_items', 'Missing required param: line_items.', 'parameter_missing');
    const cmdId = commandId(scopeOf(p), 'POST /v1/payment_links', idempotencyKeyOf(req));
    const id = derivedId('plink', cmdId);
    let currency: string | null = null;
    const items: LinkLineItem[] = [];
    for (const [n, li] of sent.entries()) {
      const at = `line_items[${n}][price]`;
      const r = await readOwnPrice(deps, p, li.price);
      if (!r) throw invalidParam(at, `No such price: '${li.price}'`, 'resource_missing');
      if (!r.price.active) throw invalidParam(at, 'The price specified is inactive. This field only accepts active prices.');
      if (!r.product.active) throw invalidParam(at, `The price specified belongs to an inactive product (\`${r.product.id}\`).`);
      if (r.price.recurring) throw invalidParam(at, 'Recurring prices need a subscription, which payment links here do not make: use one-time prices.');
      if (currency !== null && r.price.currency !== currency) throw invalidParam(at, 'All prices on a payment link must have the same currency.');
      currency = r.price.currency;
      items.push({ id: derivedId('li', `${id}:${n}`), price: r.price.id, product: r.product.id, name: r.product.name, description: r.product.description, unit_amount: r.price.unit_amount, quantity: li.quantity });
    }
    checkAmount(linkTotal({ line_items: items }), currency!, 'line_items');
    const pid = b.payment_intent_data;
    const link: Omit<PaymentLink, 'created'> = {
      id,
      merchant_id: p.merchant_id,
      livemode: p.mode === 'live',
      active: true,
      currency: currency!,
      line_items: items,
      metadata: b.metadata || {},
      after_completion: afterCompletionOf(b.after_completion) ?? { type: 'hosted_confirmation', custom_message: null },
      payment_intent_data: {
        ...(pid?.capture_method ? { capture_method: pid.capture_method } : {}),
        ...(pid?.description ? { description: pid.description } : {}),
        ...(pid?.metadata ? { metadata: pid.metadata } : {}),
        ...(pid?.statement_descriptor ? { statement_descriptor: pid.statement_descriptor } : {}),
        ...(pid?.statement_descriptor_suffix ? { statement_descriptor_suffix: pid.statement_descriptor_suffix } : {}),
      },
      url: `${originOf(req)}/b/${id}`,
      inactive_message: b.inactive_message || null,
    };
    return idempotentCommands(req, reply, deps, async (idem) => {
      await deps.catalogue.write(id, { merchant_id: p.merchant_id, livemode: p.mode === 'live' });
      const l = (await deps.commands.send({ op: 'payment_link.create', merchantId: p.merchant_id, linkId: id, command: { type: 'Create', link, now: now() }, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace)) as PaymentLink;
      return { status: 200, body: renderPaymentLink(l, expandItems, originOf(req)) };
    });
  });

  app.get<{ Params: IdParams; Querystring: RetrieveExpand }>('/v1/payment_links/:id', { schema: { params: IdParams, querystring: RetrieveExpand } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const expandItems = checkExpand(req.query.expand);
    const l = await readOwnLink(deps, p, req.params.id);
    if (!l) throw noSuch('payment_link', req.params.id);
    return renderPaymentLink(l, expandItems, originOf(req));
  });

  app.post<{ Params: IdParams; Body: UpdatePaymentLinkBody }>('/v1/payment_links/:id', { schema: { params: IdParams, body: UpdatePaymentLinkBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const id = req.params.id;
    const expandItems = checkExpand(b.expand);
    const afterCompletion = afterCompletionOf(b.after_completion);
    return idempotentCommands(req, reply, deps, async (idem) => {
      const cmdId = commandId(scopeOf(p), `POST /v1/payment_links/${id}`, idempotencyKeyOf(req));
      const l = (await deps.commands.send({
        op: 'payment_link.update',
        merchantId: p.merchant_id,
        linkId: id,
        command: {
          type: 'Update',
          ...(b.active !== undefined ? { active: b.active } : {}),
          ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
          ...(afterCompletion ? { afterCompletion } : {}),
          ...(b.inactive_message !== undefined ? { inactiveMessage: b.inactive_message || null } : {}),
          now: now(),
        },
        ctx: commandCtx(req, p, cmdId, idem),
      }, idem?.trace)) as PaymentLink;
      return { status: 200, body: renderPaymentLink(l, expandItems, originOf(req)) };
    });
  });

  app.get<{ Querystring: ListPaymentLinksQuery }>('/v1/payment_links', { schema: { querystring: ListPaymentLinksQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    expandOnly(q.expand, 'data.line_items');
    const expand = q.expand ?? [];
    const page = await deps.listPaymentLinks({
      merchantId: p.merchant_id,
      livemode: p.mode === 'live',
      limit: q.limit ?? 10,
      ...(q.starting_after ? { startingAfter: q.starting_after } : {}),
      ...(q.ending_before ? { endingBefore: q.ending_before } : {}),
      ...(q.active !== undefined ? { active: q.active } : {}),
    });
    return listObject('/v1/payment_links', page.data.map((l) => renderPaymentLink(l, expand.length > 0, originOf(req))), page.hasMore);
  });

  const LineItemsQuery = Type.Object(
    { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), starting_after: Type.Optional(Type.String({ maxLength: 255 })), ending_before: Type.Optional(Type.String({ maxLength: 255 })), expand: Type.Optional(Type.Array(Type.String())) },
    { additionalProperties: false },
  );
  app.get<{ Params: IdParams; Querystring: Static<typeof LineItemsQuery> }>('/v1/payment_links/:id/line_items', { schema: { params: IdParams, querystring: LineItemsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    const l = await readOwnLink(deps, p, req.params.id);
    if (!l) throw noSuch('payment_link', req.params.id);
    const page = pageOfItems(l.line_items, q);
    return renderLineItems(l, `/v1/payment_links/${l.id}/line_items`, page.items.map((li) => ({ ...li, catalog: true as const })), page.hasMore);
  });

  // The link's URL. Each visit opens a Checkout Session for its line items (Stripe's too) and sends the
  // customer on to it; ?prefilled_email= and ?client_reference_id= are passed to the session, as at
  // Stripe. A deactivated link says so. No HEAD route: a HEAD (a link preview) opens nothing. Visits
  // spend the merchant's rate limit (RATE_LIMIT_TEST/LIVE), so a flood of them is a 429 page, not a flood of intents.
  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).header('cache-control', 'no-store').send(body);
  // A page, not an API call: its query is read as a browser sends it (anything else in it is ignored).
  const VisitQuery = Type.Object({}, { additionalProperties: true });
  const queryString = (v: unknown, max: number) => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);
  const VisitParams = Type.Object({ id: Type.String({ maxLength: 80 }) }, { additionalProperties: false });
  app.get<{ Params: Static<typeof VisitParams>; Querystring: Record<string, unknown> }>(
    '/b/:id',
    { exposeHeadRoute: false, schema: { params: VisitParams, querystring: VisitQuery } },
    async (req, reply) => {
      const entry = await deps.catalogue.read<LinkEntry>('plink', req.params.id);
      const l = entry ? await deps.readPaymentLink(entry.merchant_id, req.params.id) : null;
      if (!l) return html(reply, 404, pageHtml('Not found', '<h1>No such payment link</h1>'));
      if (!l.active) return html(reply, 410, pageHtml('Unavailable', `<h1>This link is no longer active</h1>${l.inactive_message ? `<p>${esc(l.inactive_message)}</p>` : ''}`));
      const p = linkPrincipal(l);
      // Every visit makes a session and its intent: visits spend the merchant's request rate, as its API calls do.
      if (deps.security) {
        const v = deps.security.limiter.take(p.merchant_id, p.mode);
        const verdict = v instanceof Promise ? await v : v;
        if (!verdict.ok) {
          reply.header('Retry-After', String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))));
          return html(reply, 429, pageHtml('Busy', '<h1>Too many requests</h1><p>Try again in a moment.</p>'));
        }
      }
      const prefilled = queryString(req.query.prefilled_email, 800);
      const email = prefilled && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(prefilled) ? prefilled : null;
      const created = now();
      const pid = l.payment_intent_data;
      const i = await createIntent(deps, req, p, `GET /b/${l.id}`, {
        amount: linkTotal(l),
        currency: l.currency,
        captureMethod: pid.capture_method ?? 'automatic',
        paymentMethod: null,
        metadata: pid.metadata ?? {},
        description: pid.description ?? null,
        receiptEmail: null,
        customer: null,
        userEmail: null,
        productId: null,
        confirm: false,
        returnUrl: null,
        statementDescriptor: pid.statement_descriptor ?? null,
        statementDescriptorSuffix: pid.statement_descriptor_suffix ?? null,
        checkout: {
          success_url: l.after_completion.type === 'redirect' ? l.after_completion.url : null,
          cancel_url: null,
          client_reference_id: queryString(req.query.client_reference_id, 200),
          customer_email: email,
          line_items: l.line_items.map((li) => ({ price: li.price, product: li.product, catalog: true as const, name: li.name, description: li.description, unit_amount: li.unit_amount, quantity: li.quantity })),
          metadata: l.metadata,
          expires_at: created + SESSION_TTL_S,
          payment_link: l.id,
          confirmation_message: l.after_completion.type === 'hosted_confirmation' ? l.after_completion.custom_message : null,
        },
      }, undefined);
      return reply.code(303).header('location', checkoutUrl(req, i.checkout!.id)).header('cache-control', 'no-store').send();
    },
  );
}
