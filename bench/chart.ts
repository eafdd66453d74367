// bench/results/*.json → bench/results/chart.svg: payments/s and p99 confirm latency against
// concurrency, one series per worker count (and sync mode, when not `always`). Hand-written SVG.
// `tsx bench/chart.ts [results-dir]`; `npm run bench` calls it after saving its results.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Point {
  series: string;
  workers: number;
  concurrency: number;
  payments_per_s: number;
  p99_confirm_ms: number;
  errors: number;
  timestamp: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#393b79', '#637939'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2, 5 × 10^k steps giving about `n` ticks up to max. */
function ticks(max: number, n = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.999 && out.length < 20; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

export function loadPoints(dir: string): Point[] {
  const latest = new Map<string, Point>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    try {
      const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
        payments_per_s?: number;
        p99_confirm_ms?: number;
        errors?: number;
        timestamp?: string;
        config?: { workers?: number; concurrency?: number; sync?: string; client?: string; cpu_prof?: boolean; split?: boolean; database?: string | null };
        label?: string;
      };
      const c = r.config;
      if (typeof r.payments_per_s !== 'number' || !c || typeof c.workers !== 'number' || typeof c.concurrency !== 'number') continue;
      if (c.cpu_prof) continue; // the profiler's overhead would skew the picture
      const sync = c.sync ?? 'always';
      const series = `${c.workers} worker${c.workers === 1 ? '' : 's'}${sync === 'always' ? '' : `, sync ${sync}`}${c.client && c.client !== 'http' ? `, ${c.client}` : ''}${c.split ? ', split' : ''}${c.database === 'postgres' ? ', postgres' : ''}${r.label?.endsWith('-before') ? ' (before)' : ''}`;
      const p: Point = { series, workers: c.workers, concurrency: c.concurrency, payments_per_s: r.payments_per_s, p99_confirm_ms: r.p99_confirm_ms ?? Number.NaN, errors: r.errors ?? 0, timestamp: r.timestamp ?? f };
      // The newest result per (series, concurrency) wins: files sort by their timestamp prefix.
      latest.set(`${series}|${c.concurrency}`, p);
    } catch {
      /* not a result */
    }
  }
  return [...latest.values()];
}

export function chartSvg(points: Point[], subtitle = ''): string {
  const W = 980;
  let H = 440;
  const panelW = 400;
  const panelH = 280;
  const top = 80;
  const lefts = [80, 80 + panelW + 90];
  const concs = [...new Set(points.map((p) => p.concurrency))].sort((a, b) => a - b);
  const series = [...new Set(points.map((p) => p.series))].sort((a, b) => {
    const wa = points.find((p) => p.series === a)!.workers;
    const wb = points.find((p) => p.series === b)!.workers;
    return wa - wb || a.localeCompare(b);
  });
  // Legend rows: as many as the series' names need; the picture grows to fit them.
  const legend: { s: string; x: number; row: number }[] = [];
  {
    let lx = 80;
    let row = 0;
    for (const s of series) {
      const w = 40 + s.length * 7;
      if (lx + w > W - 10 && lx > 80) {
        lx = 80;
        row++;
      }
      legend.push({ s, x: lx, row });
      lx += w;
    }
    H += 20 * row;
  }
  const xOf = (c: number, left: number) => left + (concs.length === 1 ? panelW / 2 : 30 + (concs.indexOf(c) * (panelW - 60)) / (concs.length - 1));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">paynats: npm run bench</text>`);
  if (subtitle) parts.push(`<text x="${W / 2}" y="46" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);
  const panels: { title: string; value: (p: Point) => number; unit: string }[] = [
    { title: 'payments/s (succeeded + webhook delivered)', value: (p) => p.payments_per_s, unit: '/s' },
    { title: 'p99 confirm latency (ms)', value: (p) => p.p99_confirm_ms, unit: ' ms' },
  ];
  panels.forEach((panel, pi) => {
    const left = lefts[pi]!;
    const vals = points.map(panel.value).filter(Number.isFinite);
    const ts = ticks(Math.max(1, ...vals) * 1.1);
    const max = ts[ts.length - 1]!;
    const yOf = (v: number) => top + panelH - (v / max) * panelH;
    parts.push(`<text x="${left + panelW / 2}" y="${top - 14}" text-anchor="middle" font-size="14" font-weight="bold">${esc(panel.title)}</text>`);
    for (const t of ts) {
      const y = yOf(t);
      parts.push(`<line x1="${left}" y1="${y}" x2="${left + panelW}" y2="${y}" stroke="#e5e5e5"/>`);
      parts.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end" fill="#444">${t}</text>`);
    }
    parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + panelH}" stroke="#333"/>`);
    parts.push(`<line x1="${left}" y1="${top + panelH}" x2="${left + panelW}" y2="${top + panelH}" stroke="#333"/>`);
    for (const c of concs) {
      const x = xOf(c, left);
      parts.push(`<line x1="${x}" y1="${top + panelH}" x2="${x}" y2="${top + panelH + 5}" stroke="#333"/>`);
      parts.push(`<text x="${x}" y="${top + panelH + 19}" text-anchor="middle" fill="#444">${c}</text>`);
    }
    parts.push(`<text x="${left + panelW / 2}" y="${top + panelH + 38}" text-anchor="middle">concurrency (payments in flight)</text>`);
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length]!;
      const pts = points
        .filter((p) => p.series === s && Number.isFinite(panel.value(p)))
        .sort((a, b) => a.concurrency - b.concurrency)
        .map((p) => ({ x: xOf(p.concurrency, left), y: yOf(panel.value(p)), v: panel.value(p), errors: p.errors }));
      if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ')}"/>`);
      for (const p of pts) {
        parts.push(`<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="4" fill="${p.errors > 0 ? '#fff' : color}" stroke="${color}" stroke-width="2"><title>${esc(`${s}: ${p.v}${panel.unit}${p.errors ? `, ${p.errors} errors` : ''}`)}</title></circle>`);
        parts.push(`<text x="${(p.x + 6).toFixed(1)}" y="${(p.y - 7).toFixed(1)}" fill="${color}" font-size="11">${Math.round(p.v)}</text>`);
      }
    });
  });
  // Legend
  for (const [si, { s, x: lx, row }] of legend.entries()) {
    const ly = top + panelH + 62 + 20 * row;
    const color = COLORS[si % COLORS.length]!;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="3"/><circle cx="${lx + 11}" cy="${ly}" r="4" fill="${color}"/>`);
    parts.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(s)}</text>`);
  }
  parts.push(`<text x="${W - 10}" y="${H - 8}" text-anchor="end" fill="#888" font-size="10">open circle = run had errors; newest result per point from bench/results/</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export function renderChart(dir: string, out = path.join(dir, 'chart.svg')): string {
  const points = loadPoints(dir);
  if (points.length === 0) throw new Error(`no results in ${dir}`);
  const newest = points.map((p) => p.timestamp).sort().pop() ?? '';
  writeFileSync(out, chartSvg(points, `${points.length} points · newest ${newest.slice(0, 16).replace('T', ' ')} UTC · ${process.platform} ${process.version}`));
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results'));
  process.stdout.write(`${renderChart(dir)}\n`);
}
