// PII erasure in the read model. A customer.erased commit clears the customer's personal data in
// its row (the snapshot already has it null), marks the row erased, and scrubs what else the read
// model copied: the emails and shipping details of that customer's intents (columns and snapshots) and the
// personal fields of the stored domain and Stripe events of the customer (its saved cards' billing
// details included) and its intents. Amounts,
// currencies and statuses are never touched. Intents projected after the erasure are scrubbed too
// (scrubErasedIntents), so replaying the stream from the start ends with the same erased rows.
import { PERSONAL_EVIDENCE_FIELDS } from '../actors/mod.ts';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.ts';
import { NO_BILLING_DETAILS } from '../vault/mod.ts';
import { PII_FIELDS } from '../actors/customer/customer.ts';
import { renderBillingDetails } from '../stripe/objects.ts';

const CUSTOMER_PII = [...PII_FIELDS];
/** A saved card's billing details once its customer was erased (the vault record is erased by vault/saved-cards.ts). */
const ERASED_BILLING = JSON.stringify(NO_BILLING_DETAILS);
const ERASED_BILLING_STRIPE = JSON.stringify(renderBillingDetails(null));

/** `data` with each of `keys` it has set to JSON null (keys it lacks stay absent). */
const nulled = (col: string, keys: string[]) =>
  sql`${sql.ref(col)} || coalesce((select jsonb_object_agg(k, 'null'::jsonb) from jsonb_object_keys(${sql.ref(col)}) k where k in (${sql.join(keys)})), '{}'::jsonb)`;

/** The Stripe event's `data.object` with `keys` nulled. */
const nulledObject = (keys: string[]) =>
  sql`jsonb_set(data, '{data,object}', (data #> '{data,object}') || coalesce((select jsonb_object_agg(k, 'null'::jsonb) from jsonb_object_keys(data #> '{data,object}') k where k in (${sql.join(keys)})), '{}'::jsonb))`;

export interface ErasedCustomer {
  merchantId: string;
  customerId: string;
  at: Date;
}

/** Applies erasures in the read model (inside the projector's transaction, after the batch's rows). */
export async function applyErasures(db: Kysely<Database>, erased: readonly ErasedCustomer[]): Promise<void> {
  for (const e of erased) {
    await sql`update customers set email = null, name = null, phone = null, description = null, erased_at = coalesce(erased_at, ${e.at})
      where id = ${e.customerId} and merchant_id = ${e.merchantId}`.execute(db);
    await sql`update events set data = ${nulled('data', CUSTOMER_PII)} where aggregate_id = ${e.customerId} and merchant_id = ${e.merchantId} and kind = 'domain'`.execute(db);
    await sql`update events set data = ${nulledObject(CUSTOMER_PII)} where aggregate_id = ${e.customerId} and merchant_id = ${e.merchantId} and kind = 'stripe'`.execute(db);
    // Its saved cards' billing details, as its events carried them (payment_method.attached/updated/detached).
    await sql`update events set data = jsonb_set(data, '{payment_method,billing_details}', ${ERASED_BILLING}::jsonb)
      where aggregate_id = ${e.customerId} and merchant_id = ${e.merchantId} and kind = 'domain' and jsonb_typeof(data #> '{payment_method,billing_details}') = 'object'`.execute(db);
    await sql`update events set data = jsonb_set(data, '{data,object,billing_details}', ${ERASED_BILLING_STRIPE}::jsonb)
      where aggregate_id = ${e.customerId} and merchant_id = ${e.merchantId} and kind = 'stripe' and data #>> '{data,object,object}' = 'payment_method'`.execute(db);
    const intents = await sql<{ id: string }>`select id from payment_intents where merchant_id = ${e.merchantId} and customer = ${e.customerId}`.execute(db);
    await scrubIntents(db, e.merchantId, intents.rows.map((r) => r.id));
  }
}

/** intent.pii_erased commits: the stored events of those intents lose their emails too. */
export async function applyIntentErasures(db: Kysely<Database>, intents: readonly { merchantId: string; id: string }[]): Promise<void> {
  for (const i of intents) await scrubIntents(db, i.merchantId, [i.id]);
}

/** Clears the receipt and user emails and the shipping details of these intents: columns, snapshots and stored events. */
async function scrubIntents(db: Kysely<Database>, merchantId: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const list = sql.join(ids);
  await sql`update payment_intents set receipt_email = null, user_email = null, state = state || '{"receipt_email": null, "user_email": null, "shipping": null}'::jsonb
    where merchant_id = ${merchantId} and id in (${list})
      and (receipt_email is not null or user_email is not null or state->>'receipt_email' is not null or state->>'user_email' is not null or state->>'shipping' is not null)`.execute(db);
  // A Checkout Session's customer_email: in the intent's snapshot, its intent.created event and the session's Stripe events.
  await sql`update payment_intents set state = jsonb_set(state, '{checkout,customer_email}', 'null'::jsonb)
    where merchant_id = ${merchantId} and id in (${list}) and (state #>> '{checkout,customer_email}') is not null`.execute(db);
  await sql`update events set data = jsonb_set(data, '{checkout,customer_email}', 'null'::jsonb)
    where merchant_id = ${merchantId} and aggregate_id in (${list}) and kind = 'domain' and (data #>> '{checkout,customer_email}') is not null`.execute(db);
  await sql`update events set data = jsonb_set(jsonb_set(data, '{data,object,customer_email}', 'null'::jsonb), '{data,object,customer_details}', 'null'::jsonb)
    where merchant_id = ${merchantId} and aggregate_id in (${list}) and kind = 'stripe' and data #>> '{data,object,object}' = 'checkout.session'`.execute(db);
  await sql`update events set data = ${nulled('data', ['receipt_email', 'user_email', 'shipping'])} where merchant_id = ${merchantId} and aggregate_id in (${list}) and kind = 'domain' and (data ? 'receipt_email' or data ? 'user_email' or data ? 'shipping')`.execute(db);
  await sql`update events set data = ${nulledObject(['receipt_email', 'shipping'])} where merchant_id = ${merchantId} and aggregate_id in (${list}) and kind = 'stripe' and ((data #> '{data,object}') ? 'receipt_email' or (data #> '{data,object}') ? 'shipping')`.execute(db);
  // Disputes' evidence: the fields that name or locate a person, in their domain and Stripe events.
  const personal = sql.raw(PERSONAL_EVIDENCE_FIELDS.map((f) => `'${f}'`).join(', '));
  await sql`update events set data = jsonb_set(data, '{evidence}', (data -> 'evidence') - array[${personal}]::text[])
    where merchant_id = ${merchantId} and aggregate_id in (${list}) and kind = 'domain' and jsonb_typeof(data -> 'evidence') = 'object' and (data -> 'evidence') ?| array[${personal}]::text[]`.execute(db);
  await sql`update events set data = jsonb_set(data, '{data,object,evidence}', (data #> '{data,object,evidence}') || ${JSON.stringify(Object.fromEntries(PERSONAL_EVIDENCE_FIELDS.map((f) => [f, null])))}::jsonb)
    where merchant_id = ${merchantId} and aggregate_id in (${list}) and kind = 'stripe' and data #>> '{data,object,object}' = 'dispute'`.execute(db);
}

/**
 * Intents of this batch whose customer was erased before: their receipt_email is scrubbed again
 * (the intent actor's own snapshot still has it; the erasure wins in the read model).
 */
export async function scrubErasedIntents(db: Kysely<Database>, intents: readonly { merchantId: string; id: string; customer: string | null }[]): Promise<void> {
  const withCustomer = intents.filter((i) => i.customer !== null);
  if (withCustomer.length === 0) return;
  const erased = await sql<{ id: string; merchant_id: string }>`select id, merchant_id from customers where erased_at is not null and id in (${sql.join(withCustomer.map((i) => i.customer!))})`.execute(db);
  const gone = new Set(erased.rows.map((r) => `${r.merchant_id}/${r.id}`));
  for (const i of withCustomer) {
    if (gone.has(`${i.merchantId}/${i.customer}`)) await scrubIntents(db, i.merchantId, [i.id]);
  }
}
