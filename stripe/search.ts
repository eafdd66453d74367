// Stripe's search query language (GET /v1/<resource>/search?query=…), the part that applies here:
// clauses `field:value` (exact), `field~"text"` (substring, at least 3 characters), `field>n`,
// `field<n`, `field>=n`, `field<=n` (numbers), `field:true|false`, `metadata['key']:value`, a leading `-` to negate,
// joined by AND or by OR (not both, as at Stripe). Pure: it parses, and says what each resource's
// fields are; storage/search.ts turns a parsed query into SQL.
import { ApiError } from './errors.ts';

export type Comparison = ':' | '~' | '>' | '<' | '>=' | '<=';

export interface Clause {
  field: string;
  /** metadata['key']: the key. */
  key?: string;
  negate: boolean;
  cmp: Comparison;
  value: string | number;
  /** A true/false field: `value` is 'true' or 'false'. */
  bool?: true;
}

export interface SearchQuery {
  join: 'AND' | 'OR';
  clauses: Clause[];
}

/** What a resource's field is: compared as text (exact, or substring when `substring`), as a number, or as true/false. */
export type FieldKind = { type: 'string'; substring?: boolean } | { type: 'number' } | { type: 'boolean' } | { type: 'metadata' };

export const SEARCH_FIELDS = {
  payment_intents: { amount: { type: 'number' }, created: { type: 'number' }, currency: { type: 'string' }, customer: { type: 'string' }, status: { type: 'string' }, metadata: { type: 'metadata' } },
  charges: {
    amount: { type: 'number' },
    created: { type: 'number' },
    currency: { type: 'string' },
    customer: { type: 'string' },
    status: { type: 'string' },
    refunded: { type: 'boolean' },
    disputed: { type: 'boolean' },
    'payment_intent': { type: 'string' },
    'payment_method_details.card.last4': { type: 'string' },
    'payment_method_details.card.brand': { type: 'string' },
    metadata: { type: 'metadata' },
  },
  customers: {
    created: { type: 'number' },
    email: { type: 'string', substring: true },
    name: { type: 'string', substring: true },
    phone: { type: 'string', substring: true },
    metadata: { type: 'metadata' },
  },
  products: {
    active: { type: 'boolean' },
    created: { type: 'number' },
    description: { type: 'string', substring: true },
    name: { type: 'string', substring: true },
    shippable: { type: 'boolean' },
    url: { type: 'string' },
    metadata: { type: 'metadata' },
  },
  prices: {
    active: { type: 'boolean' },
    created: { type: 'number' },
    currency: { type: 'string' },
    lookup_key: { type: 'string' },
    product: { type: 'string' },
    type: { type: 'string' },
    metadata: { type: 'metadata' },
  },
} as const satisfies Record<string, Record<string, FieldKind>>;

export type SearchResource = keyof typeof SEARCH_FIELDS;

const invalid = (message: string) => new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Invalid search query: ${message}`, 'query');

const CLAUSE = /^(-)?([a-z_][a-z0-9_.]*)(?:\[(?:'([^']*)'|"([^"]*)")\])?(>=|<=|:|~|>|<)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"']+)$/;

/** Splits on the top-level AND / OR keywords (outside quotes). */
function tokens(q: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < q.length; i++) {
    const ch = q[i]!;
    if (quote) {
      cur += ch;
      if (ch === '\\' && i + 1 < q.length) cur += q[++i];
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (quote) throw invalid('a quoted value is not closed.');
  if (cur) out.push(cur);
  return out;
}

const unquote = (v: string) => (v.startsWith('"') || v.startsWith("'") ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);

export function parseSearchQuery(resource: SearchResource, query: string): SearchQuery {
  const fields: Record<string, FieldKind> = SEARCH_FIELDS[resource];
  const parts = tokens(query.trim());
  if (parts.length === 0) throw invalid('the query is empty.');
  const clauses: Clause[] = [];
  let join: SearchQuery['join'] | null = null;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1) {
      if (part !== 'AND' && part !== 'OR') throw invalid(`expected AND or OR, found '${part}'.`);
      if (join && join !== part) throw invalid('AND and OR cannot be combined in one query.');
      join = part;
      if (i === parts.length - 1) throw invalid(`the query ends with ${part}.`);
      continue;
    }
    const m = CLAUSE.exec(part);
    if (!m) throw invalid(`'${part}' is not a clause (field:value).`);
    const [, neg, field, k1, k2, cmp, raw] = m as unknown as [string, string | undefined, string, string | undefined, string | undefined, Comparison, string];
    const kind = fields[field!];
    if (!kind) throw invalid(`'${field}' is not a field of ${resource} that can be searched (fields: ${Object.keys(fields).join(', ')}).`);
    const key = k1 ?? k2;
    if (kind.type === 'metadata' && key === undefined) throw invalid("metadata is searched by key: metadata['key']:'value'.");
    if (kind.type !== 'metadata' && key !== undefined) throw invalid(`'${field}' takes no key.`);
    const quoted = raw.startsWith('"') || raw.startsWith("'");
    const text = unquote(raw);
    if (kind.type === 'number') {
      if (cmp === '~') throw invalid(`'${field}' is a number: use :, >, <, >= or <=.`);
      if (quoted || !/^-?\d+$/.test(text)) throw invalid(`'${field}' takes an integer, not '${text}'.`);
      clauses.push({ field: field!, negate: neg === '-', cmp, value: Number(text) });
      continue;
    }
    if (kind.type === 'boolean') {
      if (cmp !== ':' || (text !== 'true' && text !== 'false')) throw invalid(`'${field}' is true or false: ${field}:true or ${field}:false.`);
      clauses.push({ field: field!, negate: neg === '-', cmp, value: text, bool: true });
      continue;
    }
    if (cmp !== ':' && cmp !== '~') throw invalid(`'${field}' is text: use : or ~.`);
    if (cmp === '~' && !(kind.type === 'string' && kind.substring)) throw invalid(`'${field}' does not support substring search (~).`);
    if (cmp === '~' && text.length < 3) throw invalid('a substring search (~) needs at least 3 characters.');
    clauses.push({ field: field!, ...(key !== undefined ? { key } : {}), negate: neg === '-', cmp, value: text });
  }
  if (clauses.length > 10) throw invalid('a query has at most 10 clauses.');
  return { join: join ?? 'AND', clauses };
}
