// `ops merchant`: onboard a merchant and look one up, through the gateway's admin API (ADMIN_TOKEN).
import { flag, positionals, type OpsCommand } from '../command.ts';
import { UsageError, table } from '../context.ts';

interface Onboarded {
  merchant_id: string;
  secret_key: string;
  publishable_key: string;
  live_secret_key: string;
  live_publishable_key: string;
  webhook_secret: string;
  webhook_endpoint_id: string;
  merchant: Record<string, unknown>;
}

const HELP = `usage: npm run ops -- merchant <subcommand> [flags] [--json]

Merchants through the gateway's admin API (Authorization: Bearer ADMIN_TOKEN).

subcommands:
  onboard --name NAME --address ADDR --gst-id GSTIN [--callback-url URL]
          [--events a,b,…] [--merchant-id acct_…] [--idempotency-key KEY]
      Creates a merchant: test and live key pairs and a webhook secret, printed ONCE
      (store them now; only their hashes and sealed copies are kept). --events names
      the webhook events of the callback URL (Stripe names, '*', or the seed's
      payment_successful, payment_failure, payment_timeout). The same
      --idempotency-key makes a retry return 409 instead of a second merchant.
  show <acct_…>
      The merchant as the actor holds it: name, keys (redacted), webhook endpoints.

  keys <acct_…>
      The merchant's API keys (redacted): kind, mode, status, expiry, last use.
  roll-key <acct_…> [--mode test|live] [--key key_…] [--expires-in SECONDS]
      Issues a new secret key (printed ONCE) replacing the mode's current one (or --key);
      the old key stays valid for --expires-in seconds (default 86400, 0 = revoke now,
      at most 7 days) so deployments can switch over without downtime.

examples:
  npm run ops -- merchant onboard --name 'Acme' --address '1 Main St' --gst-id 29ABCDE1234F1Z5 --callback-url https://acme.example/hooks --events '*'
  npm run ops -- merchant show acct_… --json
  npm run ops -- merchant roll-key acct_… --mode live --expires-in 3600`;

export const merchant: OpsCommand = {
  name: 'merchant',
  summary: 'onboard a merchant (keys printed once), show one, list or roll its API keys, via the admin API',
  help: HELP,
  async run(args, ctx) {
    const [sub, id] = positionals(args);
    if (sub === 'onboard') {
      const name = flag(args, 'name');
      const address = flag(args, 'address');
      const gst = flag(args, 'gst-id');
      if (!name || !address || !gst) throw new UsageError('onboard needs --name, --address and --gst-id');
      const events = flag(args, 'events');
      const body = {
        name,
        address,
        gst_id: gst,
        call_back_url: flag(args, 'callback-url') ?? null,
        events: events ? events.split(',').map((e) => e.trim()).filter(Boolean) : [],
        ...(flag(args, 'merchant-id') ? { merchant_id: flag(args, 'merchant-id') } : {}),
      };
      const key = flag(args, 'idempotency-key');
      const r = await ctx.admin<Onboarded>('POST', '/admin/merchants', body, key ? { 'idempotency-key': key } : undefined);
      ctx.out(
        () =>
          [
            `onboarded ${r.merchant_id} (${name})`,
            '',
            table([
              { what: 'secret key (test)', value: r.secret_key },
              { what: 'publishable key (test)', value: r.publishable_key },
              { what: 'secret key (live)', value: r.live_secret_key },
              { what: 'publishable key (live)', value: r.live_publishable_key },
              { what: 'webhook secret', value: r.webhook_secret },
              { what: 'webhook endpoint', value: r.webhook_endpoint_id },
            ]),
            '',
            'These secrets are shown once. Store them now.',
          ].join('\n'),
        r,
      );
      return;
    }
    if (sub === 'show') {
      if (!id) throw new UsageError('show needs a merchant id (acct_…)');
      const m = await ctx.admin<Record<string, unknown>>('GET', `/admin/merchants/${encodeURIComponent(id)}`);
      ctx.out(() => Object.entries(m).map(([k, v]) => `${k.padEnd(24)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`).join('\n'), m);
      return;
    }
    if (sub === 'keys') {
      if (!id) throw new UsageError('keys needs a merchant id (acct_…)');
      const r = await ctx.admin<{ data: Record<string, unknown>[] }>('GET', `/admin/merchants/${encodeURIComponent(id)}/keys`);
      ctx.out(() => table(r.data), r);
      return;
    }
    if (sub === 'roll-key') {
      if (!id) throw new UsageError('roll-key needs a merchant id (acct_…)');
      const mode = flag(args, 'mode');
      if (mode !== undefined && mode !== 'test' && mode !== 'live') throw new UsageError(`--mode must be test or live, got '${mode}'`);
      const expires = flag(args, 'expires-in');
      if (expires !== undefined && !/^\d+$/.test(expires)) throw new UsageError(`--expires-in must be whole seconds, got '${expires}'`);
      const body = { ...(mode ? { mode } : {}), ...(flag(args, 'key') ? { key: flag(args, 'key') } : {}), ...(expires !== undefined ? { expires_in: Number(expires) } : {}) };
      const r = await ctx.admin<Record<string, unknown>>('POST', `/admin/merchants/${encodeURIComponent(id)}/keys/roll`, body);
      ctx.out(() => [...Object.entries(r).map(([k, v]) => `${k.padEnd(24)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`), '', 'The new secret is shown once. Store it now.'].join('\n'), r);
      return;
    }
    throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'which subcommand? onboard, show, keys or roll-key');
  },
};
