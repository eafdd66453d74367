// The read model's PGlite on a worker thread (storage/pglite-dialect.ts PGliteThread says why).
// Plain JavaScript, so the thread needs no TypeScript loader. Messages from the parent are answered
// one at a time, in order:
//   { id, sql, params } → { id, result: { rows, affectedRows } } | { id, error: { message, code, … } }
//   { id, close: true } → the database is closed, then { id, result: null }, and the thread ends.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const PG_INT8 = 20;

/** An error's own fields (PGlite's DatabaseError carries code, detail, constraint…): cloneable. */
const plain = (err) => ({ ...(err && typeof err === 'object' ? err : {}), name: err?.name ?? 'Error', message: String(err?.message ?? err) });

let db;
try {
  // int8 as text, as node-postgres returns it (PGlite would give a number, or a bigint past 2^53).
  db = await PGlite.create({ dataDir: workerData.dataDir, parsers: { [PG_INT8]: (v) => v } });
} catch (err) {
  parentPort.postMessage({ ready: false, error: plain(err) });
  process.exit(1);
}

// PGlite runs one statement at a time anyway; the chain keeps the answers in the order asked.
let tail = Promise.resolve();
parentPort.on('message', (m) => {
  tail = tail.then(async () => {
    if (m.close) {
      await db.close().catch(() => {});
      parentPort.postMessage({ id: m.id, result: null });
      parentPort.close();
      return;
    }
    try {
      const r = await db.query(m.sql, m.params);
      parentPort.postMessage({ id: m.id, result: { rows: r.rows, affectedRows: r.affectedRows } });
    } catch (err) {
      parentPort.postMessage({ id: m.id, error: plain(err) });
    }
  });
});
parentPort.postMessage({ ready: true });
