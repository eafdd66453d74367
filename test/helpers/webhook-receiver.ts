// A merchant's webhook endpoint for tests: records every POST with its raw body and headers.
import http from 'node:http';
import type { Teardownable } from './nats.ts';

export interface Received {
  body: string;
  signature: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

export interface ReceiverOptions {
  status?: (n: number) => number;
  /** Answer after this many ms (a slow endpoint). */
  delayMs?: number;
  /** The response body (e.g. a large one, to see receipts cap it). */
  body?: string;
}

/** Listens on a free loopback port; the test's teardown closes the server and its kept-alive sockets. */
export async function listenOnLoopback(t: Teardownable, server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return (server.address() as { port: number }).port;
}

export async function startReceiver(t: Teardownable, opts: ReceiverOptions = {}) {
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
      const answer = () => (res.destroyed ? undefined : res.writeHead(status).end(opts.body ?? ''));
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });
  const port = await listenOnLoopback(t, server);
  return { url: `http://127.0.0.1:${port}/webhooks`, received, tries: () => n };
}
