/**
 * Test helper: a private nats-server (pinned binary, JetStream, fresh temp
 * store, free ports) per test. Safe to use from many test files in parallel.
 *
 *   const { url } = await withNats(t)
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type RunningNatsServer, type StartNatsServerOptions } from '../../nats/server.ts';

/** The part of a tap `Test` we need (structural, so any tap Test/plugin set fits). */
export type Teardownable = { teardown(fn: () => unknown): void };

export type WithNats = { url: string; port: number; server: RunningNatsServer };

export async function withNats(
  t: Teardownable,
  opts: Omit<StartNatsServerOptions, 'storeDir'> = {},
): Promise<WithNats> {
  const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-nats-'));
  let server: RunningNatsServer;
  try {
    server = await startNatsServer({ ...opts, storeDir });
  } catch (err) {
    await fs.rm(storeDir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  t.teardown(async () => {
    try {
      await server.stop();
    } finally {
      // A server restarted by the test may still be closing files in it: retried, and a leftover temp dir fails nothing.
      await fs.rm(storeDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch((err: unknown) => console.error(`could not remove ${storeDir}: ${String(err)}`));
    }
  });
  return { url: server.url, port: server.port, server };
}
