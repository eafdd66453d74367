/*! paynats checkout.js v1: the card element and confirmCardPayment, Stripe.js style.
 *
 *   var paynats = Paynats('pk_test_…');
 *   var card = paynats.elements().create('card');
 *   card.mount('#card-element');
 *   card.on('change', function (e) { … e.complete, e.brand, e.error … });
 *   paynats.confirmCardPayment(clientSecret).then(function (r) { r.error ? … : r.paymentIntent.status });
 *
 * The card fields live in an iframe served by the processor's origin; this page never sees them.
 * Messages go only to that origin and are accepted only from it (and only from our own iframe).
 */
(function (root) {
  'use strict';
  var script = document.currentScript;
  var ORIGIN = script && script.src ? new URL(script.src).origin : null;
  var FRAME_PATH = '/checkout/v1/card-frame.html';
  var seq = 0;

  function PaynatsError(message) {
    var e = new Error(message);
    e.name = 'PaynatsError';
    return e;
  }

  function Paynats(publishableKey, options) {
    if (!(this instanceof Paynats)) return new Paynats(publishableKey, options);
    if (typeof publishableKey !== 'string' || !/^pk_(test|live)_[A-Za-z0-9]{8,}$/.test(publishableKey)) {
      throw PaynatsError('Paynats() needs a publishable key (pk_test_… or pk_live_…). Never use a secret key in a browser.');
    }
    var origin = (options && options.apiOrigin) || ORIGIN;
    if (!origin) throw PaynatsError('Load checkout.js with <script src="…/js/v1/checkout.js">, or pass { apiOrigin }.');
    this._key = publishableKey;
    this._origin = origin;
    this._card = null;
  }

  Paynats.prototype.elements = function () {
    var self = this;
    return {
      create: function (type, options) {
        if (type !== 'card') throw PaynatsError("Only the 'card' element exists.");
        if (self._card) throw PaynatsError('A card element was already created for this Paynats instance.');
        self._card = new CardElement(self, options || {});
        return self._card;
      },
      getElement: function (type) { return type === 'card' ? self._card : null; },
    };
  };

  function CardElement(paynats, options) {
    this._p = paynats;
    this._id = 'pn' + Math.random().toString(36).slice(2, 10);
    this._handlers = {};
    this._frame = null;
    this._ready = false;
    this._queue = [];
    this._waiting = {};
    this._backdrop = null;
    this._options = options;
    this._listener = this._onMessage.bind(this);
  }

  CardElement.prototype.mount = function (target) {
    var el = typeof target === 'string' ? document.querySelector(target) : target;
    if (!el) throw PaynatsError('mount(): no element matches ' + String(target));
    if (this._frame) throw PaynatsError('This card element is already mounted.');
    var f = document.createElement('iframe');
    var q = new URLSearchParams({ key: this._p._key, origin: location.origin, id: this._id });
    f.src = this._p._origin + FRAME_PATH + '?' + q.toString();
    f.title = 'Secure card payment input frame';
    f.name = 'paynats-card-' + this._id;
    f.setAttribute('allow', 'payment');
    f.setAttribute('scrolling', 'no');
    f.style.border = '0';
    f.style.width = '100%';
    f.style.height = (this._options.height || 130) + 'px';
    f.style.display = 'block';
    f.style.background = 'transparent';
    this._frame = f;
    window.addEventListener('message', this._listener);
    el.appendChild(f);
    return this;
  };

  CardElement.prototype.unmount = function () {
    window.removeEventListener('message', this._listener);
    this._closeModal();
    if (this._frame && this._frame.parentNode) this._frame.parentNode.removeChild(this._frame);
    this._frame = null;
    this._ready = false;
  };
  CardElement.prototype.destroy = CardElement.prototype.unmount;

  CardElement.prototype.on = function (event, fn) {
    (this._handlers[event] = this._handlers[event] || []).push(fn);
    return this;
  };
  CardElement.prototype.off = function (event, fn) {
    this._handlers[event] = (this._handlers[event] || []).filter(function (h) { return h !== fn; });
    return this;
  };
  CardElement.prototype.clear = function () { this._post({ type: 'clear' }); };
  CardElement.prototype.focus = function () { this._post({ type: 'focus' }); };

  CardElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).slice().forEach(function (h) {
      try { h(payload); } catch (e) { setTimeout(function () { throw e; }); }
    });
  };

  CardElement.prototype._post = function (msg) {
    msg.source = 'paynats';
    if (!this._ready) return this._queue.push(msg);
    this._frame.contentWindow.postMessage(msg, this._p._origin);
  };

  CardElement.prototype._onMessage = function (e) {
    // Only our own iframe, at the processor's origin.
    if (!this._frame || e.source !== this._frame.contentWindow || e.origin !== this._p._origin) return;
    var d = e.data;
    if (!d || typeof d !== 'object' || d.source !== 'paynats' || d.element !== this._id) return;
    switch (d.type) {
      case 'ready': {
        this._ready = true;
        var q = this._queue;
        this._queue = [];
        for (var i = 0; i < q.length; i++) this._post(q[i]);
        this._emit('ready', { elementType: 'card' });
        break;
      }
      case 'change':
        this._emit('change', { elementType: 'card', brand: d.brand, complete: !!d.complete, empty: !!d.empty, error: d.error ? { message: String(d.error.message) } : undefined });
        break;
      case 'focus':
        this._emit('focus', { elementType: 'card' });
        break;
      case 'submit':
        this._emit('submit', { elementType: 'card' });
        break;
      case 'requires_action':
        this._openModal();
        this._emit('requires_action', { type: 'three_d_secure' });
        break;
      case 'challenge_closed':
        this._closeModal();
        break;
      case 'result': {
        var w = this._waiting[d.request];
        if (!w) return;
        delete this._waiting[d.request];
        this._closeModal();
        w(d.error ? { error: d.error } : { paymentIntent: d.paymentIntent });
        break;
      }
    }
  };

  // 3-D Secure: the card frame shows the bank's page; we lift it into a modal while it does.
  CardElement.prototype._openModal = function () {
    if (this._backdrop || !this._frame) return;
    var b = document.createElement('div');
    b.setAttribute('data-paynats-modal', '');
    var s = b.style;
    s.position = 'fixed'; s.left = '0'; s.top = '0'; s.right = '0'; s.bottom = '0';
    s.background = 'rgba(15,23,42,.55)'; s.zIndex = '2147483646';
    document.body.appendChild(b);
    this._backdrop = b;
    this._saved = this._frame.getAttribute('style');
    var f = this._frame.style;
    f.position = 'fixed'; f.zIndex = '2147483647'; f.left = '50%'; f.top = '50%';
    f.transform = 'translate(-50%,-50%)'; f.width = 'min(460px,94vw)'; f.height = '420px';
    f.background = '#fff'; f.borderRadius = '10px'; f.boxShadow = '0 20px 60px rgba(0,0,0,.35)'; f.padding = '12px';
  };
  CardElement.prototype._closeModal = function () {
    if (!this._backdrop) return;
    this._backdrop.parentNode && this._backdrop.parentNode.removeChild(this._backdrop);
    this._backdrop = null;
    if (this._frame) this._frame.setAttribute('style', this._saved || '');
  };

  CardElement.prototype._confirm = function (clientSecret, billingDetails) {
    var self = this;
    return new Promise(function (resolve) {
      var request = 'r' + ++seq;
      self._waiting[request] = resolve;
      self._post({ type: 'confirm', request: request, clientSecret: clientSecret, billingDetails: billingDetails || null });
    });
  };

  /** Stripe.js's shape: resolves { paymentIntent } or { error }; never rejects for a decline. */
  Paynats.prototype.confirmCardPayment = function (clientSecret, data) {
    var card = (data && data.payment_method && data.payment_method.card) || this._card;
    if (!card || !card._frame) return Promise.resolve({ error: { type: 'integration_error', message: 'Mount a card element before confirmCardPayment().' } });
    if (typeof clientSecret !== 'string' || !/^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/.test(clientSecret)) {
      return Promise.resolve({ error: { type: 'integration_error', message: 'confirmCardPayment() needs the PaymentIntent client_secret.' } });
    }
    var billing = data && data.payment_method && data.payment_method.billing_details;
    return card._confirm(clientSecret, billing);
  };

  root.Paynats = Paynats;
})(window);
