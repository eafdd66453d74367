// ISO 4217 currencies Stripe accepts, with their minor-unit exponent. Amounts are always integers
// in the minor unit: cents for usd, yen for jpy (exponent 0), fils for bhd (exponent 3).
const ZERO_DECIMAL = ['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf'];
const THREE_DECIMAL = ['bhd', 'jod', 'kwd', 'omr', 'tnd'];
const TWO_DECIMAL = (
  'aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub sar sbd scr sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah usd uyu uzs wst xcd yer zar zmw'
).split(' ');

const EXPONENT = new Map<string, number>([
  ...ZERO_DECIMAL.map((c) => [c, 0] as const),
  ...THREE_DECIMAL.map((c) => [c, 3] as const),
  ...TWO_DECIMAL.map((c) => [c, 2] as const),
]);

export function isCurrency(c: string): boolean {
  return EXPONENT.has(c);
}

export function minorUnitExponent(c: string): number | undefined {
  return EXPONENT.get(c);
}

/** Stripe's largest charge: eight digits in the minor unit. */
export const MAX_AMOUNT = 99_999_999;

/** Stripe's minimum charge amounts, in the minor unit (https://stripe.com/docs/currencies#minimum-and-maximum-charge-amounts). */
const MINIMUMS: Record<string, number> = {
  usd: 50, aed: 200, aud: 50, bgn: 100, brl: 50, cad: 50, chf: 50, czk: 1500, dkk: 250, eur: 50, gbp: 30, hkd: 400,
  huf: 17500, inr: 50, jpy: 50, mxn: 1000, myr: 200, nok: 300, nzd: 50, pln: 200, ron: 200, sek: 300, sgd: 50, thb: 1000,
};

export function minimumAmount(c: string): number {
  return MINIMUMS[c] ?? 1;
}

/** An amount in an API error message as Stripe writes it: "$0.50 usd", "€0.50 eur", "¥50 jpy". */
export function formatAmount(amount: number, c: string): string {
  return `${displayAmount(amount, c)} ${c}`;
}

/** An amount as a customer reads it on a page: $20.00, €25.00, ¥1,000 (the currency's own exponent). */
export function displayAmount(amount: number, c: string): string {
  const e = minorUnitExponent(c) ?? 2;
  return new Intl.NumberFormat('en', { style: 'currency', currency: c.toUpperCase(), minimumFractionDigits: e, maximumFractionDigits: e }).format(amount / 10 ** e);
}
