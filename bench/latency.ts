// A first measuring stick (issue 5 builds the full `npm run bench`): sequential payments through the
// official SDK against a running stack (DATA_DIR/demo-merchant.json), reporting per-step latency
// and how many PAY_EVENTS messages one payment wrote. Loopback only; bounded by --payments.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const args = process.argv.slice(2);
const n = Number(args[args.indexOf('--payments') + 1] ?? 0) || 200;
const demo = JSON.parse(readFileSync(path.resolve(process.env.DATA_DIR ?? '.data', 'demo-merchant.json'), 'utf8')) as { url: string; secret_key: string; nats_url: string };
const u = new URL(demo.url);
if (!['127.0.0.1', 'localhost', '::1'].includes(u.hostname)) throw new Error('loopback only');
const stripe = new Stripe(demo.secret_key, { host: u.hostname, port: Number(u.port), protocol: 'http' });
const nc = await connect({ servers: demo.nats_url });
const jsm = await jetstreamManager(nc);
const before = (await jsm.streams.info('PAY_EVENTS')).state.messages;

const t: Record<string, number[]> = { create: [], confirm: [], total: [] };
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const started = Date.now();
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const pi = await stripe.paymentIntents.create({ amount: 1000 + i, currency: 'usd' });
  const t1 = performance.now();
  const done = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
  const t2 = performance.now();
  if (done.status !== 'succeeded') throw new Error(`payment ${i}: ${done.status}`);
  t.create!.push(t1 - t0);
  t.confirm!.push(t2 - t1);
  t.total!.push(t2 - t0);
}
const secs = (Date.now() - started) / 1000;
const after = (await jsm.streams.info('PAY_EVENTS')).state.messages;
for (const [k, xs] of Object.entries(t)) console.log(`${k.padEnd(8)} p50 ${q(xs, 0.5).toFixed(1)} ms  p95 ${q(xs, 0.95).toFixed(1)} ms  p99 ${q(xs, 0.99).toFixed(1)} ms`);
console.log(`${n} sequential payments in ${secs.toFixed(1)} s (${(n / secs).toFixed(1)}/s, one client); PAY_EVENTS messages per payment: ${((after - before) / n).toFixed(2)}`);
await nc.close();
