// GET /v1/account (and /v1/accounts/:id for its own id): Stripe's Account, the merchant the key
// belongs to. Integrations call it to check their keys and read their country and currency.
import type { FastifyInstance } from 'fastify';
import { noSuch } from '../../stripe/errors.ts';
import { renderAccount } from '../../stripe/objects.ts';
import { principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret } from '../auth.ts';
import { IdParams } from '../schemas.ts';

export function registerAccount(app: FastifyInstance, deps: GatewayDeps): void {
  const own = async (merchantId: string) => {
    const m = await deps.readMerchant(merchantId);
    if (!m) throw noSuch('account', merchantId);
    return renderAccount(m);
  };
  app.get('/v1/account', async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    return own(p.merchant_id);
  });
  // Another account's id answers as Stripe answers a platform's unknown account: no such account.
  app.get<{ Params: IdParams }>('/v1/accounts/:id', { schema: { params: IdParams } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    if (req.params.id !== p.merchant_id) throw noSuch('account', req.params.id);
    return own(p.merchant_id);
  });
}
