// One Prometheus registry per process. Every module that measures something declares its metrics
// here-through (`counter`, `histogram`, `gauge` below) so names stay unique and `GET /metrics`
// on the gateway (and METRICS_PORT on other processes) shows them all.
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'paynats_process_' });

const made = new Map<string, client.Metric<string>>();

function once<M extends client.Metric<string>>(name: string, make: () => M): M {
  const hit = made.get(name);
  if (hit) return hit as M;
  const m = make();
  made.set(name, m);
  return m;
}

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: client.Counter<L>) => void): client.Counter<L> {
  return once(name, () => new client.Counter<L>({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }));
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: client.Gauge<L>) => void | Promise<void>): client.Gauge<L> {
  return once(name, () => new client.Gauge<L>({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }));
}

/** Seconds-valued histogram; buckets default to 1 ms … 30 s. */
export function histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets: number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]): client.Histogram<L> {
  return once(name, () => new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }));
}

export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
