// The shortened chaos run (issue 12): every process kind SIGKILLed under payment load, single node
// and a 3-node R3 cluster, at least 20 faults in all; every invariant must hold afterwards.
// `npm run chaos` is the full run (chaos/cli.ts).
import t from 'tap';
import { privatePostgresUnavailable } from '../chaos/postgres.ts';
import { formatReport, runChaos } from '../chaos/run.ts';

// The whole file may run longer than tap's default per-file timeout (package.json tap.timeout).
t.setTimeout(1_200_000);

const why = privatePostgresUnavailable();
const KINDS = ['gateway', 'actors', 'projector', 'webhooks', 'reconcile', 'epn', 'nats', 'postgres'];
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);

for (const mode of ['single', 'cluster'] as const) {
  t.test(`chaos ${mode}: faults of every kind, no invariant violated`, { skip: why ?? false, timeout: 900_000 }, async (t) => {
    const minFaults = mode === 'single' ? 10 : 12;
    const r = await runChaos({ mode, durationS: 45, minFaults, concurrency: 6, merchants: 3, settleS: 240, seed, say: (s) => t.comment(s) });
    t.comment('\n' + formatReport(r));
    t.ok(r.faults.length >= minFaults, `${r.faults.length} faults injected`);
    const kinds = new Set(r.faults.map((f) => f.kind));
    for (const k of [...KINDS, ...(mode === 'cluster' ? ['stream-leader', 'partition-owner'] : [])]) t.ok(kinds.has(k), `${k} was killed`);
    t.ok(r.payments.acknowledged >= 30, `${r.payments.acknowledged} payments acknowledged`);
    t.ok(r.payments.succeeded > 0, 'payments succeeded');
    for (const i of r.invariants) t.same(i.violations, [], `${i.name} (${i.checked} checked)`);
    t.same(r.unexpected, [], 'no unexpected answers');
    t.equal(r.webhooks.bad_signatures, 0, 'every webhook signature verified');
  });
}
