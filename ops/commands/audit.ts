// `ops audit`: prove from the archives and the streams alone what happened.
import { Kvm } from '@nats-io/kv';
import { archiveDatabase, intentHistory, progress, verifyArchive } from '../../archive/mod.ts';
import { buckets } from '../../nats/mod.ts';
import { flag, positionals, type OpsCommand } from '../command.ts';
import { UsageError, table } from '../context.ts';
import { archiveContext, openNamedDatabase } from './archive-context.ts';

export const auditCommand: OpsCommand = {
  name: 'audit',
  summary: 'verify archive manifests, hash chain and sequence continuity; an intent\'s full history',
  help: `usage: npm run ops -- audit <subcommand> [--json]

  verify [--chain PAY_EVENTS|PAY_WEBHOOKS|db]
        every manifest's hash, the hash chain, every chunk's SHA-256 and records, and sequence
        continuity from 1 to the stream's present. Names each damaged, missing or unchained
        object. Exit status 1 on any problem.
  intent <pi_…>
        every commit of the intent, in order, from any mix of archive and stream (source column)
  forget <merchant_id>
        erasure request: destroys the merchant's archive e-mail key (ARCHIVE_EMAILS=encrypt), so
        their archived addresses can never be read again. Chunks and hashes are untouched.
  archive-db [--live <dir|postgres://…>] [--older-than-s N]
        run the yearly database archive now (PGlite: stop the node first)

The archive is found as the node finds it (ARCHIVE_STORE, ARCHIVE_EMAILS, NATS_URL, DATA_DIR).
examples: npm run ops -- audit verify --json
          npm run ops -- audit intent pi_3f2a…`,
  async run(args, ctx) {
    const [sub, arg] = positionals(args);
    const a = await archiveContext(ctx);
    switch (sub) {
      case 'verify': {
        const chain = flag(args, 'chain');
        const r = await verifyArchive(a.store, a.jsm, { progress: progress('verify'), ...(chain ? { chains: [chain] } : {}) });
        ctx.out(
          () =>
            [
              table(r.chains.map((c) => ({ chain: c.chain, manifests: c.manifests, records: c.records, archived_to: c.archived_to, stream: c.stream ? `${c.stream.first_seq}–${c.stream.last_seq}` : '', problems: c.problems.length }))),
              ...r.chains.flatMap((c) => c.problems.map((p) => `  ${p.kind}: ${p.message}`)),
              r.ok ? 'ok: every manifest, chunk and link checks out, and no sequence is missing' : 'FAILED',
            ].join('\n'),
          r,
        );
        if (!r.ok) throw new Error('archive verification failed');
        return;
      }
      case 'intent': {
        if (!arg) throw new UsageError('audit intent needs an intent id');
        const h = await intentHistory(a, arg, { progress: progress('scan') });
        if (h.entries.length === 0) throw new Error(`no commit of ${arg} in the archive or the stream`);
        ctx.out(
          () =>
            [
              `${h.intent_id} (merchant ${h.merchant_id}): ${h.entries.length} commits`,
              table(h.entries.map((e) => ({ seq: e.seq, time: e.time, source: e.source, command: e.command, events: e.events.join(','), status: e.status, request_id: e.request_id }))),
            ].join('\n'),
          h,
        );
        return;
      }
      case 'forget': {
        if (!arg) throw new UsageError('audit forget needs a merchant id');
        const destroyed = await a.privacy.forget(arg);
        ctx.out(destroyed ? `destroyed the archive e-mail key of ${arg}` : `${arg} had no archive e-mail key`, { merchant_id: arg, destroyed });
        return;
      }
      case 'archive-db': {
        const olderRaw = flag(args, 'older-than-s');
        const older = olderRaw === undefined ? a.config.archiveDbAfterS : Number(olderRaw);
        if (!Number.isInteger(older) || older < 0) throw new UsageError('--older-than-s must be a whole number of seconds');
        const live = await openNamedDatabase(flag(args, 'live'), { databaseUrl: a.config.databaseUrl, dataDir: a.config.dataDir });
        try {
          const snapshots = await new Kvm(await ctx.nats()).open(buckets.snapshots);
          const r = await archiveDatabase({ db: live.db, store: a.store, privacy: a.privacy, olderThanS: older, now: new Date(), snapshots });
          ctx.out(`moved ${r.rows.payment_intents} intents, ${r.rows.payment_attempts} attempts, ${r.rows.setup_intents} SetupIntents, ${r.rows.webhook_deliveries} deliveries in ${r.chunks} chunks`, r);
        } finally {
          await live.close();
        }
        return;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'a subcommand is needed');
    }
  },
};
