// Malformed requests against every route (discovered from /openapi.json) with a valid secret key:
// random and known field names with wrong values and types, bracket chaos, huge and deeply nested
// bodies, wrong content types, invalid JSON and UTF-8, bad ids in paths, random methods and paths.
// Every request is built to be invalid. The gateway must answer each with a 4xx in Stripe's
// `{error:{type,message}}` shape, never a 5xx or a success, and change nothing: PAY_EVENTS and the
// vault hold as many messages after as before. Deterministic: FUZZ_SEED (default below) picks
// every request; a failure prints the seed and the request.
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import t from 'tap';
import Stripe from 'stripe';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startStack } from './helpers/stack.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_2026);
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 2400);
const CONCURRENCY = 16;

/** mulberry32: small, fast, good enough to pick test inputs. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  const str = (n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789_') => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('');
  return { next, int, pick, chance, str };
}
type Rng = ReturnType<typeof prng>;

interface Route {
  method: string;
  path: string; // OpenAPI form: /v1/payment_intents/{id}
  body?: Schema;
  query: Record<string, Schema>;
  pathParams: string[];
}
interface Schema {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
}

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  what: string;
  /** Oversized bodies: the server may answer and close before the whole body is written. */
  mayReset?: boolean;
}

interface Res {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

const enc = encodeURIComponent;
/** A field that exists nowhere: guarantees the request is invalid wherever it appears. */
const unknownField = (r: Rng) => `zq${r.str(6)}`;

/** Values a field of this schema refuses. A nested hash with an unknown key fails every shape. */
function invalidValues(s: Schema | undefined, r: Rng): string[][] {
  const nested = [[`[${unknownField(r)}][${unknownField(r)}][x]`, r.str(3)]];
  const out: string[][] = [...nested];
  const types = new Set([s?.type, ...(s?.anyOf ?? []).map((x) => x.type)].filter(Boolean));
  const onlyScalars = !types.has('string') && !types.has('object') && !types.has('array') && !s?.anyOf?.some((x) => x.const !== undefined);
  if (types.size > 0 && onlyScalars && (types.has('integer') || types.has('number'))) {
    // Not '0x1f' or '1e3': ajv coerces whatever `+x == x` accepts.
    out.push(['', r.pick(['abc', '9'.repeat(400), '1e3x', '--1', 'NaN', 'Infinity', '١٢٣', '12abc', '[]', ...(types.has('number') ? [] : ['1.5'])])]);
  }
  if (types.size === 1 && types.has('boolean')) out.push(['', r.pick(['maybe', 'yes please', '2', 'truee', 'null'])]);
  if (s?.enum || (s?.anyOf && s.anyOf.every((x) => x.const !== undefined))) out.push(['', `not_${r.str(5)}`]);
  return out;
}

/** Form pairs as the wire has them, first pair first (qs keeps the first parameters). */
const form = (pairs: [string, string][]) => pairs.map(([k, v]) => `${k}=${v}`).join('&');

const CHAOS_KEYS = ['__proto__', 'constructor[prototype][x]', 'hasOwnProperty', 'toString', '[]', '[', ']', 'a[', 'a]]', 'a[][][]', 'a[b][c][d][e][f][g][h]', '%zz', '%', '%E0%A4%A', '+', '', '=', '&', 'expand[9999]', 'expand[-1]', 'metadata[]', 'metadata[a][b]'];
const CHAOS_VALUES = ['', '%', '%zz', '%00', '%FF%FE', '%C3%28', '%ED%A0%80', '😀', '\u0000', '[]', '{}', 'null', 'true', '-1', '0', '1e309', '9'.repeat(40), 'a'.repeat(5000), '<script>', "'; drop table events; --", '${x}', '../../etc/passwd'];

function chaosPairs(r: Rng, known: string[], n: number): [string, string][] {
  return Array.from({ length: n }, (): [string, string] => {
    const key = r.chance(0.4) && known.length > 0 ? r.pick(known) : r.chance(0.5) ? r.pick(CHAOS_KEYS) : enc(r.str(1 + r.int(12)));
    const keyed = r.chance(0.3) ? `${key}${'[x]'.repeat(1 + r.int(8))}` : key;
    return [keyed, r.chance(0.6) ? r.pick(CHAOS_VALUES) : enc(r.str(r.int(20)))];
  });
}

function deepJson(depth: number, leaf: string): string {
  return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}

const FORM = 'application/x-www-form-urlencoded';
const JSON_CT = 'application/json';

/** Ids for path params: real ones (the requests stay invalid by their bodies) and garbage. */
function idFor(r: Rng, real: string[]): { id: string; garbage: boolean } {
  if (r.chance(0.45)) return { id: r.pick(real), garbage: false };
  return {
    id: r.pick([
      enc(`pi_${r.str(8)}`),
      enc(`zz_${r.str(10)}`),
      'x'.repeat(65),
      'x'.repeat(101),
      'x'.repeat(500),
      '%00',
      '%zz',
      '%',
      '..',
      '.',
      '%2e%2e%2f%2e%2e%2fadmin',
      '%E2%98%83',
      'pi_x%2Fconfirm',
      enc('pi_ x'),
      enc('pi_<>"\''),
      enc(`${r.pick(real)}.json`),
      enc(`${r.pick(real)}\n`),
      '%F0%9F%98',
      enc('😀'.repeat(3)),
      '-',
      '_',
    ]),
    garbage: true,
  };
}

function fillPath(route: Route, r: Rng, real: Record<string, string[]>): { path: string; garbage: boolean } {
  let garbage = false;
  const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const pool = real[name] ?? real.id!;
    const x = idFor(r, pool);
    garbage ||= x.garbage;
    return x.id;
  });
  return { path, garbage };
}

function bodyRequest(route: Route, r: Rng, real: Record<string, string[]>, auth: Record<string, string>): Req {
  const { path } = fillPath(route, r, real);
  const known = Object.keys(route.body?.properties ?? {});
  const kind = r.int(12);
  const headers = { ...auth };
  switch (kind) {
    case 0: // unknown field first, then chaos
    case 1: {
      const pairs: [string, string][] = [[unknownField(r), enc(r.str(r.int(10)))], ...chaosPairs(r, known, r.int(8))];
      return { method: route.method, path, headers: { ...headers, 'content-type': FORM }, body: Buffer.from(form(pairs)), what: 'form: unknown field + chaos' };
    }
    case 2: // a known field with a value of the wrong type or shape
    case 3: {
      const field = known.length > 0 ? r.pick(known) : unknownField(r);
      const [suffix, value] = r.pick(invalidValues(route.body?.properties?.[field], r))!;
      const pairs: [string, string][] = [[`${field}${suffix}`, enc(value!)], ...chaosPairs(r, known, r.int(3)).filter(([k]) => !k.startsWith(field))];
      return { method: route.method, path, headers: { ...headers, 'content-type': FORM }, body: Buffer.from(form(pairs)), what: `form: ${field} of the wrong type` };
    }
    case 4: {
      // JSON that does not parse, or is not an object.
      const text = r.pick(['{', '{"a":', '[1,2', '{"a":1,}', "{'a':1}", 'nul', '"unterminated', '{"a":1}{"b":2}', '\u0000', '[]', '[{"amount":1000}]', '"a string"', '42', 'null', 'true', `{"${unknownField(r)}":1}`, '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}']);
      return { method: route.method, path, headers: { ...headers, 'content-type': JSON_CT }, body: Buffer.from(text), what: `json: ${text.slice(0, 40)}` };
    }
    case 5: {
      // Deeply nested JSON / form.
      const depth = r.pick([64, 1000, 10_000, 40_000]);
      if (r.chance(0.5)) {
        const text = `{"${unknownField(r)}":1,"${r.pick(known.length ? known : ['x'])}":${deepJson(depth, '1')}}`;
        return { method: route.method, path, headers: { ...headers, 'content-type': JSON_CT }, body: Buffer.from(text), what: `json: nested ${depth}` };
      }
      const key = `${unknownField(r)}${'[a]'.repeat(Math.min(depth, 20_000))}`;
      return { method: route.method, path, headers: { ...headers, 'content-type': FORM }, body: Buffer.from(`${key}=1`), what: `form: nested ${depth}` };
    }
    case 6: {
      // Huge: over the body limit (413), or under it with thousands of parameters.
      if (r.chance(0.5)) {
        const size = r.pick([300_000, 600_000, 1_200_000]);
        return { method: route.method, path, headers: { ...headers, 'content-type': r.pick([FORM, JSON_CT]) }, body: Buffer.alloc(size, 'a'), what: `huge body ${size}`, mayReset: true };
      }
      const many = Array.from({ length: 5000 }, (_, i) => `${unknownField(r)}${i}=${i}`).join('&');
      return { method: route.method, path, headers: { ...headers, 'content-type': FORM }, body: Buffer.from(`${unknownField(r)}=1&${many}`), what: 'form: 5000 params' };
    }
    case 7: {
      // Wrong or odd content types.
      const ct = r.pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=xyz', 'application/octet-stream', 'image/png', 'application/json-patch+json', 'text/html; charset=utf-8', '*/*', 'invalid', 'application/', ';;;', `${FORM}; charset=utf-16`, `${JSON_CT}; charset=latin1`]);
      const body = ct.startsWith(FORM) || ct.startsWith(JSON_CT) ? `${unknownField(r)}=1` : r.pick(['amount=1000&currency=usd', '<xml/>', '--xyz\r\nContent-Disposition: form-data; name="amount"\r\n\r\n1000\r\n--xyz--', '\u0089PNG', '{"amount":1000}']);
      return { method: route.method, path, headers: { ...headers, 'content-type': ct }, body: Buffer.from(body), what: `content-type ${ct}` };
    }
    case 8: {
      // Invalid UTF-8, raw and percent-encoded, in keys and values.
      const bad = Buffer.from(r.pick([[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]]));
      const json = r.chance(0.4);
      const body = json
        ? Buffer.concat([Buffer.from(`{"${unknownField(r)}":"`), bad, Buffer.from('","'), bad, Buffer.from('":1}')])
        : Buffer.concat([Buffer.from(`${unknownField(r)}=`), bad, Buffer.from('&'), bad, Buffer.from(`=1&${r.pick(known.length ? known : ['x'])}=%FF%FE`)]);
      return { method: route.method, path, headers: { ...headers, 'content-type': json ? JSON_CT : FORM }, body, what: `invalid utf-8 (${json ? 'json' : 'form'})` };
    }
    case 9: {
      // A JSON object with a known field of the wrong type, or an unknown field.
      const field = known.length > 0 ? r.pick(known) : unknownField(r);
      // Shapes no field takes: a hash of hashes with unknown keys, nested arrays, an operator object.
      const value = r.pick([{ [unknownField(r)]: { a: 1 } }, [[[]]], { $gt: { $ne: 1 } }]);
      const text = JSON.stringify({ [field]: value, ...(r.chance(0.5) ? { [unknownField(r)]: 1 } : {}) });
      return { method: route.method, path, headers: { ...headers, 'content-type': JSON_CT }, body: Buffer.from(text), what: `json: ${field} wrong` };
    }
    case 10: {
      // Bracket and encoding chaos around an unknown field.
      const pairs: [string, string][] = [[`${unknownField(r)}${r.pick(['[]', '[0]', '[a][b]', '[]=', '[[]]', '][', '%5B%5D'])}`, '1'], ...chaosPairs(r, known, 2 + r.int(10))];
      const body = r.pick([form(pairs), `&&&${form(pairs)}&&&`, form(pairs).replace(/=/g, '==='), `${form(pairs)}&=&=&`]);
      return { method: route.method, path, headers: { ...headers, 'content-type': FORM }, body: Buffer.from(body), what: 'form: bracket chaos' };
    }
    default: {
      // Odd headers with an invalid body: a long Idempotency-Key, a bad Stripe-Version, empty JSON.
      const h: Record<string, string> = r.pick<Record<string, string>>([{ 'idempotency-key': 'k'.repeat(300) }, { 'stripe-version': r.pick(['banana', '2020-13-45x', 'x'.repeat(200)]) }, { 'idempotency-key': r.str(8) }, {}]);
      if (r.chance(0.3)) return { method: route.method, path, headers: { ...headers, ...h, 'content-type': JSON_CT }, body: Buffer.alloc(0), what: 'empty json body' };
      return { method: route.method, path, headers: { ...headers, ...h, 'content-type': FORM }, body: Buffer.from(`${unknownField(r)}=1`), what: `headers ${Object.keys(h).join(',')}` };
    }
  }
}

function queryRequest(route: Route, r: Rng, real: Record<string, string[]>, auth: Record<string, string>): Req {
  const { path } = fillPath(route, r, real);
  const known = Object.keys(route.query);
  let q: string;
  let what: string;
  const lists = known.includes('starting_after') && known.includes('ending_before') && known.includes('limit');
  if (lists && r.chance(0.2)) {
    // Known params only, invalid together or out of range in ways a type check alone misses.
    q = r.pick([
      `starting_after=${r.pick(real.id!)}&ending_before=${r.pick(real.id!)}`,
      `limit=${r.pick(['Infinity', '-Infinity', '1e400', '0', '101', '-5'])}`,
      `created[gte]=${r.pick(['Infinity', '1e400', '-Infinity'])}`,
      `created=${r.pick(['Infinity', '-1e999'])}`,
    ]);
    what = 'query: known params, invalid values';
  } else if (known.length > 0 && r.chance(0.5)) {
    const field = r.pick(known);
    const [suffix, value] = r.pick(invalidValues(route.query[field], r))!;
    const extra = r.pick(['limit=0', 'limit=101', 'limit=-1', 'limit=1.5', `starting_after[${unknownField(r)}]=1`, 'created[gte]=soon', '']);
    q = [`${field}${suffix}=${enc(value!)}`, ...(extra && !extra.startsWith(field) ? [extra] : [])].join('&');
    what = `query: ${field} of the wrong type`;
  } else {
    q = form([[unknownField(r), enc(r.str(4))], ...chaosPairs(r, known, r.int(6))]);
    what = 'query: unknown field + chaos';
  }
  // Raw bytes the client cannot send in a request line are percent-encoded; '%zz' and friends stay.
  const line = q.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  return { method: 'GET', path: `${path}?${line}`, headers: { ...auth }, what };
}

function randomRequest(r: Rng, routes: Route[], real: Record<string, string[]>, auth: Record<string, string>): Req {
  const method = r.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'SEARCH', 'PURGE', 'FOO', 'LINK', 'MKCOL']);
  const route = r.pick(routes);
  const segs = ['v1', 'payment_intents', 'payment_methods', 'events', 'customers', 'charges', 'refunds', 'admin', 'merchants', 'stripe', 'intend', '3ds', 'confirm', 'capture', 'cancel', '..', '.', '%2e', '%zz', '%', '', r.str(5), enc('😀'), 'x'.repeat(3000)];
  const path = r.pick([
    () => `/${Array.from({ length: 1 + r.int(5) }, () => r.pick(segs)).join('/')}`,
    () => fillPath(route, r, real).path + `/${r.pick(segs)}`,
    () => fillPath(route, r, real).path.toUpperCase(),
    () => `/${fillPath(route, r, real).path.replace(/\//g, '//')}`,
    () => `/v1/${r.str(1 + r.int(30))}?${unknownField(r)}=1`,
    () => `${fillPath(route, r, real).path}/`,
    () => `/v1/payment_intents/${'a/'.repeat(200)}`,
  ])();
  // A method the route does not have (known routes get the wrong method; unknown paths any).
  const m = routes.some((x) => x.method === method && new RegExp(`^${x.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path)) ? 'PATCH' : method;
  const body = ['GET', 'OPTIONS'].includes(m) || r.chance(0.5) ? undefined : Buffer.from(`${unknownField(r)}=1`);
  return { method: m, path, headers: { ...auth, ...(body ? { 'content-type': FORM } : {}) }, body, what: `random ${m}` };
}

function send(port: number, agent: http.Agent, q: Req): Promise<Res | { error: string }> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: q.method,
          path: q.path,
          headers: { ...q.headers, ...(q.body ? { 'content-length': String(q.body.length) } : {}), ...(q.mayReset ? { connection: 'close' } : {}) },
          // An oversized body gets its own connection: the server answers and closes it mid-body.
          agent: q.mayReset ? false : agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
          res.on('error', (e) => resolve({ error: `response: ${e.message}` }));
        },
      );
    } catch (err) {
      resolve({ error: `client refused: ${(err as Error).message}` });
      return;
    }
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(q.body);
  });
}

function routesOf(doc: { paths: Record<string, Record<string, { parameters?: { name: string; in: string; schema: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> } }>> }): Route[] {
  const out: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = op.parameters ?? [];
      out.push({
        method: method.toUpperCase(),
        path,
        ...(op.requestBody ? { body: Object.values(op.requestBody.content)[0]!.schema } : {}),
        query: Object.fromEntries(params.filter((p) => p.in === 'query').map((p) => [p.name, p.schema])),
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
      });
    }
  }
  return out;
}

t.test('fuzz: malformed requests get Stripe 4xx errors and change nothing', async (t) => {
  t.comment(`FUZZ_SEED=${SEED} FUZZ_REQUESTS=${TOTAL}`);
  const stack = await startStack(t, { LOG_LEVEL: 'warn' });
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http', maxNetworkRetries: 0 });

  // Real objects, so malformed requests also reach objects that exist.
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
  const open = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd' });
  const held = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', capture_method: 'manual', payment_method: pm.id, confirm: true });
  const paid = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: pm.id, confirm: true, expand: ['latest_charge'] });
  const chargeId = typeof paid.latest_charge === 'string' ? paid.latest_charge : (paid.latest_charge?.id ?? 'ch_none');
  const real: Record<string, string[]> = {
    id: [open.id, held.id, paid.id, pm.id, chargeId, m.merchant_id],
    merchant: [m.merchant_id],
    intent: [held.id, paid.id],
    attempt: [chargeId],
    action: ['complete', 'fail'],
  };

  const docRes = await fetch(`${stack.url}/openapi.json`);
  const routes = routesOf((await docRes.json()) as Parameters<typeof routesOf>[0]);
  t.ok(routes.length >= 10, `${routes.length} routes from /openapi.json`);
  const bodyRoutes = routes.filter((x) => x.body);
  const queryRoutes = routes.filter((x) => x.method === 'GET' && (x.path.startsWith('/v1/') || Object.keys(x.query).length > 0));

  const nc = await connect({ servers: stack.nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const counts = async () => ({
    events: (await jsm.streams.info('PAY_EVENTS')).state.messages,
    vault: (await jsm.streams.info('KV_pay_vault')).state.messages,
  });
  // Let the setup settle (the projector and webhooks do not write PAY_EVENTS; the actors are done).
  const before = await counts();

  const r = prng(SEED);
  const auth = { authorization: `Bearer ${m.secret_key}` };
  const requests: Req[] = [];
  // Each kind walks its own routes round-robin, so every route is covered whatever the route count.
  let nb = 0;
  let nq = 0;
  for (let i = 0; i < TOTAL; i++) {
    const k = i % 10;
    if (k < 6) requests.push(bodyRequest(bodyRoutes[nb++ % bodyRoutes.length]!, r, real, auth));
    else if (k < 8) requests.push(queryRequest(queryRoutes[nq++ % queryRoutes.length]!, r, real, auth));
    else requests.push(randomRequest(r, routes, real, auth));
  }
  t.ok(requests.length >= 2000, `${requests.length} requests`);
  const covered = new Set(requests.map((q) => `${q.method} ${q.path.split('?')[0]}`));
  for (const route of routes.filter((x) => x.body || queryRoutes.includes(x))) {
    const re = new RegExp(`^${route.method} ${route.path.replace(/\{\w+\}/g, '[^/]*')}$`);
    t.ok([...covered].some((c) => re.test(c)), `covers ${route.method} ${route.path}`);
  }

  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  t.teardown(() => agent.destroy());
  const findings: string[] = [];
  const statuses = new Map<number | string, number>();
  let next = 0;
  let checked = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests.length) {
        const n = next++;
        const q = requests[n]!;
        const res = await send(stack.port, agent, q);
        const show = `#${n} ${q.what}: ${q.method} ${q.path.slice(0, 160)} ${q.body ? `[${q.body.length} B ${q.headers['content-type'] ?? 'no content-type'}: ${q.body.subarray(0, 120).toString('latin1')}]` : ''}`;
        if ('error' in res) {
          statuses.set(res.error, (statuses.get(res.error) ?? 0) + 1);
          if (!q.mayReset && !res.error.startsWith('client refused')) findings.push(`${show} → connection error ${res.error}`);
          continue;
        }
        checked++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) {
          findings.push(`${show} → ${res.status} ${res.body.slice(0, 300)}`);
          continue;
        }
        if (res.status < 400) {
          findings.push(`${show} → unexpected success ${res.status} ${res.body.slice(0, 300)}`);
          continue;
        }
        let body: unknown;
        try {
          body = JSON.parse(res.body);
        } catch {
          findings.push(`${show} → ${res.status} body is not JSON: ${res.body.slice(0, 200)}`);
          continue;
        }
        const e = (body as { error?: { type?: unknown; message?: unknown } }).error;
        if (typeof e?.type !== 'string' || typeof e.message !== 'string') {
          findings.push(`${show} → ${res.status} not Stripe's error shape: ${res.body.slice(0, 200)}`);
        }
        if (!/^req_/.test(String(res.headers['request-id'] ?? ''))) findings.push(`${show} → ${res.status} without a Request-Id`);
      }
    }),
  );
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.ok(checked >= 2000, `${checked} responses checked`);

  // Anything a request set in motion has had its answer; give stragglers a moment anyway.
  await new Promise((res) => setTimeout(res, 500));
  const after = await counts();
  t.strictSame(after, before, 'no state change: PAY_EVENTS and the vault hold the same messages');
  if (process.env.FUZZ_FINDINGS_FILE) await writeFile(process.env.FUZZ_FINDINGS_FILE, findings.join('\n'));
  t.strictSame(findings.slice(0, 40), [], `no findings (seed ${SEED}; ${findings.length} in all)`);
  const health = await fetch(`${stack.url}/healthz`);
  t.equal(health.status, 200, 'the gateway is still healthy');
  const still = await stripe.paymentIntents.retrieve(open.id);
  t.equal(still.status, 'requires_payment_method', 'the open intent is untouched');
  t.equal((await stripe.paymentIntents.retrieve(held.id)).status, 'requires_capture', 'the held intent is untouched');
});
