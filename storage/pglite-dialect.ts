// PGlite behind kysely: a dialect over any client with PGlite's `query` (an in-process PGlite, or the
// read model's PGlite on a thread of its own, PGliteThread below).
//
// One connection at a time, as in kysely's own SQLite driver: PGlite is a single session, so a query
// issued while another caller's transaction is open would run inside that transaction (and two
// transactions would interleave). A caller holds the connection from acquire to release; the rest
// wait their turn. Affected rows are reported the way kysely expects (numAffectedRows).
//
// Why a thread: PGlite is Postgres compiled to WASM, and it runs each statement synchronously on the
// thread that calls it. In the gateway's process that thread was the event loop: a projector batch
// (one transaction of a few hundred rows) held every request behind it, and SQL was about a quarter
// of the process's CPU (bench --cpu-prof). On a worker thread (storage/pglite-thread.mjs) the
// statements run beside the event loop, on the other core; the event loop only posts each statement
// and reads its answer.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';

/** What the dialect needs of PGlite (an instance has it; so does PGliteThread). */
export interface PGliteClient {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  close(): Promise<void>;
}

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly client: PGliteClient) {}

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const r = await this.client.query<R>(q.sql, [...q.parameters]);
    return typeof r.affectedRows === 'number' ? { rows: r.rows, numAffectedRows: BigInt(r.affectedRows) } : { rows: r.rows };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite does not stream query results');
  }
}

class ExclusiveDriver implements Driver {
  #tail: Promise<void> = Promise.resolve();
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();
  readonly #connection: PGliteConnection;

  constructor(private readonly client: PGliteClient) {
    this.#connection = new PGliteConnection(client);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    const prev = this.#tail;
    this.#tail = prev.then(() => turn);
    await prev;
    // One object per holder, so a release can only end its own turn.
    const c = Object.create(this.#connection) as PGliteConnection;
    this.#releases.set(c, release);
    return c;
  }

  async releaseConnection(c: DatabaseConnection): Promise<void> {
    this.#releases.get(c)?.();
    this.#releases.delete(c);
  }

  async beginTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw('BEGIN'));
  }

  async commitTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  async destroy(): Promise<void> {
    // Wait for the current holder to finish before closing the database under it.
    await this.#tail;
    await this.client.close();
  }
}

/** A kysely dialect over PGlite, with exclusive connections. */
export function pgliteDialect(client: PGliteClient): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new ExclusiveDriver(client),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
}

interface Pending {
  resolve(r: { rows: unknown[]; affectedRows?: number }): void;
  reject(err: Error): void;
}

type FromThread =
  | { ready: true }
  | { ready: false; error: Record<string, unknown> }
  | { id: number; result: { rows: unknown[]; affectedRows?: number } | null }
  | { id: number; error: Record<string, unknown> };

/** An Error with the fields PGlite's DatabaseError had (code, detail, constraint…), across the thread. */
function errorFrom(e: Record<string, unknown>): Error {
  const err = new Error(String(e.message ?? 'PGlite error'));
  Object.assign(err, e);
  return err;
}

/**
 * The read model's PGlite on a worker thread. Statements are posted in order and answered in order.
 * If the thread ends unexpectedly, what was waiting fails as a crashed database (SQLSTATE 57P02:
 * the gateway answers 503, the projector retries) and the next statement opens it again.
 */
export class PGliteThread implements PGliteClient {
  #worker: Promise<Worker> | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #closing = false;

  private constructor(
    private readonly dataDir: string,
    private readonly log?: Logger,
  ) {}

  static async open(dataDir: string, log?: Logger): Promise<PGliteThread> {
    const t = new PGliteThread(dataDir, log);
    await t.#spawn();
    return t;
  }

  #spawn(): Promise<Worker> {
    const w = new Worker(new URL('./pglite-thread.mjs', import.meta.url), {
      workerData: { dataDir: this.dataDir },
      // Plain JavaScript: no TypeScript loader, no profiler preload in the thread.
      execArgv: [],
    });
    const ready = new Promise<Worker>((resolve, reject) => {
      const onMessage = (m: FromThread) => {
        if (!('ready' in m)) return this.#answer(m);
        if (m.ready) resolve(w);
        else reject(errorFrom(m.error));
      };
      w.on('message', onMessage);
      w.once('error', (err) => {
        reject(err);
        this.log?.error({ err }, 'pglite thread failed');
      });
      w.once('exit', (code) => {
        reject(new Error(`pglite thread exited (${code}) while opening`));
        if (this.#worker === ready) this.#worker = null;
        this.#failPending(code);
      });
    });
    this.#worker = ready;
    ready.catch(() => {
      if (this.#worker === ready) this.#worker = null;
    });
    return ready;
  }

  #answer(m: Extract<FromThread, { id: number }>): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if ('error' in m) p.reject(errorFrom(m.error));
    else p.resolve(m.result ?? { rows: [] });
  }

  #failPending(code: number): void {
    if (this.#pending.size === 0 && this.#closing) return;
    if (!this.#closing) this.log?.error({ code, waiting: this.#pending.size }, 'pglite thread ended; the next statement opens the database again');
    for (const p of this.#pending.values()) p.reject(Object.assign(new Error(`the database thread ended (exit code ${code})`), { code: '57P02' }));
    this.#pending.clear();
  }

  async query<R>(sql: string, params: unknown[] = []): Promise<{ rows: R[]; affectedRows?: number }> {
    if (this.#closing) throw Object.assign(new Error('the database is closed'), { code: '57P01' });
    // A database that cannot be opened again (after the thread ended) is unavailable, not a bug:
    // 57P03 cannot_connect_now, so the gateway answers 503 and the projector retries.
    const w = await (this.#worker ?? this.#spawn()).catch((err: Error & { code?: unknown }) => {
      throw typeof err.code === 'string' ? err : Object.assign(err, { code: '57P03' });
    });
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as Pending['resolve'], reject });
      w.postMessage({ id, sql, params });
    });
  }

  /** Ends the thread as a crash would (tests): what waits fails, the next statement opens it again. */
  async kill(): Promise<void> {
    const w = await this.#worker?.catch(() => null);
    await w?.terminate();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const w = await this.#worker?.catch(() => null);
    if (!w) return;
    const id = this.#nextId++;
    const closed = new Promise<void>((resolve) => {
      this.#pending.set(id, { resolve: () => resolve(), reject: () => resolve() });
      w.once('exit', () => resolve());
    });
    w.postMessage({ id, close: true });
    await closed;
    await w.terminate();
  }
}
