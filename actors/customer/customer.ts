// The customer aggregate: Stripe's Customer with its minimal fields (email, name, description,
// phone, metadata). Pure: the id, the mode and `now` (unix seconds) ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import type { CardSummary } from '../payment-intent/intent.ts';

export interface Customer {
  id: string; // cus_…
  merchant_id: string;
  /** Live or test mode: a customer of one mode is invisible to keys of the other. */
  livemode: boolean;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: string | null;
  /** Stripe's address and shipping (absent: null); personal data, cleared by an erasure. */
  address?: BillingAddress | null;
  shipping?: CustomerShipping | null;
  /** Stripe's preferred_locales (absent: none) and tax_exempt (absent: 'none'). */
  preferred_locales?: string[];
  tax_exempt?: TaxExempt;
  metadata: Record<string, string>;
  created: number;
  /**
   * The payment methods attached to the customer (saved cards), oldest first. The customer is the
   * single writer of this list; the card record in the vault names its customer too (vault/vault.ts),
   * and a payment method counts as attached where both agree (gateway/routes/payment-methods.ts).
   */
  payment_methods?: string[];
  /** Stripe's invoice_settings.default_payment_method: one of payment_methods, or null. */
  default_payment_method?: string | null;
  /** Deleted (Stripe's DELETE /v1/customers/:id): it answers as a deleted stub and takes no more changes. */
  deleted?: true;
}

export type CustomerState = Customer | null;

/** A billing address as Stripe has it; a field not given is null. */
export interface BillingAddress {
  city: string | null;
  country: string | null;
  line1: string | null;
  line2: string | null;
  postal_code: string | null;
  state: string | null;
}

/** A PaymentMethod's billing details (personal data: erased with its customer). `address` is absent where it was made before addresses were kept. */
export interface BillingDetails {
  email: string | null;
  name: string | null;
  phone: string | null;
  address?: BillingAddress | null;
}

/** A payment method as an attach or detach event carries it: its public part (no number, no CVC). */
export interface SavedPaymentMethod {
  id: string;
  created: number;
  card: CardSummary;
  billing_details: BillingDetails;
  metadata: Record<string, string>;
}

/** The fields an update may set; null unsets. */
/** Stripe's shipping hash on a customer: a name, an address, maybe a phone. */
export interface CustomerShipping {
  name: string;
  phone: string | null;
  address: BillingAddress;
}

export type TaxExempt = 'none' | 'exempt' | 'reverse';

export interface CustomerFields {
  email?: string | null;
  name?: string | null;
  description?: string | null;
  phone?: string | null;
  address?: BillingAddress | null;
  shipping?: CustomerShipping | null;
  preferred_locales?: string[];
  tax_exempt?: TaxExempt;
}

/**
 * Stripe's metadata update, as it comes over the wire: a hash is merged into the stored metadata
 * (a key given '' is removed); '' removes every key.
 */
export type MetadataPatch = Record<string, string> | '';

export type CustomerCommand =
  | {
      type: 'Create';
      customerId: string;
      merchantId: string;
      livemode: boolean;
      email: string | null;
      name: string | null;
      description: string | null;
      phone: string | null;
      address?: BillingAddress | null;
      shipping?: CustomerShipping | null;
      preferred_locales?: string[];
      tax_exempt?: TaxExempt;
      metadata: Record<string, string>;
      now: number;
    }
  /** `defaultPaymentMethod`: invoice_settings.default_payment_method, an attached card or null. */
  | { type: 'Update'; changes: CustomerFields; metadata?: MetadataPatch; defaultPaymentMethod?: string | null; now: number }
  /**
   * Erasure (GDPR art. 17 / retention): the customer's personal data (email, name, phone and the
   * free-text description) become null; id, mode, metadata keys and every amount elsewhere stay.
   */
  | { type: 'Erase'; reason: ErasureReason; now: number }
  /** Saves a card to the customer (Stripe's POST /v1/payment_methods/:id/attach). Attaching one already attached writes nothing. */
  | { type: 'AttachPaymentMethod'; paymentMethod: SavedPaymentMethod; now: number }
  /** An attached card's details changed (POST /v1/payment_methods/:id): its new public part. One not attached writes nothing. */
  | { type: 'UpdatePaymentMethod'; paymentMethod: SavedPaymentMethod; now: number }
  /** Removes it (POST /v1/payment_methods/:id/detach). Detaching one not attached writes nothing. */
  | { type: 'DetachPaymentMethod'; paymentMethod: SavedPaymentMethod; now: number }
  /** Stripe's DELETE /v1/customers/:id: its saved cards go with it. Deleting a deleted customer writes nothing. */
  | { type: 'Delete'; now: number };

/** Why personal data was erased: a data subject's request, or the PII retention period. */
export type ErasureReason = 'request' | 'retention';

/** The fields an erasure clears. */
export const PII_FIELDS = ['email', 'name', 'phone', 'description', 'address', 'shipping'] as const;

export type CustomerEvent =
  | { type: 'customer.created'; at: number; data: Customer }
  | {
      type: 'customer.updated';
      at: number;
      /** The changed fields; `metadata` is the whole metadata after the merge. */
      data: CustomerFields & { metadata?: Record<string, string>; default_payment_method?: string | null };
    }
  | { type: 'customer.erased'; at: number; data: { reason: ErasureReason; fields: string[] } }
  | { type: 'customer.payment_method_attached'; at: number; data: { payment_method: SavedPaymentMethod } }
  | { type: 'customer.payment_method_detached'; at: number; data: { payment_method: SavedPaymentMethod } }
  | { type: 'customer.payment_method_updated'; at: number; data: { payment_method: SavedPaymentMethod } }
  | { type: 'customer.deleted'; at: number; data: { payment_methods?: string[] } };

export type CustomerEventType = CustomerEvent['type'];

/** Saved cards per customer: the list lives in the customer's state, carried by every commit. */
export const MAX_PAYMENT_METHODS = 100;

/**
 * Stripe's metadata limits, on every object that has metadata: at most 50 keys, a key at most 40
 * characters, a value at most 500. The gateway's schema (gateway/schemas.ts MetadataHash) refuses a
 * request that breaks one; an update is checked again after its merge (checkMetadata), by whoever
 * holds the object's state.
 */
export const MAX_METADATA_KEYS = 50;
export const MAX_METADATA_KEY_LENGTH = 40;
export const MAX_METADATA_VALUE_LENGTH = 500;

/** Stripe's message for metadata with too many keys (the gateway's and the deciders'). */
export const tooManyMetadataKeys = (n: number) => `Metadata can have up to ${MAX_METADATA_KEYS} keys, but you've set ${n}.`;

/** Stripe: an object's metadata, an update's merge included, has at most 50 keys. The one check, for every object. */
export function checkMetadata(m: Record<string, string>): void {
  const n = Object.keys(m).length;
  if (n > MAX_METADATA_KEYS) throw new DomainError('parameter_invalid', tooManyMetadataKeys(n), 'metadata');
}

/** Applies Stripe's metadata update rules to `current`. */
export function mergeMetadata(current: Record<string, string>, patch: MetadataPatch): Record<string, string> {
  if (patch === '') return {};
  const out: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return out;
}

const sameMetadata = (a: Record<string, string>, b: Record<string, string>) => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && b[k] === a[k]);
};

const FIELDS = ['email', 'name', 'description', 'phone', 'address', 'shipping', 'preferred_locales', 'tax_exempt'] as const;
/** What a field reads as when it was never set. */
const UNSET: Partial<Record<(typeof FIELDS)[number], unknown>> = { preferred_locales: [], tax_exempt: 'none' };

const gone = () => new DomainError('resource_missing', 'No such customer.', 'id', 404);

function decide(cmd: CustomerCommand, s: CustomerState): CustomerEvent[] {
  // A deleted customer takes no more changes; its personal data may still be erased.
  if (s?.deleted && cmd.type !== 'Create' && cmd.type !== 'Erase' && cmd.type !== 'Delete') throw gone();
  switch (cmd.type) {
    case 'Create': {
      if (s !== null) return []; // the same create delivered twice writes nothing
      const metadata = mergeMetadata({}, cmd.metadata);
      checkMetadata(metadata);
      return [
        {
          type: 'customer.created',
          at: cmd.now,
          data: {
            id: cmd.customerId,
            merchant_id: cmd.merchantId,
            livemode: cmd.livemode,
            email: cmd.email,
            name: cmd.name,
            description: cmd.description,
            phone: cmd.phone,
            ...(cmd.address ? { address: cmd.address } : {}),
            ...(cmd.shipping ? { shipping: cmd.shipping } : {}),
            ...(cmd.preferred_locales?.length ? { preferred_locales: cmd.preferred_locales } : {}),
            ...(cmd.tax_exempt && cmd.tax_exempt !== 'none' ? { tax_exempt: cmd.tax_exempt } : {}),
            metadata,
            created: cmd.now,
          },
        },
      ];
    }
    case 'Update': {
      if (s === null) throw new DomainError('resource_missing', 'No such customer.', 'id', 404);
      const data: Extract<CustomerEvent, { type: 'customer.updated' }>['data'] = {};
      for (const f of FIELDS) {
        const v = cmd.changes[f];
        // A field never set reads as null; hashes compare by value.
        if (v !== undefined && JSON.stringify(v) !== JSON.stringify(s[f] ?? UNSET[f] ?? null)) (data as Record<string, unknown>)[f] = v;
      }
      const dpm = cmd.defaultPaymentMethod;
      if (dpm !== undefined && dpm !== (s.default_payment_method ?? null)) {
        if (dpm !== null && !(s.payment_methods ?? []).includes(dpm)) {
          throw new DomainError(
            'resource_missing',
            `The customer does not have a payment method with the ID ${dpm}. The payment method must be attached to the customer.`,
            'invoice_settings[default_payment_method]',
          );
        }
        data.default_payment_method = dpm;
      }
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(s.metadata, cmd.metadata);
        if (!sameMetadata(metadata, s.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      // An update that changes nothing writes nothing.
      return Object.keys(data).length === 0 ? [] : [{ type: 'customer.updated', at: cmd.now, data }];
    }
    case 'Erase': {
      if (s === null) throw new DomainError('resource_missing', 'No such customer.', 'id', 404);
      const fields = PII_FIELDS.filter((f) => (s[f] ?? null) !== null);
      // Nothing left to erase writes nothing (a retention run and a request may both reach it).
      return fields.length === 0 ? [] : [{ type: 'customer.erased', at: cmd.now, data: { reason: cmd.reason, fields } }];
    }
    case 'AttachPaymentMethod': {
      if (s === null) throw new DomainError('resource_missing', 'No such customer.', 'customer', 404);
      if ((s.payment_methods ?? []).includes(cmd.paymentMethod.id)) return [];
      if ((s.payment_methods ?? []).length >= MAX_PAYMENT_METHODS) {
        throw new DomainError('parameter_invalid', `A customer can have at most ${MAX_PAYMENT_METHODS} payment methods attached.`, 'customer');
      }
      return [{ type: 'customer.payment_method_attached', at: cmd.now, data: { payment_method: cmd.paymentMethod } }];
    }
    case 'UpdatePaymentMethod': {
      if (s === null) throw new DomainError('resource_missing', 'No such customer.', 'customer', 404);
      if (!(s.payment_methods ?? []).includes(cmd.paymentMethod.id)) return [];
      return [{ type: 'customer.payment_method_updated', at: cmd.now, data: { payment_method: cmd.paymentMethod } }];
    }
    case 'DetachPaymentMethod': {
      if (s === null) throw new DomainError('resource_missing', 'No such customer.', 'customer', 404);
      if (!(s.payment_methods ?? []).includes(cmd.paymentMethod.id)) return [];
      return [{ type: 'customer.payment_method_detached', at: cmd.now, data: { payment_method: cmd.paymentMethod } }];
    }
    case 'Delete': {
      if (s === null) throw gone();
      // The cards it lets go are named, so whoever clears their records works from the commit alone.
      return s.deleted ? [] : [{ type: 'customer.deleted', at: cmd.now, data: { payment_methods: [...(s.payment_methods ?? [])] } }];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(s: CustomerState, e: CustomerEvent): CustomerState {
  switch (e.type) {
    case 'customer.created':
      return { ...e.data, metadata: { ...e.data.metadata } };
    case 'customer.updated':
      if (s === null) return s;
      return { ...s, ...e.data };
    case 'customer.erased':
      if (s === null) return s;
      return { ...s, email: null, name: null, phone: null, description: null, ...(s.address ? { address: null } : {}), ...(s.shipping ? { shipping: null } : {}) };
    case 'customer.payment_method_attached':
      if (s === null) return s;
      return { ...s, payment_methods: [...(s.payment_methods ?? []), e.data.payment_method.id] };
    case 'customer.payment_method_detached':
      if (s === null) return s;
      return {
        ...s,
        payment_methods: (s.payment_methods ?? []).filter((id) => id !== e.data.payment_method.id),
        // The default card detached: no default any more (as at Stripe).
        ...(s.default_payment_method === e.data.payment_method.id ? { default_payment_method: null } : {}),
      };
    case 'customer.payment_method_updated':
      return s; // the card's details live in its vault record; the list is unchanged
    case 'customer.deleted':
      if (s === null) return s;
      return { ...s, deleted: true, payment_methods: [], ...(s.default_payment_method ? { default_payment_method: null } : {}) };
    default:
      return assertNever(e);
  }
}

export const customerDecider: Decider<CustomerCommand, CustomerEvent, CustomerState> = {
  initialState: null,
  decide,
  evolve,
};
