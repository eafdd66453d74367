// The store's HTML: no inline scripts or styles (its CSP forbids them); store.js does the rest.
import type { Product } from './catalog.ts';
import type { Order } from './db.ts';

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function price(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

function layout(title: string, main: string, scripts: string[] = []): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · Demo Store</title>
<link rel="stylesheet" href="/static/store.css">
${scripts.map((s) => `<script src="${esc(s)}" defer></script>`).join('\n')}
</head>
<body>
<header><a href="/" class="logo">Demo Store</a><span class="tag">test mode · paid with paynats</span></header>
<main>${main}</main>
</body>
</html>`;
}

export function productPage(products: readonly Product[]): string {
  const cards = products
    .map(
      (p) => `<article class="product" id="${esc(p.id)}">
  <h2>${esc(p.name)}</h2>
  <p>${esc(p.description)}</p>
  <p class="price">${esc(price(p.amount, p.currency))}</p>
  <form method="post" action="/buy"><input type="hidden" name="product_id" value="${esc(p.id)}"><button type="submit" class="buy">Buy Now</button></form>
</article>`,
    )
    .join('\n');
  return layout(
    'Products',
    `<h1>Products</h1><div class="products">${cards}</div>
<p class="hint">Test mode. Cards: 4242 4242 4242 4242 (paid), 4000 0000 0000 0002 (declined), 4000 0000 0000 9995 (insufficient funds), 4000 0027 6000 3184 (3-D Secure), 4000 0000 0000 3220 (3-D Secure, fail it). Any future expiry, any CVC.</p>`,
  );
}

export function checkoutPage(order: Order, product: Product, gatewayUrl: string): string {
  return layout(
    'Checkout',
    `<h1>Checkout</h1>
<section id="checkout" data-order="${esc(order.id)}">
  <p class="summary"><b>${esc(product.name)}</b> <span class="price">${esc(price(order.amount, order.currency))}</span></p>
  <label class="field">Email for the receipt<input id="email" type="email" autocomplete="email" placeholder="you@example.com"></label>
  <div class="field"><span>Card</span><div id="card-element"></div></div>
  <p id="card-errors" role="alert"></p>
  <button id="pay" type="button" disabled>Pay ${esc(price(order.amount, order.currency))}</button>
  <p class="hint">Test mode: the test cards are listed on the <a href="/" target="_blank">product page</a>.</p>
</section>`,
    [`${gatewayUrl}/js/v1/checkout.js`, '/static/store.js'],
  );
}

export function orderPage(order: Order, product: Product | null): string {
  const what = product ? esc(product.name) : esc(order.product_id);
  const body =
    order.status === 'paid'
      ? `<h1 id="result" class="ok">Payment successful</h1><p>Thank you! Order <code>${esc(order.id)}</code> (${what}, ${esc(price(order.amount, order.currency))}) is paid.</p>`
      : `<h1 id="result" class="wait">Confirming your payment…</h1><p>We are waiting for the payment processor to confirm order <code>${esc(order.id)}</code>. This page updates by itself.</p>`;
  return layout(order.status === 'paid' ? 'Payment successful' : 'Confirming', `<section id="order" data-order="${esc(order.id)}" data-status="${esc(order.status)}">${body}<p><a href="/">Back to the store</a></p></section>`, ['/static/store.js']);
}

export function notFoundPage(): string {
  return layout('Not found', '<h1>Not found</h1><p><a href="/">Back to the store</a></p>');
}

export function unavailablePage(): string {
  return layout('Try again', '<h1>Payments are unavailable right now</h1><p>Nothing was charged. <a href="/">Back to the store</a> and try again in a moment.</p>');
}
