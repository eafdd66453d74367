// What the owner does for a SetupIntent's commands. A confirmation is three steps, each durable before
// the next: setup_attempt.started → the network's card check (epn verify) → setup_attempt.<outcome>.
// No money moves in a card check and the network books nothing, so an unknown answer (timeout, 5xx)
// is recorded as a failed attempt with processing_error (confirm again) instead of being reconciled.
import { setupIntentDecider, type SetupAttempt, type SetupIntent, type SetupIntentCommand, type NextAction } from '../actors/mod.ts';
import { EpnRejectedError, EpnUnavailableError } from '../epn/client/mod.ts';
import { subjects } from '../streams/subjects.ts';
import { ApiError, declinedPaymentMethod, noSuch } from '../stripe/errors.ts';
import { renderSetupIntent } from '../stripe/objects.ts';
import { cardForCustomer } from '../vault/saved-cards.ts';
import { step, type CommandContext } from './aggregates.ts';
import type { HandlerDeps } from './handlers.ts';
import type { CommandRequest, Ctx } from './protocol.ts';

type SetupRequest = Extract<CommandRequest, { op: `setup_intent.${string}` }>;

const ref = (merchantId: string, id: string) => ({ aggregate: 'setup_intent' as const, subject: subjects.setupIntent(merchantId, id), merchantId, aggregateId: id });

async function run(deps: HandlerDeps, merchantId: string, id: string, cmd: SetupIntentCommand, ctx: CommandContext): Promise<SetupIntent> {
  const r = await deps.store.execute(setupIntentDecider, ref(merchantId, id), cmd, ctx);
  if (!r.state) throw noSuch('setup_intent', id);
  return r.state;
}

/** The SetupIntent of the command's mode, or 404 as Stripe answers for another merchant's or mode's. */
async function load(deps: HandlerDeps, merchantId: string, id: string, livemode: boolean): Promise<SetupIntent> {
  const l = await deps.store.load<SetupIntent>(subjects.setupIntent(merchantId, id));
  if (!l.state || l.state.livemode !== livemode) throw noSuch('setup_intent', id);
  return l.state;
}

/** Stripe's answer to a confirmation whose card check failed: 402 card_error naming the SetupIntent. */
function setupError(s: SetupIntent): ApiError {
  const e = s.last_setup_error;
  const status = e?.type === 'invalid_request_error' ? 400 : 402;
  const rendered = renderSetupIntent(s);
  return new ApiError(status, e?.type ?? 'card_error', e?.code ?? 'card_declined', e?.message ?? 'Your card was declined.', undefined, {
    ...(e?.decline_code ? { decline_code: e.decline_code } : {}),
    setup_intent: rendered,
    // Stripe's card error names the card declined as its last_setup_error does.
    payment_method: declinedPaymentMethod(rendered.last_setup_error),
  });
}

/** The network's card check of a pending attempt, recorded as it answered. */
async function verify(deps: HandlerDeps, s: SetupIntent, attempt: SetupAttempt, ctx: Ctx, o: { authenticated?: boolean; nextAction?: NextAction }): Promise<SetupIntent> {
  const recordCtx = step(ctx, o.authenticated ? 'verify3ds' : 'verify');
  // A repeated keyed request whose check is recorded: the recorded answer, no second check.
  const prior = (await deps.store.replayed<SetupIntent>(subjects.setupIntent(s.merchant_id, s.id), recordCtx))?.state;
  if (prior) return prior;
  const card = await deps.vault.reveal(s.merchant_id, attempt.payment_method);
  let cmd: SetupIntentCommand;
  try {
    const r = await deps.epn.verify({
      reference: attempt.id,
      merchantId: s.merchant_id,
      card: { number: card.number, expMonth: attempt.card.exp_month, expYear: attempt.card.exp_year, ...(card.cvc ? { cvc: card.cvc } : {}) },
      ...(o.authenticated !== undefined ? { authenticated: o.authenticated } : {}),
    });
    if (r.status === 'approved') cmd = { type: 'RecordVerification', attemptId: attempt.id, outcome: 'approved', now: ctx.now };
    else if (r.status === 'authentication_required' && o.nextAction) cmd = { type: 'RecordVerification', attemptId: attempt.id, outcome: 'action_required', nextAction: o.nextAction, now: ctx.now };
    else if (r.status === 'authentication_required') {
      cmd = { type: 'RecordVerification', attemptId: attempt.id, outcome: 'declined', failureCode: 'authentication_required', declineCode: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.', now: ctx.now };
    } else {
      cmd = { type: 'RecordVerification', attemptId: attempt.id, outcome: 'declined', failureCode: r.failureCode ?? 'card_declined', declineCode: r.declineCode ?? null, message: r.message ?? 'Your card was declined.', now: ctx.now };
    }
  } catch (err) {
    if (!(err instanceof EpnUnavailableError) && !(err instanceof EpnRejectedError)) throw err;
    deps.log.warn({ attempt: attempt.id, err: err.message }, 'card check not answered: setup attempt failed with processing_error');
    cmd = { type: 'RecordVerification', attemptId: attempt.id, outcome: 'declined', failureCode: 'processing_error', message: 'An error occurred while processing your card. Try again in a little bit.', now: ctx.now };
  }
  const next = await run(deps, s.merchant_id, s.id, cmd, recordCtx);
  // PCI: the CVC is not kept once the network has decided (it is still needed across a 3DS challenge).
  if (next.attempts.find((a) => a.id === attempt.id)?.status !== 'requires_action') {
    await deps.vault.forgetCvc(s.merchant_id, attempt.payment_method).catch((err: unknown) => deps.log.error({ err, pm: attempt.payment_method }, 'could not drop CVC'));
  }
  return next;
}

async function confirm(deps: HandlerDeps, req: Extract<SetupRequest, { op: 'setup_intent.confirm' }>): Promise<SetupIntent> {
  const { merchantId, setupIntentId: id, attemptId, ctx } = req;
  let s = await load(deps, merchantId, id, ctx.livemode);
  const known = s.attempts.some((a) => a.id === attemptId);
  const { payment_method: confirmPm, ...otherChanges } = req.changes;
  if (Object.keys(otherChanges).length > 0 && !known) s = await run(deps, merchantId, id, { type: 'Update', changes: otherChanges, now: ctx.now }, step(ctx, 'update'));
  const pmId = confirmPm ?? s.payment_method ?? s.attempts.find((a) => a.id === attemptId)?.payment_method;
  if (!pmId) {
    throw new ApiError(400, 'invalid_request_error', 'setup_intent_unexpected_state', "You cannot confirm this SetupIntent because it's missing a payment method. To confirm the SetupIntent, pass a payment_method.", 'payment_method');
  }
  const pm = await deps.vault.get(merchantId, pmId, s.livemode);
  if (!pm) throw noSuch('PaymentMethod', pmId, 'payment_method');
  // A new attempt only: one that a cut-off request started is resumed whatever happened to the card since.
  if (!known) await cardForCustomer(deps.vault, merchantId, pm, s.customer);
  s = await run(deps, merchantId, id, { type: 'StartAttempt', attemptId, paymentMethod: pm.id, card: pm.card, now: ctx.now }, step(ctx, 'start'));
  const attempt = s.attempts.find((a) => a.id === attemptId);
  if (!attempt) throw new Error(`setup attempt ${attemptId} missing after StartAttempt`);
  if (attempt.status === 'pending') {
    s = await verify(deps, s, attempt, ctx, { nextAction: { type: 'redirect_to_url', redirect_to_url: { url: req.challengeUrl, return_url: req.returnUrl } } });
  }
  if (s.attempts.find((a) => a.id === attemptId)?.status === 'failed') throw setupError(s);
  return s;
}

/** The cardholder came back from the 3-D Secure challenge: on success the card is checked again, authenticated. */
async function authenticate(deps: HandlerDeps, req: Extract<SetupRequest, { op: 'setup_intent.authenticate' }>): Promise<SetupIntent> {
  const { merchantId, setupIntentId: id, attemptId, ctx } = req;
  await load(deps, merchantId, id, ctx.livemode);
  let s = await run(deps, merchantId, id, { type: 'Authenticate', attemptId, success: req.success, now: ctx.now }, step(ctx, 'authenticate'));
  const attempt = s.attempts.find((a) => a.id === attemptId);
  if (attempt?.status === 'pending') s = await verify(deps, s, attempt, ctx, { authenticated: true });
  return s;
}

export async function handleSetupIntent(deps: HandlerDeps, req: SetupRequest): Promise<{ state: SetupIntent }> {
  switch (req.op) {
    case 'setup_intent.create': {
      const r = await deps.store.execute(setupIntentDecider, ref(req.merchantId, req.setupIntentId), req.command, req.ctx, { assumeNew: true, neverExisted: req.ctx.freshIds === true });
      if (!r.state) throw noSuch('setup_intent', req.setupIntentId);
      return { state: r.state };
    }
    case 'setup_intent.update':
      await load(deps, req.merchantId, req.setupIntentId, req.ctx.livemode);
      return { state: await run(deps, req.merchantId, req.setupIntentId, { type: 'Update', changes: req.changes, ...(req.metadata !== undefined ? { metadata: req.metadata } : {}), now: req.ctx.now }, req.ctx) };
    case 'setup_intent.confirm':
      return { state: await confirm(deps, req) };
    case 'setup_intent.authenticate':
      return { state: await authenticate(deps, req) };
    case 'setup_intent.cancel':
      await load(deps, req.merchantId, req.setupIntentId, req.ctx.livemode);
      return { state: await run(deps, req.merchantId, req.setupIntentId, { type: 'Cancel', reason: req.reason, now: req.ctx.now }, req.ctx) };
  }
}
