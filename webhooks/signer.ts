// Stripe's webhook signature: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` keyed by the
// whole whsec_… string over "<t>.<raw body>". Several v1= during a secret rotation.
import { createHmac } from 'node:crypto';

export function signatureHeader(payload: string, secrets: string[], t: number): string {
  const v1 = secrets.map((s) => `v1=${createHmac('sha256', s).update(`${t}.`).update(payload).digest('hex')}`);
  return [`t=${t}`, ...v1].join(',');
}
