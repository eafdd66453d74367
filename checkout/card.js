// Card-number facts for the card frame (plain browser JS, no dependencies): brand detection, Luhn,
// expiry and CVC checks. The same rules as vault/card.ts on the server, which checks again.
(function (root) {
  'use strict';
  function prefixIn(pan, n, lo, hi) {
    if (pan.length < n) return false;
    var p = Number(pan.slice(0, n));
    return p >= lo && p <= hi;
  }
  function brandOf(pan) {
    if (/^3[47]/.test(pan)) return 'amex';
    if (pan.charAt(0) === '4') return 'visa';
    if (prefixIn(pan, 2, 51, 55) || prefixIn(pan, 4, 2221, 2720)) return 'mastercard';
    if (pan.indexOf('6011') === 0 || pan.indexOf('65') === 0 || prefixIn(pan, 3, 644, 649)) return 'discover';
    if (pan.indexOf('62') === 0 || pan.indexOf('81') === 0) return 'unionpay';
    if (prefixIn(pan, 4, 3528, 3589)) return 'jcb';
    if (prefixIn(pan, 3, 300, 305) || pan.indexOf('3095') === 0 || /^3[689]/.test(pan)) return 'diners';
    return 'unknown';
  }
  function luhnValid(pan) {
    var sum = 0;
    var dbl = false;
    for (var i = pan.length - 1; i >= 0; i--) {
      var d = pan.charCodeAt(i) - 48;
      if (dbl) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
      dbl = !dbl;
    }
    return sum % 10 === 0;
  }
  function lengthsOf(brand) {
    if (brand === 'amex') return [15];
    if (brand === 'diners') return [14, 16, 19];
    if (brand === 'visa') return [16, 19];
    if (brand === 'unknown') return [12, 13, 14, 15, 16, 17, 18, 19];
    return [16, 17, 18, 19];
  }
  function maxLength(brand) {
    var l = lengthsOf(brand);
    return l[l.length - 1];
  }
  /** Digits of the number field, and whether it is complete and valid. */
  function checkNumber(raw) {
    var pan = String(raw).replace(/[\s-]/g, '');
    var brand = brandOf(pan);
    if (!/^\d*$/.test(pan)) return { pan: pan, brand: brand, complete: false, error: 'Your card number is invalid.' };
    if (pan.length === 0) return { pan: pan, brand: brand, complete: false, error: null, empty: true };
    var full = lengthsOf(brand).indexOf(pan.length) >= 0;
    // A number of a valid length for its brand that fails Luhn is a typo (Stripe.js says so at once).
    if (((full && brand !== 'unknown') || pan.length >= maxLength(brand)) && !luhnValid(pan)) return { pan: pan, brand: brand, complete: false, error: 'Your card number is invalid.' };
    if (full && luhnValid(pan)) return { pan: pan, brand: brand, complete: true, error: null };
    return { pan: pan, brand: brand, complete: false, error: null, incompleteError: 'Your card number is incomplete.' };
  }
  /** "MM / YY" (or MMYY, MM/YYYY) against `now` (a Date); a card is good through its expiry month. */
  function checkExpiry(raw, now) {
    var digits = String(raw).replace(/\D/g, '');
    if (digits.length === 0) return { complete: false, error: null, empty: true };
    var month = Number(digits.slice(0, 2));
    if (digits.length >= 2 && (month < 1 || month > 12)) return { complete: false, error: "Your card's expiration date is invalid." };
    if (digits.length < 4) return { complete: false, error: null, incompleteError: "Your card's expiration date is incomplete." };
    var year = digits.length >= 6 ? Number(digits.slice(2, 6)) : 2000 + Number(digits.slice(2, 4));
    var y = now.getFullYear();
    var m = now.getMonth() + 1;
    if (year < y || (year === y && month < m)) return { complete: false, error: "Your card's expiration year is in the past." };
    if (year > y + 50) return { complete: false, error: "Your card's expiration year is invalid." };
    return { complete: true, error: null, month: month, year: year };
  }
  function checkCvc(raw, brand) {
    var cvc = String(raw);
    if (cvc.length === 0) return { complete: false, error: null, empty: true };
    if (!/^\d+$/.test(cvc)) return { complete: false, error: "Your card's security code is invalid." };
    var want = brand === 'amex' ? 4 : 3;
    if (cvc.length > want) return { complete: false, error: "Your card's security code is invalid." };
    if (cvc.length < want) return { complete: false, error: null, incompleteError: "Your card's security code is incomplete." };
    return { complete: true, error: null };
  }
  /** 4242424242424242 → "4242 4242 4242 4242"; amex 4-6-5. */
  function formatNumber(pan, brand) {
    if (brand === 'amex') return [pan.slice(0, 4), pan.slice(4, 10), pan.slice(10, 15)].filter(Boolean).join(' ');
    return (pan.match(/.{1,4}/g) || []).join(' ');
  }
  root.PaynatsCard = { brandOf: brandOf, luhnValid: luhnValid, checkNumber: checkNumber, checkExpiry: checkExpiry, checkCvc: checkCvc, formatNumber: formatNumber, maxLength: maxLength };
})(self);
