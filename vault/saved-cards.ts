// Saved cards: a card saved to a customer lives in two places kept in step, the card's vault record
// (which names its customer: compare-and-set, so a card has one customer at most) and the customer
// aggregate's list (events payment_method.attached / .detached). A card is a customer's saved card
// where both agree. Attach writes the record first, then the list; detach the list first.
//
// setup_future_usage saves the card that paid an intent to the intent's customer, and a SetupIntent
// that succeeded saves the card it checked to its customer. The gateway does it
// right after the answer that reports the payment, and the reconcile role does it again from the
// payment's commit (reconcile/work.ts), so a gateway that crashed in between loses nothing. The
// record keeps the intent that saved it (`saved_by`, set in the same compare-and-set as `customer`):
// a second run for the same payment only makes sure the list has the card while the record still
// names the customer, so a card detached after the payment is never saved again by it.
import type { Intent, SavedPaymentMethod, SetupIntent } from '../actors/mod.ts';
import type { CommandClient } from '../runtime/client.ts';
import type { Ctx } from '../runtime/protocol.ts';
import { belongsToCustomer, noSuch } from '../stripe/errors.ts';
import { MAGIC_PAYMENT_METHODS } from './card.ts';
import { NO_BILLING_DETAILS, type PaymentMethodRecord, type Vault } from './vault.ts';

export interface SavedCardDeps {
  vault: Vault;
  commands: CommandClient;
}

/** The public part a customer's attach and detach events carry. */
export const savedOf = (pm: PaymentMethodRecord): SavedPaymentMethod => ({ id: pm.id, created: pm.created, card: pm.card, billing_details: pm.billing_details, metadata: pm.metadata });

/**
 * Saves a card to a customer: the card record first (compare-and-set: one customer per card), then
 * the customer's list. Attaching a card to its own customer again only makes sure the list has it.
 * 'taken': it is another customer's.
 */
export async function attachCard(
  deps: SavedCardDeps,
  merchantId: string,
  pm: PaymentMethodRecord,
  customerId: string,
  ctx: Ctx,
  savedBy?: string,
): Promise<{ kind: 'attached'; pm: PaymentMethodRecord } | { kind: 'taken' }> {
  if (pm.customer && pm.customer !== customerId) return { kind: 'taken' };
  const set = await deps.vault.setCustomer(merchantId, pm.id, customerId, null, savedBy);
  if (!set) throw noSuch('PaymentMethod', pm.id, 'payment_method');
  if (set.kind === 'conflict') return { kind: 'taken' };
  await deps.commands.send({ op: 'customer.payment_method', merchantId, customerId, command: { type: 'AttachPaymentMethod', paymentMethod: savedOf(set.pm), now: ctx.now }, ctx });
  return { kind: 'attached', pm: set.pm };
}

/** Pure: the card setup_future_usage owes the intent's customer (the one that paid), or null. */
export function cardToSave(i: Intent): Owed | null {
  if (!i.setup_future_usage || !i.customer || (i.status !== 'succeeded' && i.status !== 'requires_capture')) return null;
  const paid = [...i.attempts].reverse().find((a) => a.status === 'succeeded');
  // A test card id (pm_card_visa) is every merchant's: nothing to save.
  if (!paid || MAGIC_PAYMENT_METHODS[paid.payment_method]) return null;
  return { customer: i.customer, paymentMethod: paid.payment_method, attemptId: paid.id };
}

export type SaveOutcome = 'saved' | 'not_owed' | 'taken' | 'detached' | 'gone';

/** Pure: the card a SetupIntent that succeeded owes its customer (the one its attempt checked), or null. */
export function cardToSaveAfterSetup(s: SetupIntent): Owed | null {
  if (s.status !== 'succeeded' || !s.customer) return null;
  const ok = [...s.attempts].reverse().find((a) => a.status === 'succeeded');
  if (!ok || MAGIC_PAYMENT_METHODS[ok.payment_method]) return null;
  return { customer: s.customer, paymentMethod: ok.payment_method, attemptId: ok.id };
}

type Owed = { customer: string; paymentMethod: string; attemptId: string };
type Owner = Pick<Intent | SetupIntent, 'id' | 'merchant_id' | 'livemode'>;

/**
 * Saves the card a payment (setup_future_usage) or a SetupIntent owes its customer. Safe to run any
 * number of times for the same one (replays, the reconcile role's second run): see the top of this
 * file. Throws when the vault or the customer's owner cannot be reached (the caller retries or logs).
 */
async function saveOwed(deps: SavedCardDeps, owner: Owner, owed: Owed | null, ctx: Omit<Ctx, 'commandId'>): Promise<SaveOutcome> {
  if (!owed) return 'not_owed';
  const pm = await deps.vault.get(owner.merchant_id, owed.paymentMethod, owner.livemode, true);
  if (!pm) return 'gone';
  if (pm.saved_by === owner.id && pm.customer !== owed.customer) return 'detached';
  const r = await attachCard(deps, owner.merchant_id, pm, owed.customer, { ...ctx, commandId: `save-card:${owner.id}:${owed.attemptId}` }, owner.id);
  return r.kind === 'taken' ? 'taken' : 'saved';
}

/** Stripe's setup_future_usage: once a payment of an intent that has it and a customer succeeds (or is authorized), its card is saved to the customer. */
export const saveCardAfterPayment = (deps: SavedCardDeps, i: Intent, ctx: Omit<Ctx, 'commandId'>): Promise<SaveOutcome> => saveOwed(deps, i, cardToSave(i), ctx);

/** A SetupIntent with a customer that succeeded: its card is attached to the customer. */
export const saveCardAfterSetup = (deps: SavedCardDeps, s: SetupIntent, ctx: Omit<Ctx, 'commandId'>): Promise<SaveOutcome> => saveOwed(deps, s, cardToSaveAfterSetup(s), ctx);

/**
 * A deleted customer's cards are let go: each record that still names it is cleared (the customer's
 * list was emptied by its commit). Safe to repeat; throws when the vault cannot be reached.
 */
export async function releaseCards(vault: Vault, merchantId: string, customerId: string, paymentMethods: readonly string[]): Promise<void> {
  for (const pm of paymentMethods) await vault.setCustomer(merchantId, pm, null, customerId);
}

/**
 * A customer's personal data erased (customer.erased): the billing details (name, email, phone) of
 * the cards it has saved go too. A card no longer the customer's is left alone. Done again changes nothing.
 */
export async function eraseCardDetails(vault: Vault, merchantId: string, customerId: string, livemode: boolean, paymentMethods: readonly string[]): Promise<void> {
  for (const id of paymentMethods) {
    const pm = await vault.get(merchantId, id, livemode, true);
    if (!pm || pm.customer !== customerId) continue;
    const bd = pm.billing_details;
    if (bd.email === null && bd.name === null && bd.phone === null && !bd.address) continue;
    await vault.updateDetails(merchantId, id, { billing_details: { ...NO_BILLING_DETAILS } });
  }
}

/**
 * A saved card pays only for its own customer: Stripe refuses another customer's card (or a saved
 * card on an intent without a customer), on create and on confirm. The record may come from the
 * vault's short cache; a refusal is made on a fresh read, so a card detached a moment ago is not refused.
 */
export async function cardForCustomer(vault: Vault, merchantId: string, pm: PaymentMethodRecord, customer: string | null): Promise<void> {
  if (!pm.customer || pm.customer === customer) return;
  const fresh = await vault.get(merchantId, pm.id, pm.livemode, true);
  if (fresh?.customer && fresh.customer !== customer) throw belongsToCustomer(pm.id, fresh.customer);
}
