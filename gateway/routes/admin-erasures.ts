// POST /admin/merchants/:id/erasures: a data subject's erasure request, by customer id or by email
// (every customer of the merchant with that exact email, in both modes). Each customer gets a
// customer.erased event on its own aggregate (actors/customer); the projector then clears its
// personal data in the read model (storage/erasure.ts), and its saved cards' billing details are
// erased in the vault (here, and again by the reconcile role from the commit). Amounts, currencies and statuses stay.
// Admin token only, never a merchant key.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Customer } from '../../actors/mod.ts';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import { correlationOf, type GatewayDeps } from '../app.ts';
import { commandId } from '../ids.ts';
import { requireAdmin } from './admin.ts';
import { eraseCardDetails } from '../../vault/saved-cards.ts';

const opts = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const MerchantParams = Type.Object({ id: Id }, opts);
type MerchantParams = Static<typeof MerchantParams>;
const ErasureBody = Type.Object({ customer: Type.Optional(Id), email: Type.Optional(Type.String({ minLength: 3, maxLength: 512 })) }, opts);
type ErasureBody = Static<typeof ErasureBody>;

/** Every customer of a merchant with this exact email, in both modes. */
async function customersByEmail(deps: GatewayDeps, merchantId: string, email: string): Promise<Customer[]> {
  const out: Customer[] = [];
  for (const livemode of [false, true]) {
    let after: string | undefined;
    for (;;) {
      const page = await deps.listCustomers(merchantId, livemode, { email, limit: 100, ...(after ? { starting_after: after } : {}) });
      out.push(...page.data);
      if (!page.hasMore || page.data.length === 0) break;
      after = page.data[page.data.length - 1]!.id;
    }
  }
  return out;
}

/** The ids of a customer's PaymentIntents, as the read model knows them. */
async function intentsOf(deps: GatewayDeps, c: Customer): Promise<string[]> {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await deps.listIntents(c.merchant_id, c.livemode, { customer: c.id, limit: 100, ...(after ? { starting_after: after } : {}) });
    out.push(...page.data.map((i) => i.id));
    if (!page.hasMore || page.data.length === 0) return out;
    after = page.data[page.data.length - 1]!.id;
  }
}

export function registerAdminErasures(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Params: MerchantParams; Body: ErasureBody }>(
    '/admin/merchants/:id/erasures',
    { schema: { params: MerchantParams, body: ErasureBody } },
    async (req) => {
      requireAdmin(req, deps.config.adminToken);
      const merchantId = req.params.id;
      if (!(await deps.readMerchant(merchantId))) throw noSuch('merchant', merchantId);
      const { customer, email } = req.body;
      if ((customer === undefined) === (email === undefined)) {
        throw new ApiError(400, 'invalid_request_error', 'parameter_missing', 'Give exactly one of customer or email.', customer === undefined ? 'customer' : 'email');
      }
      let targets: Customer[];
      if (customer !== undefined) {
        const c = await deps.readCustomer(merchantId, customer);
        if (!c || c.merchant_id !== merchantId) throw noSuch('customer', customer);
        targets = [c];
      } else {
        targets = await customersByEmail(deps, merchantId, email!);
      }
      const { requestId, correlationId } = correlationOf(req);
      const now = Math.floor(Date.now() / 1000);
      const erased: string[] = [];
      const intents: string[] = [];
      for (const c of targets) {
        await deps.commands.send({
          op: 'customer.erase',
          merchantId,
          customerId: c.id,
          command: { type: 'Erase', reason: 'request', now },
          ctx: { commandId: commandId(merchantId, `erase ${c.id}`, undefined), livemode: c.livemode, requestId, correlationId, now },
        });
        erased.push(c.id);
        // Its saved cards' billing details (the reconcile role does it again from the commit).
        await eraseCardDetails(deps.vault, merchantId, c.id, c.livemode, c.payment_methods ?? []);
        // The intents' own receipt_email (the actor state GET /v1/payment_intents/:id reads).
        for (const intentId of await intentsOf(deps, c)) {
          await deps.commands.send({
            op: 'intent.erase',
            merchantId,
            intentId,
            command: { type: 'ErasePii', reason: 'request', now },
            ctx: { commandId: commandId(merchantId, `erase ${intentId}`, undefined), livemode: c.livemode, requestId, correlationId, now },
          });
          intents.push(intentId);
        }
      }
      req.log.info({ merchant_id: merchantId, customers: erased, payment_intents: intents.length }, 'personal data erased on request');
      // Never echo the email back: the answer names customers only.
      return { object: 'erasure', merchant: merchantId, reason: 'request', customers: erased, payment_intents: intents, created: now };
    },
  );
}
