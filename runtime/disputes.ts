// What the owner does for a dispute's commands. The network is the judge of a case, so the shell
// talks to it first and records after: a submission is sent (idempotent on dispute id and
// submission number) and then recorded as evidence_submitted; an acceptance is made at the network
// and then recorded as lost. A crash between the two leaves the network ahead of us, and the
// chargeback feed (reconcile/disputes.ts) brings its status here: never a case we show as closed
// that the network still holds open, or the reverse.
import { assertAcceptable, assertSubmittable, representmentText, type Dispute, type Intent } from '../actors/mod.ts';
import { EpnRejectedError, EpnUnavailableError } from '../epn/client/mod.ts';
import { ApiError, noSuch, unavailable } from '../stripe/errors.ts';
import { step } from './aggregates.ts';
import { loadIntent as load, run, type HandlerDeps } from './handlers.ts';
import type { CommandRequest } from './protocol.ts';

type DisputeRequest = Extract<CommandRequest, { op: 'intent.dispute_record' | 'intent.dispute_update' | 'intent.dispute_close' }>;

function disputeOf(i: Intent, id: string): Dispute {
  const d = (i.disputes ?? []).find((x) => x.id === id);
  if (!d) throw noSuch('dispute', id);
  return d;
}

/** The network closed the case before our word reached it: its verdict is recorded, and the caller told. */
async function closedAtNetwork(deps: HandlerDeps, req: DisputeRequest, d: Dispute): Promise<never> {
  const c = await deps.epn.chargeback(d.chargeback_ref);
  if (c.status === 'won' || c.status === 'lost') {
    await run(deps, req.merchantId, req.intentId, { type: 'RecordDisputeStatus', disputeId: d.id, networkStatus: c.status, now: req.ctx.now }, step(req.ctx, `dispute_${c.status}`));
  }
  throw new ApiError(400, 'invalid_request_error', 'dispute_already_closed', `This dispute has already been closed by the card network (${c.status}).`);
}

export async function handleDispute(deps: HandlerDeps, req: DisputeRequest): Promise<{ state: Intent; seq: number }> {
  const { merchantId, intentId, ctx } = req;
  switch (req.op) {
    case 'intent.dispute_record':
      return run(deps, merchantId, intentId, req.command, ctx);
    case 'intent.dispute_update': {
      let { state, seq } = await load(deps, merchantId, intentId, ctx.livemode);
      const before = disputeOf(state, req.disputeId);
      if (req.submit) assertSubmittable(before); // refused before anything is written
      if (req.evidence !== undefined || req.metadata !== undefined) {
        const r = await run(
          deps,
          merchantId,
          intentId,
          { type: 'UpdateDispute', disputeId: req.disputeId, ...(req.evidence !== undefined ? { evidence: req.evidence } : {}), ...(req.metadata !== undefined ? { metadata: req.metadata } : {}), now: ctx.now },
          step(ctx, 'dispute_update'),
        );
        ({ state, seq } = r);
      }
      if (!req.submit) return { state, seq };
      const d = disputeOf(state, req.disputeId);
      try {
        await deps.epn.represent(d.chargeback_ref, { reference: `${d.id}_${d.submission_count + 1}`, evidence: representmentText(d) });
      } catch (err) {
        if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer; the evidence is saved but not submitted. Retry with submit=true.');
        if (err instanceof EpnRejectedError && err.status === 409) return closedAtNetwork(deps, req, d);
        throw err;
      }
      return run(deps, merchantId, intentId, { type: 'SubmitDisputeEvidence', disputeId: d.id, now: ctx.now }, step(ctx, 'dispute_submit'));
    }
    case 'intent.dispute_close': {
      const loaded = await load(deps, merchantId, intentId, ctx.livemode);
      const d = disputeOf(loaded.state, req.disputeId);
      if (d.status === 'lost' || d.status === 'warning_closed') return loaded; // a repeat
      assertAcceptable(d);
      try {
        await deps.epn.acceptChargeback(d.chargeback_ref);
      } catch (err) {
        if (err instanceof EpnUnavailableError) throw unavailable('The card network did not answer; the dispute is still open. Retry.');
        if (err instanceof EpnRejectedError && err.status === 409) return closedAtNetwork(deps, req, d);
        throw err;
      }
      return run(deps, merchantId, intentId, { type: 'AcceptDispute', disputeId: d.id, now: ctx.now }, step(ctx, 'dispute_close'));
    }
    default: {
      const never: never = req;
      throw new Error(`unknown dispute op ${JSON.stringify(never)}`);
    }
  }
}
