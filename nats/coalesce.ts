// Fewer, larger socket writes to the server. The client writes what is queued once per microtask
// checkpoint, so under load nearly every publish and request became its own write(2): 15–18 % of
// the node's CPU (bench --cpu-prof: writeBuffer under the transport's send), and as many reads in
// nats-server. Deferring the flush to the end of the event-loop turn (setImmediate) sends every
// command issued in the turn in one write; it adds no wait beyond the turn itself. The client's own
// safety flushes (its pending limit, PING for flush(), drain) still go through this one method.
import type { NatsConnection } from '@nats-io/transport-node';

interface Protocol {
  flushPending(): void;
  outbound?: { size(): number };
}

/** Past this many queued bytes the flush is not deferred (large payloads go out at once). */
const EAGER_BYTES = 64 * 1024;

export function coalesceWrites(nc: NatsConnection): boolean {
  const proto = (nc as unknown as { protocol?: Protocol }).protocol;
  if (!proto || typeof proto.flushPending !== 'function') return false;
  const flushNow = proto.flushPending.bind(proto);
  let scheduled = false;
  const flushTurn = () => {
    scheduled = false;
    flushNow();
  };
  proto.flushPending = () => {
    if ((proto.outbound?.size() ?? 0) >= EAGER_BYTES) return flushNow();
    if (scheduled) return;
    scheduled = true;
    setImmediate(flushTurn);
  };
  return true;
}
