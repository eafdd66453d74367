// Column types shared by the tables, and the conversions done at the repository edge.
//
// Kysely's advice for Postgres: node-postgres returns int8 as a string (a JS number cannot hold every
// int8), so int8 columns are typed as strings when read and converted here. PGlite is configured to
// do the same (see database.ts), so both drivers hand back identical rows.
import type { ColumnType } from 'kysely';

/** int8: read as a decimal string; written as a number, bigint or string. */
export type Int8 = ColumnType<string, number | bigint | string, number | bigint | string>;

/** timestamptz: read as a Date; written as a Date (or an ISO string). */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** jsonb: read parsed; written as JSON text (node-postgres would send a JS array as a Postgres array). */
export type Json<T> = ColumnType<T, string, string>;

/** An int8 that must fit a JS number (amounts in the minor unit, stream sequences). */
export function int8(v: string | number | bigint): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 ${String(v)} does not fit a JS number`);
  return n;
}

export function int8OrNull(v: string | number | bigint | null): number | null {
  return v === null ? null : int8(v);
}

/** Unix seconds → Date. */
export function fromUnix(s: number): Date {
  return new Date(s * 1000);
}

export function fromUnixOrNull(s: number | null): Date | null {
  return s === null ? null : fromUnix(s);
}

/** Date → unix seconds. */
export function toUnix(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

/** Inside json_agg a timestamptz is an ISO string, not a Date. */
export function asDate(v: Date | string): Date {
  return v instanceof Date ? v : new Date(v);
}

export function asDateOrNull(v: Date | string | null): Date | null {
  return v === null ? null : asDate(v);
}

export function json(v: unknown): string {
  return JSON.stringify(v);
}

/** Split rows so one multi-row statement stays well under Postgres' 65535 bind parameters. */
export function chunks<T>(rows: readonly T[], columns: number, maxParams = 30_000): T[][] {
  const size = Math.max(1, Math.floor(maxParams / Math.max(1, columns)));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/** A selected row as a reader sees it: the int8 columns `K` as numbers (converted with int8). */
export type WithNumbers<Row, K extends keyof Row> = { [P in keyof Row]: P extends K ? number : Row[P] };
