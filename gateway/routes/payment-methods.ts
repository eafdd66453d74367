// /v1/payment_methods: the card goes straight into the vault; only pm_…, brand and last4 come back.
// Either key may create one (Stripe.js tokenizes with the publishable key).
import type { FastifyInstance } from 'fastify';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import { renderPaymentMethod } from '../../stripe/objects.ts';
import { brandOf, cvcLengthOk, isExpired, luhnValid } from '../../vault/mod.ts';
import { idempotentCommands, principalOf, correlationOf, type GatewayDeps } from '../app.ts';
import { mismatch } from '../idempotency.ts';
import { requireSecret, scopeOf } from '../auth.ts';
import { commandId, derivedId } from '../ids.ts';
import { CreatePaymentMethodBody, IdParams } from '../schemas.ts';

const cardError = (code: string, message: string, param: string) => new ApiError(402, 'card_error', code, message, param);

export function registerPaymentMethods(app: FastifyInstance, deps: GatewayDeps): void {
  app.post<{ Body: CreatePaymentMethodBody }>('/v1/payment_methods', { schema: { body: CreatePaymentMethodBody } }, async (req, reply) => {
    const p = await principalOf(req, deps);
    const c = req.body.card;
    const number = c.number.replace(/[\s-]/g, '');
    const now = Math.floor(Date.now() / 1000);
    if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) throw cardError('incorrect_number', 'Your card number is incorrect.', 'card[number]');
    if (c.exp_month < 1 || c.exp_month > 12) throw cardError('invalid_expiry_month', "Your card's expiration month is invalid.", 'card[exp_month]');
    const expYear = c.exp_year < 100 ? 2000 + c.exp_year : c.exp_year;
    if (expYear > new Date(now * 1000).getUTCFullYear() + 50) throw cardError('invalid_expiry_year', "Your card's expiration year is invalid.", 'card[exp_year]');
    if (isExpired(c.exp_month, expYear, now)) throw cardError('invalid_expiry_year', "Your card's expiration year is invalid.", 'card[exp_year]');
    if (c.cvc !== undefined && !cvcLengthOk(brandOf(number), c.cvc)) throw cardError('invalid_cvc', "Your card's security code is invalid.", 'card[cvc]');
    // Under an Idempotency-Key the card record is the key's record (vault TokenizeOnce): no KV record of its own.
    return idempotentCommands(req, reply, deps, async (idem) => {
      const bd = req.body.billing_details;
      const once = idem
        ? { id: derivedId('pm', commandId(scopeOf(p), 'POST /v1/payment_methods', idem.key)), fingerprint: idem.fingerprint, requestId: correlationOf(req).requestId }
        : undefined;
      const made = await deps.vault.tokenize(
        p.merchant_id,
        { number, exp_month: c.exp_month, exp_year: expYear, ...(c.cvc ? { cvc: c.cvc } : {}) },
        {
          billing_details: { email: bd?.email ?? null, name: bd?.name ?? null, phone: bd?.phone ?? null },
          metadata: req.body.metadata || {},
        },
        now,
        p.mode === 'live',
        once,
      );
      if (made.kind === 'mismatch') throw mismatch(idem!.key);
      if (idem && made.kind === 'replayed') idem.trace.replayed ??= { request_id: made.requestId };
      else if (idem) idem.trace.fresh = true;
      return { status: 200, body: renderPaymentMethod(made.pm) };
    });
  });

  app.get<{ Params: IdParams }>('/v1/payment_methods/:id', { schema: { params: IdParams } }, async (req) => {
    const p = await principalOf(req, deps);
    // As at Stripe: a publishable key creates payment methods but cannot read them back.
    requireSecret(p);
    const pm = await deps.vault.get(p.merchant_id, req.params.id, p.mode === 'live');
    if (!pm) throw noSuch('PaymentMethod', req.params.id);
    return renderPaymentMethod(pm);
  });
}
