// /v1/events: the Stripe events of the key's merchant and mode, the same objects (and ids) the
// webhooks carry, newest first, the last 30 days (as Stripe keeps them).
//
// Both routes read the projection (the `events` table, kind 'stripe', written by the projector
// from PAY_EVENTS), so they are eventually consistent: an event is listed, and retrievable, once
// the projector has folded its commit — usually milliseconds after the API call that caused it,
// longer under projection lag (`num_pending` of the `projector` consumer). A 404 for an id a
// webhook just carried means "not projected yet"; retry shortly.
import type { FastifyInstance } from 'fastify';
import { ApiError, noSuch, cannotExpand } from '../../stripe/errors.ts';
import { principalOf, type GatewayDeps } from '../app.ts';
import { requireSecret } from '../auth.ts';
import { checkCursors, itemExpand, listObject, listScope } from '../lists.ts';
import { IdParams, ListEventsQuery, RetrieveExpandQuery } from '../schemas.ts';

/** How far back events are listed and retrieved (Stripe: 30 days). */
export const EVENT_RETENTION_S = 30 * 24 * 60 * 60;

const notBefore = () => new Date(Date.now() - EVENT_RETENTION_S * 1000);

/** Events have nothing to expand; Stripe refuses any path. */
function refuseExpand(expand: string[] | undefined): void {
  const path = expand?.[0];
  if (path !== undefined) throw cannotExpand(path);
}

/** pending_webhooks as it is now: the endpoints still owed each event (0 once all answered 2xx). */
async function withPendingWebhooks<E extends { id: string; pending_webhooks: number }>(deps: GatewayDeps, events: E[]): Promise<E[]> {
  if (!deps.webhooks || events.length === 0) return events;
  const pending = await deps.webhooks.pendingWebhooks(events.map((e) => e.id));
  return events.map((e) => ({ ...e, pending_webhooks: pending.get(e.id) ?? 0 }));
}

export function registerEvents(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: IdParams; Querystring: RetrieveExpandQuery }>(
    '/v1/events/:id',
    { schema: { params: IdParams, querystring: RetrieveExpandQuery } },
    async (req) => {
      const p = await principalOf(req, deps);
      requireSecret(p);
      refuseExpand(req.query.expand);
      const e = await deps.readEvent(p.merchant_id, p.mode === 'live', req.params.id, notBefore());
      if (!e) throw noSuch('event', req.params.id);
      return (await withPendingWebhooks(deps, [e]))[0];
    },
  );

  app.get<{ Querystring: ListEventsQuery }>('/v1/events', { schema: { querystring: ListEventsQuery } }, async (req) => {
    const p = await principalOf(req, deps);
    requireSecret(p);
    const q = req.query;
    if (q.type !== undefined && q.types !== undefined) {
      throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'You may pass either type or types, but not both.', 'types');
    }
    checkCursors(q);
    refuseExpand(itemExpand(q.expand));
    const page = await deps.listEvents({
      ...listScope(p, q),
      notBefore: notBefore(),
      ...(q.type !== undefined ? { type: q.type } : {}),
      ...(q.types !== undefined ? { types: q.types } : {}),
      ...(q.delivery_success !== undefined ? { deliverySuccess: q.delivery_success } : {}),
      // An empty cursor is kept here (it names no event: an empty page), unlike pageCursor.
      ...(q.starting_after !== undefined ? { startingAfter: q.starting_after } : {}),
      ...(q.ending_before !== undefined ? { endingBefore: q.ending_before } : {}),
    });
    return listObject('/v1/events', await withPendingWebhooks(deps, page.data), page.hasMore);
  });
}
