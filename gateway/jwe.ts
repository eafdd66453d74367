// Encrypted requests: a merchant that must send card data server-to-server may send the body as a
// compact JWE (RSA-OAEP-256 + A256GCM, made with `jose` or any JOSE library) under one of our public
// keys, published as a JWKS at GET /v1/encryption_keys (and /.well-known/jwks.json). Content-Type:
// application/jose; the plaintext is the JSON (or, with cty application/x-www-form-urlencoded, the
// form) body the endpoint takes. No crypto here is ours: `jose` does JWE, node:crypto the envelope.
//
// Keys live in KV pay_security as `jwe.<kid>`: the public JWK, and the private JWK sealed under the
// secrets key (vault/envelope.ts, so under the KEK). `jwe_active` names the key new requests should
// use. Rotation makes a new active key; the previous one stays in the JWKS (status `retired`) and
// keeps decrypting until it is removed, so merchants caching the JWKS are never cut off.
import type { KV } from '@nats-io/kv';
import { compactDecrypt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import qs from 'qs';
import { ApiError } from '../stripe/errors.ts';
import { openString, sealString, type KeyRing } from '../vault/mod.ts';
import { randomToken } from './tokens.ts';

export const JWE_ALG = 'RSA-OAEP-256';
export const JWE_ENC = 'A256GCM';

interface StoredKey {
  kid: string;
  created: number;
  status: 'active' | 'retired';
  public_jwk: JWK;
  /** The private JWK (JSON) sealed under the KEK-derived secrets key, aad `jwe/<kid>`. */
  private_sealed: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The kid of our key the body was encrypted to (application/jose), if it was. */
    jweKid?: string;
  }
}

const ACTIVE = 'jwe_active';

export function createEncryptionKeys(kv: KV, ring: KeyRing) {
  const privateKeys = new Map<string, Promise<CryptoKey | Uint8Array>>();
  let jwksCache: { at: number; body: { keys: JWK[] } } | null = null;

  async function stored(kid: string): Promise<StoredKey | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid)) return null;
    const e = await kv.get(`jwe.${kid}`);
    return e && e.operation === 'PUT' && e.value.length > 0 ? e.json<StoredKey>() : null;
  }

  async function generate(): Promise<StoredKey> {
    const kid = `ek_${randomToken(16)}`;
    const { publicKey, privateKey } = await generateKeyPair(JWE_ALG, { modulusLength: 3072, extractable: true });
    const pub = { ...(await exportJWK(publicKey)), kid, alg: JWE_ALG, use: 'enc' };
    const priv = JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: JWE_ALG });
    const k: StoredKey = { kid, created: Math.floor(Date.now() / 1000), status: 'active', public_jwk: pub, private_sealed: sealString(ring.secretsKey, ring.kid, priv, `jwe/${kid}`) };
    await kv.create(`jwe.${kid}`, JSON.stringify(k));
    return k;
  }

  const keys = {
    /** The active key, made on first use (two gateways racing: the first `jwe_active` wins). */
    async active(): Promise<StoredKey> {
      const e = await kv.get(ACTIVE);
      if (e && e.operation === 'PUT' && e.value.length > 0) {
        const k = await stored(e.string());
        if (k) return k;
      }
      const k = await generate();
      try {
        if (e) await kv.update(ACTIVE, k.kid, e.revision);
        else await kv.create(ACTIVE, k.kid);
        return k;
      } catch {
        await kv.purge(`jwe.${k.kid}`);
        return keys.active();
      }
    },
    /** Every key still accepted, active first: the JWKS merchants encrypt to. Cached 10 s. */
    async jwks(): Promise<{ keys: JWK[] }> {
      if (jwksCache && Date.now() - jwksCache.at < 10_000) return jwksCache.body;
      const active = await keys.active();
      const out: JWK[] = [active.public_jwk];
      for await (const name of await kv.keys('jwe.*')) {
        const k = await stored(name.slice(4));
        if (k && k.kid !== active.kid) out.push(k.public_jwk);
      }
      jwksCache = { at: Date.now(), body: { keys: out } };
      return jwksCache.body;
    },
    /** A new active key; the old one is retired (still decrypts, still listed) until removed. */
    async rotate(): Promise<{ active: string; retired: string }> {
      const old = await keys.active();
      const e = await kv.get(ACTIVE);
      const k = await generate();
      await kv.update(ACTIVE, k.kid, e!.revision);
      await kv.put(`jwe.${old.kid}`, JSON.stringify({ ...old, status: 'retired' }));
      jwksCache = null;
      return { active: k.kid, retired: old.kid };
    },
    /** A retired key stops decrypting (its private half is gone for good). */
    async remove(kid: string): Promise<boolean> {
      const k = await stored(kid);
      if (!k || k.status === 'active') return false;
      await kv.purge(`jwe.${kid}`);
      privateKeys.delete(kid);
      jwksCache = null;
      return true;
    },
    /** Opens a compact JWE made to one of our keys; returns the plaintext and the key id. */
    async decrypt(compact: string): Promise<{ plaintext: string; kid: string; cty: string | undefined }> {
      let header;
      try {
        header = decodeProtectedHeader(compact);
      } catch {
        throw badJwe('The body is not a compact JWE.');
      }
      if (header.alg !== JWE_ALG || header.enc !== JWE_ENC) throw badJwe(`Encrypted requests must use alg ${JWE_ALG} and enc ${JWE_ENC}.`);
      const kid = typeof header.kid === 'string' ? header.kid : (await keys.active()).kid;
      let key = privateKeys.get(kid);
      if (!key) {
        const k = await stored(kid);
        if (!k) throw badJwe(`Unknown encryption key '${kid}': fetch the current keys from /v1/encryption_keys.`);
        key = importJWK(JSON.parse(openString(ring.secretsKey, k.private_sealed, `jwe/${kid}`)) as JWK, JWE_ALG) as Promise<CryptoKey | Uint8Array>;
        privateKeys.set(kid, key);
      }
      try {
        const { plaintext } = await compactDecrypt(compact, await key, { keyManagementAlgorithms: [JWE_ALG], contentEncryptionAlgorithms: [JWE_ENC] });
        return { plaintext: new TextDecoder().decode(plaintext), kid, cty: typeof header.cty === 'string' ? header.cty : undefined };
      } catch {
        throw badJwe('The encrypted body could not be decrypted.');
      }
    },
  };
  return keys;
}
export type EncryptionKeys = ReturnType<typeof createEncryptionKeys>;

const badJwe = (message: string) => new ApiError(400, 'invalid_request_error', 'encrypted_body_invalid', message);

/** Parses the decrypted plaintext the way the plain body would have been parsed. */
export function parsePlaintext(plaintext: string, cty: string | undefined): unknown {
  if (cty && /x-www-form-urlencoded/i.test(cty)) return qs.parse(plaintext, { depth: 4, arrayLimit: 100, parameterLimit: 500 });
  try {
    return JSON.parse(plaintext) as unknown;
  } catch {
    throw badJwe('The decrypted body is not JSON (set cty to application/x-www-form-urlencoded for a form body).');
  }
}

/** The application/jose content type parser for app.ts. */
export function jweParser(enc: () => EncryptionKeys | undefined) {
  return (req: import('fastify').FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    const keys = enc();
    if (!keys) return done(new ApiError(415, 'invalid_request_error', undefined, 'Encrypted requests are not enabled on this gateway.'));
    keys
      .decrypt(String(body).trim())
      .then(({ plaintext, kid, cty }) => {
        req.jweKid = kid;
        done(null, parsePlaintext(plaintext, cty));
      })
      .catch((err: Error) => done(err));
  };
}

/** The card number a body carries, if any (a PaymentMethod's card, or inline payment_method_data). */
export function carriesCardNumber(body: unknown): boolean {
  const b = body as { card?: { number?: unknown }; payment_method_data?: { card?: { number?: unknown } } } | null;
  return typeof b?.card?.number === 'string' || typeof b?.payment_method_data?.card?.number === 'string';
}

export const plainCardRefused = () =>
  new ApiError(
    403,
    'invalid_request_error',
    'unencrypted_card_data',
    'Sending card numbers to the API unencrypted is not allowed for live mode on this account. Encrypt the request body as a JWE to a key from /v1/encryption_keys (Content-Type: application/jose), tokenize in the browser with your publishable key, or have your account flagged as PCI-validated.',
    'card[number]',
  );
