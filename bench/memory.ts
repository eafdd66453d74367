// Memory over a run (`--duration`): RSS of every watched process from /proc every few seconds, and
// for node processes that serve GET /metrics (the gateway's node) the V8 heap used / external
// memory from prom-client's default metrics (`paynats_process_nodejs_*`). The figures that matter
// come after a warm-up (caches fill, JIT settles): `start` is the median of the samples in the
// first `windowMs` after the warm-up, `end` the median of the last `windowMs`; growth % compares
// the two (and `second_half_growth_pct` the middle of the span with the end), and `slope_mb_per_min` is the least-squares slope over all post-warm-up samples (a leak
// keeps a positive slope; a cache that warmed up flattens out).
import { readProc, type Watched } from './procstat.ts';
import { round } from './stats.ts';

export interface MemorySample {
  /** ms since the sampler started */
  t: number;
  rss_mb: number;
  heap_used_mb?: number;
  heap_total_mb?: number;
  external_mb?: number;
  /** nats-server: bytes held by memory-storage streams (/jsz `memory`), MB. */
  js_memory_mb?: number;
}

export interface MemorySeries {
  start: number;
  end: number;
  max: number;
  growth_pct: number;
  /**
   * end vs the median of the window at the middle of the measured span: a leak keeps growing in
   * the second half, a cache or heap that warms up (V8 sizing its old generation after the first
   * major GCs) does not.
   */
  second_half_growth_pct: number;
  slope_mb_per_min: number;
}

export interface ProcessMemory {
  name: string;
  pid: number;
  rss: MemorySeries | null;
  heap_used: MemorySeries | null;
  external: MemorySeries | null;
  js_memory: MemorySeries | null;
  samples: MemorySample[];
}

export interface MemoryReport {
  every_ms: number;
  warmup_s: number;
  window_s: number;
  /** ms of samples used: [warm-up end, load end] */
  measured_s: number;
  processes: ProcessMemory[];
}

/** Values of `<name> <value>` lines (no labels) of a Prometheus text exposition. */
export function promValues(text: string, names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const k = line.slice(0, sp);
    if (names.includes(k)) out[k] = Number(line.slice(sp + 1).trim().split(' ')[0]);
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
};

/** Start / end medians, growth and slope of one series after the warm-up (null without samples). */
export function series(points: { t: number; v: number }[], warmupMs: number, windowMs: number): MemorySeries | null {
  const after = points.filter((p) => p.t >= warmupMs && Number.isFinite(p.v));
  if (after.length < 2) return null;
  const t0 = after[0]!.t;
  const tEnd = after[after.length - 1]!.t;
  const first = after.filter((p) => p.t <= t0 + windowMs).map((p) => p.v);
  const last = after.filter((p) => p.t >= tEnd - windowMs).map((p) => p.v);
  const start = median(first);
  const end = median(last);
  const tMid = (t0 + tEnd) / 2;
  const mid = median(after.filter((p) => Math.abs(p.t - tMid) <= windowMs / 2).map((p) => p.v));
  // Least-squares slope, per minute.
  const n = after.length;
  const mt = after.reduce((a, p) => a + p.t, 0) / n;
  const mv = after.reduce((a, p) => a + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of after) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  const slope = den > 0 ? (num / den) * 60_000 : 0;
  return {
    start: round(start, 1),
    end: round(end, 1),
    max: round(Math.max(...after.map((p) => p.v)), 1),
    growth_pct: start > 0 ? round(((end - start) / start) * 100, 1) : 0,
    second_half_growth_pct: mid > 0 ? round(((end - mid) / mid) * 100, 1) : 0,
    slope_mb_per_min: round(slope, 2),
  };
}

export function startMemorySampler(o: {
  watched: () => Watched[];
  /** GET /metrics URL of a watched process, if it has one. */
  metricsUrl: (w: Watched) => string | null;
  /** nats-server's monitoring URL (for /jsz), if known. */
  natsMonitor?: string | null;
  everyMs?: number;
  maxSamples?: number;
}) {
  const everyMs = o.everyMs ?? 5_000;
  const maxSamples = o.maxSamples ?? 2_000;
  const t0 = performance.now();
  const acc = new Map<number, { name: string; samples: MemorySample[] }>();
  let n = 0;
  let busy = false;
  const sample = async () => {
    if (busy) return; // a slow scrape (a busy machine) is skipped, not queued
    busy = true;
    try {
      const t = Math.round(performance.now() - t0);
      for (const w of o.watched()) {
        const r = readProc(w.pid);
        if (!r) continue;
        let a = acc.get(w.pid);
        if (!a) acc.set(w.pid, (a = { name: w.name, samples: [] }));
        const s: MemorySample = { t, rss_mb: round(r.rssKb / 1024, 1) };
        const url = o.metricsUrl(w);
        if (url) {
          try {
            const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
            const v = promValues(await res.text(), ['paynats_process_nodejs_heap_size_used_bytes', 'paynats_process_nodejs_heap_size_total_bytes', 'paynats_process_nodejs_external_memory_bytes']);
            const mb = (k: string) => (v[k] === undefined ? undefined : round(v[k]! / 2 ** 20, 1));
            const hu = mb('paynats_process_nodejs_heap_size_used_bytes');
            const ht = mb('paynats_process_nodejs_heap_size_total_bytes');
            const ex = mb('paynats_process_nodejs_external_memory_bytes');
            if (hu !== undefined) s.heap_used_mb = hu;
            if (ht !== undefined) s.heap_total_mb = ht;
            if (ex !== undefined) s.external_mb = ex;
          } catch {
            /* no answer this time */
          }
        }
        if (o.natsMonitor && w.name === 'nats-server') {
          try {
            const res = await fetch(`${o.natsMonitor}/jsz`, { signal: AbortSignal.timeout(3_000) });
            const j = (await res.json()) as { memory?: number };
            if (typeof j.memory === 'number') s.js_memory_mb = round(j.memory / 2 ** 20, 1);
          } catch {
            /* no answer this time */
          }
        }
        a.samples.push(s);
      }
    } finally {
      busy = false;
    }
  };
  void sample();
  const timer = setInterval(() => {
    if (++n >= maxSamples) return clearInterval(timer);
    void sample();
  }, everyMs);
  return {
    elapsedMs: () => performance.now() - t0,
    async stop(warmupMs: number, windowMs = 15_000): Promise<MemoryReport> {
      clearInterval(timer);
      for (let i = 0; busy && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
      await sample();
      const measured = performance.now() - t0 - warmupMs;
      const processes = [...acc.entries()].map(([pid, a]) => {
        const pts = (f: (s: MemorySample) => number | undefined) => a.samples.filter((s) => f(s) !== undefined).map((s) => ({ t: s.t, v: f(s)! }));
        return {
          name: a.name,
          pid,
          rss: series(pts((s) => s.rss_mb), warmupMs, windowMs),
          heap_used: series(pts((s) => s.heap_used_mb), warmupMs, windowMs),
          external: series(pts((s) => s.external_mb), warmupMs, windowMs),
          js_memory: series(pts((s) => s.js_memory_mb), warmupMs, windowMs),
          samples: a.samples,
        };
      });
      return { every_ms: everyMs, warmup_s: round(warmupMs / 1000, 1), window_s: round(windowMs / 1000, 1), measured_s: round(measured / 1000, 1), processes };
    },
  };
}
