// `ops streams`: every stream's size and reach: messages, bytes, first/last sequence, age of the oldest message.
import { jetstreamManager } from '@nats-io/jetstream';
import type { OpsCommand } from '../command.ts';
import { table } from '../context.ts';
import { age, bytes, secondsSince } from '../read.ts';

export interface StreamRow {
  stream: string;
  messages: number;
  bytes: number;
  first_seq: number;
  last_seq: number;
  first_ts: string | null;
  last_ts: string | null;
  /** Seconds since the oldest stored message. */
  age_s: number | null;
  subjects: number;
  consumers: number;
  storage: string;
  replicas: number;
}

export const streams: OpsCommand = {
  name: 'streams',
  summary: 'JetStream streams: messages, bytes, first/last sequence, age of the oldest message',
  help: `usage: npm run ops -- streams [--all] [--json]

Lists the payment streams (PAY_EVENTS, PAY_WEBHOOKS) with their size and reach:
messages, bytes, first and last sequence, the time of the first and last message,
how old the oldest message is (retention at work), subject and consumer counts.

  --all    also the streams behind KV buckets (KV_pay_*) and object stores (OBJ_*)
  --json   one JSON array, numbers unformatted (bytes, age_s in seconds)

The same from the nats CLI: npm run nats -- stream ls -a   /   npm run nats -- stream info PAY_EVENTS

example: npm run ops -- streams --all`,
  async run(args, ctx) {
    const all = args.includes('--all');
    const jsm = await jetstreamManager(await ctx.nats());
    const rows: StreamRow[] = [];
    for await (const si of jsm.streams.list()) {
      if (!all && !si.config.name.startsWith('PAY_')) continue;
      const st = si.state;
      const firstTs = st.messages > 0 && st.first_ts && !st.first_ts.startsWith('0001') ? st.first_ts : null;
      const lastTs = st.messages > 0 && st.last_ts && !st.last_ts.startsWith('0001') ? st.last_ts : null;
      rows.push({
        stream: si.config.name,
        messages: st.messages,
        bytes: st.bytes,
        first_seq: st.first_seq,
        last_seq: st.last_seq,
        first_ts: firstTs,
        last_ts: lastTs,
        age_s: firstTs ? Math.round(secondsSince(firstTs) ?? 0) : null,
        subjects: st.num_subjects ?? 0,
        consumers: st.consumer_count,
        storage: String(si.config.storage),
        replicas: si.config.num_replicas,
      });
    }
    rows.sort((a, b) => a.stream.localeCompare(b.stream));
    ctx.out(
      () =>
        table(
          rows.map((r) => ({
            stream: r.stream,
            messages: r.messages,
            bytes: bytes(r.bytes),
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            age: r.age_s === null ? '' : age(r.age_s),
            last: r.last_ts ?? '',
            subjects: r.subjects,
            consumers: r.consumers,
          })),
        ),
      rows,
    );
  },
};
