// A merchant's webhook endpoint for tests: records every POST with its raw body and headers.
import http from 'node:http';
import type { Teardownable } from './nats.ts';

export interface Received {
  body: string;
  signature: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

export async function startReceiver(t: Teardownable, opts: { status?: (n: number) => number } = {}) {
  const received: Received[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      n++;
      const status = opts.status?.(n) ?? 200;
      if (status >= 200 && status < 300) {
        received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['stripe-signature'] ?? ''), headers: req.headers, at: Date.now() });
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/webhooks`, received, tries: () => n };
}
