// /v1/customers: create, retrieve, update and list Stripe customers (email, name, description,
// phone, address, shipping, preferred_locales, tax_exempt, metadata, invoice_settings.default_payment_method; a card attached at create). Secret keys only; a customer of another merchant or of the other mode does not
// exist for the key.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Customer, CustomerFields } from '../../actors/mod.ts';
import { ApiError, noSuch, cannotExpand } from '../../stripe/errors.ts';
import { renderCustomer, renderPaymentMethod } from '../../stripe/objects.ts';
import { ID_PATTERN } from '../../streams/subjects.ts';
import { commandCtx, idempotent, idempotentCommands, idempotencyKeyOf, principalOf, type CommandIdem, type GatewayDeps } from '../app.ts';
import { attachToCustomer } from './payment-methods.ts';
import { requireSecret, scopeOf, type Principal } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import { checkCursors, itemExpand, listObject, searchResult } from '../lists.ts';
import { parseSearchQuery } from '../../stripe/search.ts';
import { releaseCards } from '../../vault/saved-cards.ts';
import { addressOf } from '../../vault/mod.ts';
import { shippingOf } from '../shipping.ts';
import { CreateCustomerBody, IdParams, ListCustomersQuery, RetrieveCustomerQuery, SearchQuery, UpdateCustomerBody } from '../schemas.ts';

const now = () => Math.floor(Date.now() / 1000);


/** A customer of this key's merchant and mode, or null. */
export async function readOwnCustomer(deps: Pick<GatewayDeps, 'readCustomer'>, p: Principal, id: string): Promise<Customer | null> {
  if (!ID_PATTERN.test(id)) return null;
  const c = await deps.readCustomer(p.merchant_id, id);
  return c && c.merchant_id === p.merchant_id && c.livemode === (p.mode === 'live') ? c : null;
}

/** For a parameter naming a customer (PaymentIntent `customer`): Stripe answers 400 resource_missing. */
export async function requireCustomerParam(deps: Pick<GatewayDeps, 'readCustomer'>, p: Principal, id: string, param = 'customer'): Promise<Customer> {
  const c = await readOwnCustomer(deps, p, id);
  if (!c || c.deleted) throw new ApiError(400, 'invalid_request_error', 'resource_missing', `No such customer: '${id}'`, param);
  return c;
}

// Loose on purpose (Stripe accepts what looks like an address); it refuses what clearly is not one.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** '' means "unset" (null); undefined means "not given". */
export function emailParam(v: string | undefined, param = 'email'): string | null | undefined {
  if (v === undefined || v === '') return v === '' ? null : undefined;
  if (!EMAIL.test(v)) throw new ApiError(400, 'invalid_request_error', 'email_invalid', `Invalid email address: ${v}`, param);
  return v;
}

const emptyToNull = (v: string | undefined) => (v === undefined ? undefined : v === '' ? null : v);

/** The customer fields a request gives, '' as null. */
function fieldsOf(b: CreateCustomerBody | UpdateCustomerBody): CustomerFields {
  const f: CustomerFields = {};
  const email = emailParam(b.email);
  if (email !== undefined) f.email = email;
  const name = emptyToNull(b.name);
  if (name !== undefined) f.name = name;
  const description = emptyToNull(b.description);
  if (description !== undefined) f.description = description;
  const phone = emptyToNull(b.phone);
  if (phone !== undefined) f.phone = phone;
  if (b.address !== undefined) f.address = b.address === '' ? null : addressOf(b.address);
  const shipping = shippingOf(b.shipping);
  if (shipping !== undefined) f.shipping = shipping && { name: shipping.name, phone: shipping.phone, address: shipping.address };
  if (b.preferred_locales !== undefined) f.preferred_locales = b.preferred_locales || [];
  if (b.tax_exempt !== undefined) f.tax_exempt = b.tax_exempt || 'none';
  return f;
}

/** What a customer's expand may name: every one of them is null on our customers, so it stays null. */
const EXPANDABLE = new Set(['default_source', 'invoice_settings.default_payment_method', 'test_clock']);

function checkExpand(expand: string[] | undefined): void {
  for (const path of expand ?? []) {
    if (!EXPANDABLE.has(path)) throw cannotExpand(path);
  }
}

/** The customer; `invoice_settings.default_payment_method` expanded to its card when asked (the others stay null). */
async function render(deps: GatewayDeps, c: Customer, expand: string[] | undefined): Promise<Record<string, unknown>> {
  checkExpand(expand);
  const body = renderCustomer(c);
  if (c.default_payment_method && !c.deleted && expand?.includes('invoice_settings.default_payment_method')) {
    const pm = await deps.vault.get(c.merchant_id, c.default_payment_method, c.livemode);
    if (pm) body.invoice_settings = { ...(body.invoice_settings as object), default_payment_method: renderPaymentMethod(pm) };
  }
  return body;
}

/** invoice_settings.default_payment_method as sent: '' unsets it (null), absent leaves it. */
const defaultPaymentMethodOf = (b: { invoice_settings?: { default_payment_method?: string } }) => emptyToNull(b.invoice_settings?.default_payment_method);

/** Stripe's answer to a default card that is not one of the customer's (the decider gives the same). */
const notAttached = (pm: string) =>
  new ApiError(400, 'invalid_request_error', 'resource_missing', `The customer does not have a payment method with the ID ${pm}. The payment method must be attached to the customer.`, 'invoice_settings[default_payment_method]');

/** Makes an attached card the customer's default (customer create with payment_method + invoice_settings). */
async function setDefault(deps: GatewayDeps, req: FastifyRequest, p: Principal, customerId: string, pmId: string): Promise<Customer> {
  const cmdId = commandId(scopeOf(p), `POST /v1/customers ${customerId} invoice_settings ${pmId}`, idempotencyKeyOf(req));
  return (await deps.commands.send({
    op: 'customer.update',
    merchantId: p.merchant_id,
    customerId,
    command: { type: 'Update', changes: {}, defaultPaymentMethod: pmId, now: now() },
    ctx: commandCtx(req, p, cmdId),
  })) as Customer;
}

export function registerCustomers(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateCustomerBody }>('/v1/customers', { schema: { body: CreateCustomerBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const b = req.body;
    const fields = fieldsOf(b);
    checkExpand(b.expand); // a bad expand is refused before anything is written
    const dpm = defaultPaymentMethodOf(b);
    if (dpm && dpm !== b.payment_method) throw notAttached(dpm);
    const create = async (idem: CommandIdem | undefined) => {
      const cmdId = commandId(scopeOf(p), 'POST /v1/customers', idempotencyKeyOf(req));
      const customerId = derivedId('cus', cmdId);
      return (await deps.commands.send({
        op: 'customer.create',
        merchantId: p.merchant_id,
        customerId,
        command: {
          type: 'Create',
          customerId,
          merchantId: p.merchant_id,
          livemode: p.mode === 'live',
          email: fields.email ?? null,
          name: fields.name ?? null,
          description: fields.description ?? null,
          phone: fields.phone ?? null,
          address: fields.address ?? null,
          shipping: fields.shipping ?? null,
          ...(fields.preferred_locales ? { preferred_locales: fields.preferred_locales } : {}),
          ...(fields.tax_exempt ? { tax_exempt: fields.tax_exempt } : {}),
          metadata: b.metadata || {},
          now: now(),
        },
        ctx: commandCtx(req, p, cmdId, idem),
      }, idem?.trace)) as Customer;
    };
    if (!b.payment_method) return idempotentCommands(req, reply, deps, async (idem) => ({ status: 200, body: await render(deps, await create(idem), b.expand) }));
    // With a card to attach (and maybe to make the default): several writes, so the KV path keeps the answer.
    const pmId = b.payment_method;
    const card = await deps.vault.get(p.merchant_id, pmId, p.mode === 'live', true);
    if (!card) throw noSuch('PaymentMethod', pmId, 'payment_method');
    if (card.customer) throw new ApiError(400, 'invalid_request_error', 'payment_method_unexpected_state', 'The payment method you provided has already been attached to a customer.', 'payment_method');
    return idempotent(req, reply, deps, scopeOf(p), async () => {
      let state = await create(undefined);
      const attached = await attachToCustomer(deps, req, p, pmId, state.id, (id: string) => `POST /v1/customers ${state.id} payment_method ${id}`);
      if (dpm) state = await setDefault(deps, req, p, state.id, attached.id);
      return { status: 200, body: await render(deps, state, b.expand) };
    });
  });

  app.get<{ Querystring: SearchQuery }>('/v1/customers/search', { schema: { querystring: SearchQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    const expand = itemExpand(q.expand);
    checkExpand(expand);
    const page = await deps.searchCustomers({ merchantId: p.merchant_id, livemode: p.mode === 'live', query: parseSearchQuery('customers', q.query), limit: q.limit ?? 10, ...(q.page ? { after: q.page } : {}) });
    return searchResult('/v1/customers/search', await Promise.all(page.data.map((c) => render(deps, c, expand))), page.hasMore, page.data.at(-1)?.id);
  });

  app.get<{ Params: IdParams; Querystring: RetrieveCustomerQuery }>(
    '/v1/customers/:id',
    { schema: { params: IdParams, querystring: RetrieveCustomerQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const c = await readOwnCustomer(deps, p, req.params.id);
      if (!c) throw noSuch('customer', req.params.id);
      return render(deps, c, req.query.expand);
    },
  );

  app.post<{ Params: IdParams; Body: UpdateCustomerBody }>(
    '/v1/customers/:id',
    { schema: { params: IdParams, body: UpdateCustomerBody } },
    async (req, reply) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      const b = req.body;
      const id = req.params.id;
      const changes = fieldsOf(b);
      const dpm = defaultPaymentMethodOf(b);
      checkExpand(b.expand);
      return idempotentCommands(req, reply, deps, async (idem) => {
        const cmdId = commandId(scopeOf(p), `POST /v1/customers/${id}`, idempotencyKeyOf(req));
        const state = (await deps.commands.send({
          op: 'customer.update',
          merchantId: p.merchant_id,
          customerId: id,
          // Metadata is merged by the customer's single writer, so concurrent updates lose no key.
          command: { type: 'Update', changes, ...(b.metadata !== undefined ? { metadata: b.metadata } : {}), ...(dpm !== undefined ? { defaultPaymentMethod: dpm } : {}), now: now() },
          ctx: commandCtx(req, p, cmdId, idem),
        }, idem?.trace)) as Customer;
        return { status: 200, body: await render(deps, state, b.expand) };
      });
    },
  );

  // Stripe's delete: the customer answers as a deleted stub from then on, lists leave it out, and its
  // saved cards are no longer attached to anyone (their records are cleared after the customer's commit,
  // here and again by the reconcile role: reconcile/work.ts).
  app.delete<{ Params: IdParams }>('/v1/customers/:id', { schema: { params: IdParams } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const id = req.params.id;
    const before = await readOwnCustomer(deps, p, id);
    if (!before) throw noSuch('customer', id);
    return idempotentCommands(req, reply, deps, async (idem) => {
      // Deleted already: only the repeat of the request that deleted it gets its answer again.
      if (before.deleted && !idem) throw noSuch('customer', id);
      const cmdId = commandId(scopeOf(p), `DELETE /v1/customers/${id}`, idempotencyKeyOf(req));
      const state = (await deps.commands.send({ op: 'customer.delete', merchantId: p.merchant_id, customerId: id, command: { type: 'Delete', now: now() }, ctx: commandCtx(req, p, cmdId, idem) }, idem?.trace)) as Customer;
      if (before.deleted && !idem?.trace.replayed) throw noSuch('customer', id);
      // The reconcile role clears them again from the commit: a failure here loses nothing.
      await releaseCards(deps.vault, p.merchant_id, id, before.payment_methods ?? []).catch((err: unknown) => req.log.warn({ err, customer: id }, 'customer deleted: could not clear its saved cards yet'));
      return { status: 200, body: renderCustomer(state) };
    });
  });

  app.get<{ Querystring: ListCustomersQuery }>('/v1/customers', { schema: { querystring: ListCustomersQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    checkCursors(q);
    const expand = (q.expand ?? []).map((e) => {
      if (!e.startsWith('data.')) throw cannotExpand(e);
      return e.slice(5);
    });
    const page = await deps.listCustomers(p.merchant_id, p.mode === 'live', q);
    return listObject('/v1/customers', await Promise.all(page.data.map((c) => render(deps, c, expand))), page.hasMore);
  });
}
