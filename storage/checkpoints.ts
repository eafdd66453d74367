// projection_checkpoints: how far each projection has read its stream, for lag and audits. The
// checkpoint is advanced in the same transaction as the rows it covers, and never goes backwards.
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { int8, type Int8, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';

export interface ProjectionCheckpointsTable {
  name: string;
  stream: string;
  last_seq: Int8;
  updated_at: Timestamp;
}

export type CheckpointRow = Selectable<ProjectionCheckpointsTable>;
export type NewCheckpointRow = Insertable<ProjectionCheckpointsTable>;

export interface Checkpoint {
  name: string;
  stream: string;
  last_seq: number;
  updated_at: Date;
}

function toCheckpoint(r: CheckpointRow): Checkpoint {
  return { ...r, last_seq: int8(r.last_seq) };
}

/** Moves a checkpoint forward to `seq` (a lower seq leaves it where it is). */
export async function advanceCheckpoint(db: Kysely<Database>, c: { name: string; stream: string; seq: number }): Promise<void> {
  await db
    .insertInto('projection_checkpoints')
    .values({ name: c.name, stream: c.stream, last_seq: c.seq, updated_at: new Date() })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({
        stream: (eb) => eb.ref('excluded.stream'),
        last_seq: sql<string>`greatest(projection_checkpoints.last_seq, excluded.last_seq)`,
        updated_at: (eb) => eb.ref('excluded.updated_at'),
      }),
    )
    .execute();
}

export async function getCheckpoint(db: Kysely<Database>, name: string): Promise<Checkpoint | undefined> {
  const row = await db.selectFrom('projection_checkpoints').selectAll().where('name', '=', name).executeTakeFirst();
  return row && toCheckpoint(row);
}

export async function listCheckpoints(db: Kysely<Database>): Promise<Checkpoint[]> {
  const rows = await db.selectFrom('projection_checkpoints').selectAll().orderBy('name').execute();
  return rows.map(toCheckpoint);
}
