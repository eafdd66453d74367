// Operator API for a merchant's API keys and access settings. Every route needs ADMIN_TOKEN; a
// merchant's key (secret, restricted or publishable) is never accepted here.
//   GET    /admin/merchants/:id/keys              every key (redacted), expiry, revocation, last use
//   POST   /admin/merchants/:id/keys              a restricted key rk_<mode>_… with per-resource permissions
//   POST   /admin/merchants/:id/keys/roll         a new key replacing one; the old one stays valid `expires_in` s
//   DELETE /admin/merchants/:id/keys/:key_id      revoke: stops authenticating at once, in every gateway
//   GET    /admin/merchants/:id/security          rate limits and PCI flag
//   POST   /admin/merchants/:id/security          set them
//   DELETE /admin/merchants/:id/payment_methods/:pm   crypto-shred a stored card (its sealed data key is purged)
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import type { GatewayDeps } from '../app.ts';
import type { KeyMeta, KeyRecord } from '../auth.ts';
import { RESOURCES, type Permissions } from '../permissions.ts';
import { requireAdmin } from './admin.ts';
import { randomToken } from '../tokens.ts';
import { MAGIC_PAYMENT_METHODS } from '../../vault/mod.ts';


const opts = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Mode = Type.Union([Type.Literal('test'), Type.Literal('live')]);
const Access = Type.Union([Type.Literal('none'), Type.Literal('read'), Type.Literal('write')]);
const PermissionsSchema = Type.Object(Object.fromEntries(RESOURCES.map((r) => [r, Type.Optional(Access)])), opts);

const MerchantParams = Type.Object({ id: Id }, opts);
type MerchantParams = Static<typeof MerchantParams>;
const KeyParams = Type.Object({ id: Id, key_id: Id }, opts);
type KeyParams = Static<typeof KeyParams>;
const CreateKeyBody = Type.Object(
  {
    mode: Type.Optional(Mode),
    name: Type.Optional(Type.String({ maxLength: 100 })),
    permissions: PermissionsSchema,
  },
  opts,
);
type CreateKeyBody = Static<typeof CreateKeyBody>;
/** Up to 7 days of overlap, as Stripe's dashboard offers; 0 expires the old key now. */
const MAX_OVERLAP_S = 7 * 24 * 3600;
const RollBody = Type.Object(
  {
    mode: Type.Optional(Mode),
    key: Type.Optional(Id),
    expires_in: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OVERLAP_S })),
  },
  opts,
);
type RollBody = Static<typeof RollBody>;
const Limit = Type.Integer({ minimum: 0, maximum: 1_000_000 });
const SecurityBody = Type.Object(
  {
    rate_limit: Type.Optional(Type.Object({ live: Type.Optional(Limit), test: Type.Optional(Limit) }, opts)),
    pci_validated: Type.Optional(Type.Boolean()),
  },
  opts,
);
type SecurityBody = Static<typeof SecurityBody>;

const PREFIX = { secret: 'sk', publishable: 'pk', restricted: 'rk' } as const;

/** What the admin API shows of a key: never the key, never its hash. */
function renderKey(m: KeyMeta & { last_used?: number | null }, now = Math.floor(Date.now() / 1000)) {
  const status = m.revoked ? 'revoked' : m.expires_at != null && m.expires_at <= now ? 'expired' : 'active';
  return {
    id: m.key_id,
    object: 'api_key',
    type: m.kind,
    livemode: m.mode === 'live',
    redacted: m.redacted,
    name: m.name ?? null,
    created: m.created,
    expires_at: m.expires_at ?? null,
    revoked: m.revoked,
    status,
    last_used: m.last_used ?? null,
    ...(m.kind === 'restricted' ? { permissions: m.permissions ?? {} } : {}),
  };
}

export function registerAdminKeys(app: FastifyInstance, deps: GatewayDeps): void {
  registerAdminVault(app, deps);
  const merchantOr404 = async (id: string) => {
    if (!(await deps.readMerchant(id))) throw noSuch('merchant', id);
  };

  async function issue(merchantId: string, rec: Omit<KeyRecord, 'key_id' | 'merchant_id' | 'created'>, now: number) {
    const key = `${PREFIX[rec.kind]}_${rec.mode}_${randomToken(32)}`;
    const meta = await deps.keys.register(key, { merchant_id: merchantId, key_id: `key_${randomToken(16)}`, created: now, ...rec });
    return { key, meta };
  }

  app.get<{ Params: MerchantParams }>('/admin/merchants/:id/keys', { schema: { params: MerchantParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    await merchantOr404(req.params.id);
    const keys = await deps.keys.list(req.params.id);
    return { object: 'list', data: keys.map((k) => renderKey(k)) };
  });

  app.post<{ Params: MerchantParams; Body: CreateKeyBody }>('/admin/merchants/:id/keys', { schema: { params: MerchantParams, body: CreateKeyBody } }, async (req, reply) => {
    requireAdmin(req, deps.config.adminToken);
    await merchantOr404(req.params.id);
    const now = Math.floor(Date.now() / 1000);
    const permissions = req.body.permissions as Permissions;
    const { key, meta } = await issue(req.params.id, { kind: 'restricted', mode: req.body.mode ?? 'test', permissions, name: req.body.name ?? null }, now);
    req.log.info({ merchant_id: req.params.id, key_id: meta.key_id, kind: 'restricted', mode: meta.mode }, 'api key created');
    return reply.code(201).send({ ...renderKey(meta), secret: key });
  });

  app.post<{ Params: MerchantParams; Body: RollBody }>('/admin/merchants/:id/keys/roll', { schema: { params: MerchantParams, body: RollBody } }, async (req, reply) => {
    requireAdmin(req, deps.config.adminToken);
    await merchantOr404(req.params.id);
    const now = Math.floor(Date.now() / 1000);
    const all = await deps.keys.list(req.params.id);
    const live = (m: KeyMeta) => !m.revoked && (m.expires_at == null || m.expires_at > now);
    let old: KeyMeta[];
    if (req.body.key) {
      const m = all.find((k) => k.key_id === req.body.key);
      if (!m || !live(m)) throw noSuch('api_key', req.body.key, 'key');
      old = [m];
    } else {
      // The mode's current secret key(s): the ones without an expiry (an earlier roll's overlap keeps its own).
      const mode = req.body.mode ?? 'test';
      old = all.filter((m) => live(m) && m.kind === 'secret' && m.mode === mode && m.expires_at == null);
      if (old.length === 0) throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Merchant ${req.params.id} has no active ${mode} secret key to roll; name one with 'key'.`, 'key');
    }
    const first = old[0]!;
    if (req.body.mode && req.body.mode !== first.mode) throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Key ${first.key_id} is a ${first.mode} key.`, 'mode');
    const expiresAt = now + (req.body.expires_in ?? 0);
    const { key, meta } = await issue(
      req.params.id,
      { kind: first.kind, mode: first.mode, ...(first.kind === 'restricted' ? { permissions: first.permissions ?? {} } : {}), name: first.name ?? null },
      now,
    );
    // The new key works before the old one starts to expire.
    const previous = [];
    for (const m of old) previous.push(req.body.expires_in ? await deps.keys.expire(m, expiresAt) : await deps.keys.revoke(m, now));
    req.log.info({ merchant_id: req.params.id, key_id: meta.key_id, rolled: old.map((m) => m.key_id), expires_at: expiresAt }, 'api key rolled');
    return reply.code(201).send({ ...renderKey(meta), secret: key, previous: previous.map((m) => renderKey(m, now)) });
  });

  app.delete<{ Params: KeyParams }>('/admin/merchants/:id/keys/:key_id', { schema: { params: KeyParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const m = await deps.keys.meta(req.params.id, req.params.key_id);
    if (!m) throw noSuch('api_key', req.params.key_id, 'key_id');
    const now = Math.floor(Date.now() / 1000);
    const revoked = m.revoked ? m : await deps.keys.revoke(m, now);
    req.log.info({ merchant_id: req.params.id, key_id: m.key_id }, 'api key revoked');
    return { ...renderKey(revoked, now), deleted: true };
  });

  app.get<{ Params: MerchantParams }>('/admin/merchants/:id/security', { schema: { params: MerchantParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    await merchantOr404(req.params.id);
    return renderSecurity(deps, req.params.id, await readSecurity(deps, req.params.id));
  });

  app.post<{ Params: MerchantParams; Body: SecurityBody }>('/admin/merchants/:id/security', { schema: { params: MerchantParams, body: SecurityBody } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    await merchantOr404(req.params.id);
    if (!deps.security) throw new ApiError(503, 'api_error', undefined, 'Security settings are not available in this process.');
    const cur = await deps.security.settings.read(req.params.id);
    const next = {
      ...cur,
      ...(req.body.rate_limit ? { rate_limit: { ...cur.rate_limit, ...req.body.rate_limit } } : {}),
      ...(req.body.pci_validated !== undefined ? { pci_validated: req.body.pci_validated } : {}),
      updated: Math.floor(Date.now() / 1000),
    };
    await deps.security.settings.write(req.params.id, next);
    req.log.info({ merchant_id: req.params.id, settings: next }, 'merchant security settings changed');
    return renderSecurity(deps, req.params.id, next);
  });
}

const PmParams = Type.Object({ id: Id, pm: Id }, opts);
type PmParams = Static<typeof PmParams>;

export function registerAdminVault(app: FastifyInstance, deps: GatewayDeps): void {
  app.delete<{ Params: PmParams }>('/admin/merchants/:id/payment_methods/:pm', { schema: { params: PmParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const { id, pm } = req.params;
    if (MAGIC_PAYMENT_METHODS[pm]) throw new ApiError(400, 'invalid_request_error', 'parameter_invalid', `${pm} is a test payment method; nothing is stored for it.`, 'pm');
    const found = (await deps.vault.get(id, pm, false)) ?? (await deps.vault.get(id, pm, true));
    if (!found) throw noSuch('PaymentMethod', pm, 'pm');
    await deps.vault.destroy(id, pm);
    req.log.info({ merchant_id: id, payment_method: pm }, 'card crypto-shredded');
    return { id: pm, object: 'payment_method', deleted: true };
  });
}

async function readSecurity(deps: GatewayDeps, merchantId: string) {
  return deps.security ? deps.security.settings.read(merchantId) : {};
}

function renderSecurity(deps: GatewayDeps, merchantId: string, s: { rate_limit?: { live?: number; test?: number }; pci_validated?: boolean }) {
  return {
    object: 'merchant_security',
    merchant_id: merchantId,
    pci_validated: s.pci_validated ?? false,
    rate_limit: {
      live: s.rate_limit?.live ?? deps.security?.limiter.defaults.live ?? null,
      test: s.rate_limit?.test ?? deps.security?.limiter.defaults.test ?? null,
    },
    rate_limit_overrides: s.rate_limit ?? {},
  };
}
