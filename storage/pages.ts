// The keyset pagination the API lists share: newest first (the created column, then what breaks its
// ties, all descending), `limit` rows and whether there are more, a cursor naming a row of the list
// (`startingAfter`: the page older than it; `endingBefore`: the page newer than it, still returned
// newest first), and Stripe's `created` filter.
import { sql, type SelectQueryBuilder, type SqlBool, type StringReference } from 'kysely';
import { fromUnix } from './columns.ts';

/** Stripe's `created` filter, unix seconds. */
export interface CreatedFilter {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

/** What a caller of a list gives: the page size, at most one cursor, the `created` filter. */
export interface PageOptions {
  limit: number;
  /** An id: the page of rows older than it. An unknown cursor yields an empty page. */
  startingAfter?: string;
  /** An id: the page of rows newer than it (still returned newest first). */
  endingBefore?: string;
  created?: CreatedFilter;
}

/** How a list is ordered, and where its cursors are looked up. */
export interface Keyset<DB, TB extends keyof DB, CT extends keyof DB & string> {
  /** The sort key: the created column first, then the tie-breakers (`['pa.created_at', 'pa.id']`). */
  keys: readonly [StringReference<DB, TB>, ...StringReference<DB, TB>[]];
  /** The table a cursor is an id of (its columns named as the keys, without their table). */
  cursorTable: CT;
  /** What the cursor's row must match (the list's merchant, mode…): a cursor from outside the list matches nothing. */
  cursorScope: { readonly [C in keyof DB[CT] & string]?: string | boolean };
}

const CREATED_OPS = [
  ['gt', '>'],
  ['gte', '>='],
  ['lt', '<'],
  ['lte', '<='],
] as const;

const column = (ref: string) => ref.slice(ref.lastIndexOf('.') + 1);

/**
 * One page of `q` (its selections and filters as the caller built them), newest first. `what` names
 * the list in the RangeError a bad limit or two cursors throw.
 */
export async function keysetPage<DB, TB extends keyof DB, O, CT extends keyof DB & string>(
  what: string,
  q: SelectQueryBuilder<DB, TB, O>,
  o: PageOptions,
  k: Keyset<DB, TB, CT>,
): Promise<Page<O>> {
  if (o.startingAfter !== undefined && o.endingBefore !== undefined) throw new RangeError(`${what}: give startingAfter or endingBefore, not both`);
  if (!Number.isSafeInteger(o.limit) || o.limit < 1) throw new RangeError(`${what}: limit must be a positive integer, got ${o.limit}`);
  const created = sql.ref(k.keys[0]);
  for (const [field, op] of CREATED_OPS) {
    const v = o.created?.[field];
    if (v !== undefined) q = q.where(sql<SqlBool>`${created} ${sql.raw(op)} ${fromUnix(v)}`);
  }
  const backwards = o.endingBefore !== undefined;
  const cursor = o.startingAfter ?? o.endingBefore;
  if (cursor !== undefined) {
    // (keys) < (the cursor row's keys): no cursor row (unknown, or outside the scope) compares as null, an empty page.
    const cursorKeys = sql.join(k.keys.map((key) => sql.ref(`cursor.${column(key)}`)));
    const cursorWhere = [sql`${sql.ref('cursor.id')} = ${cursor}`];
    for (const [c, v] of Object.entries(k.cursorScope)) if (v !== undefined) cursorWhere.push(sql`${sql.ref(`cursor.${c}`)} = ${v}`);
    const cursorRow = sql`select ${cursorKeys} from ${sql.table(k.cursorTable)} as ${sql.id('cursor')} where ${sql.join(cursorWhere, sql` and `)}`;
    q = q.where(sql<SqlBool>`(${sql.join(k.keys.map((key) => sql.ref(key)))}) ${sql.raw(backwards ? '>' : '<')} (${cursorRow})`);
  }
  const dir = backwards ? 'asc' : 'desc';
  for (const key of k.keys) q = q.orderBy(key, dir);
  const rows: O[] = await q.limit(o.limit + 1).execute();
  const page = rows.slice(0, o.limit);
  if (backwards) page.reverse();
  return { data: page, hasMore: rows.length > o.limit };
}
