// GET /openapi.json: an OpenAPI 3.1 document built from the routes as registered, with the very
// TypeBox schemas that validate their params, querystrings and bodies (an onRoute hook in app.ts
// collects them), so the document cannot drift from what the gateway accepts.
import type { FastifySchema, RouteOptions } from 'fastify';
import { API_VERSION } from '../stripe/objects.ts';

export interface RouteDoc {
  method: string;
  url: string;
  schema: FastifySchema | undefined;
}

type Json = Record<string, unknown>;

/** The onRoute listener: remembers every route but the implicit HEADs. */
export function routeCollector(into: RouteDoc[]): (r: RouteOptions) => void {
  return (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) {
      if (m === 'HEAD') continue;
      into.push({ method: m.toLowerCase(), url: r.url, schema: r.schema });
    }
  };
}

/** A TypeBox schema as plain JSON Schema (TypeBox's symbol keys dropped). */
const plain = (s: unknown): Json => JSON.parse(JSON.stringify(s ?? {})) as Json;

const pascal = (s: string) => s.replace(/(^|[_\-{}/.]+)([a-z0-9])/gi, (_m, _sep: string, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '');

function operationId(method: string, path: string, seen: Set<string>): string {
  const base = pascal(method) + pascal(path.replace(/^\/v1\//, '/'));
  let id = base;
  for (let n = 2; seen.has(id); n++) id = `${base}${n}`;
  seen.add(id);
  return id;
}

function securityFor(url: string): Json[] {
  if (url.startsWith('/admin')) return [{ adminToken: [] }];
  if (url.startsWith('/v1') || url.startsWith('/stripe')) return [{ bearerAuth: [] }, { basicAuth: [] }];
  return [];
}

function parametersOf(schema: unknown, where: 'path' | 'query'): Json[] {
  const s = plain(schema);
  const props = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required ?? []) as string[]);
  return Object.entries(props).map(([name, p]) => {
    const nested = p.type === 'object' || p.type === 'array' || 'anyOf' in p || 'oneOf' in p;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      schema: p,
      // Stripe's bracket notation: expand[]=x, created[gte]=1, metadata[k]=v.
      ...(where === 'query' && nested ? { style: 'deepObject', explode: true } : {}),
    };
  });
}

const ERROR_SCHEMA: Json = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['type', 'message'],
      properties: {
        type: { type: 'string', enum: ['invalid_request_error', 'authentication_error', 'card_error', 'idempotency_error', 'rate_limit_error', 'api_error', 'permission_error'] },
        code: { type: 'string' },
        decline_code: { type: 'string' },
        param: { type: 'string' },
        message: { type: 'string' },
        doc_url: { type: 'string' },
        charge: { type: 'string' },
        payment_intent: { type: 'object' },
        setup_intent: { type: 'object' },
      },
    },
  },
};

export function openApiDocument(routes: readonly RouteDoc[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const seen = new Set<string>();
  const sorted = [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
  for (const r of sorted) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema ?? {};
    const parameters = [
      ...parametersOf(s.params, 'path'),
      ...parametersOf(s.querystring, 'query'),
      ...(path.startsWith('/v1') || path.startsWith('/stripe')
        ? [{ $ref: '#/components/parameters/StripeVersion' }, ...(r.method === 'post' ? [{ $ref: '#/components/parameters/IdempotencyKey' }] : [])]
        : []),
    ];
    const op: Json = {
      operationId: operationId(r.method, path, seen),
      tags: [path.split('/').filter(Boolean).slice(0, path.startsWith('/v1') ? 2 : 1).join('/') || 'root'],
      security: securityFor(path),
      ...(parameters.length > 0 ? { parameters } : {}),
      responses: {
        '2XX': { description: 'Success', content: { 'application/json': { schema: { type: 'object' } } } },
        default: { description: "Stripe's error body", content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    if (s.body) {
      const body = plain(s.body);
      op.requestBody = {
        required: Array.isArray(body.required) && body.required.length > 0,
        content: { 'application/x-www-form-urlencoded': { schema: body }, 'application/json': { schema: body } },
      };
    }
    (paths[path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'paynats',
      version: API_VERSION,
      description: 'A Stripe wire-compatible payment API. Bodies are form-encoded with bracket nesting (or JSON); errors are Stripe\'s error body.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      parameters: {
        StripeVersion: { name: 'Stripe-Version', in: 'header', required: false, schema: { type: 'string', default: API_VERSION }, description: 'Echoed in the response.' },
        IdempotencyKey: { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } },
      },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key: sk_… or pk_…' },
        basicAuth: { type: 'http', scheme: 'basic', description: 'The API key as the user name, no password.' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
      },
    },
  };
}
