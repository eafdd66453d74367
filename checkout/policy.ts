// Who may embed the card frame, and the security headers of everything checkout serves.
// Pure: the gateway route (gateway/routes/checkout.ts) feeds it the merchant's allowed_origins.

export type Mode = 'test' | 'live';

/**
 * Test mode also allows pages served from the machine itself (a developer's store on localhost).
 * Not [::1]: CSP host-sources cannot name an IPv6 literal.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1']);
const LOOPBACK_SOURCES = ['http://localhost:*', 'http://127.0.0.1:*', 'https://localhost:*', 'https://127.0.0.1:*'];

/** The origin of an http(s) URL written as an origin ("https://shop.example" or with a port), else null. */
export function normalizeOrigin(raw: string): string | null {
  if (typeof raw !== 'string' || raw.length > 300) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) return null;
  return u.origin;
}

/** A merchant's configured origins that are well-formed origins (anything else is dropped, never spliced into a header). */
export function configuredOrigins(allowed: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of allowed) {
    const o = normalizeOrigin(a);
    if (o && !out.includes(o)) out.push(o);
  }
  return out;
}

/** May a page at `origin` embed the card frame of this merchant, in this mode? */
export function originAllowed(origin: string, allowed: readonly string[], mode: Mode): boolean {
  const o = normalizeOrigin(origin);
  if (!o || o !== origin) return false;
  if (configuredOrigins(allowed).includes(o)) return true;
  return mode === 'test' && LOOPBACK_HOSTS.has(new URL(o).hostname);
}

/** The frame-ancestors sources: the merchant's origins, plus loopback in test mode; 'none' when empty. */
export function frameAncestors(allowed: readonly string[], mode: Mode): string {
  const sources = [...configuredOrigins(allowed), ...(mode === 'test' ? LOOPBACK_SOURCES : [])];
  return sources.length === 0 ? "'none'" : sources.join(' ');
}

/** The card frame: our own scripts, styles and API only; embeddable by the merchant's origins only. */
export function cardFrameCsp(allowed: readonly string[], mode: Mode): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    `frame-ancestors ${frameAncestors(allowed, mode)}`,
  ].join('; ');
}

/** The 3-D Secure return page: inside our card frame, itself inside the merchant's page. */
export function returnPageCsp(allowed: readonly string[], mode: Mode): string {
  const ancestors = frameAncestors(allowed, mode);
  return `default-src 'none'; script-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'${ancestors === "'none'" ? '' : ` ${ancestors}`}`;
}

/**
 * The 3-D Secure challenge page: a top-level redirect, our card frame, or a modal on the merchant's
 * page may show it, so only we and the merchant's origins may frame it (frame-ancestors checks every
 * ancestor). Its forms post back to us, then redirect to the merchant's return_url.
 */
export function challengePageCsp(allowed: readonly string[], mode: Mode): string {
  const ancestors = frameAncestors(allowed, mode);
  return `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'self'${ancestors === "'none'" ? '' : ` ${ancestors}`}`;
}

/** Scripts and styles: nothing to run or frame as a document. */
export const ASSET_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/** A refusal page (unknown key, origin not allowed): framed by nobody. */
export const REFUSAL_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/** Headers every checkout response carries. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};
