// `ops intent <id>`: one payment's whole story from the streams, by any of its ids: the commits
// (events decoded, with their Request-Id / Correlation-Id / Writer headers), its attempts and their
// network references, refunds, and every webhook delivery it caused with each try's receipt.
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Intent } from '../../actors/mod.ts';
import { buckets } from '../../nats/topology.ts';
import { decodeCommit } from '../../streams/codec.ts';
import type { IntentCommit } from '../../streams/envelope.ts';
import { EVENTS_STREAM, ID_PATTERN, WEBHOOKS_STREAM, parseEventSubject, subjects } from '../../streams/subjects.ts';
import type { DeadLetter, DeliveryReceipt, DeliveryTask } from '../../webhooks/types.ts';
import { flag, positionals, type OpsCommand } from '../command.ts';
import { UsageError, table } from '../context.ts';
import { readAll, type StoredMsg } from '../read.ts';
import { intentIdOfCharge } from '../../gateway/ids.ts';

export interface StoryCommit {
  seq: number;
  time: string;
  command: string;
  events: { id: string; type: string }[];
  status: string;
  request_id: string | null;
  correlation_id: string | null;
  writer: string | null;
}

export interface StoryDelivery {
  delivery_id: string;
  event_id: string;
  event_type: string;
  endpoint_id: string;
  url: string;
  commit_seq: number;
  request_id: string | null;
  status: 'delivered' | 'retrying' | 'dead' | 'pending';
  tries: { attempt: number; outcome: string; status_code: number | null; error: string | null; at: string; next_retry_at: string | null }[];
}

export interface IntentStory {
  intent_id: string;
  merchant_id: string;
  subject: string;
  status: string;
  amount: number;
  currency: string;
  livemode: boolean;
  created: string;
  request_ids: string[];
  correlation_ids: string[];
  commits: StoryCommit[];
  attempts: {
    id: string;
    status: string;
    payment_method: string;
    card: string;
    amount: number;
    network_ref: string | null;
    failure_code: string | null;
    decline_code: string | null;
    created: string;
  }[];
  refunds: { id: string; status: string; amount: number; charge: string }[];
  webhooks: StoryDelivery[];
}

const iso = (unix: number | null | undefined) => (unix ? new Date(unix * 1000).toISOString() : '');
const dec = new TextDecoder();

/** The intent a ch_/re_/pm_/pi_ id belongs to: [merchant or null, intent id]. */
async function resolve(nc: NatsConnection, id: string, merchant: string | undefined): Promise<{ merchantId: string | null; intentId: string }> {
  if (id.startsWith('pi_')) return { merchantId: merchant ?? null, intentId: id };
  const kvm = new Kvm(nc);
  const named = intentIdOfCharge(id);
  if (named) return { merchantId: merchant ?? null, intentId: named };
  if (id.startsWith('ch_') || id.startsWith('re_')) {
    const e = await (await kvm.open(buckets.index)).get(id);
    if (!e || e.operation !== 'PUT') throw new Error(`${id} is not in pay_index: no charge or refund with that id`);
    const entry = e.json<{ merchant_id: string; intent_id: string }>();
    return { merchantId: entry.merchant_id, intentId: entry.intent_id };
  }
  if (id.startsWith('pm_')) {
    let merchantId = merchant ?? null;
    if (!merchantId) {
      // Vault keys are pm.<merchant>.<pm>: the key names the merchant, the value stays sealed.
      for await (const k of await (await kvm.open(buckets.vault)).keys(`pm.*.${id}`)) merchantId = k.split('.')[1] ?? null;
    }
    if (!merchantId) throw new Error(`${id} is not in the vault; for a magic test id (pm_card_visa) pass --merchant`);
    // The intents of that merchant whose current state used this payment method: the newest wins.
    const last = await readAll(nc, EVENTS_STREAM, [subjects.merchantIntents(merchantId)], { lastPerSubject: true });
    const uses = last
      .map((m) => decodeCommit(m.data))
      .filter((c): c is IntentCommit => c.aggregate === 'intent' && (c.state.payment_method === id || c.state.attempts.some((a) => a.payment_method === id)))
      .sort((a, b) => b.at - a.at);
    if (uses.length === 0) throw new Error(`no intent of ${merchantId} used ${id}`);
    return { merchantId, intentId: uses[0]!.aggregate_id };
  }
  throw new UsageError(`'${id}' is not a pi_, ch_, re_, pm_ or req_ id`);
}

/** The intent whose commits carry this Request-Id (or Correlation-Id): a headers-only scan of the last `since`. */
async function byHeader(nc: NatsConnection, header: 'Request-Id' | 'Correlation-Id', value: string, since: Date, merchant: string | undefined): Promise<{ merchantId: string; intentId: string }> {
  const found = await readAll(nc, EVENTS_STREAM, [merchant ? subjects.merchantIntents(merchant) : 'pay.evt.intent.>'], { since, headersOnly: true, until: (m) => m.headers[header] === value });
  const hit = found[0];
  const parsed = hit ? parseEventSubject(hit.subject) : null;
  if (!parsed) throw new Error(`no intent commit with ${header} ${value} since ${since.toISOString()} (widen it with --since, e.g. --since 7d)`);
  return { merchantId: parsed.merchantId, intentId: parsed.aggregateId };
}

/** "90m", "24h", "7d" → milliseconds. */
export function duration(raw: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(raw);
  if (!m) throw new UsageError(`--since must be a duration like 90m, 24h or 7d, got '${raw}'`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

export async function intentStory(nc: NatsConnection, id: string, o: { merchant?: string; correlation?: string; since?: string } = {}): Promise<IntentStory> {
  const merchant = o.merchant;
  const scanFrom = new Date(Date.now() - duration(o.since ?? '24h'));
  let merchantId: string | null;
  let intentId: string;
  if (o.correlation !== undefined) ({ merchantId, intentId } = await byHeader(nc, 'Correlation-Id', o.correlation, scanFrom, merchant));
  else if (id.startsWith('req_')) ({ merchantId, intentId } = await byHeader(nc, 'Request-Id', id, scanFrom, merchant));
  else {
    if (!ID_PATTERN.test(id)) throw new UsageError(`'${id}' is not an id`);
    ({ merchantId, intentId } = await resolve(nc, id, merchant));
  }
  const msgs: StoredMsg[] = await readAll(nc, EVENTS_STREAM, [merchantId ? subjects.intent(merchantId, intentId) : `pay.evt.intent.*.${intentId}`]);
  if (msgs.length === 0) throw new Error(`no payment intent ${intentId} in ${EVENTS_STREAM}`);
  const commits = msgs.map((m) => ({ m, c: decodeCommit(m.data) as IntentCommit }));
  const state: Intent = commits[commits.length - 1]!.c.state;
  const mId = state.merchant_id;
  const story: StoryCommit[] = commits.map(({ m, c }) => ({
    seq: m.seq,
    time: m.time,
    command: c.command,
    events: c.events.map((e) => ({ id: e.id, type: e.type })),
    status: c.state.status,
    request_id: m.headers['Request-Id'] ?? c.request_id ?? null,
    correlation_id: m.headers['Correlation-Id'] ?? c.correlation_id ?? null,
    writer: m.headers.Writer ?? null,
  }));

  // Webhook deliveries caused by these commits (a task or, for a first try made inline by the
  // fan-out, a receipt names its commit's sequence), and their tries.
  const seqs = new Set(story.map((c) => c.seq));
  const since = new Date(Date.parse(msgs[0]!.time) - 1_000);
  const deliveries = new Map<string, StoryDelivery>();
  const owed = (t: Pick<DeliveryTask, 'event_id' | 'event_type' | 'endpoint_id' | 'url' | 'commit_seq'>, id: string, requestId: string | null) => {
    if (!deliveries.has(id)) deliveries.set(id, { delivery_id: id, event_id: t.event_id, event_type: t.event_type, endpoint_id: t.endpoint_id, url: t.url, commit_seq: t.commit_seq, request_id: requestId, status: 'pending', tries: [] });
    return deliveries.get(id)!;
  };
  for (const m of await readAll(nc, WEBHOOKS_STREAM, [subjects.webhookDeliver(mId), subjects.webhookReceipt(mId), subjects.webhookDlq(mId)], { since })) {
    const body = JSON.parse(dec.decode(m.data)) as DeliveryTask | DeliveryReceipt | DeadLetter;
    const reqId = m.headers['Request-Id'] ?? null;
    if (m.subject.startsWith('pay.webhook.deliver.')) {
      const t = body as DeliveryTask;
      if (seqs.has(t.commit_seq)) owed(t, t.id, reqId);
      continue;
    }
    const r = body as DeliveryReceipt | DeadLetter;
    const d = deliveries.get(r.delivery_id) ?? (r.commit_seq !== undefined && seqs.has(r.commit_seq) ? owed({ ...r, commit_seq: r.commit_seq }, r.delivery_id, reqId) : undefined);
    if (!d) continue;
    if (m.subject.startsWith('pay.webhook.dlq.')) {
      d.status = 'dead';
      continue;
    }
    const x = r as DeliveryReceipt;
    d.tries.push({ attempt: x.attempt, outcome: x.outcome, status_code: x.status_code, error: x.error, at: iso(x.at), next_retry_at: x.next_retry_at ? iso(x.next_retry_at) : null });
    if (d.status !== 'dead') d.status = x.outcome === 'delivered' ? 'delivered' : 'retrying';
  }
  const uniq = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => !!x))];
  return {
    intent_id: state.id,
    merchant_id: mId,
    subject: subjects.intent(mId, state.id),
    status: state.status,
    amount: state.amount,
    currency: state.currency,
    livemode: state.livemode,
    created: iso(state.created),
    request_ids: uniq(story.map((c) => c.request_id)),
    correlation_ids: uniq(story.map((c) => c.correlation_id)),
    commits: story,
    attempts: state.attempts.map((a) => ({
      id: a.id,
      status: a.status,
      payment_method: a.payment_method,
      card: `${a.card.brand} ••••${a.card.last4}`,
      amount: a.amount,
      network_ref: a.network_ref,
      failure_code: a.failure_code,
      decline_code: a.decline_code,
      created: iso(a.created),
    })),
    refunds: (state.refunds ?? []).map((r) => ({ id: r.id, status: r.status, amount: r.amount, charge: r.charge })),
    webhooks: [...deliveries.values()],
  };
}

function human(s: IntentStory): string {
  return [
    `${s.intent_id}  ${s.status}  ${s.amount} ${s.currency}  ${s.livemode ? 'live' : 'test'}  merchant ${s.merchant_id}  created ${s.created}`,
    `subject ${s.subject}`,
    `request ids: ${s.request_ids.join(', ') || '-'}${s.correlation_ids.length ? `   correlation ids: ${s.correlation_ids.join(', ')}` : ''}`,
    '',
    'COMMITS (PAY_EVENTS)',
    table(s.commits.map((c) => ({ seq: c.seq, time: c.time, command: c.command, events: c.events.map((e) => e.type).join(' '), status: c.status, request_id: c.request_id, writer: c.writer }))),
    '',
    'ATTEMPTS (charges)',
    table(s.attempts),
    ...(s.refunds.length ? ['', 'REFUNDS', table(s.refunds)] : []),
    '',
    'WEBHOOK DELIVERIES (PAY_WEBHOOKS)',
    table(
      s.webhooks.map((d) => ({
        delivery: d.delivery_id,
        event: `${d.event_type} ${d.event_id}`,
        status: d.status,
        tries: d.tries.length,
        last: d.tries.length ? `${d.tries[d.tries.length - 1]!.status_code ?? ''} ${d.tries[d.tries.length - 1]!.error ?? ''}`.trim() : '',
        url: d.url,
      })),
    ),
  ].join('\n');
}

export const intent: OpsCommand = {
  name: 'intent',
  summary: "a payment's whole story by any id (pi_, ch_, re_, pm_): events, attempts, EPN refs, webhooks",
  help: `usage: npm run ops -- intent <id> [--merchant acct_…] [--since 24h] [--json]
       npm run ops -- intent --correlation <X-Correlation-Id> [--since 24h] [--json]

Prints one payment intent's whole story, read from the streams (the source of truth):
  commits     every decision on pay.evt.intent.<merchant>.<intent> in PAY_EVENTS, decoded:
              command, event types, status after it, and the Request-Id, Correlation-Id
              and Writer headers (grep the logs by the request id)
  attempts    each attempt (charge ch_…) with card brand/last4, status, the network
              reference (EPN network_ref), failure and decline codes
  refunds     refunds (re_…) and their status
  webhooks    every delivery the intent's commits caused (PAY_WEBHOOKS), each try's
              HTTP status or error, and whether it was delivered, is retrying or is dead

<id> may be the intent (pi_…), one of its charges (ch_…: the id names the intent; older ones via KV pay_index), one of its
refunds (re_…), a payment method (pm_…, the newest intent that used it), or the request
id of any call that changed it (req_…, from a Request-Id response header or a log line:
found by a headers-only scan of the intent commits of the last --since).

  --correlation ID    find it by the caller's X-Correlation-Id instead (same scan)
  --since 24h         how far back a req_/--correlation scan looks (90m, 24h, 7d; default 24h)
  --merchant acct_…   the merchant (narrows scans; needed for magic test ids like pm_card_visa)
  --json              the story as one JSON object

The same from the nats CLI:
  npm run nats -- stream view PAY_EVENTS --subject 'pay.evt.intent.*.<pi_id>'

example: npm run ops -- intent pi_3f2a… --json`,
  async run(args, ctx) {
    const [id] = positionals(args);
    const correlation = flag(args, 'correlation');
    if (!id && correlation === undefined) throw new UsageError('which intent? give a pi_, ch_, re_, pm_ or req_ id, or --correlation');
    const merchant = flag(args, 'merchant');
    const since = flag(args, 'since');
    const s = await intentStory(await ctx.nats(), id ?? '', { ...(merchant ? { merchant } : {}), ...(correlation !== undefined ? { correlation } : {}), ...(since ? { since } : {}) });
    ctx.out(() => human(s), s);
  },
};
