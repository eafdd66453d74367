// The simulated issuer: decides an authorization from the card alone, using Stripe's test card
// numbers so tests written against Stripe behave the same here. Pure: the clock is passed in.
import { brandOf as vaultBrandOf, isExpired as vaultIsExpired, luhnValid } from '../../vault/card.ts';
import type { CardBrand, WireChargebackReason, WireFraudType } from '../wire.ts';

// Card-number facts (Luhn, brand table, expiry) live in one place, vault/card.ts; re-exported here
// so the EPN surface stays the same.
export { luhnValid };

export type CardOutcome =
  | { approved: true }
  | { approved: false; failure_code: string; decline_code: string; message: string };

export interface CardInput {
  number: string;
  exp_month: number;
  exp_year: number;
}

const MESSAGES = {
  generic_decline: 'Your card was declined.',
  insufficient_funds: 'Your card has insufficient funds.',
  lost_card: 'Your card was declined.',
  stolen_card: 'Your card was declined.',
  expired_card: 'Your card has expired.',
  incorrect_cvc: "Your card's security code is incorrect.",
  incorrect_number: 'Your card number is incorrect.',
  processing_error: 'An error occurred while processing your card. Try again in a little bit.',
  card_velocity_exceeded:
    'Your card was declined for making repeated attempts too frequently or exceeding its amount limit.',
  fraudulent: 'Your card was declined.',
} as const;

type DeclineCode = keyof typeof MESSAGES;

/** The Stripe-style sentence for a decline code (also used when replaying a stored decline). */
export function declineMessage(declineCode: string): string {
  return (MESSAGES as Record<string, string>)[declineCode] ?? MESSAGES.generic_decline;
}

function decline(failure_code: string, decline_code: DeclineCode): CardOutcome {
  return { approved: false, failure_code, decline_code, message: MESSAGES[decline_code] };
}

/** Test numbers with a fixed answer. Numbers not listed (but Luhn-valid) are approved. */
const DECLINES: ReadonlyMap<string, CardOutcome> = new Map([
  ['4000000000000002', decline('card_declined', 'generic_decline')],
  ['4000000000009995', decline('card_declined', 'insufficient_funds')],
  ['4000000000009987', decline('card_declined', 'lost_card')],
  ['4000000000009979', decline('card_declined', 'stolen_card')],
  ['4000000000000069', decline('expired_card', 'expired_card')],
  ['4000000000000127', decline('incorrect_cvc', 'incorrect_cvc')],
  ['4000000000000119', decline('processing_error', 'processing_error')],
  ['4000000000006975', decline('card_declined', 'card_velocity_exceeded')],
  // Stripe's fraud test cards that Radar always blocks (risk level highest): declined as fraudulent.
  ['4100000000000019', decline('card_declined', 'fraudulent')],
  ['4000000000004954', decline('card_declined', 'fraudulent')],
]);

/**
 * Cards the issuer verifies but never pays from (Stripe's 4000 0000 0000 0341: saving it succeeds,
 * charging it is declined). An account verification approves them; an authorization does not.
 */
const CHARGE_DECLINES: ReadonlyMap<string, CardOutcome> = new Map([['4000000000000341', decline('card_declined', 'generic_decline')]]);

/** Stripe's 3-D Secure test cards: the issuer asks for authentication before it authorizes. */
export const THREE_DS_REQUIRED: ReadonlySet<string> = new Set(['4000002500003155', '4000002760003184', '4000000000003220']);

/** Approved test numbers (3DS cards once authenticated), listed so the table documents them. */
export const APPROVED_TEST_CARDS: readonly string[] = [
  '4242424242424242',
  '4000000000000077',
  '5555555555554444',
  '378282246310005',
  '4000002500003155',
  '4000002760003184',
  '4000000000003220',
  '4000000000000259',
  '4000000000002685',
  '4000000000001976',
  '4000000000005423',
];

export const DECLINED_TEST_CARDS: readonly string[] = [...DECLINES.keys(), ...CHARGE_DECLINES.keys()];

export function brandOf(pan: string): CardBrand {
  return vaultBrandOf(pan);
}

export function last4(pan: string): string {
  return pan.slice(-4);
}

/** A card is good through the last day of its expiry month. */
export function isExpired(card: Pick<CardInput, 'exp_month' | 'exp_year'>, now: Date): boolean {
  return vaultIsExpired(card.exp_month, card.exp_year, Math.floor(now.getTime() / 1000));
}

/** The issuer's answer for a card: to charge it (an authorization) or only to check it (a verification). */
export function cardOutcome(card: CardInput, now: Date, use: 'charge' | 'verify' = 'charge'): CardOutcome {
  if (!luhnValid(card.number)) return decline('incorrect_number', 'incorrect_number');
  if (isExpired(card, now)) return decline('expired_card', 'expired_card');
  return DECLINES.get(card.number) ?? (use === 'charge' ? CHARGE_DECLINES.get(card.number) : undefined) ?? { approved: true };
}

/** What the issuer does once a transaction of the card is captured: it disputes it (a chargeback, or an inquiry). */
export interface DisputeIntent {
  reason: WireChargebackReason;
  /** A retrieval request (Stripe's inquiry card) rather than a chargeback. */
  inquiry: boolean;
}

/** Stripe's dispute test cards: approved at authorization, disputed by the issuer once captured. */
const DISPUTES: ReadonlyMap<string, DisputeIntent> = new Map([
  ['4000000000000259', { reason: 'fraudulent', inquiry: false }],
  ['4000000000002685', { reason: 'product_not_received', inquiry: false }],
  ['4000000000001976', { reason: 'general', inquiry: true }],
]);

/** The dispute the issuer files once a transaction of the card is captured; null for every other card. */
export function disputeOf(pan: string): DisputeIntent | null {
  const d = DISPUTES.get(pan);
  return d === undefined ? null : { ...d };
}

/** What the issuer does once a transaction of the card is captured: it reports it as fraud (an early fraud warning). */
export interface FraudIntent {
  fraud_type: WireFraudType;
}

/**
 * Cards the issuer reports as fraud once a transaction is captured: Stripe's early fraud warning test
 * card (approved at authorization), and the fraudulent dispute card, whose chargeback Stripe precedes
 * with a warning.
 */
const FRAUD_REPORTS: ReadonlyMap<string, FraudIntent> = new Map([
  ['4000000000005423', { fraud_type: 'made_with_stolen_card' }],
  ['4000000000000259', { fraud_type: 'unauthorized_use_of_card' }],
]);

/** The fraud report the issuer files once a transaction of the card is captured; null for every other card. */
export function fraudReportOf(pan: string): FraudIntent | null {
  const f = FRAUD_REPORTS.get(pan);
  return f === undefined ? null : { ...f };
}
