// What the owner does for each command: the decider decides, the shell does the I/O around it
// (vault, card network) and records every answer as a new command. An authorization is three
// steps, each durable before the next: attempt.started → network call → attempt.<outcome>.
// A crash between them leaves a pending attempt that the same request retried (same attempt id,
// idempotent at the network) or reconciliation finishes; never a second authorization.
import { DomainError, intentDecider, merchantDecider, currentAttempt, type Intent, type IntentCommand, type Merchant } from '../actors/mod.ts';
import { subjects } from '../streams/subjects.ts';
import { ApiError, noSuch, unavailable } from '../stripe/errors.ts';
import { renderPaymentIntent } from '../stripe/objects.ts';
import type { Vault } from '../vault/mod.ts';
import type { EpnClient } from '../epn/client/mod.ts';
import { EpnUnavailableError, EpnRejectedError } from '../epn/client/mod.ts';
import type { AggregateStore, CommandContext } from './aggregates.ts';
import type { CommandRequest, Ctx } from './protocol.ts';
import type { Logger } from 'pino';

export interface HandlerDeps {
  store: AggregateStore;
  vault: Vault;
  epn: EpnClient;
  log: Logger;
}

const step = (ctx: Ctx, name: string): CommandContext => ({ ...ctx, commandId: `${ctx.commandId}:${name}` });

const intentRef = (merchantId: string, intentId: string) => ({
  aggregate: 'intent' as const,
  subject: subjects.intent(merchantId, intentId),
  merchantId,
  aggregateId: intentId,
});

async function run(deps: HandlerDeps, merchantId: string, intentId: string, cmd: IntentCommand, ctx: CommandContext): Promise<{ state: Intent; seq: number }> {
  const r = await deps.store.execute(intentDecider, intentRef(merchantId, intentId), cmd, ctx);
  if (!r.state) throw noSuch('payment_intent', intentId);
  return { state: r.state, seq: r.seq };
}

async function loadIntent(deps: HandlerDeps, merchantId: string, intentId: string, livemode: boolean) {
  const l = await deps.store.load<Intent>(subjects.intent(merchantId, intentId));
  if (!l.state || l.state.livemode !== livemode) throw noSuch('payment_intent', intentId);
  return { state: l.state, seq: l.seq };
}

/** The card error Stripe answers a declined confirmation with (402, StripeCardError). */
function declineError(state: Intent): ApiError {
  const e = state.last_payment_error;
  return new ApiError(402, 'card_error', e?.code ?? 'card_declined', e?.message ?? 'Your card was declined.', undefined, {
    decline_code: e?.decline_code ?? undefined,
    charge: e?.charge,
    payment_intent: renderPaymentIntent(state),
  });
}

async function confirm(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.confirm' }>) {
  const { merchantId, intentId, attemptId, ctx } = req;
  let { state } = await loadIntent(deps, merchantId, intentId, ctx.livemode);
  // The card rides on attempt.started itself; other confirm-time changes are an update first.
  const { payment_method: confirmPm, ...otherChanges } = req.changes;
  if (Object.keys(otherChanges).length > 0 && !state.attempts.some((a) => a.id === attemptId)) {
    state = (await run(deps, merchantId, intentId, { type: 'Update', changes: otherChanges, now: ctx.now }, step(ctx, 'update'))).state;
  }
  const pmId = confirmPm ?? state.payment_method ?? state.attempts.find((a) => a.id === attemptId)?.payment_method;
  if (!pmId) {
    throw new ApiError(400, 'invalid_request_error', 'payment_intent_unexpected_state', 'You cannot confirm this PaymentIntent because it\'s missing a payment method. To confirm the PaymentIntent, pass a payment_method.', 'payment_method');
  }
  const pm = await deps.vault.get(merchantId, pmId, state.livemode);
  if (!pm) throw noSuch('PaymentMethod', pmId, 'payment_method');

  state = (await run(deps, merchantId, intentId, { type: 'StartAttempt', attemptId, paymentMethod: pm.id, card: pm.card, now: ctx.now }, step(ctx, 'start'))).state;
  const attempt = state.attempts.find((a) => a.id === attemptId);
  if (!attempt) throw new Error(`attempt ${attemptId} missing after StartAttempt`);

  if (attempt.status === 'pending') {
    const card = await deps.vault.reveal(merchantId, pm.id);
    let cmd: IntentCommand;
    try {
      const auth = await deps.epn.authorize({
        reference: attempt.id,
        merchantId,
        amount: attempt.amount,
        currency: state.currency,
        capture: state.capture_method !== 'manual',
        card: { number: card.number, expMonth: pm.card.exp_month, expYear: pm.card.exp_year, ...(card.cvc ? { cvc: card.cvc } : {}) },
      });
      cmd =
        auth.status === 'approved'
          ? { type: 'RecordAuthorization', attemptId, outcome: 'approved', networkRef: auth.networkRef, now: ctx.now }
          : {
              type: 'RecordAuthorization',
              attemptId,
              outcome: 'declined',
              networkRef: auth.networkRef,
              failureCode: auth.failureCode ?? 'card_declined',
              ...(auth.declineCode ? { declineCode: auth.declineCode } : {}),
              ...(auth.message ? { message: auth.message } : {}),
              now: ctx.now,
            };
    } catch (err) {
      if (err instanceof EpnRejectedError) {
        cmd = { type: 'RecordAuthorization', attemptId, outcome: 'declined', networkRef: null, failureCode: 'processing_error', message: 'An error occurred while processing your card. Try again in a little bit.', now: ctx.now };
      } else if (err instanceof EpnUnavailableError) {
        // We do not know whether money moved: the attempt is in doubt, never retried blindly.
        deps.log.warn({ attempt: attemptId, kind: err.kind }, 'authorization outcome unknown');
        cmd = { type: 'RecordAuthorization', attemptId, outcome: 'unknown', networkRef: null, now: ctx.now };
      } else throw err;
    }
    state = (await run(deps, merchantId, intentId, cmd, step(ctx, 'auth'))).state;
    await deps.vault.forgetCvc(merchantId, pm.id).catch((err: unknown) => deps.log.error({ err, pm: pm.id }, 'could not drop CVC'));
  }
  const settled = state.attempts.find((a) => a.id === attemptId);
  if (settled?.status === 'failed') throw declineError(state);
  return state;
}

async function capture(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.capture' }>) {
  const { merchantId, intentId, ctx } = req;
  const { state } = await loadIntent(deps, merchantId, intentId, ctx.livemode);
  const cmd: IntentCommand = { type: 'Capture', ...(req.amountToCapture !== undefined ? { amountToCapture: req.amountToCapture } : {}), now: ctx.now };
  const events = intentDecider.decide(cmd, state); // validate before money moves
  if (events.length === 0) return state;
  const a = currentAttempt(state);
  if (!a?.network_ref) throw unavailable('The authorization has no network reference yet; try again later.');
  try {
    await deps.epn.capture({ networkRef: a.network_ref, amount: req.amountToCapture ?? state.amount_capturable });
  } catch (err) {
    if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer; the capture was not recorded. Retry with the same Idempotency-Key.');
    throw err;
  }
  return (await run(deps, merchantId, intentId, cmd, step(ctx, 'capture'))).state;
}

async function cancel(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.cancel' }>) {
  const { merchantId, intentId, ctx } = req;
  const { state } = await loadIntent(deps, merchantId, intentId, ctx.livemode);
  const cmd: IntentCommand = { type: 'Cancel', reason: req.reason, now: ctx.now };
  const events = intentDecider.decide(cmd, state);
  if (events.length === 0) return state;
  const a = currentAttempt(state);
  if (state.status === 'requires_capture' && a?.network_ref) {
    try {
      await deps.epn.void({ networkRef: a.network_ref });
    } catch (err) {
      if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer; the authorization was not voided. Retry with the same Idempotency-Key.');
      throw err;
    }
  }
  return (await run(deps, merchantId, intentId, cmd, step(ctx, 'cancel'))).state;
}

export async function handle(deps: HandlerDeps, req: CommandRequest): Promise<{ state: Intent | Merchant; seq?: number }> {
  switch (req.op) {
    case 'merchant.onboard':
    case 'merchant.update': {
      const ref = { aggregate: 'merchant' as const, subject: subjects.merchant(req.merchantId), merchantId: req.merchantId, aggregateId: req.merchantId };
      const r = await deps.store.execute(merchantDecider, ref, req.command, req.ctx);
      if (!r.state) throw noSuch('merchant', req.merchantId, 'merchant_id');
      return r as { state: Merchant; seq: number };
    }
    case 'intent.create':
      return run(deps, req.merchantId, req.intentId, req.command, req.ctx);
    case 'intent.update':
      await loadIntent(deps, req.merchantId, req.intentId, req.ctx.livemode);
      return run(deps, req.merchantId, req.intentId, { type: 'Update', changes: req.changes, now: req.ctx.now }, req.ctx);
    case 'intent.confirm':
      return { state: await confirm(deps, req) };
    case 'intent.capture':
      return { state: await capture(deps, req) };
    case 'intent.cancel':
      return { state: await cancel(deps, req) };
    default: {
      const never: never = req;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/** One classifier: what the caller is told for any error. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DomainError) {
    const status = err.status;
    return new ApiError(status, 'invalid_request_error', err.code, err.message, err.param);
  }
  return new ApiError(500, 'api_error', undefined, 'An unexpected error occurred. Retry with the same Idempotency-Key.', undefined, {}, true);
}
