// Where a live-mode webhook may go: https only, and never to an address inside our own network
// (loopback, private, link-local, CGNAT, unspecified, multicast, IPv6 ULA/link-local, and IPv4 in
// IPv6). Checked when an endpoint is created or updated, and again before every live delivery,
// since what a name resolves to can change. Test mode may use any http(s) URL (localhost included).
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

/** True for an address a live webhook must not reach. IPv4-mapped IPv6 is judged as the IPv4 it maps. */
export function isBlockedAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) return blocked.check(address, 'ipv6');
  return true;
}

export type Resolver = (host: string) => Promise<string[]>;

const dnsResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Why a webhook URL may not be used in this mode, or null when it may. Live mode: https, and every
 * address the host resolves to must be public (one bad address is enough to refuse: a resolver may
 * hand out any of them).
 */
export async function urlProblem(raw: string, livemode: boolean, resolve: Resolver = dnsResolver): Promise<string | null> {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'The URL must be an http or https URL.';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'The URL must be an http or https URL.';
  if (!livemode) return null;
  if (u.protocol !== 'https:') return 'Live mode webhook endpoints must use https.';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : await resolve(host);
  } catch (err) {
    return `The URL's host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`;
  }
  if (addresses.length === 0) return `The URL's host ${host} does not resolve.`;
  const bad = addresses.find(isBlockedAddress);
  if (bad) return `The URL's host ${host} resolves to ${bad}, a loopback, private or link-local address; live mode webhooks must reach a public address.`;
  return null;
}
