// Entry point of the EPN simulator process: `tsx epn/sim/main.ts`.
// A parent that starts us with a piped stdout finds the port from the `EPN_LISTENING <url>` line,
// which is what makes EPN_PORT=0 usable.
import { fstatSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Level } from 'pino';
import { createEpnLogger } from './log.ts';
import { buildEpnServer } from './server.ts';
import { FaultConfigError, parseFaults, type FaultConfig } from './faults.ts';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function envInt(name: string, dflt: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    process.stderr.write(`${name}: must be an integer between 0 and ${max}, got '${raw}'\n`);
    process.exit(2);
  }
  return Number(raw);
}

function stdoutIsPipe(): boolean {
  try {
    const st = fstatSync(1);
    // Node's child_process 'pipe' stdio is a socketpair, not a FIFO, so both count.
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const port = envInt('EPN_PORT', 4020, 65535);
  const host = process.env.HOST || '127.0.0.1';
  const latencyMs = envInt('EPN_LATENCY_MS', 0, 600_000);
  // How long after a representment the network's decision on it takes effect (0: the next feed read).
  const chargebackDecisionMs = envInt('EPN_CHARGEBACK_DECISION_MS', 0, 30 * 86_400_000);
  const dataDir = process.env.DATA_DIR || '.data';
  const level = (process.env.LOG_LEVEL || 'info') as Level | 'silent';
  if (!(LEVELS as readonly string[]).includes(level)) {
    process.stderr.write(`LOG_LEVEL: must be one of ${LEVELS.join(', ')}\n`);
    process.exit(2);
  }

  let faults: FaultConfig;
  try {
    faults = parseFaults(process.env.EPN_FAULTS ?? '');
  } catch (err) {
    if (!(err instanceof FaultConfigError)) throw err;
    process.stderr.write(`EPN_FAULTS: ${err.message}\n`);
    process.exit(2);
  }

  const logger = createEpnLogger({ level });
  const ledgerPath = path.join(dataDir, 'epn', 'ledger.jsonl');
  const app = buildEpnServer({ latencyMs, ledgerPath, logger, faults, chargebackDecisionMs });
  if (process.env.EPN_FAULTS) logger.warn({ faults }, 'fault injection on');

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'epn shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'epn close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const url = await app.listen({ port, host, listenTextResolver: (address) => `epn listening at ${address}` });
  // Started by scripts/start.ts: ready over IPC. Otherwise, by a parent that reads our stdout.
  if (process.send) process.send({ ready: true, url });
  else if (stdoutIsPipe()) writeSync(1, `EPN_LISTENING ${url}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`epn failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
