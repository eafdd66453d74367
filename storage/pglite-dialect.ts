// kysely-pglite's dialect, made safe for concurrent use. Its driver hands every caller a "connection"
// over the one PGlite instance, so a query issued while another caller's transaction is open would
// run inside that transaction (and two transactions would interleave). Here a connection is
// exclusive, as in kysely's own SQLite driver: one holder at a time, the rest wait their turn.
// It also reports affected rows the way kysely expects (numAffectedRows).
import type { PGlite } from '@electric-sql/pglite';
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';

class ExclusiveConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const r = (await this.inner.executeQuery<R>(q)) as QueryResult<R> & { affectedRows?: number };
    const out: { rows: R[]; numAffectedRows?: bigint } = { rows: r.rows };
    if (r.numAffectedRows !== undefined) out.numAffectedRows = r.numAffectedRows;
    else if (typeof r.affectedRows === 'number') out.numAffectedRows = BigInt(r.affectedRows);
    return out;
  }

  streamQuery<R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(q, chunkSize);
  }
}

class ExclusiveDriver implements Driver {
  #tail: Promise<void> = Promise.resolve();
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();

  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    const prev = this.#tail;
    this.#tail = prev.then(() => turn);
    await prev;
    try {
      const c = new ExclusiveConnection(await this.inner.acquireConnection());
      this.#releases.set(c, release);
      return c;
    } catch (err) {
      release();
      throw err;
    }
  }

  async releaseConnection(c: DatabaseConnection): Promise<void> {
    try {
      await this.inner.releaseConnection((c as ExclusiveConnection).inner);
    } finally {
      this.#releases.get(c)?.();
      this.#releases.delete(c);
    }
  }

  beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction((c as ExclusiveConnection).inner, settings);
  }

  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction((c as ExclusiveConnection).inner);
  }

  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction((c as ExclusiveConnection).inner);
  }

  async destroy(): Promise<void> {
    // Wait for the current holder to finish before closing the database under it.
    await this.#tail;
    await this.inner.destroy();
  }
}

/** A kysely dialect over an open PGlite (kysely-pglite's, with exclusive connections). */
export async function pgliteDialect(client: PGlite): Promise<Dialect> {
  // Imported on demand: kysely-pglite's entry point also loads its codegen (about a second).
  const { KyselyPGlite } = await import('kysely-pglite');
  const base = new KyselyPGlite(client).dialect;
  return {
    createAdapter: () => base.createAdapter(),
    createDriver: () => new ExclusiveDriver(base.createDriver()),
    createIntrospector: (db) => base.createIntrospector(db),
    createQueryCompiler: () => base.createQueryCompiler(),
  };
}
