// A progress bar with a rate, on stderr (stdout stays clean for --json). On a terminal it redraws
// one line; elsewhere (CI logs, pipes) it prints a line every few seconds.
export interface Progress {
  /** Adds to the work known so far (totals can grow as a run discovers more). */
  total(n: number): void;
  tick(n?: number): void;
  done(): void;
  readonly count: number;
}

export function progress(label: string, out: NodeJS.WriteStream | null = process.stderr): Progress {
  const started = Date.now();
  let total = 0;
  let count = 0;
  let drawn = 0;
  const tty = !!out?.isTTY;
  const rate = () => count / Math.max(0.001, (Date.now() - started) / 1000);
  const line = () => {
    const pct = total > 0 ? Math.min(1, count / total) : 0;
    const width = 30;
    const bar = '#'.repeat(Math.round(pct * width)).padEnd(width, '.');
    const r = rate();
    const eta = total > count && r > 0 ? ` eta ${Math.ceil((total - count) / r)}s` : '';
    return `${label} [${bar}] ${(pct * 100).toFixed(0).padStart(3)}% ${count}/${total} ${r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0)}/s${eta}`;
  };
  const draw = (force = false) => {
    if (!out) return;
    const now = Date.now();
    if (!force && now - drawn < (tty ? 100 : 2_000)) return;
    drawn = now;
    out.write(tty ? `\r${line()}\x1b[K` : `${line()}\n`);
  };
  return {
    get count() {
      return count;
    },
    total(n) {
      total += n;
    },
    tick(n = 1) {
      count += n;
      draw();
    },
    done() {
      draw(true);
      if (tty) out?.write('\n');
    },
  };
}

export const silentProgress = (): Progress => progress('', null);
