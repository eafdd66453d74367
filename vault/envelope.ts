// AES-256-GCM envelope encryption from node:crypto (no home-made crypto): each record gets its own
// random data key; the data key is stored wrapped under the KEK. Deleting a record's wrapped key
// crypto-shreds it. seal/open: one payload per data key (v1, JSON with iv.tag.ct parts);
// newDataKey/sealUnder: one data key for a record's several payloads (the card vault, v2).
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
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

/**
 * A data key of its own for one record that seals more than one payload (a card's number and its
 * CVC, kept in different buckets): 32 random bytes, wrapped under the KEK with AES-256-GCM, `aad`
 * binding the wrapped key to its record. Each payload is then one AES-256-GCM under the data key
 * (sealUnder: a random IV per payload, its own `aad`), so a record of n payloads costs n + 1 ciphers
 * instead of 2n, and deleting the wrapped key still crypto-shreds every payload sealed under it.
 * Format (base64url, no separators): iv (12) ‖ tag (16) ‖ ciphertext.
 */
export function newDataKey(kek: Buffer, aad: string): { dek: Buffer; wdek: string } {
  const dek = randomBuffer(32);
  return { dek, wdek: sealUnder(kek, dek, aad) };
}

export function unwrapDataKey(kek: Buffer, wdek: string, aad: string): Buffer {
  const dek = openUnder(kek, wdek, aad);
  if (dek.length !== 32) {
    dek.fill(0);
    throw new Error('malformed data key');
  }
  return dek;
}

const IV = 12;
const TAG = 16;

/** One AES-256-GCM under `key` with a random IV: base64url(iv ‖ tag ‖ ciphertext). */
export function sealUnder(key: Buffer, plain: Buffer, aad: string): string {
  const iv = randomBuffer(IV);
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG });
  c.setAAD(Buffer.from(aad));
  const head = c.update(plain);
  const tail = c.final();
  return Buffer.concat([iv, c.getAuthTag(), head, tail]).toString('base64url');
}

export function openUnder(key: Buffer, sealed: string, aad: string): Buffer {
  const b = Buffer.from(sealed, 'base64url');
  if (b.length < IV + TAG) throw new Error('malformed sealed payload');
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, IV), { authTagLength: TAG });
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(b.subarray(IV, IV + TAG));
  const head = d.update(b.subarray(IV + TAG));
  const tail = d.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

/** A short secret (e.g. a webhook signing secret) as one string. */
export function sealString(key: Buffer, kid: string, plain: string, aad: string): string {
  return Buffer.from(JSON.stringify(seal(key, kid, Buffer.from(plain, 'utf8'), aad))).toString('base64');
}

export function openString(key: Buffer, sealed: string, aad: string): string {
  return open(key, JSON.parse(Buffer.from(sealed, 'base64').toString('utf8')) as Sealed, aad).toString('utf8');
}

/**
 * Seals many short-lived records (a cache, e.g. stored idempotent responses) with one AES-256-GCM
 * each, no per-record data key: the key is HKDF-SHA256(secret, salt, info) with a salt of 16 random
 * bytes drawn once per sealer, so no other sealer ever encrypts under it, and the IV is a counter
 * (unique per key: no random IV, no 2^32 birthday limit). The salt travels in every record, so any
 * process holding the secret opens it. `aad` binds each record to its owner, as with seal().
 * Format (base64url parts): `2.<salt>.<iv>.<tag>.<ciphertext>`.
 */
export function createRecordSealer(secret: Buffer, info: string) {
  const derive = (salt: Buffer) => Buffer.from(hkdfSync('sha256', secret, salt, info, 32));
  const salt = randomBuffer(16);
  const saltText = salt.toString('base64url');
  const key = derive(salt);
  /** Keys of other sealers' salts (one per gateway start): small, and cleared if it ever grows. */
  const opened = new Map<string, Buffer>([[saltText, key]]);
  let n = 0;
  return {
    seal(plain: string, aad: string): string {
      if (++n >= 2 ** 48) throw new Error('record sealer exhausted'); // never reached: 2^48 records from one process
      const iv = Buffer.alloc(12);
      iv.writeUIntBE(n, 6, 6);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(aad));
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return `2.${saltText}.${iv.toString('base64url')}.${c.getAuthTag().toString('base64url')}.${ct.toString('base64url')}`;
    },
    open(sealed: string, aad: string): string {
      const [v, s, iv, tag, ct] = sealed.split('.');
      if (v !== '2' || !s || !iv || !tag || ct === undefined) throw new Error('malformed record');
      let k = opened.get(s);
      if (!k) {
        if (opened.size >= 1024) opened.clear();
        k = derive(Buffer.from(s, 'base64url'));
        opened.set(s, k);
      }
      const d = createDecipheriv('aes-256-gcm', k, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
    },
  };
}
