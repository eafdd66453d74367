// The baseline: raw JetStream append rate on the stack's own nats-server, into a scratch file
// stream (BENCH_RAW, deleted afterwards), with `window` publishes in flight; and, for contrast, the
// rate when each append is awaited before the next. Bounded in count and time.
import { jetstream, jetstreamManager, StorageType, RetentionPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { round } from './stats.ts';

export interface RawResult {
  raw_append_per_s: number;
  raw_serial_append_per_s: number;
  raw_messages: number;
  raw_window: number;
  raw_errors: number;
  raw_ms: number;
}

const STREAM = 'BENCH_RAW';

export async function rawAppendRate(natsUrl: string, o: { messages?: number; window?: number; size?: number; serial?: number; capMs?: number } = {}): Promise<RawResult> {
  const messages = o.messages ?? 20_000;
  const window = o.window ?? 256;
  const serial = o.serial ?? 1_000;
  const capMs = o.capMs ?? 30_000;
  const payload = new Uint8Array(o.size ?? 128).fill(120);
  const nc = await connect({ servers: natsUrl, name: 'paynats-bench-raw' });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.delete(STREAM).catch(() => false);
    await jsm.streams.add({ name: STREAM, subjects: ['bench.raw.>'], storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: 1 });
    let errors = 0;
    try {
      // Warm-up: connection, stream files.
      for (let i = 0; i < 200; i++) await js.publish(`bench.raw.w`, payload).catch(() => errors++);

      // Pipelined: keep `window` publishes outstanding.
      let sent = 0;
      let done = 0;
      const deadline = performance.now() + capMs;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        let inflight = 0;
        const pump = () => {
          while (inflight < window && sent < messages && performance.now() < deadline) {
            inflight++;
            sent++;
            js.publish(`bench.raw.${sent & 15}`, payload, { timeout: 10_000 }).then(
              () => done++,
              () => errors++,
            ).finally(() => {
              inflight--;
              if (inflight === 0 && (sent >= messages || performance.now() >= deadline)) resolve();
              else pump();
            });
          }
          if (inflight === 0) resolve();
        };
        pump();
      });
      const ms = performance.now() - t0;

      // Serial: each append awaited (what one actor does without pipelining).
      const s0 = performance.now();
      let serialDone = 0;
      const serialDeadline = s0 + Math.min(5_000, capMs);
      for (let i = 0; i < serial && performance.now() < serialDeadline; i++) {
        await js.publish(`bench.raw.s`, payload).then(() => serialDone++, () => errors++);
      }
      const sms = performance.now() - s0;
      return {
        raw_append_per_s: round(done / (ms / 1000), 0),
        raw_serial_append_per_s: round(serialDone / (sms / 1000), 0),
        raw_messages: done,
        raw_window: window,
        raw_errors: errors,
        raw_ms: round(ms, 0),
      };
    } finally {
      await jsm.streams.delete(STREAM).catch(() => false);
    }
  } finally {
    await nc.close();
  }
}
