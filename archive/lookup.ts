// Lookups by id that still work after a row left the hot path: the stream (while the intent's
// commits are within max_age), then the projection's snapshot, then the archive (slower: one chunk
// read and unzipped, a few kept in memory). An intent read from the archive is marked, so the HTTP
// layer can say so (header `Paynats-Archived`) while the body keeps Stripe's PaymentIntent shape.
import type { Kysely } from 'kysely';
import type { Intent, SetupIntent } from '../actors/mod.ts';
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
 * A read for the gateway of an aggregate whose rows the yearly archive moves (`table`): the stream
 * first (the truth, or its snapshot once the commits aged out), else the projection's row, else the
 * archive (the row left the hot tables; marked).
 */
function readWithArchive<S extends object>(
  table: 'payment_intents' | 'setup_intents',
  readFromStream: (merchantId: string, id: string) => Promise<S | null>,
  db: Kysely<Database>,
  reader: ArchiveReader,
): (merchantId: string, id: string) => Promise<S | null> {
  return async (merchantId, id) => {
    const live = await readFromStream(merchantId, id);
    if (live) return live;
    const hot = await db.selectFrom(table).select('state').where('id', '=', id).where('merchant_id', '=', merchantId).executeTakeFirst();
    if (hot) return hot.state as S;
    const a = await reader.row(id);
    if (!a || a.record.table !== table || a.record.merchant_id !== merchantId) return null;
    return mark(a.record.row.state as S, a.from);
  };
}

export const readIntentWithArchive = (readFromStream: (merchantId: string, id: string) => Promise<Intent | null>, db: Kysely<Database>, reader: ArchiveReader) =>
  readWithArchive<Intent>('payment_intents', readFromStream, db, reader);

export const readSetupIntentWithArchive = (readFromStream: (merchantId: string, id: string) => Promise<SetupIntent | null>, db: Kysely<Database>, reader: ArchiveReader) =>
  readWithArchive<SetupIntent>('setup_intents', readFromStream, db, reader);
