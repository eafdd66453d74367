// `npm run chaos`: the chaos harness from the command line (chaos/run.ts does the work).
import { parseArgs } from 'node:util';
import { formatReport, runChaos, type ChaosReport } from './run.ts';

const HELP = `npm run chaos -- [options]
  Runs payments while SIGKILLing every kind of process in turn (gateway, actor worker, projector,
  webhook worker, reconcile worker, EPN simulator, nats-server, Postgres; on the cluster also the
  PAY_EVENTS stream leader and a partition's owner), restarts them, then checks the invariants.
  Exit status 1 when any invariant is violated.

  --mode M           single | cluster (3 nodes, R3) | both (default both)
  --duration S       seconds of load with faults per mode (default 150)
  --faults N         at least N faults per mode (default 16)
  --concurrency C    payments in flight (default 8)
  --merchants M      merchants (default 4)
  --settle S         max seconds for the invariants to hold after the load (default 240)
  --seed N           random seed (default: time); the same seed repeats the fault schedule
  --json             the last line printed is the reports as one JSON array
  --keep             keep the run directory (logs of every process, report.json)
  -h, --help         this text`;

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'both' },
    duration: { type: 'string', default: '150' },
    faults: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '8' },
    merchants: { type: 'string', default: '4' },
    settle: { type: 'string', default: '240' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}
const int = (name: string, v: string, min: number, max: number) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    process.stderr.write(`--${name}: must be an integer between ${min} and ${max}, got '${v}'\n`);
    process.exit(2);
  }
  return Number(v);
};
const modes = values.mode === 'both' ? (['single', 'cluster'] as const) : values.mode === 'single' || values.mode === 'cluster' ? [values.mode] : null;
if (!modes) {
  process.stderr.write(`--mode: must be single, cluster or both, got '${values.mode}'\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? Date.now() % 1_000_000 : int('seed', values.seed, 0, 2 ** 31);
const reports: ChaosReport[] = [];
for (const mode of modes) {
  const r = await runChaos({
    mode,
    durationS: int('duration', values.duration, 10, 3600),
    minFaults: int('faults', values.faults, 0, 1000),
    concurrency: int('concurrency', values.concurrency, 1, 256),
    merchants: int('merchants', values.merchants, 1, 100),
    settleS: int('settle', values.settle, 10, 3600),
    seed,
    keep: values.keep,
  });
  reports.push(r);
  process.stdout.write('\n' + formatReport(r) + '\n' + (values.keep ? `run directory: ${r.dir}\n` : ''));
}
const faults = reports.reduce((n, r) => n + r.faults.length, 0);
const violations = reports.reduce((n, r) => n + r.violations, 0);
process.stdout.write(`\nchaos: ${reports.map((r) => `${r.mode} ${r.payments.acknowledged} payments`).join(', ')}; ${faults} faults; ${violations} invariant violation(s)\n`);
if (values.json) process.stdout.write(JSON.stringify(reports) + '\n');
process.exit(violations === 0 ? 0 : 1);
