// Summaries of V8 .cpuprofile files (node --cpu-prof, set through NODE_OPTIONS for the stack):
// self time per function and per area (project folder or package), restricted to a time window
// (the load phase) given in CLOCK_MONOTONIC microseconds, which is the profiler's clock on Linux.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { round } from './stats.ts';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  process: string;
  pid: number;
  /** Sampled ms inside the window (all threads of the process's main isolate). */
  sampled_ms: number;
  /** Share of the window the process was busy (not idle), %. */
  busy_pct: number;
  top: { fn: string; where: string; self_ms: number; pct: number }[];
  by_area: { area: string; self_ms: number; pct: number }[];
  /**
   * Each busy sample charged to the nearest frame of this project's own code up its stack
   * (library and runtime time counted for the project file that caused it): which of our files
   * the CPU goes to.
   */
  by_project_file: { file: string; ms: number; pct: number }[];
}

export function areaOf(url: string, fn: string, root: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node:' + (url.slice(5).split('/')[0] ?? '');
  const p = url.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 14).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? 'node_modules');
  }
  if (p.startsWith(root)) return path.relative(root, p).split('/')[0] ?? p;
  return p;
}

export function summarizeProfile(file: string, name: string, pid: number, root: string, window?: { fromUs: number; toUs: number }, topN = 15): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownFile = new Map<number, string>();
  const projectFileOf = (id: number): string => {
    const hit = ownFile.get(id);
    if (hit !== undefined) return hit;
    let cur: number | undefined = id;
    let found = '(no project frame)';
    for (let d = 0; cur !== undefined && d < 400; d++) {
      const url = byId.get(cur)?.callFrame.url ?? '';
      const p = url.replace(/^file:\/\//, '');
      if (p.startsWith(root + '/') && !p.includes('/node_modules/')) {
        found = path.relative(root, p);
        break;
      }
      cur = parent.get(cur);
    }
    ownFile.set(id, found);
    return found;
  };
  const self = new Map<number, number>(); // node id → µs
  let t = prof.startTime;
  let inWindow = 0;
  let idle = 0;
  const use = (from: number, to: number) => !window || (to > window.fromUs && from < window.toUs);
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    // A sample's weight is the gap to the next sample.
    const w = prof.timeDeltas[i + 1] ?? 0;
    if (!use(t, t + w)) continue;
    const id = prof.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + w);
    inWindow += w;
    if (byId.get(id)?.callFrame.functionName === '(idle)') idle += w;
  }
  const fileTotals = new Map<string, number>();
  for (const [id, us] of self) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    const f = projectFileOf(id);
    fileTotals.set(f, (fileTotals.get(f) ?? 0) + us);
  }
  const fnTotals = new Map<string, { fn: string; where: string; us: number }>();
  const areaTotals = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    const fn = functionName || '(anonymous)';
    const rel = url ? url.replace(/^file:\/\//, '').replace(root + '/', '') : '';
    const where = rel ? `${rel}:${lineNumber + 1}` : '';
    const k = `${fn}@${where}`;
    const e = fnTotals.get(k) ?? { fn, where, us: 0 };
    e.us += us;
    fnTotals.set(k, e);
    const area = areaOf(url, fn, root);
    areaTotals.set(area, (areaTotals.get(area) ?? 0) + us);
  }
  const busy = inWindow - idle;
  const pct = (us: number) => round(busy > 0 ? (us / busy) * 100 : 0);
  return {
    process: name,
    pid,
    sampled_ms: round(inWindow / 1000, 0),
    busy_pct: round(inWindow > 0 ? (busy / inWindow) * 100 : 0),
    top: [...fnTotals.values()].sort((a, b) => b.us - a.us).slice(0, topN).map((e) => ({ fn: e.fn, where: e.where, self_ms: round(e.us / 1000, 0), pct: pct(e.us) })),
    by_area: [...areaTotals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([area, us]) => ({ area, self_ms: round(us / 1000, 0), pct: pct(us) })),
    by_project_file: [...fileTotals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([file, us]) => ({ file, ms: round(us / 1000, 0), pct: pct(us) })),
  };
}

/** Every .cpuprofile in dir, named by the pid in its file name (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile). */
export function summarizeProfiles(dir: string, names: Map<number, string>, root: string, window?: { fromUs: number; toUs: number }): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return out;
  }
  for (const f of files) {
    const pid = Number(f.split('.')[3]);
    try {
      let s = summarizeProfile(path.join(dir, f), names.get(pid) ?? `pid ${pid}`, pid, root, window);
      // The window did not match the profiler's clock: fall back to the whole profile.
      if (window && s.sampled_ms === 0) s = summarizeProfile(path.join(dir, f), `${names.get(pid) ?? `pid ${pid}`} (whole life)`, pid, root);
      out.push(s);
    } catch {
      /* unreadable or partial profile */
    }
  }
  return out.sort((a, b) => b.sampled_ms * b.busy_pct - a.sampled_ms * a.busy_pct);
}
