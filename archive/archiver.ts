// The archiver: a durable consumer per stream that writes every message, in sequence order, into
// gzip JSON-lines chunks with hash-chained manifests (manifest.ts) in the archive store.
//
// Exactly once, by construction:
//  - a chunk is acknowledged (ack-all on its last message) only after its chunk object and its
//    manifest are stored; a crash before that redelivers the messages;
//  - the chain head (the newest manifest) is the archiver's true position: on start it is read
//    from the store, and anything redelivered at or below it is acknowledged and skipped;
//  - a message above the next expected sequence: the ones in between are read from the stream by
//    direct get (after a restart, what an earlier process held is redelivered only after ack_wait);
//    those the stream no longer has (max_age passed, a purge) are a gap: the chunk so far is
//    closed, the gap is logged, counted (paynats_archive_gap_records) and written into the next
//    manifest (gap_before), which `audit verify` reports.
// The gap check on start compares the head with the stream's first sequence and with the durable's
// ack floor (if the durable acknowledged past the head, those messages are read back by direct get).
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { appendChunk, readChain } from './chain.ts';
import { checkChain, encodeChunkLines, streamManifest, type Manifest, type StreamRecord } from './manifest.ts';
import { archiveGapRecords, archiveHeadSeq, archiveLagRecords, archivedChunks, archivedRecords, archiveWriteFailures } from './metrics.ts';
import type { Privacy } from './privacy.ts';
import type { ArchiveStore } from './store.ts';

export interface ArchiverOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  store: ArchiveStore;
  stream: string;
  durable: string;
  chunkEvents: number;
  chunkMs: number;
  privacy: Privacy;
  log: Logger;
  /**
   * Runs with a chunk's records (as in the stream, before the e-mail policy) before the chunk is
   * stored, in order, in slices of at most FLUSH_SLICE records (memory: a 10k-record chunk is not
   * parsed all at once); a failure retries it like a failed store, nothing is acknowledged. It may run again for
   * the same records (a crash before the chunk was stored), so it must be idempotent. The archive
   * role writes the aggregate snapshots here (runtime/snapshots.ts).
   */
  beforeStore?: (records: readonly StreamRecord[]) => Promise<void>;
}

export interface StartReport {
  chain: string;
  head: { index: number; last_seq: number } | null;
  /** Problems found in the chain's manifests, and any gap between the head and the stream. */
  problems: string[];
  gap: { from: number; to: number } | null;
  backfilled: number;
}

export interface Archiver {
  /** Resolves after the start-up gap check, with what it found. */
  ready: Promise<StartReport>;
  /** Last stream sequence stored in the archive. */
  archivedSeq(): number;
  /** Closes the current chunk (if any) and stops. */
  stop(): Promise<void>;
  done: Promise<void>;
}

const dec = new TextDecoder();
/** Records parsed / protected / handed to beforeStore at a time when a chunk is stored. */
export const FLUSH_SLICE = 500;

/**
 * A buffered record: its body as a copy of the message's bytes (compact, and no reference into
 * nats.js buffers), parsed only when its chunk is stored.
 */
interface Buffered {
  seq: number;
  subject: string;
  time: number;
  body: Uint8Array;
}

/** A copy of a message body, off nats.js's read buffer. */
const bodyOf = (data: Uint8Array): Uint8Array => data.slice();

/** The body parsed (every body we write is JSON); anything else is kept as base64. */
function dataOf(body: Uint8Array): { data: unknown; text: string | null } {
  const text = dec.decode(body);
  try {
    return { data: JSON.parse(text) as unknown, text };
  } catch {
    return { data: { base64: Buffer.from(body).toString('base64') }, text: null };
  }
}

const parsed = (b: Buffered): StreamRecord => ({ seq: b.seq, subject: b.subject, time: b.time, data: dataOf(b.body).data });

/**
 * Whether the JSON text may hold an e-mail address: one needs an '@', written as is or escaped
 * (JSON.stringify writes it as is; a \u escape is taken as a maybe).
 */
const mayHoldEmail = (text: string | null): boolean => text !== null && (text.includes('@') || text.includes('\\u'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The merchant a message belongs to: the body's merchant_id, else the subject's 4th token. */
function merchantOf(subject: string, body: unknown): string {
  const m = (body as { merchant_id?: unknown } | null)?.merchant_id;
  return typeof m === 'string' ? m : (subject.split('.')[3] ?? '_');
}

export function startArchiver(o: ArchiverOptions): Archiver {
  const chain = o.stream;
  const log = o.log.child({ component: 'archiver', chain });
  let head: Manifest | null = null;
  let archived = 0;
  let pendingGap: { from: number; to: number } | null = null;
  // Memory: a chunk holds up to ARCHIVE_CHUNK_EVENTS records for up to ARCHIVE_CHUNK_MS. They are
  // kept as JSON text (a parsed commit takes several times its text), and of the JetStream messages
  // only the newest one (`ackMsg`, the one ack-all acknowledges the chunk with). Keeping every
  // parsed record and JsMsg (which pins its slice of nats.js's socket read buffer) grew the heap by
  // ~80 MB and the ArrayBuffers by ~60 MB per 10k-event chunk, and storing it protected all 10k
  // records at once (a ~200 MB spike that also stalled the event loop). See FLUSH_SLICE.
  let buffer: Buffered[] = [];
  let ackMsg: JsMsg | null = null;
  let firstAt = 0;
  let stopped = false;
  let resolveReady!: (r: StartReport) => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<StartReport>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});

  const bufferedLast = () => buffer[buffer.length - 1]?.seq ?? archived;

  function noteGap(from: number, to: number, why: string) {
    log.error({ from, to, missing: to - from + 1, why }, 'archive gap: these stream sequences were never archived');
    archiveGapRecords.inc({ chain }, to - from + 1);
    pendingGap = pendingGap && pendingGap.to + 1 === from ? { from: pendingGap.from, to } : { from, to };
  }

  async function flush(): Promise<void> {
    if (buffer.length === 0) return;
    const started = performance.now();
    // Slice by slice: parse once, hand the slice to beforeStore, apply the e-mail policy (only to
    // records that may hold an address: the rest would come out the same), serialize; only the lines stay.
    const lines: string[] = [];
    let beforeFailed = false;
    for (let i = 0; i < buffer.length; i += FLUSH_SLICE) {
      const slice = buffer.slice(i, i + FLUSH_SLICE).map((b) => ({ seq: b.seq, subject: b.subject, time: b.time, ...dataOf(b.body) }));
      if (o.beforeStore && !beforeFailed) {
        try {
          await o.beforeStore(slice.map((r) => ({ seq: r.seq, subject: r.subject, time: r.time, data: r.data })));
        } catch (err) {
          // Run again (every slice) below, with the store, like a failed store.
          beforeFailed = true;
          log.warn({ err }, 'beforeStore failed; retrying with the store');
        }
      }
      for (const r of slice) {
        const data = o.privacy.policy === 'keep' || !mayHoldEmail(r.text) ? r.data : await o.privacy.protect(merchantOf(r.subject, r.data), r.data);
        lines.push(JSON.stringify({ seq: r.seq, subject: r.subject, time: r.time, data }));
      }
      // Let the payments this process serves run between slices: a whole chunk's parsing and
      // serializing in one go held the event loop for a few hundred ms under load.
      await new Promise<void>((r) => setImmediate(r));
    }
    let beforeStored = !beforeFailed;
    const chunk = await encodeChunkLines(lines);
    lines.length = 0;
    const records = buffer.map((b) => ({ seq: b.seq, subject: b.subject, time: b.time, data: null }));
    const m = streamManifest({ chain, prev: head, records, chunk, emails: o.privacy.policy, createdGap: pendingGap });
    for (let attempt = 1; ; attempt++) {
      try {
        if (o.beforeStore && !beforeStored) {
          for (let i = 0; i < buffer.length; i += FLUSH_SLICE) await o.beforeStore(buffer.slice(i, i + FLUSH_SLICE).map(parsed));
          beforeStored = true;
        }
        await appendChunk(o.store, m, chunk);
        break;
      } catch (err) {
        archiveWriteFailures.inc({ chain });
        log.error({ err, index: m.index, attempt }, 'archive write failed; retrying (nothing acknowledged)');
        if (stopped && attempt >= 3) throw err;
        await sleep(Math.min(30_000, 500 * attempt));
      }
    }
    // Stored: from here these records are archived, whatever happens to the ack.
    const last = ackMsg;
    head = m;
    archived = m.last_seq!;
    pendingGap = null;
    buffer = [];
    ackMsg = null;
    firstAt = 0;
    // Ack-all: acknowledging the newest message acknowledges the whole chunk. A lost ack only means
    // a redelivery, which the head makes a no-op.
    try {
      last?.ack();
    } catch (err) {
      log.warn({ err, last_seq: archived }, 'chunk stored but its ack failed; the redelivery will be skipped');
    }
    archivedChunks.inc({ chain });
    archivedRecords.inc({ chain }, m.count);
    archiveHeadSeq.set({ chain }, archived);
    archiveLagRecords.set({ chain }, 0);
    log.info({ index: m.index, first_seq: m.first_seq, last_seq: m.last_seq, count: m.count, bytes: m.bytes, ms: Math.round(performance.now() - started) }, 'archive chunk stored');
  }

  async function take(rec: Buffered, msg: JsMsg | null): Promise<void> {
    if (rec.seq <= archived) {
      msg?.ack(); // already in a stored chunk: a redelivery after a crash or a restart
      return;
    }
    const last = bufferedLast();
    if (rec.seq <= last) {
      // A redelivery of a buffered message (ack_wait passed): keep the newest delivery to ack.
      if (msg && (!ackMsg || ackMsg.seq <= rec.seq)) ackMsg = msg;
      return;
    }
    if (rec.seq > last + 1) {
      // Not necessarily lost: after a restart the durable sends new messages first and redelivers the
      // ones an earlier process held only when their ack_wait ends. Read them from the stream now;
      // only what the stream no longer has is a gap.
      for (let seq = last + 1; seq < rec.seq; seq++) {
        const sm = await o.jsm.direct.getMessage(o.stream, { seq }).catch(() => null);
        if (sm) {
          await take({ seq: sm.seq, subject: sm.subject, time: sm.time.getTime(), body: bodyOf(sm.data) }, null);
        } else {
          // Everything below the stream's first sequence is gone: one gap, not one per sequence.
          const first = (await o.jsm.streams.info(o.stream)).state.first_seq;
          const to = Math.min(rec.seq - 1, Math.max(seq, first - 1));
          await flush();
          noteGap(seq, to, 'the stream no longer had them when the archiver read on');
          archived = to;
          seq = to;
        }
      }
    }
    if (buffer.length === 0) firstAt = Date.now();
    buffer.push(rec);
    if (msg) ackMsg = msg;
    archiveLagRecords.set({ chain }, buffer.length);
    if (buffer.length >= o.chunkEvents) await flush();
  }

  async function start(): Promise<StartReport> {
    const { manifests, unreadable } = await readChain(o.store, chain);
    const problems = [...unreadable.map((u) => `unreadable manifest ${u.name}: ${u.error}`), ...checkChain(chain, manifests).filter((p) => p.kind !== 'gap').map((p) => p.message)];
    head = manifests[manifests.length - 1] ?? null;
    archived = head?.last_seq ?? 0;
    archiveHeadSeq.set({ chain }, archived);
    // Gaps are forever (the manifests record them): the gauge counts every one the chain holds.
    archiveGapRecords.set({ chain }, manifests.reduce((n, m) => n + (m.gap_before ? m.gap_before.to - m.gap_before.from + 1 : 0), 0));
    for (const p of problems) log.error({ problem: p }, 'archive chain problem found on start (run `npm run ops -- audit verify`)');
    const si = await o.jsm.streams.info(o.stream);
    let gap: StartReport['gap'] = null;
    if (si.state.messages > 0 && si.state.first_seq > archived + 1) {
      gap = { from: archived + 1, to: si.state.first_seq - 1 };
      noteGap(gap.from, gap.to, 'aged out or purged before the archiver read them');
      archived = si.state.first_seq - 1;
    }
    // The durable may have acknowledged past the head (the archive store was reset or restored from an
    // older copy): read those messages back directly, so the chain has no hole.
    let backfilled = 0;
    const ci = await o.jsm.consumers.info(o.stream, o.durable);
    const floor = ci.ack_floor.stream_seq;
    for (let seq = archived + 1; seq <= floor && !stopped; seq++) {
      const sm = await o.jsm.direct.getMessage(o.stream, { seq }).catch(() => null);
      if (!sm) continue; // take() notes the gap when the next one arrives
      await take({ seq: sm.seq, subject: sm.subject, time: sm.time.getTime(), body: bodyOf(sm.data) }, null);
      backfilled++;
    }
    if (backfilled) log.warn({ backfilled, floor }, 'the durable had acknowledged past the archive head; read those back by direct get');
    log.info({ head: head && { index: head.index, last_seq: head.last_seq }, stream_first_seq: si.state.first_seq, stream_last_seq: si.state.last_seq, store: o.store.where }, 'archiver started');
    return { chain, head: head && { index: head.index, last_seq: head.last_seq! }, problems, gap, backfilled };
  }

  const done = (async () => {
    try {
      resolveReady(await start());
    } catch (err) {
      rejectReady(err);
      log.error({ err }, 'archiver failed to start');
      return;
    }
    while (!stopped) {
      try {
        const consumer = await o.js.consumers.get(o.stream, o.durable);
        while (!stopped) {
          const room = Math.max(1, Math.min(1_000, o.chunkEvents - buffer.length));
          const iter = await consumer.fetch({ max_messages: room, expires: 1_000 });
          // Drain the fetch first: storing a chunk inside the iteration would miss its heartbeats.
          const batch: JsMsg[] = [];
          for await (const m of iter) batch.push(m);
          for (const m of batch) {
            await take({ seq: m.seq, subject: m.subject, time: Math.floor(m.info.timestampNanos / 1e6), body: bodyOf(m.data) }, m);
          }
          if (buffer.length > 0 && Date.now() - firstAt >= o.chunkMs) await flush();
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err }, 'archiver loop interrupted; restarting');
        await sleep(500);
      }
    }
    try {
      await flush();
    } catch (err) {
      log.error({ err }, 'archiver could not store its last chunk on stop; it will be redelivered');
    }
  })();

  return {
    ready,
    archivedSeq: () => archived,
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}
