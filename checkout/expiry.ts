// Checkout Sessions past their expires_at are expired (projector role, every CHECKOUT_EXPIRY_INTERVAL_MS):
// the read model names the open ones whose time is up, and each gets ExpireCheckout from its intent's
// single writer, which also cancels the intent (checkout.session.expired, payment_intent.canceled). The
// command id is the session's own, so the hosted page's lazy expiry and every sweeper agree on one.
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { CommandClient } from '../runtime/client.ts';
import type { Database } from '../storage/database.ts';
import { checkoutStatusIs } from '../storage/mod.ts';
import { counter } from '../metrics/registry.ts';
import { every } from '../runtime/periodic.ts';

const expiredTotal = counter('paynats_checkout_sessions_expired_total', 'Checkout Sessions expired because their expires_at passed');

export interface CheckoutExpiryOptions {
  db: Kysely<Database>;
  commands: CommandClient;
  log: Logger;
  intervalMs: number;
  /** Sessions per run (the rest wait for the next one). */
  batch?: number;
}

/** The command id of a session's expiry: one per session, whoever sends it. */
export const expiryCommandId = (sessionId: string) => `cmd_expire_${sessionId}`;

/** Expires the open sessions whose expires_at has passed; the number expired. */
export async function expireCheckoutSessions(o: Omit<CheckoutExpiryOptions, 'intervalMs'>, now = Math.floor(Date.now() / 1000)): Promise<number> {
  const due = await sql<{ id: string; merchant_id: string; livemode: boolean; session: string }>`
    select id, merchant_id, livemode, state #>> '{checkout,id}' as session from payment_intents
    where state ? 'checkout' and (state #>> '{checkout,expires_at}')::bigint <= ${now} and ${checkoutStatusIs('open')} and status <> 'processing'
    order by created_at limit ${o.batch ?? 200}`.execute(o.db);
  let n = 0;
  for (const r of due.rows) {
    try {
      await o.commands.send({
        op: 'intent.expire_checkout',
        merchantId: r.merchant_id,
        intentId: r.id,
        command: { type: 'ExpireCheckout', now },
        ctx: { commandId: expiryCommandId(r.session), livemode: r.livemode, requestId: `req_expiry_${now}`, correlationId: null, now },
      });
      n++;
      expiredTotal.inc();
    } catch (err) {
      o.log.warn({ err, merchant_id: r.merchant_id, checkout_session: r.session }, 'checkout session expiry failed; retried next run');
    }
  }
  if (n > 0) o.log.info({ expired: n }, 'checkout sessions expired');
  return n;
}

/** Runs expireCheckoutSessions on an interval; stop() waits for a run in progress. */
export function startCheckoutExpiry(o: CheckoutExpiryOptions): { stop(): Promise<void> } {
  return every(o.intervalMs, () => expireCheckoutSessions(o), (err) => o.log.error({ err }, 'checkout expiry run failed'));
}
