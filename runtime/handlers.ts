// What the owner does for each command: the decider decides, the shell does the I/O around it
// (vault, card network) and records every answer as a new command. An authorization is three
// steps, each durable before the next: attempt.started → network call → attempt.<outcome>.
// A crash between them leaves a pending attempt that the same request retried (same attempt id,
// idempotent at the network) or reconciliation finishes; never a second authorization.
import { DomainError, intentDecider, merchantDecider, currentAttempt, cardCaptureMethod, checkConfirmable, type Attempt, type Intent, type IntentCommand, type Merchant, type NextAction } from '../actors/mod.ts';
import { couponDecider, customerDecider, paymentLinkDecider, productDecider, type Coupon, type Customer, type PaymentLink, type Product, type SetupIntent } from '../actors/mod.ts';
import { handleSetupIntent } from './setup-intents.ts';
import { handleDispute } from './disputes.ts';
import { subjects } from '../streams/subjects.ts';
import { ApiError, declinedPaymentMethod, noSuch, unavailable } from '../stripe/errors.ts';
import { renderPaymentIntent } from '../stripe/objects.ts';
import type { Vault } from '../vault/mod.ts';
import { cardForCustomer } from '../vault/saved-cards.ts';
import type { EpnClient } from '../epn/client/mod.ts';
import { EpnUnavailableError, EpnRejectedError } from '../epn/client/mod.ts';
import { IdempotencyMismatchError, step, type AggregateStore, type CommandContext } from './aggregates.ts';
import type { CommandRequest, Ctx } from './protocol.ts';
import type { Logger } from 'pino';
import { reconcileIntent } from '../reconcile/ops.ts';
import { isTransient } from '../nats/append.ts';
import { isDatabaseUnavailable } from '../storage/unavailable.ts';

export interface HandlerDeps {
  store: AggregateStore;
  vault: Vault;
  epn: EpnClient;
  log: Logger;
}

const intentRef = (merchantId: string, intentId: string) => ({
  aggregate: 'intent' as const,
  subject: subjects.intent(merchantId, intentId),
  merchantId,
  aggregateId: intentId,
});

export async function run(deps: HandlerDeps, merchantId: string, intentId: string, cmd: IntentCommand, ctx: CommandContext): Promise<{ state: Intent; seq: number }> {
  const r = await deps.store.execute(intentDecider, intentRef(merchantId, intentId), cmd, ctx);
  if (!r.state) throw noSuch('payment_intent', intentId);
  return { state: r.state, seq: r.seq };
}

/**
 * The answer a repeated keyed request already has for one of its steps (null when the step was not
 * recorded): lets a handler skip the network call that precedes that step.
 */
async function recordedStep(deps: HandlerDeps, merchantId: string, intentId: string, ctx: CommandContext): Promise<Intent | null> {
  return (await deps.store.replayed<Intent>(subjects.intent(merchantId, intentId), ctx))?.state ?? null;
}

export async function loadIntent(deps: HandlerDeps, merchantId: string, intentId: string, livemode: boolean) {
  const l = await deps.store.load<Intent>(subjects.intent(merchantId, intentId));
  if (!l.state || l.state.livemode !== livemode) throw noSuch('payment_intent', intentId);
  return { state: l.state, seq: l.seq };
}

/** The card error Stripe answers a declined confirmation with (402, StripeCardError). */
function declineError(state: Intent): ApiError {
  const e = state.last_payment_error;
  const intent = renderPaymentIntent(state);
  return new ApiError(402, 'card_error', e?.code ?? 'card_declined', e?.message ?? 'Your card was declined.', undefined, {
    decline_code: e?.decline_code ?? undefined,
    charge: e?.charge,
    payment_intent: intent,
    // Stripe's card error names the card declined as its last_payment_error does.
    payment_method: declinedPaymentMethod(intent.last_payment_error),
  });
}

/**
 * One authorization of a pending attempt against the network, recorded as the network answered:
 * approved, declined, 3-D Secure wanted, or unknown (timeout: in doubt, never retried blindly).
 * The attempt id is the network's idempotency reference, so repeating this is an inquiry.
 */
async function authorize(
  deps: HandlerDeps,
  state: Intent,
  attempt: Attempt,
  ctx: Ctx,
  o: { authenticated?: boolean; nextAction?: NextAction },
): Promise<Intent> {
  const merchantId = state.merchant_id;
  const attemptId = attempt.id;
  const recordCtx = step(ctx, o.authenticated ? 'auth3ds' : 'auth');
  // A repeated keyed request whose authorization is recorded: the recorded answer, no network call.
  const prior = await recordedStep(deps, merchantId, state.id, recordCtx);
  if (prior) return prior;
  const card = await deps.vault.reveal(merchantId, attempt.payment_method);
  let cmd: IntentCommand;
  try {
    const auth = await deps.epn.authorize({
      reference: attempt.id,
      intentId: state.id,
      merchantId,
      amount: attempt.amount,
      currency: state.currency,
      capture: cardCaptureMethod(state) !== 'manual',
      card: { number: card.number, expMonth: attempt.card.exp_month, expYear: attempt.card.exp_year, ...(card.cvc ? { cvc: card.cvc } : {}) },
      ...(o.authenticated !== undefined ? { authenticated: o.authenticated } : {}),
    });
    if (auth.status === 'approved') {
      cmd = { type: 'RecordAuthorization', attemptId, outcome: 'approved', networkRef: auth.networkRef, now: ctx.now };
    } else if (auth.status === 'authentication_required' && o.nextAction) {
      cmd = { type: 'RecordAuthorization', attemptId, outcome: 'action_required', networkRef: null, nextAction: o.nextAction, now: ctx.now };
    } else if (auth.status === 'authentication_required') {
      // Nobody to authenticate (off_session): Stripe's decline of a card that asks for it.
      cmd = {
        type: 'RecordAuthorization',
        attemptId,
        outcome: 'declined',
        networkRef: auth.networkRef || null,
        failureCode: 'authentication_required',
        declineCode: 'authentication_required',
        message: 'Your card was declined. This transaction requires authentication.',
        now: ctx.now,
      };
    } else {
      cmd = {
        type: 'RecordAuthorization',
        attemptId,
        outcome: 'declined',
        networkRef: auth.networkRef || null,
        failureCode: auth.failureCode ?? 'card_declined',
        ...(auth.declineCode ? { declineCode: auth.declineCode } : {}),
        ...(auth.message ? { message: auth.message } : {}),
        now: ctx.now,
      };
    }
  } catch (err) {
    if (err instanceof EpnRejectedError) {
      cmd = { type: 'RecordAuthorization', attemptId, outcome: 'declined', networkRef: null, failureCode: 'processing_error', message: 'An error occurred while processing your card. Try again in a little bit.', now: ctx.now };
    } else if (err instanceof EpnUnavailableError && err.notExecuted) {
      // degrade: the network is down and surely did not execute it (refused connection, 503 outage):
      // the attempt fails at once as Stripe fails a charge its processor could not reach, 402
      // card_error processing_error, the intent back to requires_payment_method; confirm again later.
      deps.log.warn({ attempt: attemptId, kind: err.kind }, 'network unavailable, nothing executed: attempt failed with processing_error');
      cmd = { type: 'RecordAuthorization', attemptId, outcome: 'declined', networkRef: null, failureCode: 'processing_error', message: 'An error occurred while processing your card. Try again in a little bit.', now: ctx.now };
    } else if (err instanceof EpnUnavailableError) {
      deps.log.warn({ attempt: attemptId, kind: err.kind }, 'authorization outcome unknown');
      cmd = { type: 'RecordAuthorization', attemptId, outcome: 'unknown', networkRef: null, now: ctx.now };
    } else throw err;
  }
  const next = (await run(deps, merchantId, state.id, cmd, recordCtx)).state;
  // PCI: the CVC is not kept once the network has decided (it is still needed across a 3DS challenge).
  if (next.attempts.find((a) => a.id === attemptId)?.status !== 'requires_action') {
    await deps.vault.forgetCvc(merchantId, attempt.payment_method).catch((err: unknown) => deps.log.error({ err, pm: attempt.payment_method }, 'could not drop CVC'));
  }
  return next;
}

/** The cardholder came back from the 3-D Secure challenge. */
async function authenticate(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.authenticate' }>) {
  const { merchantId, intentId, attemptId, ctx } = req;
  await loadIntent(deps, merchantId, intentId, ctx.livemode);
  let { state } = await run(deps, merchantId, intentId, { type: 'Authenticate', attemptId, success: req.success, now: ctx.now }, step(ctx, 'authenticate'));
  const attempt = state.attempts.find((a) => a.id === attemptId);
  if (attempt?.status === 'pending') state = await authorize(deps, state, attempt, ctx, { authenticated: true });
  return state;
}

async function confirm(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.confirm' }>) {
  const { merchantId, intentId, attemptId, ctx } = req;
  let { state } = await loadIntent(deps, merchantId, intentId, ctx.livemode);
  // The card rides on attempt.started itself; other confirm-time changes are an update first.
  const { payment_method: confirmPm, ...otherChanges } = req.changes;
  if (Object.keys(otherChanges).length > 0 && !state.attempts.some((a) => a.id === attemptId)) {
    // Refused before the update is written: a confirmation that cannot start changes nothing.
    checkConfirmable(state);
    state = (await run(deps, merchantId, intentId, { type: 'Update', changes: otherChanges, now: ctx.now }, step(ctx, 'update'))).state;
  }
  const pmId = confirmPm ?? state.payment_method ?? state.attempts.find((a) => a.id === attemptId)?.payment_method;
  if (!pmId) {
    throw new ApiError(400, 'invalid_request_error', 'payment_intent_unexpected_state', 'You cannot confirm this PaymentIntent because it\'s missing a payment method. To confirm the PaymentIntent, pass a payment_method.', 'payment_method');
  }
  const pm = await deps.vault.get(merchantId, pmId, state.livemode);
  if (!pm) throw noSuch('PaymentMethod', pmId, 'payment_method');
  // A new attempt only: one that a cut-off request started is resumed whatever happened to the card since.
  if (!state.attempts.some((a) => a.id === attemptId)) await cardForCustomer(deps.vault, merchantId, pm, state.customer ?? null);

  const nextAction: NextAction = { type: 'redirect_to_url', redirect_to_url: { url: req.challengeUrl, return_url: req.returnUrl } };
  // An intent that requests 3-D Secure (payment_method_options[card][request_three_d_secure]) sends the
  // cardholder to nextAction before the network is asked: the decider decides it from the intent.
  const start: IntentCommand = { type: 'StartAttempt', attemptId, paymentMethod: pm.id, card: pm.card, nextAction, ...(req.noAuthentication ? { noAuthentication: true } : {}), now: ctx.now };
  state = (await run(deps, merchantId, intentId, start, step(ctx, 'start'))).state;
  const attempt = state.attempts.find((a) => a.id === attemptId);
  if (!attempt) throw new Error(`attempt ${attemptId} missing after StartAttempt`);

  if (attempt.status === 'pending') {
    state = await authorize(deps, state, attempt, ctx, req.noAuthentication ? {} : { nextAction });
  } else if (attempt.status === 'failed') {
    // Declined before the network was asked (authentication requested, nobody to give it): the CVC goes as after any decision.
    await deps.vault.forgetCvc(merchantId, attempt.payment_method).catch((err: unknown) => deps.log.error({ err, pm: attempt.payment_method }, 'could not drop CVC'));
  }
  const settled = state.attempts.find((a) => a.id === attemptId);
  if (settled?.status === 'failed') throw declineError(state);
  return state;
}

async function capture(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.capture' }>) {
  const { merchantId, intentId, ctx } = req;
  const { state } = await loadIntent(deps, merchantId, intentId, ctx.livemode);
  // A repeated keyed capture: the answer it got (the state now would refuse a second capture).
  const prior = await recordedStep(deps, merchantId, intentId, step(ctx, 'capture'));
  if (prior) return prior;
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
  const prior = await recordedStep(deps, merchantId, intentId, step(ctx, 'cancel')); // as capture
  if (prior) return prior;
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

/**
 * A refund is three durable steps like an authorization: refund.created (pending, the amount held
 * by the intent's single writer, so no two refunds can exceed the charge) → the network's refund,
 * idempotent on the refund id → refund.succeeded / refund.failed. When the network does not answer
 * the refund stays pending, answered as such, for reconciliation (or this same request retried) to
 * finish with the same refund id: never a second refund.
 */
async function refund(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.refund' }>) {
  const { merchantId, intentId, refundId, ctx } = req;
  await loadIntent(deps, merchantId, intentId, ctx.livemode);
  const start: IntentCommand = {
    type: 'StartRefund',
    refundId,
    ...(req.attemptId !== undefined ? { attemptId: req.attemptId } : {}),
    ...(req.amount !== undefined ? { amount: req.amount } : {}),
    reason: req.reason,
    metadata: req.metadata,
    now: ctx.now,
  };
  const state = (await run(deps, merchantId, intentId, start, step(ctx, 'refund'))).state;
  const r = state.refunds.find((x) => x.id === refundId);
  if (!r) throw new Error(`refund ${refundId} missing after StartRefund`);
  if (r.status !== 'pending') return state;
  const a = state.attempts.find((x) => x.id === r.charge);
  if (!a?.network_ref) {
    deps.log.error({ refund: refundId, charge: r.charge }, 'refund pending: the charge has no network reference');
    return state;
  }
  // A repeated keyed refund whose outcome is recorded: that answer, no second call to the network.
  const recorded = await recordedStep(deps, merchantId, intentId, step(ctx, 'refund_result'));
  if (recorded) return recorded;
  let cmd: IntentCommand;
  try {
    const res = await deps.epn.refund({ networkRef: a.network_ref, amount: r.amount, refundReference: r.id });
    cmd = { type: 'RecordRefund', refundId, outcome: 'succeeded', networkRef: res.refund.networkRef, now: ctx.now };
  } catch (err) {
    if (err instanceof EpnRejectedError) {
      deps.log.warn({ refund: refundId, code: err.code, status: err.status }, 'refund refused by the network');
      // A chargeback filed before our dispute record caught up: Stripe's charge_for_pending_refund_disputed.
      const failureReason = err.code === 'charge_disputed' ? 'charge_for_pending_refund_disputed' : 'declined';
      cmd = { type: 'RecordRefund', refundId, outcome: 'failed', networkRef: a.network_ref, failureReason, now: ctx.now };
    } else if (err instanceof EpnUnavailableError) {
      deps.log.warn({ refund: refundId, charge: a.id, kind: err.kind }, 'refund outcome unknown: left pending for reconciliation');
      return state;
    } else throw err;
  }
  return (await run(deps, merchantId, intentId, cmd, step(ctx, 'refund_result'))).state;
}

/**
 * Reconciliation settles an attempt left in doubt. Terminal never goes backwards: the decider
 * writes nothing for a repeated verdict and refuses a contrary one (409 attempt_already_settled).
 */
async function settle(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'intent.settle' }>) {
  const { merchantId, intentId, attemptId, ctx } = req;
  const cmd: IntentCommand =
    req.outcome === 'approved'
      ? { type: 'RecordAuthorization', attemptId, outcome: 'approved', networkRef: req.networkRef, now: ctx.now }
      : req.outcome === 'declined'
        ? {
            type: 'RecordAuthorization',
            attemptId,
            outcome: 'declined',
            networkRef: req.networkRef,
            failureCode: req.failureCode ?? 'card_declined',
            ...(req.declineCode ? { declineCode: req.declineCode } : {}),
            ...(req.message ? { message: req.message } : {}),
            now: ctx.now,
          }
        : { type: 'RecordAuthorization', attemptId, outcome: 'timeout', networkRef: null, now: ctx.now };
  const r = await run(deps, merchantId, intentId, cmd, ctx);
  const a = r.state.attempts.find((x) => x.id === attemptId);
  if (a && a.status !== 'in_doubt' && a.status !== 'pending') {
    await deps.vault.forgetCvc(merchantId, a.payment_method).catch((err: unknown) => deps.log.error({ err, pm: a.payment_method }, 'could not drop CVC'));
  }
  return r;
}

/** Customers: create and update through the customer decider; a customer of the other mode is 404. */
async function customerCommand(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'customer.create' | 'customer.update' | 'customer.erase' | 'customer.payment_method' | 'customer.delete' }>): Promise<{ state: Customer; seq: number }> {
  const { merchantId, customerId, ctx } = req;
  const ref = { aggregate: 'customer' as const, subject: subjects.customer(merchantId, customerId), merchantId, aggregateId: customerId };
  if (req.op !== 'customer.create') {
    const l = await deps.store.load<Customer>(ref.subject);
    if (!l.state || l.state.livemode !== ctx.livemode) throw noSuch('customer', customerId);
  }
  const r = await deps.store.execute(customerDecider, ref, req.command, ctx);
  if (!r.state || r.state.livemode !== ctx.livemode) throw noSuch('customer', customerId);
  return { state: r.state, seq: r.seq };
}

/**
 * Products and their prices: one decider. A create addresses an id that may be the merchant's own
 * (the decider refuses a second product with it); a product of the other mode does not exist for the key.
 */
async function productCommand(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'product.create' | 'product.change' }>): Promise<{ state: Product; seq: number }> {
  const { merchantId, productId, ctx } = req;
  const ref = { aggregate: 'product' as const, subject: subjects.product(merchantId, productId), merchantId, aggregateId: productId };
  const param = req.command.type === 'AddPrice' ? 'product' : 'id';
  if (req.op !== 'product.create') {
    const l = await deps.store.load<Product>(ref.subject);
    if (!l.state || l.state.livemode !== ctx.livemode) throw noSuch('product', productId, param);
  }
  const r = await deps.store.execute(productDecider, ref, req.command, ctx);
  if (!r.state || r.state.livemode !== ctx.livemode) throw noSuch('product', productId, param);
  return { state: r.state, seq: r.seq };
}

/** Payment links: a link of the other mode does not exist for the key. */
async function paymentLinkCommand(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'payment_link.create' | 'payment_link.update' }>): Promise<{ state: PaymentLink; seq: number }> {
  const { merchantId, linkId, ctx } = req;
  const ref = { aggregate: 'payment_link' as const, subject: subjects.paymentLink(merchantId, linkId), merchantId, aggregateId: linkId };
  if (req.op === 'payment_link.update') {
    const l = await deps.store.load<PaymentLink>(ref.subject);
    if (!l.state || l.state.livemode !== ctx.livemode) throw noSuch('payment_link', linkId);
  }
  const r = await deps.store.execute(paymentLinkDecider, ref, req.command, ctx, req.op === 'payment_link.create' ? { assumeNew: true, neverExisted: ctx.freshIds === true } : undefined);
  if (!r.state || r.state.livemode !== ctx.livemode) throw noSuch('payment_link', linkId);
  return { state: r.state, seq: r.seq };
}

/** Coupons: an id may be the merchant's own (the decider refuses a second coupon with it); one of the other mode does not exist for the key. */
async function couponCommand(deps: HandlerDeps, req: Extract<CommandRequest, { op: 'coupon.create' | 'coupon.change' }>): Promise<{ state: Coupon; seq: number }> {
  const { merchantId, couponId, ctx } = req;
  const ref = { aggregate: 'coupon' as const, subject: subjects.coupon(merchantId, couponId), merchantId, aggregateId: couponId };
  if (req.op === 'coupon.change') {
    const l = await deps.store.load<Coupon>(ref.subject);
    if (!l.state || l.state.livemode !== ctx.livemode) throw noSuch('coupon', couponId);
  }
  const r = await deps.store.execute(couponDecider, ref, req.command, ctx);
  if (!r.state || r.state.livemode !== ctx.livemode) throw noSuch('coupon', couponId);
  return { state: r.state, seq: r.seq };
}

export async function handle(deps: HandlerDeps, req: CommandRequest): Promise<{ state: Intent | Merchant | Customer | SetupIntent | Product | PaymentLink | Coupon; seq?: number }> {
  switch (req.op) {
    case 'merchant.onboard':
    case 'merchant.update': {
      const ref = { aggregate: 'merchant' as const, subject: subjects.merchant(req.merchantId), merchantId: req.merchantId, aggregateId: req.merchantId };
      const r = await deps.store.execute(merchantDecider, ref, req.command, req.ctx);
      if (!r.state) throw noSuch('merchant', req.merchantId, 'merchant_id');
      return r as { state: Merchant; seq: number };
    }
    case 'intent.create': {
      // A fresh id: no read before the append (the fence on sequence 0 catches an existing intent);
      // an id drawn at random cannot be an aged-out intent's either (no snapshot lookup).
      const r = await deps.store.execute(intentDecider, intentRef(req.merchantId, req.intentId), req.command, req.ctx, { assumeNew: true, neverExisted: req.ctx.freshIds === true });
      if (!r.state) throw noSuch('payment_intent', req.intentId);
      return { state: r.state, seq: r.seq };
    }
    case 'intent.update':
      await loadIntent(deps, req.merchantId, req.intentId, req.ctx.livemode);
      return run(deps, req.merchantId, req.intentId, { type: 'Update', changes: req.changes, now: req.ctx.now }, req.ctx);
    case 'intent.confirm':
      return { state: await confirm(deps, req) };
    case 'intent.authenticate':
      return { state: await authenticate(deps, req) };
    case 'intent.capture':
      return { state: await capture(deps, req) };
    case 'intent.cancel':
      return { state: await cancel(deps, req) };
    case 'intent.refund':
      return { state: await refund(deps, req) };
    case 'intent.settle':
      return settle(deps, req);
    case 'intent.reconcile':
      return reconcileIntent(deps, req);
    case 'intent.erase':
    case 'intent.expire_checkout':
    case 'intent.checkout_discount':
      await loadIntent(deps, req.merchantId, req.intentId, req.ctx.livemode);
      return run(deps, req.merchantId, req.intentId, req.command, req.ctx);
    case 'intent.dispute_record':
    case 'intent.dispute_update':
    case 'intent.dispute_close':
      return handleDispute(deps, req);
    case 'intent.refund_update':
      await loadIntent(deps, req.merchantId, req.intentId, req.ctx.livemode);
      return run(deps, req.merchantId, req.intentId, { type: 'UpdateRefund', refundId: req.refundId, metadata: req.metadata, now: req.ctx.now }, req.ctx);
    case 'intent.charge_update':
      await loadIntent(deps, req.merchantId, req.intentId, req.ctx.livemode);
      return run(
        deps,
        req.merchantId,
        req.intentId,
        {
          type: 'UpdateCharge',
          attemptId: req.chargeId,
          ...(req.description !== undefined ? { description: req.description } : {}),
          ...(req.metadata !== undefined ? { metadata: req.metadata } : {}),
          ...(req.receiptEmail !== undefined ? { receiptEmail: req.receiptEmail } : {}),
          now: req.ctx.now,
        },
        req.ctx,
      );
    case 'customer.create':
    case 'customer.update':
    case 'customer.erase':
    case 'customer.payment_method':
    case 'customer.delete':
      return customerCommand(deps, req);
    case 'setup_intent.create':
    case 'setup_intent.update':
    case 'setup_intent.confirm':
    case 'setup_intent.authenticate':
    case 'setup_intent.cancel':
      return handleSetupIntent(deps, req);
    case 'product.create':
    case 'product.change':
      return productCommand(deps, req);
    case 'payment_link.create':
    case 'payment_link.update':
      return paymentLinkCommand(deps, req);
    case 'coupon.create':
    case 'coupon.change':
      return couponCommand(deps, req);
    default: {
      const never: never = req;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/** One classifier: what the caller is told for any error. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // The gateway words it with the caller's key (gateway/idempotency.ts mismatch).
  if (err instanceof IdempotencyMismatchError) return new ApiError(400, 'idempotency_error', undefined, 'Keys for idempotent requests can only be used with the same parameters they were first used with.');
  if (err instanceof DomainError) {
    const status = err.status;
    return new ApiError(status, 'invalid_request_error', err.code, err.message, err.param);
  }
  // degrade: the broker did not answer (down, disconnected, timed out) → 503 service_unavailable, retryable.
  // cluster: a JetStream leader election after a node died answers "temporarily unavailable" (10008),
  // or finds no responder for the stream (the client's JetStreamNotEnabled): the same retryable 503.
  if (
    err instanceof Error &&
    (/^(ClosedConnectionError|ConnectionError|JetStreamNotEnabled)$/.test(err.name) ||
      (err as { code?: unknown }).code === 10008 ||
      /JetStream system temporarily unavailable/i.test(err.message) ||
      isTransient(err)) // timeouts, no responders, request errors and their causes (nats/append.ts)
  ) {
    return unavailable('The message broker is unavailable. Retry with the same Idempotency-Key.');
  }
  // degrade: the read model's database is down (refused, reset, restarting) → 503 service_unavailable, retryable.
  if (isDatabaseUnavailable(err)) return unavailable('The database is unavailable. Retry with the same Idempotency-Key.');
  return new ApiError(500, 'api_error', undefined, 'An unexpected error occurred. Retry with the same Idempotency-Key.', undefined, {}, true);
}
