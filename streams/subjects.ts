// Subjects are the address of every aggregate: readable as they are in `nats stream view`.
//   pay.evt.merchant.<merchant_id>               a merchant's history
//   pay.evt.intent.<merchant_id>.<intent_id>     one payment intent's history
//   pay.evt.customer.<merchant_id>.<customer_id> one customer's history
//   pay.evt.setup_intent.<merchant_id>.<seti_id> one SetupIntent's history
//   pay.evt.product.<merchant_id>.<product_id>   one product's history, its prices with it
//   pay.evt.payment_link.<merchant_id>.<plink_id> one payment link's history
//   pay.evt.coupon.<merchant_id>.<coupon_id>     one coupon's history
//   pay.cmd.<partition>                          commands to the partition's owner (core request/reply)
//   pay.webhook.deliver.<merchant_id>            one delivery task per (event, endpoint)
//   pay.webhook.receipt.<merchant_id>            the outcome of each delivery try
//   pay.webhook.dlq.<merchant_id>                deliveries that ran out of tries
//   pay.reconcile.<merchant_id>                  a commit with reconciliation work (an in-doubt attempt, a pending refund)

export const EVENTS_STREAM = 'PAY_EVENTS';
export const WEBHOOKS_STREAM = 'PAY_WEBHOOKS';
export const RECONCILE_STREAM = 'PAY_RECONCILE';

/** Ids become subject tokens: no dots, wildcards or spaces. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function assertToken(id: string, what: string): string {
  if (!ID_PATTERN.test(id)) throw new Error(`${what} '${id}' cannot be a subject token`);
  return id;
}

export const subjects = {
  events: 'pay.evt.>',
  merchant: (merchantId: string) => `pay.evt.merchant.${assertToken(merchantId, 'merchant id')}`,
  intent: (merchantId: string, intentId: string) =>
    `pay.evt.intent.${assertToken(merchantId, 'merchant id')}.${assertToken(intentId, 'intent id')}`,
  /** Every intent of one merchant: for `nats stream view --subject`. */
  merchantIntents: (merchantId: string) => `pay.evt.intent.${assertToken(merchantId, 'merchant id')}.*`,
  customer: (merchantId: string, customerId: string) =>
    `pay.evt.customer.${assertToken(merchantId, 'merchant id')}.${assertToken(customerId, 'customer id')}`,
  setupIntent: (merchantId: string, setupIntentId: string) =>
    `pay.evt.setup_intent.${assertToken(merchantId, 'merchant id')}.${assertToken(setupIntentId, 'setup intent id')}`,
  product: (merchantId: string, productId: string) =>
    `pay.evt.product.${assertToken(merchantId, 'merchant id')}.${assertToken(productId, 'product id')}`,
  paymentLink: (merchantId: string, linkId: string) =>
    `pay.evt.payment_link.${assertToken(merchantId, 'merchant id')}.${assertToken(linkId, 'payment link id')}`,
  coupon: (merchantId: string, couponId: string) => `pay.evt.coupon.${assertToken(merchantId, 'merchant id')}.${assertToken(couponId, 'coupon id')}`,
  /** Every customer of one merchant: for `nats stream view --subject`. */
  merchantCustomers: (merchantId: string) => `pay.evt.customer.${assertToken(merchantId, 'merchant id')}.*`,
  command: (partition: number) => `pay.cmd.${partition}`,
  webhookDeliver: (merchantId: string) => `pay.webhook.deliver.${assertToken(merchantId, 'merchant id')}`,
  webhookReceipt: (merchantId: string) => `pay.webhook.receipt.${assertToken(merchantId, 'merchant id')}`,
  webhookDlq: (merchantId: string) => `pay.webhook.dlq.${assertToken(merchantId, 'merchant id')}`,
  webhooks: 'pay.webhook.>',
  reconcileTask: (merchantId: string) => `pay.reconcile.${assertToken(merchantId, 'merchant id')}`,
  reconcile: 'pay.reconcile.>',
} as const;

/** Parse an event subject back into the aggregate it addresses. */
export function parseEventSubject(subject: string): { aggregate: 'merchant' | 'intent' | 'customer' | 'setup_intent' | 'product' | 'payment_link' | 'coupon'; merchantId: string; aggregateId: string } | null {
  const p = subject.split('.');
  if (p[0] !== 'pay' || p[1] !== 'evt') return null;
  if (p[2] === 'merchant' && p.length === 4 && p[3]) return { aggregate: 'merchant', merchantId: p[3], aggregateId: p[3] };
  if (p[2] === 'intent' && p.length === 5 && p[3] && p[4]) return { aggregate: 'intent', merchantId: p[3], aggregateId: p[4] };
  if (p[2] === 'customer' && p.length === 5 && p[3] && p[4]) return { aggregate: 'customer', merchantId: p[3], aggregateId: p[4] };
  if (p[2] === 'setup_intent' && p.length === 5 && p[3] && p[4]) return { aggregate: 'setup_intent', merchantId: p[3], aggregateId: p[4] };
  if (p[2] === 'product' && p.length === 5 && p[3] && p[4]) return { aggregate: 'product', merchantId: p[3], aggregateId: p[4] };
  if (p[2] === 'payment_link' && p.length === 5 && p[3] && p[4]) return { aggregate: 'payment_link', merchantId: p[3], aggregateId: p[4] };
  if (p[2] === 'coupon' && p.length === 5 && p[3] && p[4]) return { aggregate: 'coupon', merchantId: p[3], aggregateId: p[4] };
  return null;
}

/**
 * FNV-1a 32-bit, the hash nats-server uses for subject partitioning: a merchant's partition is stable
 * across processes, restarts and languages.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function partitionOf(merchantId: string, partitions: number): number {
  return fnv1a32(merchantId) % partitions;
}
