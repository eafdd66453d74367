// The merchants of a chaos run: a steady stream of payments through the official `stripe` SDK, as a
// careful merchant backend sends them. Every write carries an Idempotency-Key; a connection error,
// a 5xx, a 409 (key in use) or a 429 is retried with the same key, on the next gateway (a load
// balancer's view of several gateway processes). A payment counts as acknowledged once a gateway
// answered it definitively: the intent and its status, or a card decline (then the merchant
// confirms the same intent again with another card: a new attempt under the same intent).
import http from 'node:http';
import Stripe from 'stripe';

export interface ChaosMerchant {
  merchant_id: string;
  secret_key: string;
  publishable_key: string;
  webhook_secret: string;
}

export interface PaymentRecord {
  n: number;
  merchant_id: string;
  intent_id: string | null;
  /** The status a gateway acknowledged last (null: never acknowledged, the merchant gave up). */
  acked_status: string | null;
  acked_at: number | null;
  declined_first: boolean;
  /** Requests sent, retries included. */
  requests: number;
  retries: number;
  gave_up: string | null;
}

export interface LoadOptions {
  gateways: string[];
  merchants: ChaosMerchant[];
  concurrency: number;
  /** Share of payments whose first card is declined (then retried with a good card). */
  declineShare: number;
  /** A merchant stops retrying one request after this long (counted as gave_up, never acknowledged). */
  giveUpMs: number;
  random: () => number;
}

export interface Load {
  records: PaymentRecord[];
  /** ms timestamps of every acknowledged payment (for pauses). */
  completions: number[];
  /** Errors seen (and retried) by kind: connection, 503 api_error/service_unavailable, 409 …. */
  errors: Map<string, number>;
  /** Answers that are bugs, not faults: a 400/500 where none is due, an unexpected status. */
  unexpected: string[];
  stop(): Promise<void>;
}

const GOOD = ['4242424242424242', '5555555555554444', '4000000000000077'];
const DECLINE = '4000000000000002';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startLoad(o: LoadOptions): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency * 2 });
  const clients = new Map<string, Stripe[]>();
  const client = (key: string, i: number): Stripe => {
    let list = clients.get(key);
    if (!list) {
      list = o.gateways.map((g) => {
        const u = new URL(g);
        return new Stripe(key, { host: u.hostname, port: Number(u.port), protocol: 'http', maxNetworkRetries: 0, timeout: 30_000, httpAgent: agent, telemetry: false });
      });
      clients.set(key, list);
    }
    return list[i % list.length]!;
  };
  const records: PaymentRecord[] = [];
  const completions: number[] = [];
  const errors = new Map<string, number>();
  const unexpected: string[] = [];
  let stopped = false;
  let n = 0;
  let gw = 0;

  const count = (k: string) => errors.set(k, (errors.get(k) ?? 0) + 1);

  /** Runs one idempotent request until a definitive answer: the value, or a StripeCardError. */
  async function send<T>(rec: PaymentRecord, key: string, f: (s: Stripe) => Promise<T>): Promise<T | Stripe.errors.StripeCardError | null> {
    const until = Date.now() + o.giveUpMs;
    for (let attempt = 0; ; attempt++) {
      rec.requests++;
      if (attempt > 0) rec.retries++;
      const s = client(key, gw++);
      try {
        return await f(s);
      } catch (err) {
        const e = err as Stripe.errors.StripeError;
        if (e.type === 'StripeCardError') return e as Stripe.errors.StripeCardError;
        const status = e.statusCode ?? 0;
        const retryable = e.type === 'StripeConnectionError' || status >= 500 || status === 409 || status === 429 || status === 0;
        count(e.type === 'StripeConnectionError' || status === 0 ? 'connection' : `${status} ${e.code ?? e.type}`);
        if (!retryable) {
          unexpected.push(`payment ${rec.n}: ${status} ${e.type} ${e.code ?? ''} ${e.message}`);
          return null;
        }
        if (Date.now() > until) {
          rec.gave_up = `${status || 'connection'} ${e.code ?? e.type}`;
          return null;
        }
        await sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1_500) * (0.5 + o.random()));
      }
    }
  }

  async function pay(m: ChaosMerchant, rec: PaymentRecord): Promise<void> {
    const tag = `chaos_${rec.n}_${Math.floor(o.random() * 1e9).toString(36)}`;
    const card = rec.declined_first ? DECLINE : GOOD[rec.n % GOOD.length]!;
    const pm = await send(rec, m.publishable_key, (s) =>
      s.paymentMethods.create({ type: 'card', card: { number: card, exp_month: 12, exp_year: 2034, cvc: '123' } }, { idempotencyKey: `${tag}_pm1` }),
    );
    if (!pm || pm instanceof Error) return;
    const created = await send(rec, m.secret_key, (s) =>
      s.paymentIntents.create(
        { amount: 1000 + (rec.n % 500) * 7, currency: rec.n % 3 === 0 ? 'eur' : 'usd', payment_method: pm.id, confirm: true, metadata: { chaos: String(rec.n) } },
        { idempotencyKey: `${tag}_pi` },
      ),
    );
    if (!created) return;
    if (!(created instanceof Error)) return ack(rec, created);
    // A decline: the intent exists and waits for another payment method (Stripe: requires_payment_method).
    const pi = created.payment_intent as Stripe.PaymentIntent | undefined;
    if (!pi?.id) return void unexpected.push(`payment ${rec.n}: card error without payment_intent: ${created.message}`);
    ack(rec, pi);
    const pm2 = await send(rec, m.publishable_key, (s) =>
      s.paymentMethods.create({ type: 'card', card: { number: GOOD[0]!, exp_month: 12, exp_year: 2034, cvc: '123' } }, { idempotencyKey: `${tag}_pm2` }),
    );
    if (!pm2 || pm2 instanceof Error) return;
    // Confirm again; a `processing_error` (the network was unreachable, nothing was charged) is
    // answered as Stripe advises: try again in a little bit, as a new confirmation (a new key).
    const until = Date.now() + o.giveUpMs;
    for (let k = 0; ; k++) {
      const confirmed = await send(rec, m.secret_key, (s) => s.paymentIntents.confirm(pi.id, { payment_method: pm2.id }, { idempotencyKey: `${tag}_confirm_${k}` }));
      if (!confirmed) return;
      if (!(confirmed instanceof Error)) return ack(rec, confirmed);
      const again = confirmed.payment_intent as Stripe.PaymentIntent | undefined;
      if (again) ack(rec, again);
      if (confirmed.code !== 'processing_error') return void unexpected.push(`payment ${rec.n}: good card declined on retry: ${confirmed.code} ${confirmed.message}`);
      count('402 processing_error');
      if (Date.now() > until) return void (rec.gave_up = '402 processing_error');
      await sleep(300 + o.random() * 700);
    }
  }

  function ack(rec: PaymentRecord, pi: Stripe.PaymentIntent) {
    rec.intent_id = pi.id;
    rec.acked_status = pi.status;
    rec.acked_at = Date.now();
    if (pi.status === 'succeeded') completions.push(rec.acked_at);
  }

  const loops = Array.from({ length: o.concurrency }, async (_, i) => {
    await sleep(i * 20);
    while (!stopped) {
      const m = o.merchants[n % o.merchants.length]!;
      const rec: PaymentRecord = {
        n: n++,
        merchant_id: m.merchant_id,
        intent_id: null,
        acked_status: null,
        acked_at: null,
        declined_first: o.random() < o.declineShare,
        requests: 0,
        retries: 0,
        gave_up: null,
      };
      records.push(rec);
      try {
        await pay(m, rec);
      } catch (err) {
        unexpected.push(`payment ${rec.n}: ${(err as Error).stack ?? String(err)}`);
      }
    }
  });

  return {
    records,
    completions,
    errors,
    unexpected,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** The merchants' webhook endpoint: verifies every signature with the SDK and records event ids. */
export async function startWebhookReceiver(secrets: () => string[]) {
  const received = new Map<string, number>(); // event id → deliveries
  const types = new Map<string, string>();
  let badSignatures = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const sig = String(req.headers['stripe-signature'] ?? '');
      let event: Stripe.Event | null = null;
      for (const s of secrets()) {
        try {
          event = Stripe.webhooks.constructEvent(body, sig, s, 600);
          break;
        } catch {
          /* the next merchant's secret */
        }
      }
      if (!event) {
        badSignatures++;
        res.writeHead(400).end();
        return;
      }
      received.set(event.id, (received.get(event.id) ?? 0) + 1);
      types.set(event.id, event.type);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    received,
    types,
    badSignatures: () => badSignatures,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
