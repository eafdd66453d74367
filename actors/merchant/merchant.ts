// The merchant aggregate: onboarding data, subscribed events, callback URL and key fingerprints.
// Keys are never held here in clear: only their keyed hashes (for audit) and the webhook secret
// encrypted under the key-encryption key.
import { DomainError, assertNever, type Decider } from '../decider.ts';

export interface ApiKeyRecord {
  id: string; // key_…
  kind: 'secret' | 'publishable';
  /** HMAC-SHA256 of the key under the server pepper, hex. */
  hash: string;
  /** What a person may see: sk_test_…abcd */
  redacted: string;
  created: number;
}

export interface Merchant {
  merchant_id: string;
  name: string;
  address: string;
  gst_id: string;
  call_back_url: string | null;
  /** Stripe event types (seed names are mapped on the way in). */
  events: string[];
  keys: ApiKeyRecord[];
  /** whsec_… encrypted (AES-256-GCM envelope, base64). */
  webhook_secret_enc: string;
  webhook_endpoint_id: string;
  allowed_origins: string[];
  created: number;
  updated: number;
}

export type MerchantState = Merchant | null;

export type MerchantCommand =
  | {
      type: 'Onboard';
      merchantId: string;
      name: string;
      address: string;
      gstId: string;
      callbackUrl: string | null;
      events: string[];
      keys: ApiKeyRecord[];
      webhookSecretEnc: string;
      webhookEndpointId: string;
      allowedOrigins: string[];
      now: number;
    }
  | {
      type: 'UpdateProfile';
      name?: string;
      address?: string;
      gstId?: string;
      callbackUrl?: string | null;
      events?: string[];
      now: number;
    };

export type MerchantEvent =
  | { type: 'merchant.onboarded'; at: number; data: Merchant }
  | {
      type: 'merchant.updated';
      at: number;
      data: Partial<Pick<Merchant, 'name' | 'address' | 'gst_id' | 'call_back_url' | 'events'>>;
    };

function decide(cmd: MerchantCommand, s: MerchantState): MerchantEvent[] {
  switch (cmd.type) {
    case 'Onboard': {
      if (s !== null) throw new DomainError('resource_already_exists', `Merchant ${cmd.merchantId} already exists.`, 'merchant_id', 409);
      return [
        {
          type: 'merchant.onboarded',
          at: cmd.now,
          data: {
            merchant_id: cmd.merchantId,
            name: cmd.name,
            address: cmd.address,
            gst_id: cmd.gstId,
            call_back_url: cmd.callbackUrl,
            events: [...cmd.events],
            keys: cmd.keys,
            webhook_secret_enc: cmd.webhookSecretEnc,
            webhook_endpoint_id: cmd.webhookEndpointId,
            allowed_origins: cmd.allowedOrigins,
            created: cmd.now,
            updated: cmd.now,
          },
        },
      ];
    }
    case 'UpdateProfile': {
      if (s === null) throw new DomainError('resource_missing', 'No such merchant.', 'merchant_id', 404);
      const data: Extract<MerchantEvent, { type: 'merchant.updated' }>['data'] = {};
      if (cmd.name !== undefined && cmd.name !== s.name) data.name = cmd.name;
      if (cmd.address !== undefined && cmd.address !== s.address) data.address = cmd.address;
      if (cmd.gstId !== undefined && cmd.gstId !== s.gst_id) data.gst_id = cmd.gstId;
      if (cmd.callbackUrl !== undefined && cmd.callbackUrl !== s.call_back_url) data.call_back_url = cmd.callbackUrl;
      if (cmd.events !== undefined && JSON.stringify(cmd.events) !== JSON.stringify(s.events)) data.events = [...cmd.events];
      // A repeat that changes nothing writes nothing.
      return Object.keys(data).length === 0 ? [] : [{ type: 'merchant.updated', at: cmd.now, data }];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(s: MerchantState, e: MerchantEvent): MerchantState {
  switch (e.type) {
    case 'merchant.onboarded':
      return { ...e.data };
    case 'merchant.updated':
      if (s === null) return s;
      return { ...s, ...e.data, updated: e.at };
    default:
      return assertNever(e);
  }
}

export const merchantDecider: Decider<MerchantCommand, MerchantEvent, MerchantState> = {
  initialState: null,
  decide,
  evolve,
};
