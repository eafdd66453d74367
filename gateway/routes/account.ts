// GET /v1/account (and /v1/accounts/:id for its own id): Stripe's Account, the merchant the key
// belongs to. Integrations call it to check their keys and read their country and currency.
// GET /v1/balance: the account's funds in the key's mode (storage/balance.ts).
import type { FastifyInstance } from 'fastify';
import { noSuch } from '../../stripe/errors.ts';
import { defaultCurrencyOf, renderAccount, renderBalance } from '../../stripe/objects.ts';
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
  app.get('/v1/balance', async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const m = await deps.readMerchant(p.merchant_id);
    if (!m) throw noSuch('account', p.merchant_id);
    const livemode = p.mode === 'live';
    return renderBalance(await deps.readBalance(p.merchant_id, livemode), livemode, defaultCurrencyOf(m));
  });
}
