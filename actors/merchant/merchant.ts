// The merchant aggregate: onboarding data, subscribed events, callback URL and key fingerprints.
// Keys are never held here in clear: only their keyed hashes (for audit) and the webhook secret
// encrypted under the key-encryption key.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';

export interface ApiKeyRecord {
  id: string; // key_…
  kind: 'secret' | 'publishable';
  /** HMAC-SHA256 of the key under the server pepper, hex. */
  hash: string;
  /** What a person may see: sk_test_…abcd */
  redacted: string;
  created: number;
}

/** A webhook endpoint added through /v1/webhook_endpoints (the onboarding's call_back_url is not one of these). */
export interface WebhookEndpoint {
  id: string; // we_…
  url: string;
  /** Stripe event types, or '*'. */
  enabled_events: string[];
  description: string | null;
  metadata: Record<string, string>;
  status: 'enabled' | 'disabled';
  /** whsec_… sealed under the secrets key, AAD `whsec/<merchant>/<endpoint id>`. */
  secret_enc: string;
  livemode: boolean;
  created: number;
  /**
   * Secrets being rolled out: still signed with until `expires_at` (unix s), newest first. Sealed
   * like `secret_enc`. Absent on endpoints that were never rolled.
   */
  previous_secrets?: { secret_enc: string; expires_at: number }[];
  /** Why the endpoint was disabled when we disabled it (absent when the merchant did, or enabled). */
  disabled_reason?: string | null;
  /** When the merchant last re-enabled it (unix s): failures before this no longer count. */
  enabled_at?: number;
}

/** The fields of an endpoint an update may change. */
export type WebhookEndpointChanges = Partial<Pick<WebhookEndpoint, 'url' | 'enabled_events' | 'description' | 'metadata' | 'status' | 'disabled_reason' | 'enabled_at'>>;

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
  /** Endpoints added through the API, oldest first (absent from snapshots written before they existed). */
  webhook_endpoints: WebhookEndpoint[];
  created: number;
  updated: number;
}

/** What merchant.onboarded records: a new merchant has no added endpoints. */
export type OnboardedMerchant = Omit<Merchant, 'webhook_endpoints'>;

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
      /** Origins whose pages may embed the card frame (checkout/policy.ts); the whole list. */
      allowedOrigins?: string[];
      now: number;
    }
  | { type: 'AddWebhookEndpoint'; endpoint: Omit<WebhookEndpoint, 'status' | 'created'>; now: number }
  | {
      type: 'UpdateWebhookEndpoint';
      endpointId: string;
      /** The mode of the key asking: an endpoint of the other mode does not exist for it. */
      livemode: boolean;
      url?: string;
      enabledEvents?: string[];
      description?: string | null;
      metadata?: MetadataPatch;
      disabled?: boolean;
      now: number;
    }
  | { type: 'RemoveWebhookEndpoint'; endpointId: string; livemode: boolean; now: number }
  /** A new signing secret; the current one keeps signing (beside the new) until `expiresAt`. */
  | { type: 'RollWebhookEndpointSecret'; endpointId: string; livemode: boolean; secretEnc: string; expiresAt: number; now: number }
  /** The webhook worker's verdict: the endpoint answered nothing but failures since `failingSince`. */
  | { type: 'DisableFailingWebhookEndpoint'; endpointId: string; failingSince: number; now: number };

export type MerchantEvent =
  | { type: 'merchant.onboarded'; at: number; data: OnboardedMerchant }
  | {
      type: 'merchant.updated';
      at: number;
      data: Partial<Pick<Merchant, 'name' | 'address' | 'gst_id' | 'call_back_url' | 'events' | 'allowed_origins'>>;
    }
  | { type: 'webhook_endpoint.created'; at: number; data: WebhookEndpoint }
  /** The changed fields; `metadata` is the whole metadata after the merge. */
  | { type: 'webhook_endpoint.updated'; at: number; data: { id: string } & WebhookEndpointChanges }
  | { type: 'webhook_endpoint.deleted'; at: number; data: { id: string } }
  /** `previous_secrets`: the whole list after the roll (expired ones dropped). */
  | { type: 'webhook_endpoint.secret_rolled'; at: number; data: { id: string; secret_enc: string; previous_secrets: { secret_enc: string; expires_at: number }[] } }
  /** Disabled by us, not by the merchant: every delivery failed since `failing_since`. */
  | { type: 'webhook_endpoint.disabled'; at: number; data: { id: string; livemode: boolean; reason: string; failing_since: number } };

/** Stripe: at most 16 endpoints per account (test and live counted apart). */
export const MAX_WEBHOOK_ENDPOINTS = 16;

const endpointsOf = (s: Merchant) => s.webhook_endpoints ?? [];

function ownEndpoint(s: MerchantState, id: string, livemode: boolean): { m: Merchant; ep: WebhookEndpoint } {
  if (s === null) throw new DomainError('resource_missing', 'No such merchant.', 'merchant_id', 404);
  const ep = endpointsOf(s).find((e) => e.id === id && e.livemode === livemode);
  if (!ep) throw new DomainError('resource_missing', `No such webhook endpoint: '${id}'`, 'id', 404);
  return { m: s, ep };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameMetadata = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => Object.prototype.hasOwnProperty.call(b, k) && b[k] === v);

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
      if (cmd.allowedOrigins !== undefined && JSON.stringify(cmd.allowedOrigins) !== JSON.stringify(s.allowed_origins ?? [])) data.allowed_origins = [...cmd.allowedOrigins];
      // A repeat that changes nothing writes nothing.
      return Object.keys(data).length === 0 ? [] : [{ type: 'merchant.updated', at: cmd.now, data }];
    }
    case 'AddWebhookEndpoint': {
      if (s === null) throw new DomainError('resource_missing', 'No such merchant.', 'merchant_id', 404);
      const eps = endpointsOf(s);
      // The same create retried (same derived id): already done, nothing more to write.
      if (eps.some((e) => e.id === cmd.endpoint.id)) return [];
      if (eps.filter((e) => e.livemode === cmd.endpoint.livemode).length >= MAX_WEBHOOK_ENDPOINTS) {
        throw new DomainError('parameter_invalid', `You have reached the maximum of ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints.`, 'url', 400);
      }
      if (cmd.endpoint.enabled_events.length === 0) throw new DomainError('parameter_missing', 'Missing required param: enabled_events.', 'enabled_events', 400);
      const ep = cmd.endpoint;
      return [
        {
          type: 'webhook_endpoint.created',
          at: cmd.now,
          data: {
            id: ep.id,
            url: ep.url,
            enabled_events: [...ep.enabled_events],
            description: ep.description,
            metadata: { ...ep.metadata },
            status: 'enabled',
            secret_enc: ep.secret_enc,
            livemode: ep.livemode,
            created: cmd.now,
          },
        },
      ];
    }
    case 'UpdateWebhookEndpoint': {
      const { ep } = ownEndpoint(s, cmd.endpointId, cmd.livemode);
      const data: Extract<MerchantEvent, { type: 'webhook_endpoint.updated' }>['data'] = { id: ep.id };
      if (cmd.url !== undefined && cmd.url !== ep.url) data.url = cmd.url;
      if (cmd.enabledEvents !== undefined) {
        if (cmd.enabledEvents.length === 0) throw new DomainError('parameter_invalid', 'enabled_events cannot be empty.', 'enabled_events', 400);
        if (!sameList(cmd.enabledEvents, ep.enabled_events)) data.enabled_events = [...cmd.enabledEvents];
      }
      if (cmd.description !== undefined && cmd.description !== ep.description) data.description = cmd.description;
      if (cmd.metadata !== undefined) {
        const merged = mergeMetadata(ep.metadata, cmd.metadata);
        if (!sameMetadata(merged, ep.metadata)) {
          checkMetadata(merged);
          data.metadata = merged;
        }
      }
      if (cmd.disabled !== undefined) {
        const status = cmd.disabled ? 'disabled' : 'enabled';
        if (status !== ep.status) {
          data.status = status;
          // Enabled again: a fresh start for the failure clock, and no stale reason shown.
          if (status === 'enabled') {
            data.enabled_at = cmd.now;
            data.disabled_reason = null;
          }
        }
      }
      return Object.keys(data).length === 1 ? [] : [{ type: 'webhook_endpoint.updated', at: cmd.now, data }];
    }
    case 'RemoveWebhookEndpoint': {
      const { ep } = ownEndpoint(s, cmd.endpointId, cmd.livemode);
      return [{ type: 'webhook_endpoint.deleted', at: cmd.now, data: { id: ep.id } }];
    }
    case 'RollWebhookEndpointSecret': {
      const { ep } = ownEndpoint(s, cmd.endpointId, cmd.livemode);
      // A roll retried (same sealed secret): already done.
      if (ep.secret_enc === cmd.secretEnc) return [];
      if (cmd.expiresAt < cmd.now) throw new DomainError('parameter_invalid', 'expires_at must not be in the past.', 'expires_at', 400);
      // The current secret keeps signing until expiresAt (not at all when that is now); still-valid older ones stay.
      const kept = (ep.previous_secrets ?? []).filter((p) => p.expires_at > cmd.now);
      const previous = cmd.expiresAt > cmd.now ? [{ secret_enc: ep.secret_enc, expires_at: cmd.expiresAt }, ...kept] : kept;
      return [{ type: 'webhook_endpoint.secret_rolled', at: cmd.now, data: { id: ep.id, secret_enc: cmd.secretEnc, previous_secrets: previous } }];
    }
    case 'DisableFailingWebhookEndpoint': {
      if (s === null) throw new DomainError('resource_missing', 'No such merchant.', 'merchant_id', 404);
      const ep = endpointsOf(s).find((e) => e.id === cmd.endpointId);
      // Gone, or already disabled (by the merchant or by an earlier verdict): nothing to do.
      if (!ep || ep.status === 'disabled') return [];
      // Re-enabled after the failures began: the merchant's word wins; failures must start over.
      if (ep.enabled_at !== undefined && ep.enabled_at > cmd.failingSince) return [];
      return [
        {
          type: 'webhook_endpoint.disabled',
          at: cmd.now,
          data: { id: ep.id, livemode: ep.livemode, reason: 'failing', failing_since: cmd.failingSince },
        },
      ];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(s: MerchantState, e: MerchantEvent): MerchantState {
  switch (e.type) {
    case 'merchant.onboarded':
      return { ...e.data, webhook_endpoints: [] };
    case 'merchant.updated':
      if (s === null) return s;
      return { ...s, ...e.data, updated: e.at };
    case 'webhook_endpoint.created':
      if (s === null) return s;
      return { ...s, webhook_endpoints: [...endpointsOf(s), { ...e.data }], updated: e.at };
    case 'webhook_endpoint.updated': {
      if (s === null) return s;
      const { id, ...changes } = e.data;
      return { ...s, webhook_endpoints: endpointsOf(s).map((ep) => (ep.id === id ? { ...ep, ...changes } : ep)), updated: e.at };
    }
    case 'webhook_endpoint.deleted':
      if (s === null) return s;
      return { ...s, webhook_endpoints: endpointsOf(s).filter((ep) => ep.id !== e.data.id), updated: e.at };
    case 'webhook_endpoint.secret_rolled': {
      if (s === null) return s;
      const { id, secret_enc, previous_secrets } = e.data;
      return { ...s, webhook_endpoints: endpointsOf(s).map((ep) => (ep.id === id ? { ...ep, secret_enc, previous_secrets } : ep)), updated: e.at };
    }
    case 'webhook_endpoint.disabled':
      if (s === null) return s;
      return {
        ...s,
        webhook_endpoints: endpointsOf(s).map((ep) => (ep.id === e.data.id ? { ...ep, status: 'disabled' as const, disabled_reason: e.data.reason } : ep)),
        updated: e.at,
      };
    default:
      return assertNever(e);
  }
}

export const merchantDecider: Decider<MerchantCommand, MerchantEvent, MerchantState> = {
  initialState: null,
  decide,
  evolve,
};
