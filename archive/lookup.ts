// Lookups by id that still work after a row left the hot path: the stream (while the intent's
// commits are within max_age), then the projection's snapshot, then the archive (slower: one chunk
// read and unzipped, a few kept in memory). An intent read from the archive is marked, so the HTTP
// layer can say so (header `Paynats-Archived`) while the body keeps Stripe's PaymentIntent shape.
import type { Kysely } from 'kysely';
import type { Intent } from '../actors/mod.ts';
import type { Database } from '../storage/mod.ts';
import { readChain, readChunk } from './chain.ts';
import { archivedEntry, DB_CHAIN, type DbRecord } from './db-archive.ts';
import type { Manifest } from './manifest.ts';
import { archiveLookups } from './metrics.ts';
import type { Privacy } from './privacy.ts';
import type { ArchiveStore } from './store.ts';

const ARCHIVED = Symbol('paynats.archived');

export interface ArchivedFrom {
  chain: string;
  chunk: string;
  index: number;
}

/** Where an object was read from the archive, or undefined when it came from the hot path. */
export function archivedFrom(o: object): ArchivedFrom | undefined {
  return (o as { [ARCHIVED]?: ArchivedFrom })[ARCHIVED];
}

function mark<T extends object>(o: T, from: ArchivedFrom): T {
  Object.defineProperty(o, ARCHIVED, { value: from, enumerable: false });
  return o;
}

export interface ArchiveReader {
  /** An archived hot-table row by id (emails revealed where the key exists), or null. */
  row(id: string): Promise<{ record: DbRecord; from: ArchivedFrom } | null>;
}

export function createArchiveReader(db: Kysely<Database>, store: ArchiveStore, privacy: Privacy): ArchiveReader {
  const chunks = new Map<number, Promise<DbRecord[]>>();
  let manifests: Promise<Map<number, Manifest>> | null = null;
  const manifestOf = async (index: number) => {
    let m = (await (manifests ??= readChain(store, DB_CHAIN).then((c) => new Map(c.manifests.map((x) => [x.index, x]))))).get(index);
    if (!m) {
      manifests = null; // a newer chunk than we knew
      m = (await (manifests = readChain(store, DB_CHAIN).then((c) => new Map(c.manifests.map((x) => [x.index, x]))))).get(index);
    }
    return m;
  };
  return {
    async row(id) {
      const e = await archivedEntry(db, id);
      if (!e) return null;
      const m = await manifestOf(e.chunk_index);
      if (!m) throw new Error(`archived ${id}: manifest ${e.chunk_index} of the db chain is missing`);
      let p = chunks.get(m.index);
      if (!p) {
        p = readChunk<DbRecord>(store, m);
        chunks.set(m.index, p);
        p.catch(() => chunks.delete(m.index));
        if (chunks.size > 8) chunks.delete(chunks.keys().next().value!);
      }
      const hit = (await p).find((r) => r.id === id);
      if (!hit) return null;
      archiveLookups.inc({ kind: e.kind });
      return { record: await privacy.reveal(hit), from: { chain: DB_CHAIN, chunk: m.chunk, index: m.index } };
    },
  };
}

/**
 * readIntent for the gateway: the stream first (the truth), else the projection's snapshot (the
 * commits aged out of the stream), else the archive (the row left the hot tables).
 */
export function readIntentWithArchive(
  readFromStream: (merchantId: string, intentId: string) => Promise<Intent | null>,
  db: Kysely<Database>,
  reader: ArchiveReader,
): (merchantId: string, intentId: string) => Promise<Intent | null> {
  return async (merchantId, intentId) => {
    const live = await readFromStream(merchantId, intentId);
    if (live) return live;
    const hot = await db.selectFrom('payment_intents').select('state').where('id', '=', intentId).where('merchant_id', '=', merchantId).executeTakeFirst();
    if (hot) return hot.state;
    const a = await reader.row(intentId);
    if (!a || a.record.table !== 'payment_intents' || a.record.merchant_id !== merchantId) return null;
    const state = a.record.row.state as Intent;
    return mark(state, a.from);
  };
}
