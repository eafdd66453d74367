// The demo store's page script. The card element comes from the processor (checkout.js); this page
// only learns the outcome. No card data passes through here.
(function () {
  'use strict';
  var checkout = document.getElementById('checkout');
  var order = document.getElementById('order');

  function getJson(url) {
    return fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    });
  }

  if (checkout) {
    var orderId = checkout.getAttribute('data-order');
    var pay = document.getElementById('pay');
    var errors = document.getElementById('card-errors');
    var email = document.getElementById('email');
    getJson('/api/orders/' + encodeURIComponent(orderId) + '/payment').then(function (p) {
      if (p.status === 'paid') return location.assign('/orders/' + encodeURIComponent(orderId));
      var paynats = window.Paynats(p.publishable_key);
      var card = paynats.elements().create('card');
      card.on('ready', function () { pay.disabled = false; });
      card.on('change', function (e) { errors.textContent = e.error ? e.error.message : ''; });
      card.on('submit', function () { if (!pay.disabled) pay.click(); });
      card.mount('#card-element');
      pay.addEventListener('click', function () {
        pay.disabled = true;
        errors.textContent = '';
        var billing = email.value ? { email: email.value } : undefined;
        paynats.confirmCardPayment(p.client_secret, { payment_method: { card: card, billing_details: billing } }).then(function (r) {
          if (r.error) {
            // A decline: the network's message; the shopper may fix the card or try another.
            errors.textContent = r.error.message;
            pay.disabled = false;
            return;
          }
          location.assign('/orders/' + encodeURIComponent(orderId));
        });
      });
    }, function () { errors.textContent = 'This order cannot be paid right now. Please reload the page.'; });
  }

  if (order && order.getAttribute('data-status') !== 'paid') {
    var id = order.getAttribute('data-order');
    var tries = 0;
    var poll = function () {
      getJson('/api/orders/' + encodeURIComponent(id)).then(function (o) {
        // The webhook arrived: the server renders the paid page.
        if (o.status === 'paid') return location.reload();
        if (++tries < 600) setTimeout(poll, 500);
      }, function () { if (++tries < 600) setTimeout(poll, 1000); });
    };
    poll();
  }
})();
