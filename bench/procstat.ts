// CPU% and RSS of the stack's processes, sampled from /proc while the load runs (Linux only).
// CPU% is of one core (a process using both cores of a 2-core machine shows 200 %).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { round } from './stats.ts';

export interface Watched {
  name: string;
  pid: number;
}

export interface ProcessUsage {
  name: string;
  pid: number;
  cpu_avg_pct: number;
  cpu_max_pct: number;
  rss_start_mb: number;
  rss_max_mb: number;
  rss_end_mb: number;
  /**
   * CPU of the process's main thread alone, % of one core (the rest is its other threads: a node
   * process's worker threads, such as the read model's PGlite, and V8's GC and compiler helpers).
   */
  main_thread_cpu_avg_pct: number;
  /** Samples in which the process was seen (it may have exited or been killed). */
  samples: number;
}

export interface MachineUsage {
  cores: number;
  /** Busy share of all cores, %. */
  busy_avg_pct: number;
  busy_max_pct: number;
  /** CPU used by processes not watched (other work on the machine: noise), % of one core. */
  others_avg_pct: number;
}

let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck) return clkTck;
  try {
    clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clkTck = 100;
  }
  return clkTck;
}

/** utime+stime in ticks from a /proc stat file (a process's or one thread's). */
function statTicks(file: string): number {
  const stat = readFileSync(file, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(rest[11]) + Number(rest[12]);
}

/** utime+stime in ticks (all threads, and the main thread alone) and RSS in kB, or null if the process is gone. */
export function readProc(pid: number): { ticks: number; mainTicks: number; rssKb: number } | null {
  try {
    const ticks = statTicks(`/proc/${pid}/stat`);
    const mainTicks = statTicks(`/proc/${pid}/task/${pid}/stat`);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = status.match(/^VmRSS:\s+(\d+)\s+kB/m);
    return { ticks, mainTicks, rssKb: m ? Number(m[1]) : 0 };
  } catch {
    return null;
  }
}

/** Children (recursively) of a process, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number, depth = 3): number[] {
  const out: number[] = [];
  if (depth <= 0) return out;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      /* gone */
    }
    for (const k of kids) out.push(k, ...descendants(k, depth - 1));
  }
  return out;
}

export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Samples every `everyMs` until stopped (bounded by maxSamples). */
export function startSampler(watched: () => Watched[], everyMs = 1000, maxSamples = 3600) {
  const hz = ticksPerSecond();
  const cores = (() => {
    try {
      return (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length || 1;
    } catch {
      return 1;
    }
  })();
  const acc = new Map<number, { name: string; last: { ticks: number; mainTicks: number; at: number } | null; cpu: number[]; mainCpu: number[]; rss: number[]; samples: number }>();
  const machine: number[] = [];
  let lastMachine = machineTicks();
  let n = 0;
  const sample = () => {
    const at = performance.now();
    for (const w of watched()) {
      const r = readProc(w.pid);
      let a = acc.get(w.pid);
      if (!a) acc.set(w.pid, (a = { name: w.name, last: null, cpu: [], mainCpu: [], rss: [], samples: 0 }));
      if (!r) continue;
      a.samples++;
      a.rss.push(r.rssKb / 1024);
      if (a.last) {
        const secs = (at - a.last.at) / 1000;
        if (secs > 0) {
          a.cpu.push(((r.ticks - a.last.ticks) / hz / secs) * 100);
          a.mainCpu.push(((r.mainTicks - a.last.mainTicks) / hz / secs) * 100);
        }
      }
      a.last = { ticks: r.ticks, mainTicks: r.mainTicks, at };
    }
    const m = machineTicks();
    if (m && lastMachine && m.total > lastMachine.total) machine.push(((m.busy - lastMachine.busy) / (m.total - lastMachine.total)) * 100);
    lastMachine = m;
  };
  sample();
  const timer = setInterval(() => {
    if (++n >= maxSamples) return clearInterval(timer);
    sample();
  }, everyMs);
  return {
    stop(): { processes: ProcessUsage[]; machine: MachineUsage } {
      clearInterval(timer);
      sample();
      const processes = [...acc.entries()].map(([pid, a]) => ({
        name: a.name,
        pid,
        cpu_avg_pct: round(a.cpu.length ? a.cpu.reduce((x, y) => x + y, 0) / a.cpu.length : 0),
        cpu_max_pct: round(a.cpu.length ? Math.max(...a.cpu) : 0),
        rss_start_mb: round(a.rss[0] ?? 0),
        rss_max_mb: round(a.rss.length ? Math.max(...a.rss) : 0),
        rss_end_mb: round(a.rss[a.rss.length - 1] ?? 0),
        main_thread_cpu_avg_pct: round(a.mainCpu.length ? a.mainCpu.reduce((x, y) => x + y, 0) / a.mainCpu.length : 0),
        samples: a.samples,
      }));
      const busyAvg = machine.length ? machine.reduce((x, y) => x + y, 0) / machine.length : 0;
      const watchedAvg = processes.reduce((x, p) => x + p.cpu_avg_pct, 0);
      return {
        processes,
        machine: {
          cores,
          busy_avg_pct: round(busyAvg),
          busy_max_pct: round(machine.length ? Math.max(...machine) : 0),
          others_avg_pct: round(Math.max(0, busyAvg * cores - watchedAvg)),
        },
      };
    },
  };
}

/**
 * Waits (bounded) until the machine is quiet: busy below `maxBusyPct` % over a 2 s window. On a
 * shared machine (other test runs) this keeps their load out of the measurement. Returns the last
 * busy % seen.
 */
export async function waitQuiet(maxBusyPct: number, timeoutMs: number, say: (s: string) => void): Promise<number> {
  const until = Date.now() + timeoutMs;
  let busy = 100;
  let quiet = 0;
  for (let i = 0; i < 10_000; i++) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, 2_000));
    const b = machineTicks();
    busy = a && b && b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * 100 : 0;
    // Two quiet windows in a row: a lull between two test files of someone else's run is not enough.
    quiet = busy < maxBusyPct ? quiet + 1 : 0;
    if (quiet >= 2) return busy;
    if (Date.now() > until) {
      say(`machine still ${round(busy)} % busy after ${timeoutMs / 1000} s; measuring anyway (see machine.others_avg_pct)`);
      return busy;
    }
    if (i % 15 === 0) say(`machine ${round(busy)} % busy (other work); waiting for it to quiet down…`);
  }
  return busy;
}
