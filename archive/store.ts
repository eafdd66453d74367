// Where archive objects live, behind one small interface: the JetStream object store `pay_archive`
// (default, embedded) or a directory (a mounted disk, NFS, or a bucket synced by rclone/s3fs).
// An S3-compatible store is a third implementation of the same four calls (see README.md).
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { objectStores } from '../nats/topology.ts';

export interface ArchiveStore {
  /** What it is, for logs: `jetstream:pay_archive` or `dir:/path`. */
  readonly where: string;
  /** Stores `bytes` under `name` durably before it resolves (replacing what was there). */
  put(name: string, bytes: Uint8Array): Promise<void>;
  /** null when there is no such object. */
  get(name: string): Promise<Uint8Array | null>;
  /** Names under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  delete(name: string): Promise<void>;
}

export async function jetstreamArchiveStore(nc: NatsConnection, bucket: string = objectStores.archive): Promise<ArchiveStore> {
  const os = await new Objm(nc).open(bucket);
  return {
    where: `jetstream:${bucket}`,
    async put(name, bytes) {
      // putBlob resolves after the server acknowledged every part (file storage, the stream's sync policy).
      await os.putBlob({ name }, bytes);
    },
    async get(name) {
      try {
        return await os.getBlob(name);
      } catch (err) {
        // The client checks the object's digest; a damaged object reads as unreadable, not as absent.
        throw new Error(`archive object ${name}: ${(err as Error).message}`, { cause: err });
      }
    },
    async list(prefix) {
      const infos = await os.list();
      return infos.filter((i) => !i.deleted && i.name.startsWith(prefix)).map((i) => i.name).sort();
    },
    async delete(name) {
      await os.delete(name);
    },
  };
}

/** A directory: one file per object; a write goes to a temp file, is fsynced by writeFile's flush, then renamed. */
export function directoryArchiveStore(root: string): ArchiveStore {
  const file = (name: string) => {
    const p = path.resolve(root, name);
    if (!p.startsWith(path.resolve(root) + path.sep)) throw new Error(`bad archive object name ${name}`);
    return p;
  };
  return {
    where: `dir:${root}`,
    async put(name, bytes) {
      const p = file(name);
      await mkdir(path.dirname(p), { recursive: true });
      const tmp = `${p}.tmp-${process.pid}`;
      await writeFile(tmp, bytes, { flush: true });
      await rename(tmp, p);
    },
    async get(name) {
      try {
        return new Uint8Array(await readFile(file(name)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async list(prefix) {
      const out: string[] = [];
      const walk = async (dir: string, rel: string) => {
        let entries;
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw err;
        }
        for (const e of entries) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(path.join(dir, e.name), r);
          else if (!e.name.includes('.tmp-') && r.startsWith(prefix)) out.push(r);
        }
      };
      await walk(root, '');
      return out.sort();
    },
    async delete(name) {
      await rm(file(name), { force: true });
    },
  };
}

/** ARCHIVE_STORE: 'jetstream' or 'dir:<path>'. */
export async function openArchiveStore(spec: string, nc: NatsConnection): Promise<ArchiveStore> {
  if (spec.startsWith('dir:')) return directoryArchiveStore(spec.slice(4));
  return jetstreamArchiveStore(nc);
}
