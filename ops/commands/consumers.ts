// `ops consumers`: every durable's lag and redeliveries.
import { jetstreamManager } from '@nats-io/jetstream';
import { flag, type OpsCommand } from '../command.ts';
import { table } from '../context.ts';
import { age, secondsSince } from '../read.ts';

export interface ConsumerRow {
  stream: string;
  consumer: string;
  /** Messages not yet delivered to it: its lag. */
  pending: number;
  /** Delivered, not yet acknowledged (in flight, or waiting out a nak delay). */
  ack_pending: number;
  /** Unacknowledged messages delivered more than once. */
  redelivered: number;
  /** Pull requests waiting: >0 means a worker is attached and idle. */
  waiting: number;
  delivered_seq: number;
  ack_floor_seq: number;
  /** Stream sequences between the ack floor and the stream's last message. */
  behind: number;
  last_active: string | null;
  filter: string;
}

export const consumers: OpsCommand = {
  name: 'consumers',
  summary: 'durable consumers: pending (lag), ack pending, redelivered, how far behind the stream',
  help: `usage: npm run ops -- consumers [--stream NAME] [--json]

Lists the durable consumers of the payment streams with what an operator watches:
  pending      messages not yet delivered (the lag; projector lag shows here)
  ack_pending  delivered and not yet acknowledged (webhook retries and in-doubt
               reconciliation wait here between tries)
  redelivered  unacknowledged messages delivered more than once
  behind       stream last sequence minus the ack floor
  last_active  when a worker last pulled or acknowledged

  --stream NAME   only this stream (default: every PAY_* stream)
  --json          one JSON array

The same from the nats CLI: npm run nats -- consumer report PAY_EVENTS
                            npm run nats -- consumer info PAY_EVENTS projector

example: npm run ops -- consumers --stream PAY_WEBHOOKS`,
  async run(args, ctx) {
    const only = flag(args, 'stream');
    const jsm = await jetstreamManager(await ctx.nats());
    const rows: ConsumerRow[] = [];
    const names: { name: string; last: number }[] = [];
    for await (const si of jsm.streams.list()) {
      if (only ? si.config.name === only : si.config.name.startsWith('PAY_')) names.push({ name: si.config.name, last: si.state.last_seq });
    }
    if (only && names.length === 0) throw new Error(`no stream ${only}`);
    for (const s of names) {
      for await (const ci of jsm.consumers.list(s.name)) {
        if (!ci.config.durable_name) continue; // ephemeral readers (nats stream view, ops intent) come and go
        // The later of the last delivery and the last ack; the server sends ISO times (the client's type says Nanos).
        const times = ([ci.delivered.last_active, ci.ack_floor.last_active] as unknown[]).filter((x): x is string => typeof x === 'string' && Number.isFinite(Date.parse(x)));
        const last = times.sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
        rows.push({
          stream: s.name,
          consumer: ci.name,
          pending: ci.num_pending,
          ack_pending: ci.num_ack_pending,
          redelivered: ci.num_redelivered,
          waiting: ci.num_waiting,
          delivered_seq: ci.delivered.stream_seq,
          ack_floor_seq: ci.ack_floor.stream_seq,
          behind: Math.max(0, s.last - ci.ack_floor.stream_seq),
          last_active: last,
          filter: ci.config.filter_subject ?? (ci.config.filter_subjects ?? []).join(','),
        });
      }
    }
    rows.sort((a, b) => a.stream.localeCompare(b.stream) || a.consumer.localeCompare(b.consumer));
    ctx.out(
      () =>
        table(
          rows.map((r) => {
            const ago = secondsSince(r.last_active);
            return { ...r, last_active: ago === null ? '' : `${age(ago)} ago` };
          }),
          ['stream', 'consumer', 'pending', 'ack_pending', 'redelivered', 'waiting', 'behind', 'last_active', 'filter'],
        ),
      rows,
    );
  },
};
