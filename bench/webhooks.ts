// The merchants' webhook endpoint, in the bench process: counts deliveries per intent and event
// type, notes when each payment_intent.succeeded arrived, and verifies a sample of signatures with
// the official SDK (stripe.webhooks.constructEvent).
import http from 'node:http';
import Stripe from 'stripe';

export interface Receiver {
  url: string;
  /** Secrets by merchant index (the path is /wh/<index>). */
  secrets: string[];
  /** intent id → arrival times (performance.now()) of its payment_intent.succeeded deliveries. */
  succeeded: Map<string, number[]>;
  byType: Map<string, number>;
  deliveries(): number;
  verified(): { ok: number; failed: number };
  /** Resolves when every id has its payment_intent.succeeded, or at the deadline. */
  waitForAll(ids: Iterable<string>, deadline: number): Promise<boolean>;
  close(): Promise<void>;
}

export async function startReceiver(o: { verifyEvery?: number } = {}): Promise<Receiver> {
  const verifyEvery = o.verifyEvery ?? 25;
  const stripe = new Stripe('sk_test_unused', { maxNetworkRetries: 0 });
  const secrets: string[] = [];
  const succeeded = new Map<string, number[]>();
  const byType = new Map<string, number>();
  let n = 0;
  let ok = 0;
  let failed = 0;
  let waiter: (() => void) | null = null;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      n++;
      const raw = Buffer.concat(chunks).toString('utf8');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      try {
        const ev = JSON.parse(raw) as { type?: string; data?: { object?: { id?: string } } };
        const type = ev.type ?? 'unknown';
        byType.set(type, (byType.get(type) ?? 0) + 1);
        if (type === 'payment_intent.succeeded' && ev.data?.object?.id) {
          const id = ev.data.object.id;
          const l = succeeded.get(id);
          if (l) l.push(at);
          else succeeded.set(id, [at]);
          waiter?.();
        }
        if (n % verifyEvery === 1) {
          const idx = Number((req.url ?? '').split('/')[2]);
          const secret = secrets[idx];
          try {
            if (!secret) throw new Error(`no secret for ${req.url}`);
            stripe.webhooks.constructEvent(raw, String(req.headers['stripe-signature'] ?? ''), secret);
            ok++;
          } catch {
            failed++;
          }
        }
      } catch {
        byType.set('unparseable', (byType.get('unparseable') ?? 0) + 1);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/wh`,
    secrets,
    succeeded,
    byType,
    deliveries: () => n,
    verified: () => ({ ok, failed }),
    async waitForAll(ids, deadline) {
      let want = [...ids];
      for (;;) {
        want = want.filter((id) => !succeeded.has(id));
        if (want.length === 0) return true;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.min(left, 250));
          waiter = () => {
            clearTimeout(t);
            waiter = null;
            r();
          };
        });
      }
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
