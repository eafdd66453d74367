// The auditor's checks, from the archives and the streams alone:
//  - verifyArchive: every manifest's hash, the chain of hashes, sequence continuity from 1 to the
//    stream's present (what is neither archived nor still in the stream is a gap), and every chunk's
//    SHA-256, record count and sequences. Each problem names the chunk or manifest at fault.
//  - intentHistory: every commit of one intent, from the archive and the stream, in order.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Commit } from '../streams/envelope.ts';
import { EVENTS_STREAM, WEBHOOKS_STREAM } from '../streams/subjects.ts';
import { readChain } from './chain.ts';
import { DB_CHAIN } from './db-archive.ts';
import { checkChain, checkChunk, type Problem } from './manifest.ts';
import type { Privacy } from './privacy.ts';
import { silentProgress, type Progress } from './progress.ts';
import { streamRecords, type ReadCounts } from './replay.ts';
import type { ArchiveStore } from './store.ts';

export interface ChainReport {
  chain: string;
  manifests: number;
  records: number;
  /** Last archived stream sequence (stream chains). */
  archived_to: number | null;
  /** The stream's first and last sequence now (stream chains, when NATS is reachable). */
  stream: { first_seq: number; last_seq: number } | null;
  problems: Problem[];
}

export interface VerifyReport {
  ok: boolean;
  chains: ChainReport[];
}

export async function verifyArchive(store: ArchiveStore, jsm: JetStreamManager | null, o: { progress?: Progress; chains?: string[] } = {}): Promise<VerifyReport> {
  const p = o.progress ?? silentProgress();
  const chains = o.chains ?? [EVENTS_STREAM, WEBHOOKS_STREAM, DB_CHAIN];
  const read = await Promise.all(chains.map(async (c) => ({ chain: c, ...(await readChain(store, c)) })));
  p.total(read.reduce((n, r) => n + r.manifests.length, 0));
  const reports: ChainReport[] = [];
  for (const { chain, manifests, unreadable } of read) {
    const problems: Problem[] = unreadable.map((u) => ({ kind: 'unreadable_manifest', chain, index: null, object: u.name, message: `manifest ${u.name} is unreadable: ${u.error}` }));
    problems.push(...checkChain(chain, manifests));
    for (const m of manifests) {
      let bytes: Uint8Array | null;
      try {
        bytes = await store.get(m.chunk);
      } catch (err) {
        problems.push({ kind: 'chunk_hash', chain, index: m.index, object: m.chunk, message: `chunk ${m.chunk}: ${(err as Error).message}` });
        p.tick();
        continue;
      }
      problems.push(...checkChunk(m, bytes));
      p.tick();
    }
    const head = manifests[manifests.length - 1];
    const archivedTo = chain === DB_CHAIN ? null : (head?.last_seq ?? 0);
    let stream: ChainReport['stream'] = null;
    if (chain !== DB_CHAIN && jsm) {
      const si = await jsm.streams.info(chain);
      stream = { first_seq: si.state.first_seq, last_seq: si.state.last_seq };
      // What the archive does not hold must still be in the stream.
      if (si.state.messages > 0 && si.state.first_seq > (archivedTo ?? 0) + 1) {
        problems.push({ kind: 'gap', chain, index: null, object: null, message: `${chain}: sequences ${(archivedTo ?? 0) + 1}–${si.state.first_seq - 1} are neither archived nor in the stream` });
      }
    }
    reports.push({ chain, manifests: manifests.length, records: manifests.reduce((n, m) => n + m.count, 0), archived_to: archivedTo, stream, problems });
  }
  p.done();
  return { ok: reports.every((r) => r.problems.length === 0), chains: reports };
}

export interface HistoryEntry {
  seq: number;
  /** Stream time, ISO. */
  time: string;
  source: 'archive' | 'stream';
  command: string;
  request_id: string | null;
  events: string[];
  status: string | null;
  commit: Commit;
}

export interface IntentHistory {
  intent_id: string;
  merchant_id: string | null;
  entries: HistoryEntry[];
  counts: ReadCounts;
}

/** Every commit of one intent, from any mix of archive and stream, in sequence order. */
export async function intentHistory(src: { store: ArchiveStore; jsm: JetStreamManager; privacy: Privacy }, intentId: string, o: { progress?: Progress } = {}): Promise<IntentHistory> {
  const p = o.progress ?? silentProgress();
  const counts: ReadCounts = { archived: 0, live: 0 };
  const entries: HistoryEntry[] = [];
  const suffix = `.${intentId}`;
  let merchant: string | null = null;
  for await (const r of streamRecords(src, EVENTS_STREAM, Number.MAX_SAFE_INTEGER, counts, (n) => p.total(n))) {
    p.tick();
    if (!r.subject.startsWith('pay.evt.intent.') || !r.subject.endsWith(suffix)) continue;
    const c = (await src.privacy.reveal(r.data)) as Commit;
    merchant = c.merchant_id;
    const state = c.state as { status?: string };
    entries.push({
      seq: r.seq,
      time: new Date(r.time).toISOString(),
      source: r.source,
      command: c.command,
      request_id: c.request_id,
      events: c.events.map((e) => e.type),
      status: state.status ?? null,
      commit: c,
    });
  }
  p.done();
  return { intent_id: intentId, merchant_id: merchant, entries, counts };
}
