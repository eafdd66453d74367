// NATS messages one payment costs, from the server's own counters (/varz on its monitoring port,
// found in DATA_DIR/nats-server.log): messages in (publishes, requests, acks, replies) and out
// (deliveries, replies, acks) between two points. Unlike payments/s this barely depends on how busy
// the machine is, so it is the figure to compare when other work shares the cores.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Varz {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

export function monitorUrl(dataDir: string): string | null {
  const log = path.join(dataDir, 'nats-server.log');
  if (!existsSync(log)) return null;
  const m = [...readFileSync(log, 'utf8').matchAll(/Starting http monitor on (127\.0\.0\.1|localhost):(\d+)/g)].pop();
  return m ? `http://127.0.0.1:${m[2]}` : null;
}

export async function readVarz(url: string | null): Promise<Varz | null> {
  if (!url) return null;
  try {
    const r = await fetch(`${url}/varz`, { signal: AbortSignal.timeout(2_000) });
    const v = (await r.json()) as Varz;
    return { in_msgs: v.in_msgs, out_msgs: v.out_msgs, in_bytes: v.in_bytes, out_bytes: v.out_bytes };
  } catch {
    return null;
  }
}

export function perPayment(a: Varz | null, b: Varz | null, n: number): { in: number; out: number; total: number; bytes: number } | null {
  if (!a || !b || n <= 0) return null;
  const r = (x: number) => Math.round((x / n) * 10) / 10;
  const dIn = b.in_msgs - a.in_msgs;
  const dOut = b.out_msgs - a.out_msgs;
  return { in: r(dIn), out: r(dOut), total: r(dIn + dOut), bytes: Math.round((b.in_bytes - a.in_bytes + b.out_bytes - a.out_bytes) / n) };
}
