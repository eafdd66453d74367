// Commands as a gateway sends them, for tests that talk to workers directly.
import type { IntentCommand } from '../../actors/mod.ts';

/** A PaymentIntent's Create with the gateway's defaults (automatic capture, nothing optional). */
export function createIntentCommand(merchantId: string, intentId: string, amount: number, now: number): Extract<IntentCommand, { type: 'Create' }> {
  return {
    type: 'Create',
    intentId,
    livemode: false,
    merchantId,
    amount,
    currency: 'usd',
    clientSecret: `${intentId}_secret_test`,
    captureMethod: 'automatic',
    description: null,
    metadata: {},
    receiptEmail: null,
    customer: null,
    userEmail: null,
    productId: null,
    paymentMethod: null,
    now,
  };
}
