// Our public keys for encrypted requests (gateway/jwe.ts): GET /v1/encryption_keys and
// /.well-known/jwks.json (no key needed: they are public). Admin: rotate, and remove a retired key.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError, noSuch } from '../../stripe/errors.ts';
import type { GatewayDeps } from '../app.ts';
import { requireAdmin } from './admin.ts';

const KidParams = Type.Object({ kid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) }, { additionalProperties: false });
type KidParams = Static<typeof KidParams>;

export function registerEncryptionKeys(app: FastifyInstance, deps: GatewayDeps): void {
  const enc = () => {
    const e = deps.security?.encryption;
    if (!e) throw new ApiError(404, 'invalid_request_error', undefined, 'Encrypted requests are not enabled on this gateway.');
    return e;
  };
  const jwks = async (_req: unknown, reply: import('fastify').FastifyReply) => reply.header('Cache-Control', 'public, max-age=300').send(await enc().jwks());
  app.get('/v1/encryption_keys', jwks);
  app.get('/.well-known/jwks.json', jwks);

  app.post('/admin/encryption_keys/rotate', async (req) => {
    requireAdmin(req, deps.config.adminToken);
    const r = await enc().rotate();
    req.log.info(r, 'encryption key rotated');
    return r;
  });

  app.delete<{ Params: KidParams }>('/admin/encryption_keys/:kid', { schema: { params: KidParams } }, async (req) => {
    requireAdmin(req, deps.config.adminToken);
    if (!(await enc().remove(req.params.kid))) throw noSuch('encryption key (retired)', req.params.kid, 'kid');
    req.log.info({ kid: req.params.kid }, 'encryption key removed');
    return { id: req.params.kid, deleted: true };
  });
}
