// `npm run ops -- webhooks …`: delivery receipts, the dead-letter subject, resend and replay,
// through the gateway's admin API (/admin/webhook_*; needs GATEWAY_URL and ADMIN_TOKEN).
import { flag, positionals, type OpsCommand } from '../command.ts';
import { UsageError, table, type OpsContext } from '../context.ts';

const help = `usage: npm run ops -- webhooks <subcommand> [flags] [--json]

Webhook deliveries: what was tried, what is dead, and sending again.

subcommands:
  receipts [delivery_id]     deliveries (newest first), or one delivery with every try
      --merchant acct_…  --endpoint we_…  --event evt_…  --status pending|failed|delivered|dead
      --limit N (default 50)
  tries                      every try (newest first): time, HTTP status, latency, error, answer
      --merchant  --endpoint  --event  --outcome delivered|failed  --status-code 500  --limit N
  dlq                        dead letters waiting in pay.webhook.dlq.> (what replay would send)
      --merchant acct_…  --endpoint we_…  --event-type payment_intent.succeeded  --event evt_…
  resend <evt_…> --merchant acct_… --endpoint we_…
                             queue one event again for one endpoint (like \`stripe events resend\`)
  replay-dlq                 queue dead letters again once the endpoint is fixed (and enabled);
                             each replayed dead letter leaves the dead-letter subject
      --merchant  --endpoint  --event-type  --event  (all optional: no filter replays all)
      --dry-run             show what would be replayed, change nothing

Every subcommand takes --json.

examples:
  npm run ops -- webhooks receipts --merchant acct_123 --status failed
  npm run ops -- webhooks receipts whd_0123456789abcdef01234567
  npm run ops -- webhooks tries --endpoint we_abc --outcome failed
  npm run ops -- webhooks dlq --endpoint we_abc --json
  npm run ops -- webhooks resend evt_123 --merchant acct_123 --endpoint we_abc
  npm run ops -- webhooks replay-dlq --merchant acct_123 --endpoint we_abc
`;

interface Delivery {
  id: string;
  merchant: string;
  endpoint: string;
  event: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at: number | null;
  tries?: { attempt: number; at: number; outcome: string; status_code: number | null; latency_ms: number; error: string | null; response_body: string | null }[];
}

const when = (s: number | null | undefined) => (s ? new Date(s * 1000).toISOString().replace('.000Z', 'Z') : '');

function query(pairs: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(pairs)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function receipts(args: string[], ctx: OpsContext): Promise<void> {
  const [id] = positionals(args);
  if (id) {
    const d = await ctx.admin<Delivery>('GET', `/admin/webhook_deliveries/${encodeURIComponent(id)}`);
    ctx.out(
      () =>
        [
          `${d.id}  ${d.status}  ${d.event_type} ${d.event} → ${d.endpoint} (${d.merchant})`,
          '',
          table(
            (d.tries ?? []).map((t) => ({ try: t.attempt, at: when(t.at), outcome: t.outcome, status: t.status_code, ms: t.latency_ms, error: t.error, response: (t.response_body ?? '').replace(/\s+/g, ' ').slice(0, 60) })),
          ),
        ].join('\n'),
      d,
    );
    return;
  }
  const list = await ctx.admin<{ data: Delivery[]; has_more: boolean }>(
    'GET',
    `/admin/webhook_deliveries${query({ merchant: flag(args, 'merchant'), endpoint: flag(args, 'endpoint'), event: flag(args, 'event'), status: flag(args, 'status'), limit: flag(args, 'limit') ?? '50' })}`,
  );
  ctx.out(
    () =>
      table(
        list.data.map((d) => ({ id: d.id, status: d.status, tries: d.attempts, http: d.last_status_code, last: when(d.last_attempt_at), event: d.event, type: d.event_type, endpoint: d.endpoint, error: d.last_error })),
      ) + (list.has_more ? '\n(more: raise --limit or filter)' : ''),
    list,
  );
}

async function tries(args: string[], ctx: OpsContext): Promise<void> {
  const list = await ctx.admin<{ data: { delivery: string; event: string; event_type: string; endpoint: string; attempt: number; at: number; outcome: string; status_code: number | null; latency_ms: number; error: string | null; response_body: string | null }[] }>(
    'GET',
    `/admin/webhook_attempts${query({ merchant: flag(args, 'merchant'), endpoint: flag(args, 'endpoint'), event: flag(args, 'event'), outcome: flag(args, 'outcome'), status_code: flag(args, 'status-code'), limit: flag(args, 'limit') ?? '50' })}`,
  );
  ctx.out(
    () =>
      table(
        list.data.map((x) => ({ at: when(x.at), delivery: x.delivery, try: x.attempt, outcome: x.outcome, http: x.status_code, ms: x.latency_ms, event: x.event, endpoint: x.endpoint, error: x.error, response: (x.response_body ?? '').replace(/\s+/g, ' ').slice(0, 40) })),
      ),
    list,
  );
}

async function dlq(args: string[], ctx: OpsContext): Promise<void> {
  const list = await ctx.admin<{ data: { seq: number; delivery_id: string; merchant_id: string; endpoint_id: string; event_id: string; event_type: string; attempts: number; last_error: string | null; at: number; reason?: string }[] }>(
    'GET',
    `/admin/webhook_dlq${query({ merchant: flag(args, 'merchant'), endpoint: flag(args, 'endpoint'), event_type: flag(args, 'event-type'), event: flag(args, 'event') })}`,
  );
  ctx.out(
    () =>
      `${list.data.length} dead letter(s)\n` +
      table(list.data.map((d) => ({ seq: d.seq, delivery: d.delivery_id, merchant: d.merchant_id, endpoint: d.endpoint_id, event: d.event_id, type: d.event_type, tries: d.attempts, died: when(d.at), why: d.reason ?? '', error: d.last_error }))),
    list,
  );
}

async function resend(args: string[], ctx: OpsContext): Promise<void> {
  const [event] = positionals(args);
  const merchant = flag(args, 'merchant');
  const endpoint = flag(args, 'endpoint');
  if (!event || !merchant || !endpoint) throw new UsageError('resend needs <evt_…>, --merchant and --endpoint');
  const r = await ctx.admin<{ delivery: string }>('POST', '/admin/webhook_resend', { event, merchant, endpoint });
  ctx.out(`queued ${event} for ${endpoint}: delivery ${r.delivery} (npm run ops -- webhooks receipts ${r.delivery})`, r);
}

async function replay(args: string[], ctx: OpsContext): Promise<void> {
  const body: Record<string, unknown> = {};
  for (const [f, k] of [['merchant', 'merchant'], ['endpoint', 'endpoint'], ['event-type', 'event_type'], ['event', 'event']] as const) {
    const v = flag(args, f);
    if (v !== undefined) body[k] = v;
  }
  if (args.includes('--dry-run')) body.dry_run = true;
  const r = await ctx.admin<{ dry_run: boolean; replayed: { dead_delivery: string; delivery: string; event_id: string; endpoint_id: string }[]; skipped: { dead_delivery: string; reason: string }[]; resolved: string[] }>(
    'POST',
    '/admin/webhook_dlq/replay',
    body,
  );
  ctx.out(
    () =>
      [
        `${r.dry_run ? 'would replay' : 'replayed'} ${r.replayed.length}, skipped ${r.skipped.length}, already delivered ${r.resolved.length}`,
        ...(r.replayed.length ? ['', table(r.replayed.map((x) => ({ dead: x.dead_delivery, new_delivery: x.delivery, event: x.event_id, endpoint: x.endpoint_id })))] : []),
        ...(r.skipped.length ? ['', 'skipped:', table(r.skipped.map((x) => ({ dead: x.dead_delivery, reason: x.reason })))] : []),
      ].join('\n'),
    r,
  );
}

export const webhooks: OpsCommand = {
  name: 'webhooks',
  summary: 'webhook receipts, dead letters, resend and DLQ replay',
  help,
  async run(args, ctx) {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'receipts':
        return receipts(rest, ctx);
      case 'tries':
        return tries(rest, ctx);
      case 'dlq':
        return dlq(rest, ctx);
      case 'resend':
        return resend(rest, ctx);
      case 'replay-dlq':
        return replay(rest, ctx);
      default:
        throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'a subcommand is needed');
    }
  },
};
