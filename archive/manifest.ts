// Pure core of the archive format: a chunk is gzip'd JSON lines; a manifest describes one chunk and
// carries the previous manifest's hash, so the manifests of a chain form a hash chain. Everything
// here is a function of its arguments (no clock, no I/O), and `checkChain` is the whole audit rule.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';

/** The hash the first manifest of a chain points back at. */
export const GENESIS = '0'.repeat(64);

/** A chain is a stream's name (PAY_EVENTS, PAY_WEBHOOKS) or 'db' (the yearly export of hot tables). */
export type ChainName = string;

export interface Manifest {
  v: 1;
  chain: ChainName;
  /** The stream the events came from; null for the database chain. */
  stream: string | null;
  /** 0, 1, 2 … within the chain. */
  index: number;
  /** Stream sequences covered (inclusive); null for the database chain. */
  first_seq: number | null;
  last_seq: number | null;
  /** Time of the first and last record, ms since epoch (stream time, or row time for the database chain). */
  first_time: number;
  last_time: number;
  count: number;
  /** Object name of the chunk. */
  chunk: string;
  bytes: number;
  /** SHA-256 of the chunk's bytes (the gzip), hex. */
  sha256: string;
  prev_hash: string;
  /** How e-mail addresses are held in the chunk: keep | hash | encrypt. */
  emails: string;
  /** When the rows left the hot tables, ms since epoch (database chain only). */
  archived_at?: number;
  /** Rows per table (database chain only). */
  tables?: Record<string, number>;
  /** Sequences the archiver found missing from the stream just before this chunk (never archived). */
  gap_before?: { from: number; to: number } | null;
  /** SHA-256 of the canonical JSON of every other field. */
  hash: string;
}

export type UnsealedManifest = Omit<Manifest, 'hash'>;

/** JSON with keys sorted at every level: the same object always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

export function manifestHash(m: UnsealedManifest | Manifest): string {
  const { hash: _hash, ...rest } = m as Manifest;
  return sha256(canonicalJson(rest));
}

export function sealManifest(m: UnsealedManifest): Manifest {
  return { ...m, hash: manifestHash(m) };
}

const pad = (n: number) => String(n).padStart(10, '0');
export const chunkName = (chain: ChainName, index: number) => `${chain}/chunks/${pad(index)}.jsonl.gz`;
export const manifestName = (chain: ChainName, index: number) => `${chain}/manifests/${pad(index)}.json`;
export const isManifestName = (chain: ChainName, name: string) => name.startsWith(`${chain}/manifests/`) && name.endsWith('.json');

const gzipAsync = promisify(gzip);

/** Records → one gzip'd JSON-lines chunk. */
export function encodeChunk(records: readonly unknown[]): Promise<Uint8Array> {
  return encodeChunkLines(records.map((r) => JSON.stringify(r)));
}

/**
 * encodeChunk of records already serialized, one JSON text each (the archiver builds them slice by
 * slice). Compressed on libuv's thread pool: a 10,000-event chunk took ~150–250 ms of gzip, and done
 * synchronously that stalled the event loop serving payments (the same bytes either way).
 */
export function encodeChunkLines(lines: readonly string[]): Promise<Uint8Array> {
  return gzipAsync(Buffer.from(lines.join('\n') + '\n', 'utf8'));
}

export function decodeChunk<T = unknown>(bytes: Uint8Array): T[] {
  return parseChunkText<T>(gunzipSync(bytes).toString('utf8'));
}

/** A chunk's records from its gunzipped text (one JSON value per line). */
export function parseChunkText<T = unknown>(text: string): T[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

/** A record of a stream chain: one stream message as it was, its JSON body parsed. */
export interface StreamRecord {
  seq: number;
  subject: string;
  /** Stream time, ms since epoch. */
  time: number;
  data: unknown;
}

/** The manifest of the chunk after `prev` holding `records` (in sequence order). */
export function streamManifest(a: {
  chain: ChainName;
  prev: Manifest | null;
  records: readonly StreamRecord[];
  chunk: Uint8Array;
  emails: string;
  createdGap?: { from: number; to: number } | null;
}): Manifest {
  const first = a.records[0];
  const last = a.records[a.records.length - 1];
  if (!first || !last) throw new Error('a chunk holds at least one record');
  const index = a.prev ? a.prev.index + 1 : 0;
  return sealManifest({
    v: 1,
    chain: a.chain,
    stream: a.chain,
    index,
    first_seq: first.seq,
    last_seq: last.seq,
    first_time: first.time,
    last_time: last.time,
    count: a.records.length,
    chunk: chunkName(a.chain, index),
    bytes: a.chunk.byteLength,
    sha256: sha256(a.chunk),
    prev_hash: a.prev?.hash ?? GENESIS,
    emails: a.emails,
    gap_before: a.createdGap ?? null,
  });
}

export type ProblemKind = 'manifest_hash' | 'chain' | 'gap' | 'overlap' | 'missing_chunk' | 'chunk_hash' | 'chunk_content' | 'unreadable_manifest';

export interface Problem {
  kind: ProblemKind;
  chain: ChainName;
  index: number | null;
  /** The object at fault (chunk or manifest name). */
  object: string | null;
  message: string;
}

/**
 * Checks a chain's manifests (sorted by index): each hash, each link to the previous one, the
 * indexes and (for stream chains) sequence continuity from `firstSeq` on. Chunk contents are
 * checked separately (`checkChunk`).
 */
export function checkChain(chain: ChainName, manifests: readonly Manifest[], firstSeq = 1): Problem[] {
  const problems: Problem[] = [];
  let prev: Manifest | null = null;
  let expectSeq = firstSeq;
  manifests.forEach((m, i) => {
    const at = { chain, index: m.index, object: manifestName(chain, m.index) };
    if (manifestHash(m) !== m.hash) problems.push({ kind: 'manifest_hash', ...at, message: `manifest ${m.index}: its hash does not match its content (edited)` });
    if (m.index !== i) problems.push({ kind: 'chain', ...at, message: `manifest ${i} missing (found ${m.index} in its place)` });
    const wantPrev = prev ? prev.hash : GENESIS;
    if (m.prev_hash !== wantPrev) problems.push({ kind: 'chain', ...at, message: `manifest ${m.index}: prev_hash does not match manifest ${prev ? prev.index : 'genesis'}` });
    if (m.first_seq !== null && m.last_seq !== null) {
      if (m.first_seq > expectSeq) {
        problems.push({ kind: 'gap', ...at, message: `${chain}: sequences ${expectSeq}–${m.first_seq - 1} are in no chunk (before chunk ${m.index})` });
      } else if (m.first_seq < expectSeq) {
        problems.push({ kind: 'overlap', ...at, message: `${chain}: chunk ${m.index} starts at ${m.first_seq}, but ${expectSeq - 1} was already archived` });
      }
      if (m.last_seq - m.first_seq + 1 !== m.count) {
        problems.push({ kind: 'gap', ...at, message: `${chain}: chunk ${m.index} holds ${m.count} records for ${m.last_seq - m.first_seq + 1} sequences` });
      }
      expectSeq = m.last_seq + 1;
    }
    prev = m;
  });
  return problems;
}

/** Checks one chunk's bytes against its manifest: SHA-256, record count, sequences in order. */
export function checkChunk(m: Manifest, bytes: Uint8Array | null): Problem[] {
  const at = { chain: m.chain, index: m.index, object: m.chunk };
  if (!bytes) return [{ kind: 'missing_chunk', ...at, message: `chunk ${m.chunk} is missing` }];
  if (bytes.byteLength !== m.bytes || sha256(bytes) !== m.sha256) {
    return [{ kind: 'chunk_hash', ...at, message: `chunk ${m.chunk}: SHA-256 does not match its manifest (altered or corrupt)` }];
  }
  let records: unknown[];
  try {
    records = decodeChunk(bytes);
  } catch (err) {
    return [{ kind: 'chunk_content', ...at, message: `chunk ${m.chunk}: unreadable (${(err as Error).message})` }];
  }
  if (records.length !== m.count) return [{ kind: 'chunk_content', ...at, message: `chunk ${m.chunk}: ${records.length} records, manifest says ${m.count}` }];
  if (m.first_seq !== null) {
    const seqs = (records as StreamRecord[]).map((r) => r.seq);
    const inOrder = seqs.every((s, i) => s === (m.first_seq as number) + i);
    if (!inOrder) return [{ kind: 'chunk_content', ...at, message: `chunk ${m.chunk}: sequences are not ${m.first_seq}…${m.last_seq} in order` }];
  }
  return [];
}
