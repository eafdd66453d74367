// `npm run ops -- replay` and `audit` as an operator runs them, against a stack whose read model is
// a real Postgres database (which, unlike PGlite, another process may open while the node runs).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { freshDatabase, postgresUnreachable } from './helpers/postgres.ts';
import Stripe from 'stripe';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { checkpointNames, getCheckpoint } from '../storage/mod.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';

const run = promisify(execFile);
const unreachable = await postgresUnreachable();

t.test('ops replay and audit against a running stack on Postgres', { skip: unreachable ? `Postgres unreachable: ${unreachable}` : false }, async (t) => {
  const dbs = [await freshDatabase('paynats_arch_live'), await freshDatabase('paynats_arch_fresh')];
  const [liveUrl, freshUrl] = dbs.map((d) => d.url) as [string, string];
  t.teardown(async () => {
    for (const d of dbs) await d.drop();
  });
  // Teardowns run last-in first-out: the stack stops before the databases are dropped.
  const stack = await startStack(t, { DATABASE_URL: liveUrl, ARCHIVE_CHUNK_MS: '1000', ARCHIVE_CHUNK_EVENTS: '3' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 2 });
  for (let i = 0; i < 3; i++) await stripe.paymentIntents.create({ amount: 1000 + i, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, receipt_email: `p${i}@example.com` });
  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const last = async (s: string) => (await jsm.streams.info(s)).state.last_seq;
  const live = stack.node.database!.db;
  await eventually(async () => stack.node.archive!.archivers[0]!.archivedSeq() >= 6, 30_000);
  await eventually(async () => (await getCheckpoint(live, checkpointNames.commits))?.last_seq === (await last(EVENTS_STREAM)), 20_000);
  await eventually(async () => ((await getCheckpoint(live, checkpointNames.receipts))?.last_seq ?? 0) === (await last(WEBHOOKS_STREAM)), 20_000);

  const env = { ...process.env, NATS_URL: stack.nats.url, DATA_DIR: stack.dataDir, DATABASE_URL: liveUrl, LOG_LEVEL: 'silent' };
  const ops = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'ops/cli.ts', ...args], { env, cwd: process.cwd() });
  const r = await ops('replay', '--into', freshUrl, '--json');
  const out = JSON.parse(r.stdout) as { result: { events: { archived: number; live: number } }; diff: { identical: boolean; tables: { table: string; live: number }[] } };
  t.equal(out.diff.identical, true, 'archives + stream rebuild the live projection exactly');
  t.ok(out.result.events.archived > 0, 'part from the archive');
  t.ok(out.result.events.archived + out.result.events.live === (await last(EVENTS_STREAM)));
  t.ok(out.diff.tables.find((x) => x.table === 'payment_intents')!.live === 3);
  t.match(r.stderr, /replay \[#+\] 100% .*\/s/, 'a progress bar with a rate on stderr');

  const human = await ops('audit', 'verify');
  t.match(human.stdout, /ok: every manifest, chunk and link checks out/);
  t.match((await ops('audit', '--help')).stdout, /audit verify|verify \[--chain/);
  const overview = await run(process.execPath, ['--import', 'tsx', 'ops/cli.ts', '--help'], { env, cwd: process.cwd() });
  t.match(overview.stdout, /replay\s+rebuild the projections/);
  t.match(overview.stdout, /audit\s+verify archive manifests/);
});
