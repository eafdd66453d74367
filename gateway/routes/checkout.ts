// The browser side of a payment, served from our origin: the JS library (/js/v1/checkout.js) the
// merchant's page loads, and the card frame (/checkout/v1/card-frame.html) it mounts. The frame's
// CSP names, in frame-ancestors, the origins on the merchant's record (plus loopback in test mode),
// so only the merchant's own pages can embed it. The files live in checkout/ (plain browser JS).
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ASSET_CSP, cardFrameCsp, COMMON_HEADERS, originAllowed, REFUSAL_CSP, returnPageCsp, type Mode } from '../../checkout/policy.ts';
import type { GatewayDeps } from '../app.ts';
import { counter } from '../../metrics/registry.ts';

/** Card frames (and 3DS return pages) served or refused, by reason: an embedding on a wrong origin shows here. */
const frames = counter('paynats_checkout_frames_total', 'Card frame and 3DS return page requests, by outcome', ['page', 'outcome'] as const);

const dir = new URL('../../checkout/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

interface Asset {
  body: string;
  type: string;
}

const JS = 'application/javascript; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

/** Read once at start: what is served is what was deployed. */
function loadAssets(): Record<string, Asset> {
  return {
    'checkout.js': { body: read('checkout.js'), type: JS },
    'card.js': { body: read('card.js'), type: JS },
    'card-frame.js': { body: read('card-frame.js'), type: JS },
    'card-frame.css': { body: read('card-frame.css'), type: 'text/css; charset=utf-8' },
    '3ds-return.js': { body: read('3ds-return.js'), type: JS },
    'card-frame.html': { body: read('card-frame.html'), type: HTML },
    '3ds-return.html': { body: read('3ds-return.html'), type: HTML },
  };
}

const FrameQuery = Type.Object(
  {
    key: Type.String({ maxLength: 200 }),
    origin: Type.String({ maxLength: 300 }),
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$' })),
  },
  { additionalProperties: false },
);
type FrameQuery = Static<typeof FrameQuery>;

const ReturnQuery = Type.Object(
  {
    key: Type.String({ maxLength: 200 }),
    origin: Type.String({ maxLength: 300 }),
    payment_intent: Type.Optional(Type.String({ maxLength: 100 })),
    payment_intent_client_secret: Type.Optional(Type.String({ maxLength: 200 })),
    redirect_status: Type.Optional(Type.String({ maxLength: 40 })),
  },
  { additionalProperties: false },
);
type ReturnQuery = Static<typeof ReturnQuery>;

const SUB_ASSETS = ['card.js', 'card-frame.js', 'card-frame.css', '3ds-return.js'] as const;

function headers(reply: FastifyReply, csp: string): FastifyReply {
  for (const [k, v] of Object.entries(COMMON_HEADERS)) reply.header(k, v);
  return reply.header('content-security-policy', csp);
}

function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return headers(reply, REFUSAL_CSP)
    .code(status)
    .header('cache-control', 'no-store')
    .type(HTML)
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Card payments unavailable</title></head><body><p>${message}</p></body></html>`);
}

export function registerCheckout(app: FastifyInstance, deps: Pick<GatewayDeps, 'keys' | 'readMerchant'>): void {
  const assets = loadAssets();

  app.get('/js/v1/checkout.js', async (_req, reply) => {
    const a = assets['checkout.js']!;
    return headers(reply, ASSET_CSP)
      // Loaded by <script src> from the merchant's pages (cross-origin by design).
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('access-control-allow-origin', '*')
      .header('cache-control', 'public, max-age=300')
      .type(a.type)
      .send(a.body);
  });

  for (const name of SUB_ASSETS) {
    app.get(`/checkout/v1/${name}`, async (_req, reply) => {
      const a = assets[name]!;
      return headers(reply, ASSET_CSP).header('cross-origin-resource-policy', 'same-origin').header('cache-control', 'public, max-age=300').type(a.type).send(a.body);
    });
  }

  /** The merchant behind a publishable key and the origins it allows; or null, the refusal sent. */
  async function embedding(req: FastifyRequest, reply: FastifyReply, key: string, origin: string, page: 'card_frame' | '3ds_return'): Promise<{ allowed: string[]; mode: Mode } | null> {
    const e = await check(req, reply, key, origin);
    frames.inc({ page, outcome: e ? 'served' : reply.statusCode === 403 ? 'origin_not_allowed' : reply.statusCode === 401 ? 'invalid_key' : 'bad_request' });
    return e;
  }

  async function check(req: FastifyRequest, reply: FastifyReply, key: string, origin: string): Promise<{ allowed: string[]; mode: Mode } | null> {
    // A secret key never belongs in a browser, let alone a URL: refuse without echoing it.
    if (!/^pk_(test|live)_[A-Za-z0-9]{8,}$/.test(key)) {
      refuse(reply, 400, 'The card element needs a publishable key (pk_test_… or pk_live_…).');
      return null;
    }
    const rec = await deps.keys.lookup(key);
    const merchant = rec && rec.kind === 'publishable' ? await deps.readMerchant(rec.merchant_id) : null;
    if (!rec || !merchant) {
      refuse(reply, 401, 'Invalid publishable key.');
      return null;
    }
    const allowed = merchant.allowed_origins ?? [];
    if (!originAllowed(origin, allowed, rec.mode)) {
      req.log.warn({ merchant_id: rec.merchant_id, origin: origin.slice(0, 120) }, 'checkout: card frame asked for by an origin the merchant does not allow');
      refuse(reply, 403, 'This site may not embed the card form: its origin is not among the merchant’s allowed origins.');
      return null;
    }
    return { allowed, mode: rec.mode };
  }

  app.get<{ Querystring: FrameQuery }>('/checkout/v1/card-frame.html', { schema: { querystring: FrameQuery } }, async (req, reply) => {
    const e = await embedding(req, reply, req.query.key, req.query.origin, 'card_frame');
    if (!e) return reply;
    const a = assets['card-frame.html']!;
    return headers(reply, cardFrameCsp(e.allowed, e.mode)).header('cache-control', 'no-store').type(a.type).send(a.body);
  });

  // Where the 3-D Secure challenge returns to (with payment_intent, its client secret and redirect_status).
  app.get<{ Querystring: ReturnQuery }>('/checkout/v1/3ds-return.html', { schema: { querystring: ReturnQuery } }, async (req, reply) => {
    const e = await embedding(req, reply, req.query.key, req.query.origin, '3ds_return');
    if (!e) return reply;
    const a = assets['3ds-return.html']!;
    return headers(reply, returnPageCsp(e.allowed, e.mode)).header('cache-control', 'no-store').type(a.type).send(a.body);
  });
}
