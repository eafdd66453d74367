// Fault injection of the simulated card network: what a real network does to its callers. Each
// authorization draws one fault (or none) from the configured probabilities:
//   timeout      the request hangs past the caller's timeout; the network executed it (after a
//                random delay up to late_ms, maybe after the caller's deadline) or never did, at
//                random; the draw is written to the ledger;
//   late_success executed at once (authorized), answered only after late_ms (the caller gave up);
//   duplicate    the network executes and books it twice: two network references for one request;
//   error        a 5xx, nothing executed;
//   outage       (a switch, not a probability) every /v1 request is refused with 503.
// latency_ms is added to every answer. `seed=<n>` makes the draws reproducible.

export interface FaultConfig {
  timeout: number;
  late_success: number;
  duplicate: number;
  error: number;
  outage: boolean;
  latency_ms: number;
  /** How late a late answer (or a late execution of a timed-out request) comes, ms. */
  late_ms: number;
  /** A hung request is held at most this long (or until the caller hangs up), ms. */
  hang_ms: number;
  /** Seed of the fault RNG; null: seeded from the clock. */
  seed: number | null;
}

export type FaultKind = 'timeout' | 'late_success' | 'duplicate' | 'error';

export const NO_FAULTS: FaultConfig = { timeout: 0, late_success: 0, duplicate: 0, error: 0, outage: false, latency_ms: 0, late_ms: 5_000, hang_ms: 30_000, seed: null };

const PROBS = ['timeout', 'late_success', 'duplicate', 'error'] as const;
const INTS = { latency_ms: 600_000, late_ms: 3_600_000, hang_ms: 3_600_000 } as const;

export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
}

/** `timeout=0.2,late_success=0.05,duplicate=0.01,error=0.05,latency_ms=20,outage,seed=7` over a base. */
export function parseFaults(spec: string, base: FaultConfig = NO_FAULTS): FaultConfig {
  const out: FaultConfig = { ...base };
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k = '', v] = part.split('=').map((s) => s.trim());
    applyFault(out, k, v === undefined ? (k === 'outage' ? true : undefined) : v);
  }
  checkSum(out);
  return out;
}

/** One field from JSON (admin API) or the env string. */
export function applyFault(out: FaultConfig, k: string, v: unknown): void {
  if ((PROBS as readonly string[]).includes(k)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new FaultConfigError(`${k}: a probability between 0 and 1, got '${String(v)}'`);
    out[k as FaultKind] = n;
  } else if (k === 'outage') {
    if (v === true || v === 'true' || v === '1' || v === 'on') out.outage = true;
    else if (v === false || v === 'false' || v === '0' || v === 'off') out.outage = false;
    else throw new FaultConfigError(`outage: true or false, got '${String(v)}'`);
  } else if (k in INTS) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    const max = INTS[k as keyof typeof INTS];
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new FaultConfigError(`${k}: an integer between 0 and ${max}, got '${String(v)}'`);
    out[k as keyof typeof INTS] = n;
  } else if (k === 'seed') {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw new FaultConfigError(`seed: an integer, got '${String(v)}'`);
    out.seed = n;
  } else {
    throw new FaultConfigError(`unknown fault '${k}' (known: ${[...PROBS, 'outage', ...Object.keys(INTS), 'seed'].join(', ')})`);
  }
}

export function checkSum(c: FaultConfig): void {
  const sum = PROBS.reduce((s, k) => s + c[k], 0);
  if (sum > 1 + 1e-9) throw new FaultConfigError(`the fault probabilities add up to ${sum.toFixed(3)}, more than 1`);
}

/** mulberry32: small, fast, good enough for drawing faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultDraw {
  kind: FaultKind | null;
  /** timeout: whether the network executes the request anyway. */
  executed: boolean;
  /** timeout (executed) and late_success: delay before executing / answering, ms. */
  delayMs: number;
}

export interface Faults {
  config(): FaultConfig;
  set(c: FaultConfig): void;
  /** The fault for the next authorization. */
  draw(): FaultDraw;
}

export function createFaults(initial: FaultConfig = NO_FAULTS): Faults {
  let cfg = { ...initial };
  let rnd = seededRandom(cfg.seed ?? Date.now());
  return {
    config: () => ({ ...cfg }),
    set(c) {
      checkSum(c);
      if (c.seed !== cfg.seed || c.seed !== null) rnd = seededRandom(c.seed ?? Date.now());
      cfg = { ...c };
    },
    draw() {
      const r = rnd();
      let acc = 0;
      for (const k of PROBS) {
        acc += cfg[k];
        if (r < acc) {
          if (k === 'timeout') {
            const executed = rnd() < 0.5;
            return { kind: k, executed, delayMs: executed ? Math.floor(rnd() * cfg.late_ms) : 0 };
          }
          return { kind: k, executed: k !== 'error', delayMs: k === 'late_success' ? cfg.late_ms : 0 };
        }
      }
      return { kind: null, executed: true, delayMs: 0 };
    },
  };
}
