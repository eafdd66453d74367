// The load: M merchants onboarded through POST /admin/merchants (webhook endpoint = the bench's
// receiver), then N payments at concurrency C through the full path: create intent (Idempotency-Key)
// → create payment method (card number) → confirm. Every `declineEvery`-th payment first uses the
// declined card 4000000000000002 (402, intended) and then retries confirm with 4242… as a new
// attempt. Requests go over keep-alive connections: node:http with an Agent (the default), or the
// official stripe SDK on the same kind of agent (--client sdk).
import http from 'node:http';
import Stripe from 'stripe';
import { partitionOf } from '../streams/subjects.ts';
import { summarize, type Summary } from './stats.ts';

export interface Merchant {
  index: number;
  merchant_id: string;
  secret_key: string;
  webhook_secret: string;
}

export interface Answer {
  status: number;
  body: Record<string, unknown> | null;
  /** A network-level failure (no HTTP answer). */
  network?: string;
}

export type Endpoint = 'create_intent' | 'create_pm' | 'confirm' | 'confirm_declined';

export interface Client {
  createIntent(m: Merchant, amount: number, idemKey: string): Promise<Answer>;
  createPm(m: Merchant, number: string, idemKey: string): Promise<Answer>;
  confirm(m: Merchant, intentId: string, pm: string, idemKey: string): Promise<Answer>;
  requests(): number;
  close(): void;
}

const EXP_YEAR = new Date().getUTCFullYear() + 3;

/** node:http over a keep-alive Agent: the cheapest client, so the load generator takes little CPU. */
export function httpClient(baseUrl: string, concurrency: number): Client {
  const u = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 8, maxFreeSockets: concurrency + 8 });
  let n = 0;
  const post = (path: string, key: string, form: URLSearchParams, idemKey: string) =>
    new Promise<Answer>((resolve) => {
      n++;
      const body = form.toString();
      const req = http.request(
        {
          host: u.hostname,
          port: u.port,
          method: 'POST',
          path,
          agent,
          timeout: 60_000,
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            'idempotency-key': idemKey,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: Record<string, unknown> | null = null;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', (err) => resolve({ status: 0, body: null, network: (err as NodeJS.ErrnoException).code ?? err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve({ status: 0, body: null, network: (err as NodeJS.ErrnoException).code ?? err.message }));
      req.end(body);
    });
  return {
    createIntent: (m, amount, k) => post('/v1/payment_intents', m.secret_key, new URLSearchParams({ amount: String(amount), currency: 'usd' }), k),
    createPm: (m, number, k) =>
      post('/v1/payment_methods', m.secret_key, new URLSearchParams({ type: 'card', 'card[number]': number, 'card[exp_month]': '12', 'card[exp_year]': String(EXP_YEAR), 'card[cvc]': '123' }), k),
    confirm: (m, id, pm, k) => post(`/v1/payment_intents/${encodeURIComponent(id)}/confirm`, m.secret_key, new URLSearchParams({ payment_method: pm }), k),
    requests: () => n,
    close: () => agent.destroy(),
  };
}

/** The official SDK (what merchants run), on a keep-alive agent, no SDK retries (errors are counted). */
export function sdkClient(baseUrl: string, concurrency: number): Client {
  const u = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 8 });
  const clients = new Map<string, Stripe>();
  const sdk = (m: Merchant) => {
    let s = clients.get(m.secret_key);
    if (!s) {
      s = new Stripe(m.secret_key, { host: u.hostname, port: Number(u.port), protocol: 'http', httpClient: Stripe.createNodeHttpClient(agent), maxNetworkRetries: 0, telemetry: false, timeout: 60_000 });
      clients.set(m.secret_key, s);
    }
    return s;
  };
  let n = 0;
  const wrap = async (f: () => Promise<unknown>): Promise<Answer> => {
    n++;
    try {
      return { status: 200, body: (await f()) as Record<string, unknown> };
    } catch (err) {
      const e = err as { statusCode?: number; raw?: { type?: string; code?: string; decline_code?: string }; type?: string; code?: string; message?: string };
      if (e.statusCode) return { status: e.statusCode, body: { error: e.raw ?? { type: e.type, code: e.code } } };
      return { status: 0, body: null, network: e.code ?? e.type ?? e.message ?? 'error' };
    }
  };
  return {
    createIntent: (m, amount, k) => wrap(() => sdk(m).paymentIntents.create({ amount, currency: 'usd' }, { idempotencyKey: k })),
    createPm: (m, number, k) => wrap(() => sdk(m).paymentMethods.create({ type: 'card', card: { number, exp_month: 12, exp_year: EXP_YEAR, cvc: '123' } }, { idempotencyKey: k })),
    confirm: (m, id, pm, k) => wrap(() => sdk(m).paymentIntents.confirm(id, { payment_method: pm }, { idempotencyKey: k })),
    requests: () => n,
    close: () => agent.destroy(),
  };
}

/**
 * Merchant ids chosen so that M merchants land on M different partitions (as far as there are
 * partitions): the load spreads over the workers' shares instead of piling on one partition.
 */
export function spreadMerchantIds(tag: string, m: number, partitions: number): string[] {
  const used = new Map<number, number>();
  const ids: string[] = [];
  for (let k = 0; k < m; k++) {
    const round = Math.floor(k / partitions);
    for (let j = 0; j < 100_000; j++) {
      const id = `acct_b${tag}_${k}_${j}`;
      const p = partitionOf(id, partitions);
      if ((used.get(p) ?? 0) <= round) {
        used.set(p, (used.get(p) ?? 0) + 1);
        ids.push(id);
        break;
      }
    }
  }
  return ids;
}

export async function onboard(baseUrl: string, adminToken: string, ids: string[], webhookBase: string, events: string[]): Promise<Merchant[]> {
  const out: Merchant[] = [];
  for (const [index, merchantId] of ids.entries()) {
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await fetch(`${baseUrl}/admin/merchants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': `bench-onboard-${merchantId}` },
        body: JSON.stringify({ merchant_id: merchantId, name: `Bench Store ${index}`, address: '1 Bench Road, Bengaluru', gst_id: '29ABCDE1234F1Z5', call_back_url: `${webhookBase}/${index}`, events }),
      });
      const text = await res.text();
      if (res.status === 201) {
        const b = JSON.parse(text) as { merchant_id: string; secret_key: string; webhook_secret: string };
        out.push({ index, merchant_id: b.merchant_id, secret_key: b.secret_key, webhook_secret: b.webhook_secret });
        await liftRateLimit(baseUrl, adminToken, b.merchant_id);
        break;
      }
      last = `${res.status} ${text.slice(0, 300)}`;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
    if (out.length !== index + 1) throw new Error(`onboarding ${merchantId} failed: ${last}`);
  }
  return out;
}

/**
 * The bench's merchants get their own rate limit far above any bench rate. Its own stack sets the
 * defaults that high (bench/stack.ts), but a stack it targets (`--target`, e.g. `npm start`) has the
 * defaults of production (25 requests/s per merchant in test mode): every request over them would be
 * a 429 counted as an error. The limiter still runs (its cost is part of what is measured).
 */
async function liftRateLimit(baseUrl: string, adminToken: string, merchantId: string): Promise<void> {
  const res = await fetch(`${baseUrl}/admin/merchants/${merchantId}/security`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rate_limit: { live: 1_000_000, test: 1_000_000 } }),
  });
  // A stack without the security routes (503) has no limiter to lift either.
  if (!res.ok && res.status !== 503) throw new Error(`raising ${merchantId}'s rate limit: ${res.status} ${(await res.text()).slice(0, 300)}`);
}

export interface Payment {
  i: number;
  merchant: number;
  intentId: string | null;
  declinedFirst: boolean;
  succeeded: boolean;
  /** performance.now() when the successful confirm's answer arrived, and when it was sent. */
  confirmedAt: number;
  confirmSentAt: number;
  startedAt: number;
}

export interface LoadResult {
  payments: Payment[];
  latency: Record<Endpoint, Summary>;
  errors: Record<string, number>;
  declines_intended: number;
  http_requests: number;
  started_at: number;
  ended_at: number;
  timed_out: boolean;
}

const DECLINED_CARD = '4000000000000002';
const GOOD_CARD = '4242424242424242';

export async function runLoad(o: {
  client: Client;
  merchants: Merchant[];
  payments: number;
  concurrency: number;
  declineEvery: number;
  timeCapMs: number;
  runTag: string;
  /** Client retries (same Idempotency-Key) after a 5xx, 409 or network error; each failure still counts as an error. */
  retries?: number;
  /** --duration: start no payment after this many ms (the ones in flight finish); not a time-out. */
  durationMs?: number;
  onProgress?: (done: number) => void;
}): Promise<LoadResult> {
  const { client, merchants } = o;
  const retries = o.retries ?? 2;
  const lat: Record<Endpoint, number[]> = { create_intent: [], create_pm: [], confirm: [], confirm_declined: [] };
  const errors: Record<string, number> = {};
  const err = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
  let declinesIntended = 0;
  const payments: Payment[] = [];
  const started = performance.now();
  const deadline = started + o.timeCapMs;
  const until = o.durationMs !== undefined ? started + o.durationMs : Number.POSITIVE_INFINITY;
  let next = 0;
  let done = 0;
  let timedOut = false;

  const errorKey = (ep: Endpoint, a: Answer) => {
    if (a.network) return `${ep}:network:${a.network}`;
    const e = (a.body?.error ?? {}) as { type?: string; code?: string };
    return `${ep}:${a.status}:${e.type ?? 'unknown'}${e.code ? `/${e.code}` : ''}`;
  };
  /** One request with client retries; `expect(a)` says whether the answer is the intended one. */
  async function call(ep: Endpoint, f: () => Promise<Answer>, expect: (a: Answer) => boolean): Promise<Answer | null> {
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      const a = await f();
      const ms = performance.now() - t0;
      if (expect(a)) {
        lat[ep].push(ms);
        return a;
      }
      err(errorKey(ep, a));
      const retryable = a.status === 0 || a.status === 409 || a.status >= 500;
      if (!retryable || attempt >= retries || performance.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
  const ok = (a: Answer) => a.status === 200;

  async function pay(i: number): Promise<Payment> {
    const m = merchants[i % merchants.length]!;
    const key = `bench-${o.runTag}-${i}`;
    const p: Payment = { i, merchant: m.index, intentId: null, declinedFirst: o.declineEvery > 0 && i % o.declineEvery === o.declineEvery - 1, succeeded: false, confirmedAt: 0, confirmSentAt: 0, startedAt: performance.now() };
    const pi = await call('create_intent', () => client.createIntent(m, 1000 + (i % 5000), `${key}-pi`), ok);
    const id = pi?.body?.id;
    if (typeof id !== 'string') return p;
    p.intentId = id;
    let attempt = 1;
    if (p.declinedFirst) {
      const bad = await call('create_pm', () => client.createPm(m, DECLINED_CARD, `${key}-pm-bad`), ok);
      const badPm = bad?.body?.id;
      if (typeof badPm !== 'string') return p;
      const declined = await call('confirm_declined', () => client.confirm(m, id, badPm, `${key}-confirm-${attempt}`), (a) => a.status === 402 && (a.body?.error as { type?: string } | undefined)?.type === 'card_error');
      if (!declined) return p;
      declinesIntended++;
      attempt++;
    }
    const good = await call('create_pm', () => client.createPm(m, GOOD_CARD, `${key}-pm`), ok);
    const pm = good?.body?.id;
    if (typeof pm !== 'string') return p;
    const c = await call(
      'confirm',
      () => {
        p.confirmSentAt = performance.now();
        return client.confirm(m, id, pm, `${key}-confirm-${attempt}`);
      },
      (a) => a.status === 200 && a.body?.status === 'succeeded',
    );
    if (c) {
      p.succeeded = true;
      p.confirmedAt = performance.now();
    }
    return p;
  }

  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      for (;;) {
        if (performance.now() > until && performance.now() <= deadline) return;
        if (performance.now() > deadline) {
          timedOut = next < o.payments;
          return;
        }
        const i = next++;
        if (i >= o.payments) return;
        payments.push(await pay(i));
        done++;
        if (o.onProgress && done % 250 === 0) o.onProgress(done);
      }
    }),
  );
  return {
    payments,
    latency: { create_intent: summarize(lat.create_intent), create_pm: summarize(lat.create_pm), confirm: summarize(lat.confirm), confirm_declined: summarize(lat.confirm_declined) },
    errors,
    declines_intended: declinesIntended,
    http_requests: client.requests(),
    started_at: started,
    ended_at: performance.now(),
    timed_out: timedOut,
  };
}
