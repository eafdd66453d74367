// The invariant checker: after a chaos run, read what every part of the system says happened — the
// event stream (the source of truth), the read model, the card network's ledger, the merchants'
// webhook receiver and the dead-letter subjects — and prove they agree, payment by payment.
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Intent } from '../actors/mod.ts';
import type { WireTransaction } from '../epn/wire.ts';
import type { Commit } from '../streams/envelope.ts';
import { decodeCommit } from '../streams/codec.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import { stripeEventsOf } from '../stripe/objects.ts';
import type { PaymentRecord } from './load.ts';

export interface InvariantResult {
  name: string;
  /** Things looked at (payments, intents, events …). */
  checked: number;
  violations: string[];
}

export interface ProjectionRow {
  id: string;
  merchant_id: string;
  status: string;
  amount: number;
  amount_received: number;
  currency: string;
  last_seq: number;
}

export interface CheckInputs {
  nc: NatsConnection;
  merchants: string[];
  records: PaymentRecord[];
  /** Every payment_intents row of these merchants (the read model). */
  projection: () => Promise<ProjectionRow[]>;
  /** The network's ledger (EPN GET /v1/ledger). */
  ledger: () => Promise<WireTransaction[]>;
  /** Event ids the merchants' endpoint received (signature verified). */
  delivered: ReadonlySet<string>;
}

const FINAL = new Set(['succeeded', 'canceled', 'requires_payment_method']);
const TERMINAL = new Set(['succeeded', 'canceled']);
const cap = (v: string[], n = 20) => (v.length > n ? [...v.slice(0, n), `… and ${v.length - n} more`] : v);

/** Every commit of PAY_EVENTS, in stream order, by subject. */
export async function readHistories(nc: NatsConnection, filter = 'pay.evt.>'): Promise<Map<string, { seq: number; commit: Commit }[]>> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(EVENTS_STREAM);
  const last = info.state.last_seq;
  const out = new Map<string, { seq: number; commit: Commit }[]>();
  if (info.state.messages === 0) return out;
  const c = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [filter], deliver_policy: DeliverPolicy.All });
  const it = await c.consume({ max_messages: 1_000 });
  for await (const m of it) {
    const list = out.get(m.subject) ?? [];
    list.push({ seq: m.seq, commit: decodeCommit(m.data) });
    out.set(m.subject, list);
    if (m.info.pending === 0 || m.seq >= last) break;
  }
  await it.close();
  return out;
}

/** Event ids in the webhook dead-letter subjects. */
async function deadLettered(nc: NatsConnection): Promise<Set<string>> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(WEBHOOKS_STREAM, { subjects_filter: 'pay.webhook.dlq.>' });
  const out = new Set<string>();
  const n = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  if (n === 0) return out;
  const c = await js.consumers.get(WEBHOOKS_STREAM, { filter_subjects: ['pay.webhook.dlq.>'], deliver_policy: DeliverPolicy.All });
  const it = await c.consume({ max_messages: 500 });
  let seen = 0;
  for await (const m of it) {
    const body = m.json<{ task?: { event_id?: string }; event_id?: string }>();
    const id = body.task?.event_id ?? body.event_id;
    if (id) out.add(id);
    if (++seen >= n || m.info.pending === 0) break;
  }
  await it.close();
  return out;
}

/** Money the network holds for each intent: captured minus refunded, plus live uncaptured holds. */
function networkMoney(ledger: WireTransaction[]): Map<string, { net: number; live: number; refs: string[]; merchants: string[] }> {
  const out = new Map<string, { net: number; live: number; refs: string[]; merchants: string[] }>();
  for (const tx of ledger) {
    if (!tx.intent_id) continue;
    const held = tx.status === 'authorized' ? tx.amount : tx.amount_captured - tx.amount_refunded;
    const e = out.get(tx.intent_id) ?? { net: 0, live: 0, refs: [], merchants: [] };
    e.merchants.push(tx.merchant_id);
    e.net += Math.max(0, held);
    if (held > 0) {
      e.live++;
      e.refs.push(tx.network_ref);
    }
    out.set(tx.intent_id, e);
  }
  return out;
}

/** Money our books say the intent holds: its successful attempts, less refunds and reversals. */
function bookedMoney(i: Intent): number {
  let n = 0;
  for (const a of i.attempts) {
    if (a.status !== 'succeeded') continue;
    if ((a.reversals ?? []).length > 0) continue;
    n += (a.captured ? a.amount_captured : a.amount) - a.amount_refunded;
  }
  return n;
}

export async function checkInvariants(x: CheckInputs): Promise<InvariantResult[]> {
  const merchants = new Set(x.merchants);
  const histories = await readHistories(x.nc);
  const intents = new Map<string, { subject: string; commits: { seq: number; commit: Commit }[]; final: Intent }>();
  for (const [subject, commits] of histories) {
    const last = commits[commits.length - 1]!.commit;
    if (last.aggregate !== 'intent' || !merchants.has(last.merchant_id)) continue;
    intents.set(last.aggregate_id, { subject, commits, final: last.state as Intent });
  }
  const results: InvariantResult[] = [];

  // 1. Every payment acknowledged to a client exists, is final, and kept what it was told.
  {
    const v: string[] = [];
    const acked = x.records.filter((r) => r.intent_id && r.acked_status);
    for (const r of acked) {
      const i = intents.get(r.intent_id!);
      if (!i) {
        v.push(`payment ${r.n}: acknowledged ${r.intent_id} (${r.acked_status}) is not in the stream`);
        continue;
      }
      const s = i.final.status;
      if (!FINAL.has(s)) v.push(`${r.intent_id}: acknowledged, still ${s}`);
      if (TERMINAL.has(r.acked_status!) && s !== r.acked_status) v.push(`${r.intent_id}: acknowledged ${r.acked_status}, now ${s}`);
      const open = i.final.attempts.filter((a) => a.status === 'pending' || a.status === 'in_doubt');
      if (open.length) v.push(`${r.intent_id}: attempts still ${open.map((a) => `${a.id}=${a.status}`).join(', ')}`);
    }
    results.push({ name: 'acknowledged payments exist and are final', checked: acked.length, violations: cap(v) });
  }

  // 2. No intent holds two successful charges, in our books or at the network; books and network agree.
  {
    const v: string[] = [];
    const money = networkMoney(await x.ledger());
    for (const [id, i] of intents) {
      const live = i.final.attempts.filter((a) => a.status === 'succeeded' && (a.reversals ?? []).length === 0);
      if (live.length > 1) v.push(`${id}: ${live.length} successful attempts (${live.map((a) => a.id).join(', ')})`);
      const booked = bookedMoney(i.final);
      const net = money.get(id) ?? { net: 0, live: 0, refs: [], merchants: [] };
      if (net.live > 1) v.push(`${id}: ${net.live} live network transactions (${net.refs.join(', ')})`);
      if (net.net !== booked) v.push(`${id}: network holds ${net.net}, our books ${booked} (status ${i.final.status})`);
      if (i.final.status === 'succeeded' && booked !== i.final.amount) v.push(`${id}: succeeded with ${booked} booked of ${i.final.amount}`);
    }
    // Money the network moved for an intent our books never heard of.
    for (const [id, m] of money) if (m.net > 0 && !intents.has(id) && m.merchants.some((mid) => merchants.has(mid))) v.push(`${id}: network holds ${m.net}, no such intent in the stream`);
    results.push({ name: 'no double charge; network money = booked money', checked: intents.size, violations: cap(v) });
  }

  // 3. No terminal status went backwards; attempts never leave a settled status.
  {
    const v: string[] = [];
    let n = 0;
    for (const [id, i] of intents) {
      let terminal: string | null = null;
      const settled = new Map<string, string>();
      for (const { seq, commit } of i.commits) {
        n++;
        const st = commit.state as Intent;
        if (terminal && st.status !== terminal) v.push(`${id}@${seq}: ${terminal} → ${st.status}`);
        if (TERMINAL.has(st.status)) terminal = st.status;
        for (const a of st.attempts) {
          const was = settled.get(a.id);
          if (was && was !== a.status) v.push(`${id}/${a.id}@${seq}: attempt ${was} → ${a.status}`);
          if (a.status === 'succeeded' || a.status === 'failed') settled.set(a.id, a.status);
        }
      }
    }
    results.push({ name: 'no terminal status went backwards', checked: n, violations: cap(v) });
  }

  // 4. The read model equals a replay of the stream.
  {
    const v: string[] = [];
    const rows = await x.projection();
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [id, i] of intents) {
      const r = byId.get(id);
      const f = i.final;
      const lastSeq = i.commits[i.commits.length - 1]!.seq;
      if (!r) {
        v.push(`${id}: missing from the read model`);
        continue;
      }
      const want = { status: f.status, amount: f.amount, amount_received: f.amount_received, currency: f.currency, last_seq: lastSeq };
      const got = { status: r.status, amount: Number(r.amount), amount_received: Number(r.amount_received), currency: r.currency, last_seq: Number(r.last_seq) };
      for (const k of Object.keys(want) as (keyof typeof want)[]) {
        if (want[k] !== got[k]) v.push(`${id}: read model ${k}=${got[k]}, stream ${want[k]}`);
      }
    }
    for (const r of rows) if (!intents.has(r.id)) v.push(`${r.id}: in the read model, not in the stream`);
    results.push({ name: 'read model = replay of the stream', checked: intents.size, violations: cap(v) });
  }

  // 5. Every event owed to a merchant was delivered (signed) or is in the dead-letter subjects.
  {
    const v: string[] = [];
    const dlq = await deadLettered(x.nc);
    let n = 0;
    for (const [, i] of intents) {
      for (const { commit } of i.commits) {
        for (const e of stripeEventsOf(commit)) {
          n++;
          if (!x.delivered.has(e.id) && !dlq.has(e.id)) v.push(`${e.id} (${e.type}, ${commit.aggregate_id}) neither delivered nor dead-lettered`);
        }
      }
    }
    results.push({ name: 'every subscribed event delivered or dead-lettered', checked: n, violations: cap(v) });
  }
  return results;
}
