// Stripe's shipping hash as a request sends it (a PaymentIntent's, a charge's, a customer's) → as it is
// stored and shown: every field present, null when not given; '' unsets it. The schemas require the
// name and the address (gateway/schemas.ts), as Stripe does.
import type { Shipping } from '../actors/mod.ts';

export interface ShippingParam {
  name: string;
  phone?: string;
  carrier?: string;
  tracking_number?: string;
  address: { line1?: string; line2?: string; city?: string; state?: string; postal_code?: string; country?: string };
}

export function shippingOf(sent: ShippingParam | '' | undefined): Shipping | null | undefined {
  if (sent === undefined || sent === '') return sent === '' ? null : undefined;
  const field = (v: string | undefined) => v || null;
  const a = sent.address;
  return {
    name: sent.name,
    phone: field(sent.phone),
    carrier: field(sent.carrier),
    tracking_number: field(sent.tracking_number),
    address: { city: field(a.city), country: field(a.country), line1: field(a.line1), line2: field(a.line2), postal_code: field(a.postal_code), state: field(a.state) },
  };
}
