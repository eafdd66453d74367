// The customer aggregate: Stripe's Customer with its minimal fields (email, name, description,
// phone, metadata). Pure: the id, the mode and `now` (unix seconds) ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';

export interface Customer {
  id: string; // cus_…
  merchant_id: string;
  /** Live or test mode: a customer of one mode is invisible to keys of the other. */
  livemode: boolean;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: string | null;
  metadata: Record<string, string>;
  created: number;
}

export type CustomerState = Customer | null;

/** The fields an update may set; null unsets. */
export interface CustomerFields {
  email?: string | null;
  name?: string | null;
  description?: string | null;
  phone?: string | null;
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
      metadata: Record<string, string>;
      now: number;
    }
  | { type: 'Update'; changes: CustomerFields; metadata?: MetadataPatch; now: number }
  /**
   * Erasure (GDPR art. 17 / retention): the customer's personal data (email, name, phone and the
   * free-text description) become null; id, mode, metadata keys and every amount elsewhere stay.
   */
  | { type: 'Erase'; reason: ErasureReason; now: number };

/** Why personal data was erased: a data subject's request, or the PII retention period. */
export type ErasureReason = 'request' | 'retention';

/** The fields an erasure clears. */
export const PII_FIELDS = ['email', 'name', 'phone', 'description'] as const;

export type CustomerEvent =
  | { type: 'customer.created'; at: number; data: Customer }
  | {
      type: 'customer.updated';
      at: number;
      /** The changed fields; `metadata` is the whole metadata after the merge. */
      data: CustomerFields & { metadata?: Record<string, string> };
    }
  | { type: 'customer.erased'; at: number; data: { reason: ErasureReason; fields: string[] } };

export type CustomerEventType = CustomerEvent['type'];

/** Stripe: at most 50 metadata keys. */
export const MAX_METADATA_KEYS = 50;

function checkMetadata(m: Record<string, string>): void {
  const n = Object.keys(m).length;
  if (n > MAX_METADATA_KEYS) {
    throw new DomainError('parameter_invalid', `Invalid metadata: metadata can have at most ${MAX_METADATA_KEYS} keys, but it would have ${n}.`, 'metadata');
  }
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

const FIELDS = ['email', 'name', 'description', 'phone'] as const;

function decide(cmd: CustomerCommand, s: CustomerState): CustomerEvent[] {
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
        if (v !== undefined && v !== s[f]) data[f] = v;
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
      const fields = PII_FIELDS.filter((f) => s[f] !== null);
      // Nothing left to erase writes nothing (a retention run and a request may both reach it).
      return fields.length === 0 ? [] : [{ type: 'customer.erased', at: cmd.now, data: { reason: cmd.reason, fields } }];
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
      return { ...s, email: null, name: null, phone: null, description: null };
    default:
      return assertNever(e);
  }
}

export const customerDecider: Decider<CustomerCommand, CustomerEvent, CustomerState> = {
  initialState: null,
  decide,
  evolve,
};
