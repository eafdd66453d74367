// The card frame: served from the processor's origin and mounted by checkout.js into the merchant's
// page. The card number, expiry and CVC are typed here and go from here to POST /v1/payment_methods
// (publishable key) and on to the intent's confirm (client secret). The parent page only ever hears
// the outcome, through postMessage to its one checked origin.
(function () {
  'use strict';
  var Card = self.PaynatsCard;
  var params = new URLSearchParams(location.search);
  var key = params.get('key') || '';
  var parentOrigin = params.get('origin') || '';
  var elementId = params.get('id') || '';
  // The 3-D Secure return page is framed by us inside the merchant's page: same frame-ancestors as ours.
  var returnUrl = location.origin + '/checkout/v1/3ds-return.html?' + new URLSearchParams({ key: key, origin: parentOrigin }).toString();

  var form = document.getElementById('card');
  var number = document.getElementById('number');
  var exp = document.getElementById('exp');
  var cvc = document.getElementById('cvc');
  var brandEl = document.getElementById('brand');
  var message = document.getElementById('message');
  var challenge = document.getElementById('challenge');
  var challengeFrame = document.getElementById('challenge-frame');

  // The embedding page must be the origin we were told (and the gateway allowed via frame-ancestors).
  var ancestors = location.ancestorOrigins;
  var embeddedBy = ancestors && ancestors.length > 0 ? ancestors[0] : null;
  var trusted = window.parent !== window && /^https?:\/\/[^/]+$/.test(parentOrigin) && (embeddedBy === null || embeddedBy === parentOrigin);
  if (!trusted) {
    form.hidden = true;
    return;
  }

  function tell(msg) {
    msg.source = 'paynats';
    msg.element = elementId;
    window.parent.postMessage(msg, parentOrigin);
  }

  var state = { number: Card.checkNumber(''), exp: Card.checkExpiry('', new Date()), cvc: Card.checkCvc('', 'unknown'), busy: false, touched: {} };

  // The sentence to show: a wrong entry anywhere first, then the first incomplete field the shopper
  // has left (or every incomplete field, when paying).
  function firstError(showIncomplete) {
    var fields = [['number', state.number], ['exp', state.exp], ['cvc', state.cvc]];
    var EMPTY = { number: 'Your card number is incomplete.', exp: "Your card's expiration date is incomplete.", cvc: "Your card's security code is incomplete." };
    var i;
    for (i = 0; i < fields.length; i++) if (fields[i][1].error) return fields[i][1].error;
    for (i = 0; i < fields.length; i++) {
      var name = fields[i][0];
      var f = fields[i][1];
      if (f.complete) continue;
      if (f.empty && showIncomplete) return EMPTY[name];
      if (!f.empty && (showIncomplete || state.touched[name])) return f.incompleteError || EMPTY[name];
    }
    return null;
  }

  function mark(input, f) {
    input.classList.toggle('invalid', !!f.error);
    input.classList.toggle('valid', !!f.complete);
    input.setAttribute('aria-invalid', f.error ? 'true' : 'false');
  }

  var lastReported = '';
  function validate() {
    var now = new Date();
    state.number = Card.checkNumber(number.value);
    state.exp = Card.checkExpiry(exp.value, now);
    state.cvc = Card.checkCvc(cvc.value, state.number.brand);
    brandEl.textContent = state.number.brand === 'unknown' ? '' : state.number.brand;
    mark(number, state.number);
    mark(exp, state.exp);
    mark(cvc, state.cvc);
    var err = firstError(false);
    message.textContent = err || '';
    var complete = state.number.complete && state.exp.complete && state.cvc.complete;
    var empty = !!(state.number.empty && state.exp.empty && state.cvc.empty);
    // What the merchant's page may know: brand, complete, empty and the error sentence. Never digits.
    var report = { type: 'change', brand: state.number.brand, complete: complete, empty: empty, error: err ? { message: err } : null };
    var s = JSON.stringify(report);
    if (s !== lastReported) {
      lastReported = s;
      tell(report);
    }
  }

  number.addEventListener('input', function () {
    var pan = number.value.replace(/\D/g, '');
    var brand = Card.brandOf(pan);
    pan = pan.slice(0, Card.maxLength(brand));
    var formatted = Card.formatNumber(pan, brand);
    if (formatted !== number.value) number.value = formatted;
    validate();
    if (state.number.complete) exp.focus();
  });
  exp.addEventListener('input', function () {
    var d = exp.value.replace(/\D/g, '').slice(0, 4);
    if (d.length === 1 && Number(d) > 1) d = '0' + d;
    var v = d.length > 2 ? d.slice(0, 2) + ' / ' + d.slice(2) : d;
    if (v !== exp.value) exp.value = v;
    validate();
    if (state.exp.complete) cvc.focus();
  });
  cvc.addEventListener('input', function () {
    var d = cvc.value.replace(/\D/g, '').slice(0, 4);
    if (d !== cvc.value) cvc.value = d;
    validate();
  });
  [number, exp, cvc].forEach(function (el) {
    el.addEventListener('blur', function () {
      state.touched[el.id] = true;
      validate();
    });
    el.addEventListener('focus', function () { tell({ type: 'focus' }); });
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); tell({ type: 'submit' }); });

  function setBusy(b) {
    state.busy = b;
    document.body.classList.toggle('busy', b);
    number.disabled = exp.disabled = cvc.disabled = b;
  }

  function formEncode(o) {
    var out = [];
    Object.keys(o).forEach(function (k) { out.push(encodeURIComponent(k) + '=' + encodeURIComponent(o[k])); });
    return out.join('&');
  }

  // crypto.randomUUID needs a secure context; an http merchant page makes ours insecure too.
  function randomKey() {
    var b = new Uint8Array(16);
    self.crypto.getRandomValues(b);
    return 'ck_' + Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function api(method, path, body) {
    var init = { method: method, headers: { authorization: 'Bearer ' + key }, credentials: 'omit', cache: 'no-store' };
    if (body) {
      init.headers['content-type'] = 'application/x-www-form-urlencoded';
      init.headers['idempotency-key'] = randomKey();
      init.body = formEncode(body);
    }
    return fetch(path, init).then(function (res) {
      return res.json().then(function (j) { return { status: res.status, body: j }; }, function () { return { status: res.status, body: {} }; });
    });
  }

  // Only these fields of the intent are told to the page (as Stripe.js gives a publishable key's view).
  function publicIntent(pi) {
    return { id: pi.id, object: 'payment_intent', status: pi.status, amount: pi.amount, currency: pi.currency, livemode: pi.livemode, created: pi.created };
  }
  function errorOf(b, fallback) {
    var e = (b && b.error) || {};
    var out = { type: e.type || 'api_error', message: e.message || fallback };
    if (e.code) out.code = e.code;
    if (e.decline_code) out.decline_code = e.decline_code;
    return out;
  }

  var pending = null; // { request, intentId, clientSecret }

  function finish(result) {
    closeChallenge();
    setBusy(false);
    if (result.error) message.textContent = result.error.message;
    var req = pending && pending.request;
    pending = null;
    tell({ type: 'result', request: req, paymentIntent: result.paymentIntent || null, error: result.error || null });
  }

  function outcome(pi) {
    if (pi.status === 'succeeded' || pi.status === 'requires_capture' || pi.status === 'processing') return finish({ paymentIntent: publicIntent(pi) });
    if (pi.status === 'requires_action' && pi.next_action && pi.next_action.redirect_to_url) return openChallenge(pi.next_action.redirect_to_url.url);
    var le = pi.last_payment_error;
    if (le) return finish({ error: { type: le.type || 'card_error', code: le.code, decline_code: le.decline_code, message: le.message || 'Your card was declined.' } });
    return finish({ error: { type: 'invalid_request_error', message: 'This payment cannot be completed (status ' + pi.status + ').' } });
  }

  function openChallenge(url) {
    var u;
    try { u = new URL(url); } catch (e) { u = null; }
    if (!u || u.origin !== location.origin) return finish({ error: { type: 'api_error', message: 'Unexpected authentication page.' } });
    form.hidden = true;
    challenge.hidden = false;
    challengeFrame.src = u.toString();
    tell({ type: 'requires_action', action: 'three_d_secure' });
  }
  function closeChallenge() {
    if (challenge.hidden) return;
    challenge.hidden = true;
    challengeFrame.removeAttribute('src');
    form.hidden = false;
    tell({ type: 'challenge_closed' });
  }

  // 3-D Secure: our return page (same origin, inside challengeFrame) says the challenge is over.
  function onChallengeDone() {
    if (!pending) return;
    var p = pending;
    api('GET', '/v1/payment_intents/' + encodeURIComponent(p.intentId) + '?client_secret=' + encodeURIComponent(p.clientSecret)).then(function (r) {
      if (r.status !== 200) return finish({ error: errorOf(r.body, 'The payment could not be checked.') });
      outcome(r.body);
    }, function () { finish({ error: { type: 'api_connection_error', message: 'Network error; please try again.' } }); });
  }

  function confirm(request, clientSecret, billing) {
    if (state.busy) return tell({ type: 'result', request: request, paymentIntent: null, error: { type: 'invalid_request_error', message: 'A payment is already in progress.' } });
    var m = /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(String(clientSecret || ''));
    if (!m) return tell({ type: 'result', request: request, paymentIntent: null, error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'Invalid client secret.' } });
    validate();
    state.touched = { number: true, exp: true, cvc: true };
    var err = firstError(true);
    if (err) {
      message.textContent = err;
      return tell({ type: 'result', request: request, paymentIntent: null, error: { type: 'validation_error', message: err } });
    }
    pending = { request: request, intentId: m[1], clientSecret: clientSecret };
    setBusy(true);
    message.textContent = '';
    var body = { type: 'card', 'card[number]': state.number.pan, 'card[exp_month]': String(state.exp.month), 'card[exp_year]': String(state.exp.year), 'card[cvc]': cvc.value };
    if (billing && typeof billing === 'object') {
      ['name', 'email', 'phone'].forEach(function (k) {
        if (typeof billing[k] === 'string' && billing[k].length <= 200) body['billing_details[' + k + ']'] = billing[k];
      });
    }
    api('POST', '/v1/payment_methods', body)
      .then(function (r) {
        if (r.status !== 200) return finish({ error: errorOf(r.body, 'Your card details could not be used.') });
        return api('POST', '/v1/payment_intents/' + encodeURIComponent(pending.intentId) + '/confirm', {
          client_secret: clientSecret,
          payment_method: r.body.id,
          return_url: returnUrl,
        }).then(function (c) {
          if (c.status === 200) return outcome(c.body);
          finish({ error: errorOf(c.body, 'Your card was declined.') });
        });
      })
      .catch(function () { finish({ error: { type: 'api_connection_error', message: 'Network error; please try again.' } }); });
  }

  window.addEventListener('message', function (e) {
    // The challenge's return page: same origin, our own child frame.
    if (e.origin === location.origin && e.source === challengeFrame.contentWindow) {
      if (e.data && e.data.source === 'paynats' && e.data.type === '3ds_done') onChallengeDone();
      return;
    }
    // Everything else must come from the embedding page, at its checked origin.
    if (e.source !== window.parent || e.origin !== parentOrigin) return;
    var d = e.data;
    if (!d || typeof d !== 'object' || d.source !== 'paynats') return;
    if (d.type === 'confirm') confirm(d.request, d.clientSecret, d.billingDetails);
    else if (d.type === 'clear' && !state.busy) { number.value = exp.value = cvc.value = ''; state.touched = {}; validate(); }
    else if (d.type === 'focus') number.focus();
  });

  validate();
  tell({ type: 'ready' });
})();
