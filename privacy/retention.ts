// The PII retention job (projector role): every interval, customers whose last activity (their own
// events, or an update of one of their PaymentIntents) is older than PII_RETENTION_DAYS get a
// customer.erased event with reason 'retention', the same event as an erasure request, and each of
// their PaymentIntents an intent.pii_erased event; the projector then clears their data in the read
// model (storage/erasure.ts). PaymentIntents without a customer that carry a receipt or user email
// (or shipping details) and are idle as long get intent.pii_erased too. Amounts, currencies and statuses are never touched.
import { PERSONAL_EVIDENCE_FIELDS } from '../actors/mod.ts';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { CommandClient } from '../runtime/client.ts';
import type { Database } from '../storage/database.ts';
import { counter } from '../metrics/registry.ts';
import { every } from '../runtime/periodic.ts';

const erasedTotal = counter('paynats_privacy_erasures_total', 'Personal data erasures sent, by reason', ['reason']);
const guestIntentsTotal = counter('paynats_privacy_guest_intents_scrubbed_total', 'Receipt emails of PaymentIntents without a customer cleared by retention');

export interface RetentionOptions {
  db: Kysely<Database>;
  commands: CommandClient;
  log: Logger;
  /** Days (fractions allowed); 0 disables the job. */
  retentionDays: number;
  intervalMs: number;
  /** Customers per run (the rest wait for the next one). */
  batch?: number;
}

/** Customers with personal data idle since before `cutoff`, oldest first. */
export async function idleCustomers(db: Kysely<Database>, cutoff: Date, limit: number): Promise<{ id: string; merchant_id: string; livemode: boolean }[]> {
  const r = await sql<{ id: string; merchant_id: string; livemode: boolean }>`
    select c.id, c.merchant_id, c.livemode from customers c
    where c.erased_at is null
      and (c.email is not null or c.name is not null or c.phone is not null or c.description is not null or c.state->>'address' is not null or c.state->>'shipping' is not null)
      and c.created_at < ${cutoff}
      and not exists (select 1 from events e where e.aggregate_id = c.id and e.merchant_id = c.merchant_id and e.created_at >= ${cutoff})
      and not exists (select 1 from payment_intents p where p.merchant_id = c.merchant_id and p.customer = c.id and p.updated_at >= ${cutoff})
    order by c.created_at limit ${limit}`.execute(db);
  return r.rows;
}

/** Erases one intent's personal data (retention). */
function eraseIntent(o: RetentionOptions, merchantId: string, intentId: string, livemode: boolean, at: number) {
  return o.commands.send({
    op: 'intent.erase',
    merchantId,
    intentId,
    command: { type: 'ErasePii', reason: 'retention', now: at },
    ctx: { commandId: `cmd_retention_${intentId}_${at}`, livemode, requestId: `req_retention_${at}`, correlationId: null, now: at },
  });
}

/** One run: erases what is due; answers how many customers and guest intents it erased. */
export async function runRetention(o: RetentionOptions, now = Date.now()): Promise<{ customers: number; guestIntents: number }> {
  if (o.retentionDays <= 0) return { customers: 0, guestIntents: 0 };
  const cutoff = new Date(now - o.retentionDays * 86_400_000);
  const due = await idleCustomers(o.db, cutoff, o.batch ?? 500);
  let customers = 0;
  for (const c of due) {
    const at = Math.floor(now / 1000);
    try {
      await o.commands.send({
        op: 'customer.erase',
        merchantId: c.merchant_id,
        customerId: c.id,
        command: { type: 'Erase', reason: 'retention', now: at },
        ctx: { commandId: `cmd_retention_${c.id}_${at}`, livemode: c.livemode, requestId: `req_retention_${at}`, correlationId: null, now: at },
      });
      customers++;
      erasedTotal.inc({ reason: 'retention' });
      const intents = await sql<{ id: string }>`select id from payment_intents where merchant_id = ${c.merchant_id} and customer = ${c.id}`.execute(o.db);
      for (const i of intents.rows) {
        await eraseIntent(o, c.merchant_id, i.id, c.livemode, at);
      }
    } catch (err) {
      o.log.warn({ err, merchant_id: c.merchant_id, customer: c.id }, 'retention erasure failed; retried next run');
    }
  }
  const guests = await sql<{ id: string; merchant_id: string; livemode: boolean }>`select id, merchant_id, livemode from payment_intents
    where customer is null and (receipt_email is not null or user_email is not null or state->>'shipping' is not null or (state #>> '{checkout,customer_email}') is not null
      or exists (select 1 from jsonb_array_elements(case when jsonb_typeof(state->'disputes') = 'array' then state->'disputes' else '[]'::jsonb end) as d where (d->'evidence') ?| array[${sql.join([...PERSONAL_EVIDENCE_FIELDS])}]::text[]))
      and updated_at < ${cutoff} order by updated_at limit ${o.batch ?? 500}`.execute(o.db);
  let guestIntents = 0;
  for (const g of guests.rows) {
    const at = Math.floor(now / 1000);
    try {
      await eraseIntent(o, g.merchant_id, g.id, g.livemode, at);
      guestIntents++;
    } catch (err) {
      o.log.warn({ err, merchant_id: g.merchant_id, payment_intent: g.id }, 'retention erasure failed; retried next run');
    }
  }
  guestIntentsTotal.inc(guestIntents);
  if (customers + guestIntents > 0) o.log.info({ customers, guest_intents: guestIntents, retention_days: o.retentionDays }, 'personal data erased by retention');
  return { customers, guestIntents };
}

/** Runs the job on an interval; stop() waits for a run in progress. */
export function startRetention(o: RetentionOptions): { stop(): Promise<void> } {
  if (o.retentionDays <= 0) return { stop: async () => {} };
  return every(o.intervalMs, () => runRetention(o), (err) => o.log.error({ err }, 'retention run failed'));
}
