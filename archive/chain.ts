// Reading and appending a chain in an ArchiveStore. The order of writes is the crash rule:
// chunk first, then its manifest; a record counts as archived only once its manifest is stored,
// so a crash between the two leaves an orphan chunk that the next write of that index replaces.
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { isManifestName, parseChunkText, type ChainName, type Manifest } from './manifest.ts';
import type { ArchiveStore } from './store.ts';

const dec = new TextDecoder();

export interface ReadChain {
  manifests: Manifest[];
  /** Manifests that could not be read or parsed, by name. */
  unreadable: { name: string; error: string }[];
}

export async function readChain(store: ArchiveStore, chain: ChainName): Promise<ReadChain> {
  const names = (await store.list(`${chain}/manifests/`)).filter((n) => isManifestName(chain, n));
  const manifests: Manifest[] = [];
  const unreadable: ReadChain['unreadable'] = [];
  for (const name of names) {
    try {
      const bytes = await store.get(name);
      if (!bytes) throw new Error('vanished while listing');
      manifests.push(JSON.parse(dec.decode(bytes)) as Manifest);
    } catch (err) {
      unreadable.push({ name, error: (err as Error).message });
    }
  }
  manifests.sort((a, b) => a.index - b.index);
  return { manifests, unreadable };
}

/** The newest manifest of a chain: where the archiver resumes. */
export async function chainHead(store: ArchiveStore, chain: ChainName): Promise<Manifest | null> {
  const { manifests } = await readChain(store, chain);
  return manifests[manifests.length - 1] ?? null;
}

/** Stores a chunk, then its manifest. */
export async function appendChunk(store: ArchiveStore, m: Manifest, chunk: Uint8Array): Promise<void> {
  await store.put(m.chunk, chunk);
  await store.put(`${m.chain}/manifests/${String(m.index).padStart(10, '0')}.json`, new TextEncoder().encode(JSON.stringify(m, null, 1)));
}

export async function readChunk<T>(store: ArchiveStore, m: Manifest): Promise<T[]> {
  const bytes = await store.get(m.chunk);
  if (!bytes) throw new Error(`chunk ${m.chunk} is missing`);
  // Gunzip on libuv's thread pool, so it overlaps the caller's work (replay reads ahead with this).
  return parseChunkText<T>((await gunzipAsync(bytes)).toString('utf8'));
}

const gunzipAsync = promisify(gunzip);
