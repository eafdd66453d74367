// Card number facts shared by the vault (tokenizing) and the network simulator (judging).

export function luhnValid(pan: string): boolean {
  if (!/^\d{12,19}$/.test(pan)) return false;
  let sum = 0;
  let dbl = false;
  for (let i = pan.length - 1; i >= 0; i--) {
    let d = pan.charCodeAt(i) - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** Stripe's brand names. */
export type CardBrandName = 'visa' | 'mastercard' | 'amex' | 'discover' | 'jcb' | 'diners' | 'unionpay' | 'unknown';

function prefixIn(pan: string, len: number, lo: number, hi: number): boolean {
  if (pan.length < len) return false;
  const p = Number(pan.slice(0, len));
  return p >= lo && p <= hi;
}

/** Stripe's brand names, by IIN prefix (the one brand table: the network simulator uses it too). */
export function brandOf(pan: string): CardBrandName {
  if (/^3[47]/.test(pan)) return 'amex';
  if (pan.startsWith('4')) return 'visa';
  if (prefixIn(pan, 2, 51, 55) || prefixIn(pan, 4, 2221, 2720)) return 'mastercard';
  // Discover before UnionPay: 6011, 65 and 644–649 are Discover, the rest of 62 (and 81) is UnionPay.
  if (pan.startsWith('6011') || pan.startsWith('65') || prefixIn(pan, 3, 644, 649)) return 'discover';
  if (pan.startsWith('62') || pan.startsWith('81')) return 'unionpay';
  if (prefixIn(pan, 4, 3528, 3589)) return 'jcb';
  if (prefixIn(pan, 3, 300, 305) || pan.startsWith('3095') || /^3[689]/.test(pan)) return 'diners';
  return 'unknown';
}

export function cvcLengthOk(brand: string, cvc: string): boolean {
  return brand === 'amex' ? /^\d{4}$/.test(cvc) : /^\d{3}$/.test(cvc);
}

/**
 * Expired when the last day of exp_month/exp_year is before `now` (unix seconds): a card is good
 * through the end of its expiry month. A two-digit year means 20xx.
 */
export function isExpired(expMonth: number, expYear: number, now: number): boolean {
  const year = expYear < 100 ? 2000 + expYear : expYear;
  const d = new Date(now * 1000);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + 1;
  return year < y || (year === y && expMonth < m);
}

/**
 * Stripe's magic test payment methods (docs: Testing → test cards): usable by any merchant in test mode,
 * never stored. Both spellings Stripe's documentation has used for the declines are accepted.
 */
export const MAGIC_PAYMENT_METHODS: Record<string, string> = {
  pm_card_visa: '4242424242424242',
  pm_card_visa_debit: '4000056655665556',
  pm_card_mastercard: '5555555555554444',
  pm_card_mastercard_debit: '5200828282828210',
  pm_card_mastercard_prepaid: '5105105105105100',
  pm_card_amex: '378282246310005',
  pm_card_discover: '6011111111111117',
  pm_card_diners: '3056930009020004',
  pm_card_jcb: '3566002020360505',
  pm_card_unionpay: '6200000000000005',
  pm_card_visa_chargeDeclined: '4000000000000002',
  pm_card_chargeDeclined: '4000000000000002',
  pm_card_visa_chargeDeclinedInsufficientFunds: '4000000000009995',
  pm_card_chargeDeclinedInsufficientFunds: '4000000000009995',
  pm_card_visa_chargeDeclinedLostCard: '4000000000009987',
  pm_card_chargeDeclinedLostCard: '4000000000009987',
  pm_card_visa_chargeDeclinedStolenCard: '4000000000009979',
  pm_card_chargeDeclinedStolenCard: '4000000000009979',
  pm_card_chargeDeclinedExpiredCard: '4000000000000069',
  pm_card_chargeDeclinedIncorrectCvc: '4000000000000127',
  pm_card_chargeDeclinedProcessingError: '4000000000000119',
  pm_card_visa_chargeDeclinedVelocityLimitExceeded: '4000000000006975',
  pm_card_chargeDeclinedVelocityLimitExceeded: '4000000000006975',
  // Fraud prevention: always blocked (declined as fraudulent, epn/sim/cards.ts), or an elevated risk that is paid.
  pm_card_chargeDeclinedFraudulent: '4100000000000019',
  pm_card_visa_chargeDeclinedFraudulent: '4100000000000019',
  pm_card_radarBlock: '4100000000000019',
  pm_card_riskLevelHighest: '4000000000004954',
  pm_card_riskLevelElevated: '4000000000009235',
  // Saving the card succeeds; every charge of it is declined (epn/sim/cards.ts CHARGE_DECLINES).
  pm_card_chargeCustomerFail: '4000000000000341',
  // 3-D Secure: the issuer asks for authentication (epn/sim/cards.ts THREE_DS_REQUIRED).
  pm_card_threeDSecure2Required: '4000000000003220',
  pm_card_authenticationRequired: '4000002760003184',
  pm_card_authenticationRequiredOnSetup: '4000002500003155',
  // Disputes: the charge succeeds, then the issuer disputes it (epn/sim/cards.ts).
  pm_card_createDispute: '4000000000000259',
  pm_card_createDisputeProductNotReceived: '4000000000002685',
  pm_card_createDisputeInquiry: '4000000000001976',
  // An early fraud warning: the charge succeeds, then the issuer reports it as fraud (no dispute).
  pm_card_createIssuerFraudRecord: '4000000000005423',
};

/** Stripe's test cards that are not credit cards; every other number reads as credit, as on Stripe's test cards. */
const FUNDING: Readonly<Record<string, 'debit' | 'prepaid'>> = {
  '4000056655665556': 'debit',
  '5200828282828210': 'debit',
  '5105105105105100': 'prepaid',
};

export function fundingOf(pan: string): 'credit' | 'debit' | 'prepaid' {
  return FUNDING[pan] ?? 'credit';
}

/**
 * Stripe's test tokens (`card[token]=tok_visa`): the same cards as the magic payment methods, by the
 * same names (pm_card_visa ↔ tok_visa). Test mode only; a PaymentMethod made from one is stored as any card.
 */
export const TEST_TOKENS: Record<string, string> = Object.fromEntries(Object.entries(MAGIC_PAYMENT_METHODS).map(([id, number]) => [id.replace(/^pm_card_/, 'tok_'), number]));
