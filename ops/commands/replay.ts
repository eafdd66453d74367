// `ops replay`: rebuild every projection from the archives plus the live streams into a fresh
// database, and diff it with the live one.
import { rm } from 'node:fs/promises';
import { diffDatabases, emailHasher, progress, replay } from '../../archive/mod.ts';
import { checkpointNames, getCheckpoint } from '../../storage/mod.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../../streams/subjects.ts';
import { keyRing, loadMasterKey } from '../../vault/mod.ts';
import { flag, type OpsCommand } from '../command.ts';
import { table } from '../context.ts';
import { archiveContext, openNamedDatabase, tempDir } from './archive-context.ts';

export const replayCommand: OpsCommand = {
  name: 'replay',
  summary: 'rebuild the projections from archives + streams into a fresh database and diff with the live one',
  help: `usage: npm run ops -- replay [--into <dir|postgres://…>] [--live <dir|postgres://…>] [--writers W] [--no-diff] [--keep] [--json]

Reads every archived chunk of PAY_EVENTS and PAY_WEBHOOKS (in sequence order), then what the
streams still hold, folds it with the projector's own functions into a fresh database, applies the
yearly database archive's removals, and compares every table row by row with the live database.
It replays up to the live projection's checkpoints, so a quiet system compares like for like.

  --into <dir|url>   where to rebuild: a new PGlite directory (default: a temp dir, removed after)
                     or the URL of an empty Postgres database
  --live <dir|url>   the live database (default: DATABASE_URL, else DATA_DIR/pglite). PGlite is
                     single-process: stop the node first, or point --live at a copy
  --writers <W>      transactions in flight (default 4 on Postgres, 1 on PGlite)
  --no-diff          rebuild only (replays everything the streams hold now)
  --keep             keep the temp directory and print its path
  --json             one JSON document on stdout (progress stays on stderr)

Exit status 1 when the databases differ.
example: npm run ops -- replay --into /tmp/rebuilt --json`,
  async run(args, ctx) {
    const a = await archiveContext(ctx);
    const noDiff = args.includes('--no-diff');
    const into = flag(args, 'into');
    const dir = into ?? tempDir();
    const live = noDiff ? null : await openNamedDatabase(flag(args, 'live'), { databaseUrl: a.config.databaseUrl, dataDir: a.config.dataDir });
    const target = await openNamedDatabase(dir, { databaseUrl: undefined, dataDir: dir });
    try {
      const until = live
        ? {
            events: (await getCheckpoint(live.db, checkpointNames.commits))?.last_seq ?? 0,
            webhooks: (await getCheckpoint(live.db, checkpointNames.receipts))?.last_seq ?? 0,
          }
        : { events: (await a.jsm.streams.info(EVENTS_STREAM)).state.last_seq, webhooks: (await a.jsm.streams.info(WEBHOOKS_STREAM)).state.last_seq };
      const writers = Number(flag(args, 'writers') ?? (target.kind === 'postgres' ? 4 : 1));
      const result = await replay({ store: a.store, jsm: a.jsm, privacy: a.privacy, target: target.db, until, progress: progress('replay'), writers });
      const hash = emailHasher(keyRing(loadMasterKey(ctx.dataDir)));
      const normalize = a.privacy.policy === 'hash' ? (s: string) => s.replace(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, (e) => hash(e)) : undefined;
      const diff = live ? await diffDatabases(live.db, target.db, normalize) : null;
      ctx.out(
        () =>
          [
            `replayed ${result.events.archived + result.events.live} PAY_EVENTS records (${result.events.archived} archived, ${result.events.live} from the stream) and ${result.webhooks.archived + result.webhooks.live} PAY_WEBHOOKS records, ${result.dbChunks} db chunks, in ${(result.ms / 1000).toFixed(1)} s (${result.rate}/s)`,
            `into ${into ?? dir}${into || args.includes('--keep') ? '' : ' (removed)'}`,
            ...(diff
              ? ['', table(diff.tables.map((t) => ({ table: t.table, live: t.live, replayed: t.replayed, only_live: t.onlyLive, only_replayed: t.onlyReplayed }))), '', diff.identical ? 'identical: the archives and streams reproduce the live projection' : 'DIFFERENT (examples with --json)']
              : []),
          ].join('\n'),
        { until, result, into: dir, diff },
      );
      if (diff && !diff.identical) throw new Error('the rebuilt database differs from the live one');
    } finally {
      await target.close();
      await live?.close();
      if (!into && !args.includes('--keep')) await rm(dir, { recursive: true, force: true });
    }
  },
};
