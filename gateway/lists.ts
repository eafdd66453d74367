// What the Stripe list endpoints share: the cursor parameters, the `created` filter, `expand` of
// the listed objects, and the list object they answer with.
import { ApiError } from '../stripe/errors.ts';
import type { CreatedFilter } from '../storage/mod.ts';
import type { Principal } from './auth.ts';

export interface CursorQuery {
  starting_after?: string | undefined;
  ending_before?: string | undefined;
}

/** Stripe refuses a list request that gives both cursors. */
export function checkCursors(q: CursorQuery): void {
  if (q.starting_after !== undefined && q.ending_before !== undefined) {
    throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'You may only specify one of these parameters: ending_before, starting_after.', 'starting_after');
  }
}

/** The request's cursor (checked) as the storage lists take it; an empty one is none. */
export function pageCursor(q: CursorQuery): { startingAfter?: string; endingBefore?: string } {
  checkCursors(q);
  return { ...(q.starting_after ? { startingAfter: q.starting_after } : {}), ...(q.ending_before ? { endingBefore: q.ending_before } : {}) };
}

/**
 * One page of a list held whole in memory (a merchant's webhook endpoints, a customer's saved cards),
 * in the order given, by Stripe's cursors; a cursor naming none of them is 400 resource_missing.
 */
export function pageInMemory<T extends { id: string }>(all: readonly T[], q: CursorQuery & { limit?: number | undefined }, resource: string): { data: T[]; hasMore: boolean } {
  checkCursors(q);
  const limit = q.limit ?? 10;
  const at = (cursor: string, param: string) => {
    const i = all.findIndex((x) => x.id === cursor);
    if (i < 0) throw new ApiError(400, 'invalid_request_error', 'resource_missing', `No such ${resource}: '${cursor}'`, param);
    return i;
  };
  if (q.ending_before) {
    const end = at(q.ending_before, 'ending_before');
    return { data: all.slice(Math.max(0, end - limit), end), hasMore: end - limit > 0 };
  }
  const start = q.starting_after ? at(q.starting_after, 'starting_after') + 1 : 0;
  return { data: all.slice(start, start + limit), hasMore: start + limit < all.length };
}

/** Stripe's created filter: an integer is that second exactly. */
export function createdFilter(c: number | CreatedFilter | undefined): { created?: CreatedFilter } {
  if (c === undefined) return {};
  return { created: typeof c === 'number' ? { gte: c, lte: c } : c };
}

/** Whether a time (unix seconds) is within a created filter (for lists held in memory). */
export function inCreated(t: number, f: CreatedFilter | undefined): boolean {
  if (!f) return true;
  return (f.gt === undefined || t > f.gt) && (f.gte === undefined || t >= f.gte) && (f.lt === undefined || t < f.lt) && (f.lte === undefined || t <= f.lte);
}

/** What every storage list is given from a request: the key's merchant and mode, the page size, the `created` filter. */
export function listScope(
  p: Principal,
  q: { limit?: number | undefined; created?: number | CreatedFilter | undefined },
): { merchantId: string; livemode: boolean; limit: number; created?: CreatedFilter } {
  return { merchantId: p.merchant_id, livemode: p.mode === 'live', limit: q.limit ?? 10, ...createdFilter(q.created) };
}

/** A list's `expand` names paths of its objects as `data.<path>`: those paths (any other as given). */
export function itemExpand(expand: readonly string[] | undefined): string[] {
  return (expand ?? []).map((e) => (e.startsWith('data.') ? e.slice(5) : e));
}

export interface StripeList<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

export interface StripeSearchResult<T> {
  object: 'search_result';
  data: T[];
  has_more: boolean;
  next_page: string | null;
  url: string;
}

/** Stripe's search result: a page, and the `page` that gets the next one (the last id here). */
export function searchResult<T>(url: string, data: T[], hasMore: boolean, lastId: string | undefined): StripeSearchResult<T> {
  return { object: 'search_result', data, has_more: hasMore, next_page: hasMore && lastId ? lastId : null, url };
}

/**
 * A page of items held in one object (a session's or a link's line items), by Stripe's cursors: the
 * `limit` after `starting_after`, or before `ending_before`; the page's place in `all` and whether more follow.
 */
export function pageOfItems<T extends { id: string }>(all: readonly T[], q: { limit?: number; starting_after?: string; ending_before?: string }): { from: number; items: T[]; hasMore: boolean } {
  const at = (id: string | undefined) => (id === undefined ? -1 : all.findIndex((x) => x.id === id));
  const limit = q.limit ?? 10;
  if (q.ending_before !== undefined) {
    const to = Math.max(0, at(q.ending_before));
    const from = Math.max(0, to - limit);
    return { from, items: all.slice(from, to), hasMore: to - limit > 0 };
  }
  const from = q.starting_after !== undefined ? at(q.starting_after) + 1 : 0;
  return { from, items: all.slice(from, from + limit), hasMore: from + limit < all.length };
}

/** Stripe's list object: a page of `url`'s objects. */
export function listObject<T>(url: string, data: T[], hasMore: boolean): StripeList<T> {
  return { object: 'list', data, has_more: hasMore, url };
}
