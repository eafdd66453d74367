// Process entry for one node: `tsx runtime/main.ts` with the environment of config/config.ts.
import pino from 'pino';
import { loadConfigOrExit } from '../config/config.ts';
import { startNode } from './node.ts';

const config = loadConfigOrExit();
const log = pino({
  level: config.logLevel,
  base: { worker: config.workerId },
  redact: { paths: ['*.card.number', '*.card.cvc', 'card.number', 'card.cvc', 'req.headers.authorization', '*.secret_key', '*.webhook_secret'], censor: '[redacted]' },
});

try {
  const node = await startNode(config, log);
  if (process.send) process.send({ ready: true, url: node.url });
  if (node.url && !process.send) process.stdout.write(`PAYNATS_LISTENING ${node.url}\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // Everything acknowledged is already in the stream: a stop that hangs (broker gone) may be cut short.
    const deadline = setTimeout(() => {
      log.warn('stop took longer than 8 s; exiting anyway');
      process.exit(1);
    }, 8_000);
    await node.stop();
    clearTimeout(deadline);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (err) {
  log.fatal({ err }, 'failed to start');
  process.exit(1);
}
