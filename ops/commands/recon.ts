// `npm run ops -- recon …`: reconciliation for operators, through the gateway's admin API.
import { flag, positionals, type OpsCommand } from '../command.ts';
import { UsageError, table } from '../context.ts';

type List<T> = { data: T[] };
type Row = Record<string, unknown>;

const help = `usage: npm run ops -- recon <subcommand> [flags] [--json]

Reconciliation of our payment records against the card network (issue 7).

subcommands:
  runs [--limit N]                       settlement runs, newest first (counts per kind, checkpoint)
  discrepancies [--status open|auto_resolved|resolved|all] [--kind K] [--merchant acct_…] [--limit N]
                                         mismatches between our records and the settlement file
                                         (kinds: missing_ours, missing_theirs, amount_mismatch, status_mismatch)
  stuck [--older-than-ms N]              attempts pending or in doubt for longer than N ms
                                         (default RECON_STUCK_AFTER_MS)
  resolve <dsc_…> --operator WHO --reason WHY [--reverse]
                                         close a discrepancy by hand; --reverse first voids/refunds the
                                         network transaction. Recorded as reconciliation.resolved on the intent.
  run-now [--date YYYY-MM-DD]            run the settlement reconciliation of a day now (default today, UTC)
  sweep                                  run the stuck-attempt sweep now

flags:
  --json   print the API's JSON instead of a table
  --help   this text

example:
  npm run ops -- recon discrepancies --kind status_mismatch
  npm run ops -- recon resolve dsc_3f2a… --operator alice --reason "confirmed with the acquirer"
`;

function query(pairs: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(pairs)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const recon: OpsCommand = {
  name: 'recon',
  summary: 'reconciliation: runs, discrepancies, stuck attempts, manual resolution, run-now',
  help,
  async run(args, ctx) {
    const [sub, ...rest] = positionals(args);
    switch (sub) {
      case 'runs': {
        const r = await ctx.admin<List<Row>>('GET', `/admin/reconciliation/runs${query({ limit: flag(args, 'limit') })}`);
        ctx.out(() => table(r.data, ['id', 'settlement_date', 'status', 'trigger', 'started_at', 'finished_at', 'checkpoint', 'total_rows', 'matched', 'missing_ours', 'missing_theirs', 'amount_mismatch', 'status_mismatch', 'in_flight', 'reversed', 'resumed']), r.data);
        return;
      }
      case 'discrepancies': {
        const r = await ctx.admin<List<Row>>(
          'GET',
          `/admin/reconciliation/discrepancies${query({ status: flag(args, 'status'), kind: flag(args, 'kind'), merchant: flag(args, 'merchant'), limit: flag(args, 'limit') })}`,
        );
        ctx.out(() => table(r.data, ['id', 'kind', 'status', 'merchant_id', 'intent_id', 'attempt_id', 'network_ref', 'our_amount', 'their_amount', 'our_status', 'their_status', 'action']), r.data);
        return;
      }
      case 'stuck': {
        const r = await ctx.admin<List<Row>>('GET', `/admin/reconciliation/stuck${query({ older_than_ms: flag(args, 'older-than-ms') })}`);
        ctx.out(() => table(r.data, ['id', 'status', 'intent_id', 'merchant_id', 'amount', 'currency', 'created_at', 'age_ms']), r.data);
        return;
      }
      case 'resolve': {
        const id = rest[0];
        const operator = flag(args, 'operator');
        const reason = flag(args, 'reason');
        if (!id) throw new UsageError('resolve needs a discrepancy id (dsc_…)');
        if (!operator || !reason) throw new UsageError('resolve needs --operator and --reason');
        const r = await ctx.admin<Row>('POST', `/admin/reconciliation/discrepancies/${encodeURIComponent(id)}/resolve`, { operator, reason, action: args.includes('--reverse') ? 'reverse' : 'none' });
        ctx.out(() => `${String(r.id)} resolved by ${String(r.resolved_by)}: ${String(r.resolution_reason)}${r.action ? ` (${String(r.action)})` : ''}`, r);
        return;
      }
      case 'run-now': {
        const date = flag(args, 'date');
        const r = await ctx.admin<Row>('POST', '/admin/reconciliation/runs', date ? { date } : {});
        ctx.out(
          () => `run ${String(r.id)} (${String(r.settlement_date)}) ${String(r.status)}: ${String(r.total_rows)} rows, ${String(r.matched)} matched, ${String(r.missing_ours)} missing ours, ${String(r.missing_theirs)} missing theirs, ${String(r.amount_mismatch)} amount, ${String(r.status_mismatch)} status mismatches, ${String(r.in_flight)} in flight, ${String(r.reversed)} reversed`,
          r,
        );
        return;
      }
      case 'sweep': {
        const r = await ctx.admin<Row>('POST', '/admin/reconciliation/sweep', {});
        ctx.out(() => `${String(r.stuck)} stuck; marked in doubt: ${JSON.stringify(r.marked_in_doubt)}; settled: ${JSON.stringify(r.settled)}`, r);
        return;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'which subcommand?');
    }
  },
};
