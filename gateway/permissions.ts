// Restricted keys (rk_…): per-resource read/write permissions, as Stripe's. A route's resource is
// found from its registered URL; GET/HEAD need `read`, everything else `write` (which includes read).
// A /v1 URL this table does not know is denied to a restricted key: new routes are closed by default.
import { ApiError } from '../stripe/errors.ts';

export const RESOURCES = ['payment_intents', 'charges', 'refunds', 'customers', 'payment_methods', 'setup_intents', 'events', 'webhook_endpoints', 'balance', 'tokens', 'checkout_sessions', 'products', 'prices', 'payment_links', 'coupons', 'promotion_codes', 'disputes', 'radar_early_fraud_warnings'] as const;
export type Resource = (typeof RESOURCES)[number];
export type Access = 'none' | 'read' | 'write';
export type Permissions = Partial<Record<Resource, Access>>;

/** The resource a route (its registered URL, e.g. /v1/charges/:id/refunds) acts on, or null. */
export function resourceOf(url: string): Resource | null {
  if (url.startsWith('/stripe/intend')) return 'payment_intents';
  // SetupAttempts are read under the SetupIntents permission, as at Stripe.
  if (url.startsWith('/v1/setup_attempts')) return 'setup_intents';
  // Balance transactions are read under the balance permission.
  if (url.startsWith('/v1/balance_transactions')) return 'balance';
  if (url.startsWith('/v1/checkout/sessions')) return 'checkout_sessions';
  if (url.startsWith('/v1/radar/early_fraud_warnings')) return 'radar_early_fraud_warnings';
  const m = /^\/v1\/([a-z_]+)(\/:id\/([a-z_]+))?/.exec(url);
  if (!m) return null;
  // A sub-collection names its own resource (/v1/charges/:id/refunds lists refunds).
  const name = m[3] && (RESOURCES as readonly string[]).includes(m[3]) ? m[3] : m[1];
  return (RESOURCES as readonly string[]).includes(name!) ? (name as Resource) : null;
}

export function accessNeeded(method: string): Exclude<Access, 'none'> {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

export function allows(perms: Permissions, resource: Resource, need: Exclude<Access, 'none'>): boolean {
  const has = perms[resource] ?? 'none';
  return has === 'write' || (has === 'read' && need === 'read');
}

/** Stripe's permission name for a resource, e.g. rak_payment_intent_write. */
const stripeName = (r: Resource, need: string) => `rak_${r.replace(/s$/, '')}_${need}`;

/** Throws Stripe's 403 unless the restricted key's permissions cover this request. */
export function checkPermission(perms: Permissions, method: string, url: string, shownKey: string, merchantId: string): void {
  const resource = resourceOf(url);
  const need = accessNeeded(method);
  if (resource && allows(perms, resource, need)) return;
  const hint = resource ? ` Having the '${stripeName(resource, need)}' permission would allow this request to continue.` : '';
  throw new ApiError(403, 'invalid_request_error', 'permission_denied', `The provided key '${shownKey}' does not have the required permissions for this endpoint on account '${merchantId}'.${hint}`);
}

/** Validates an admin-supplied permission map; returns the error message or null. */
export function invalidPermissions(p: unknown): string | null {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return 'permissions must be an object of resource → none|read|write';
  for (const [k, v] of Object.entries(p)) {
    if (!(RESOURCES as readonly string[]).includes(k)) return `unknown resource '${k}' (known: ${RESOURCES.join(', ')})`;
    if (v !== 'none' && v !== 'read' && v !== 'write') return `permission of '${k}' must be none, read or write`;
  }
  return null;
}
