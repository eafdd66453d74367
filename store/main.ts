// The demo store's process (started by `npm start`): PAYNATS_URL, STORE_SECRET_KEY and
// STORE_PUBLISHABLE_KEY from the supervisor; STORE_PORT, HOST, DATA_DIR, DATABASE_URL, LOG_LEVEL
// from the usual configuration. Prints STORE_LISTENING <url> once its webhook endpoint is registered.
import path from 'node:path';
import pino from 'pino';
import { loadConfigOrExit } from '../config/config.ts';
import { startStore } from './app.ts';

const config = loadConfigOrExit();
const log = pino({ level: config.logLevel });
const need = (name: string) => {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`configuration error: ${name}: must be set (npm start sets it)\n`);
    process.exit(2);
  }
  return v;
};

try {
  const store = await startStore({
    gatewayUrl: need('PAYNATS_URL'),
    secretKey: need('STORE_SECRET_KEY'),
    publishableKey: need('STORE_PUBLISHABLE_KEY'),
    dir: path.join(config.dataDir, 'store'),
    databaseUrl: config.databaseUrl,
    host: config.host,
    port: config.storePort,
    log,
  });
  // Started by scripts/start.ts: ready over IPC; otherwise the line.
  if (process.send) process.send({ ready: true, url: store.url });
  else process.stdout.write(`STORE_LISTENING ${store.url}\n`);
  const stop = async () => {
    await store.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
} catch (err) {
  log.fatal({ err }, 'demo store failed to start');
  process.exit(1);
}
