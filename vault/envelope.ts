// AES-256-GCM envelope encryption from node:crypto (no home-made crypto): each record gets its own
// random data key; the data key is stored wrapped under the KEK. Deleting a record's wrapped key
// crypto-shreds it.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBuffer } from './random.ts';

export interface Sealed {
  v: 1;
  kid: string;
  /** The data key, wrapped under the KEK: iv.tag.ciphertext, base64. */
  wdek: string;
  /** The payload under the data key: iv.tag.ciphertext, base64. */
  ct: string;
}

function gcmSeal(key: Buffer, plain: Buffer, aad: string): string {
  const iv = randomBuffer(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return [iv, c.getAuthTag(), ct].map((b) => b.toString('base64')).join('.');
}

function gcmOpen(key: Buffer, sealed: string, aad: string): Buffer {
  const [iv, tag, ct] = sealed.split('.').map((s) => Buffer.from(s, 'base64'));
  if (!iv || !tag || !ct) throw new Error('malformed envelope');
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

/** `aad` binds the ciphertext to its owner (e.g. the payment method id): it cannot be moved to another record. */
export function seal(kek: Buffer, kid: string, plain: Buffer, aad: string): Sealed {
  const dek = randomBuffer(32);
  const out: Sealed = { v: 1, kid, wdek: gcmSeal(kek, dek, aad), ct: gcmSeal(dek, plain, aad) };
  dek.fill(0);
  return out;
}

export function open(kek: Buffer, s: Sealed, aad: string): Buffer {
  const dek = gcmOpen(kek, s.wdek, aad);
  try {
    return gcmOpen(dek, s.ct, aad);
  } finally {
    dek.fill(0);
  }
}

/** A short secret (e.g. a webhook signing secret) as one string. */
export function sealString(key: Buffer, kid: string, plain: string, aad: string): string {
  return Buffer.from(JSON.stringify(seal(key, kid, Buffer.from(plain, 'utf8'), aad))).toString('base64');
}

export function openString(key: Buffer, sealed: string, aad: string): string {
  return open(key, JSON.parse(Buffer.from(sealed, 'base64').toString('utf8')) as Sealed, aad).toString('utf8');
}
