// Card tokens (POST /v1/tokens, GET /v1/tokens/:id): what Stripe.js's createToken and the Charges
// API's `source=tok_…` use. A token is a card sealed in the vault under its own id (tok_…), usable
// once: as `card[token]` of a PaymentMethod (or `payment_method_data`), or as a charge's `source`,
// it becomes a PaymentMethod (vault useToken) and is `used` from then on. Made with the publishable
// key (in the browser) or a secret key; read back with a secret key only.
import type { FastifyInstance } from 'fastify';
import { noSuch } from '../../stripe/errors.ts';
import { renderToken } from '../../stripe/objects.ts';
import { addressOf } from '../../vault/mod.ts';
import { idempotent, principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret, scopeOf } from '../auth.ts';
import { CreateTokenBody, IdParams, RetrieveCustomerQuery } from '../schemas.ts';
import { checkedCard } from './payment-methods.ts';

export function registerTokens(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreateTokenBody }>('/v1/tokens', { schema: { body: CreateTokenBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    const c = req.body.card;
    const now = Math.floor(Date.now() / 1000);
    // Checked as a PaymentMethod's card is (number, expiry, CVC), before anything is written.
    const card = checkedCard({ number: c.number, exp_month: c.exp_month, exp_year: c.exp_year, ...(c.cvc !== undefined ? { cvc: c.cvc } : {}) }, now, 'card');
    const address = addressOf({ line1: c.address_line1, line2: c.address_line2, city: c.address_city, state: c.address_state, postal_code: c.address_zip, country: c.address_country });
    return idempotent(req, reply, deps, scopeOf(p), async () => {
      const made = await deps.vault.tokenize(p.merchant_id, card, { billing_details: { email: null, name: c.name || null, phone: null, address } }, now, p.mode === 'live', undefined, 'tok');
      if (made.kind !== 'created') throw new Error('a token is never keyed in the vault');
      return { status: 200, body: renderToken(made.pm, req.ip) };
    });
  });

  app.get<{ Params: { id: string }; Querystring: RetrieveCustomerQuery }>('/v1/tokens/:id', { schema: { params: IdParams, querystring: RetrieveCustomerQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const tok = await deps.vault.getToken(p.merchant_id, req.params.id, p.mode === 'live');
    if (!tok) throw noSuch('token', req.params.id);
    return renderToken(tok, null);
  });
}
