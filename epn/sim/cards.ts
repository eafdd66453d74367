// The simulated issuer: decides an authorization from the card alone, using Stripe's test card
// numbers so tests written against Stripe behave the same here. Pure: the clock is passed in.
import type { CardBrand } from '../wire.ts';

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
]);

/** Approved test numbers, listed so the table documents them; 3DS cards are approved until 3DS exists. */
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
];

export const DECLINED_TEST_CARDS: readonly string[] = [...DECLINES.keys()];

export function luhnValid(pan: string): boolean {
  if (!/^\d{12,19}$/.test(pan)) return false;
  let sum = 0;
  let double = false;
  for (let i = pan.length - 1; i >= 0; i--) {
    let d = pan.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function prefixIn(pan: string, len: number, lo: number, hi: number): boolean {
  if (pan.length < len) return false;
  const p = Number(pan.slice(0, len));
  return p >= lo && p <= hi;
}

export function brandOf(pan: string): CardBrand {
  if (/^3[47]/.test(pan)) return 'amex';
  if (pan.startsWith('4')) return 'visa';
  if (prefixIn(pan, 2, 51, 55) || prefixIn(pan, 4, 2221, 2720)) return 'mastercard';
  // Discover before UnionPay: 65 and 644–649 are Discover, the rest of 62 is UnionPay.
  if (pan.startsWith('6011') || pan.startsWith('65') || prefixIn(pan, 3, 644, 649)) return 'discover';
  if (pan.startsWith('62') || pan.startsWith('81')) return 'unionpay';
  if (prefixIn(pan, 4, 3528, 3589)) return 'jcb';
  if (prefixIn(pan, 3, 300, 305) || pan.startsWith('3095') || /^3[689]/.test(pan)) return 'diners';
  return 'unknown';
}

export function last4(pan: string): string {
  return pan.slice(-4);
}

/** A card is good through the last day of its expiry month. */
export function isExpired(card: Pick<CardInput, 'exp_month' | 'exp_year'>, now: Date): boolean {
  const year = card.exp_year < 100 ? 2000 + card.exp_year : card.exp_year;
  const nowYear = now.getUTCFullYear();
  const nowMonth = now.getUTCMonth() + 1;
  return year < nowYear || (year === nowYear && card.exp_month < nowMonth);
}

export function cardOutcome(card: CardInput, now: Date): CardOutcome {
  if (!luhnValid(card.number)) return decline('incorrect_number', 'incorrect_number');
  if (isExpired(card, now)) return decline('expired_card', 'expired_card');
  return DECLINES.get(card.number) ?? { approved: true };
}
