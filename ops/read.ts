// Reading streams for people: every message on some subjects, with its headers, by an ordered
// (ephemeral, server-side filtered) consumer. What `nats stream view --subject` shows, decoded.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface StoredMsg {
  stream: string;
  seq: number;
  subject: string;
  /** ISO time the server stored it. */
  time: string;
  headers: Record<string, string>;
  data: Uint8Array;
}

export interface ReadOptions {
  /** Only messages stored at or after this time (bounds a scan of a busy subject). */
  since?: Date;
  /** Only the last message of each subject (current state of every aggregate under a wildcard). */
  lastPerSubject?: boolean;
  /** Stop after this many. */
  limit?: number;
  /** Headers and subjects only (a scan for a header reads no bodies). */
  headersOnly?: boolean;
  /** Stop at the first message this accepts (it is the last one returned). */
  until?: (m: StoredMsg) => boolean;
}

export async function readAll(nc: NatsConnection, stream: string, filters: string[], o: ReadOptions = {}): Promise<StoredMsg[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, {
    filter_subjects: filters,
    ...(o.headersOnly ? { headers_only: true } : {}),
    ...(o.lastPerSubject
      ? { deliver_policy: DeliverPolicy.LastPerSubject }
      : o.since
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: o.since.toISOString() }
        : { deliver_policy: DeliverPolicy.All }),
  });
  const out: StoredMsg[] = [];
  // Nothing to read: next() would wait out its expiry.
  if ((await consumer.info()).num_pending === 0) {
    await consumer.delete().catch(() => {});
    return out;
  }
  for (;;) {
    const m = await consumer.next({ expires: 2_000 });
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
    const sm: StoredMsg = { stream, seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(), headers, data: m.data };
    if (o.until) {
      if (o.until(sm)) {
        out.push(sm);
        break;
      }
    } else out.push(sm);
    if (m.info.pending === 0 || (o.limit !== undefined && out.length >= o.limit)) break;
  }
  await consumer.delete().catch(() => {});
  return out;
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Seconds → "3d4h", "2h5m", "42s". */
export function age(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s % 60}s`;
  return `${s}s`;
}

export const secondsSince = (iso: string | undefined | null): number | null => {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) && t > 0 ? (Date.now() - t) / 1000 : null;
};
