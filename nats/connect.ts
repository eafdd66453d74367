// Connecting, with the server-version check: we refuse to run on a server without the features
// the design relies on (see README "NATS server").
import { connect as natsConnect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { coalesceWrites } from './coalesce.ts';
import './request-patch.ts'; // nats-core 3.4.0: no Error per completed request (see there)
import './encode-patch.ts'; // nats-core/jetstream 3.4.0: protocol lines and headers without TextEncoder (see there)

/**
 * 2.10.0: `sync_interval` (fsync per write), correct expected-last-subject-sequence in clusters
 * (fixed 2.9.21/2.10.0), multiple filter subjects. 2.11.0: priority groups (pinned consumers) and
 * per-message TTL, which partition failover and idempotency expiry may use. 2.12.0: atomic batch
 * publish, which writes a chunk's aggregate snapshots with one sync (runtime/snapshots.ts).
 */
export const MIN_SERVER_VERSION = '2.12.0';

export class ServerVersionError extends Error {
  constructor(readonly found: string) {
    super(`nats-server ${found} is older than the minimum ${MIN_SERVER_VERSION} this system needs`);
    this.name = 'ServerVersionError';
  }
}

export function versionAtLeast(found: string, min: string): boolean {
  const a = found.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const nc = await natsConnect({
    servers: url.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Every request otherwise builds two Error objects up front to keep async stack traces: 12 % of
    // the node's CPU under load (bench --cpu-prof). Our errors carry their own context.
    noAsyncTraces: true,
  });
  coalesceWrites(nc);
  const version = nc.info?.version ?? '0.0.0';
  if (!versionAtLeast(version, MIN_SERVER_VERSION)) {
    await nc.close();
    throw new ServerVersionError(version);
  }
  return nc;
}

export type { NatsConnection };
