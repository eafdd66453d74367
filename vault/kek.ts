// The key-encryption key (KEK) and the keyring root it wraps.
//
// The KEK comes from configuration (MASTER_KEY, or DATA_DIR/keys/master.key): it is the one secret an
// operator provides, and the place a KMS or HSM plugs in (replace loadMasterKey, or unwrap the root
// with the KMS's decrypt call). It encrypts exactly one thing: the keyring root, a 32-byte data key
// from which every working key is derived (vault KEK for card data keys, secrets key for webhook
// secrets and JWE private keys, API-key pepper, card fingerprint key; vault/keys.ts).
//
// The root is kept in KV pay_security as `keyring.root.<kek id>`, sealed (AES-256-GCM) under that
// KEK. Rotating the KEK adds an entry sealed under the new KEK (`rewrapRoot`); processes still
// running on the old KEK keep working, processes restarted with the new one open the new entry; once
// every process runs on the new KEK, `retireKek` deletes the old entry and the old KEK opens nothing.
// The derived keys do not change, so nothing else (cards, API key hashes, secrets) is re-encrypted
// and there is no downtime.
//
// A deployment that predates the root (data exists, no root entry) keeps using its KEK as the root,
// so its existing envelopes and hashes stay valid; a new deployment gets a random root.
import { createHmac, randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { open, seal, type Sealed } from './envelope.ts';
import { keyRing, type KeyRing } from './keys.ts';

const PREFIX = 'keyring.root.';
const AAD = 'paynats/keyring-root';

/** Short public id of a KEK (not secret: an HMAC of a constant under it). */
export const kekIdOf = (kek: Buffer) => createHmac('sha256', kek).update('kid').digest('hex').slice(0, 8);

async function entry(kv: KV, kekId: string): Promise<Sealed | null> {
  const e = await kv.get(PREFIX + kekId);
  return e && e.operation === 'PUT' && e.value.length > 0 ? e.json<Sealed>() : null;
}

export async function kekIds(kv: KV): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await kv.keys(`${PREFIX}*`)) out.push(k.slice(PREFIX.length));
  return out.sort();
}

export class KekError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KekError';
  }
}

/** The root under this KEK; made (random, or the KEK itself for a deployment with data) on first start. */
export async function loadRoot(kv: KV, kek: Buffer, hasData: () => Promise<boolean>): Promise<Buffer> {
  const id = kekIdOf(kek);
  for (let i = 0; i < 3; i++) {
    const s = await entry(kv, id);
    if (s) return open(kek, s, AAD);
    const known = await kekIds(kv);
    // Made by another process between the two reads: go round and open it.
    if (known.includes(id)) continue;
    if (known.length > 0) {
      throw new KekError(`MASTER_KEY (kek ${id}) does not open the keyring: this deployment's KEKs are ${known.join(', ')}. Configure one of them, or rewrap the root for this key first (npm run ops -- kek rotate).`);
    }
    const root = (await hasData()) ? Buffer.from(kek) : randomBytes(32);
    try {
      await kv.create(PREFIX + id, JSON.stringify(seal(kek, id, root, AAD)));
      return root;
    } catch {
      // Another process made it first: read theirs.
    }
  }
  throw new KekError('could not load or create the keyring root');
}

export async function loadKeyRingFromKv(kv: KV, kek: Buffer, hasData: () => Promise<boolean>): Promise<KeyRing> {
  return keyRing(await loadRoot(kv, kek, hasData));
}

/** Seals the root under `next` too. Both KEKs open it until the old one is retired. */
export async function rewrapRoot(kv: KV, current: Buffer, next: Buffer): Promise<{ from: string; to: string }> {
  const from = kekIdOf(current);
  const to = kekIdOf(next);
  const s = await entry(kv, from);
  if (!s) throw new KekError(`the current KEK (${from}) has no keyring entry: ${(await kekIds(kv)).join(', ') || 'none'}`);
  const root = open(current, s, AAD);
  try {
    await kv.put(PREFIX + to, JSON.stringify(seal(next, to, root, AAD)));
  } finally {
    root.fill(0);
  }
  return { from, to };
}

/** Deletes a KEK's entry (the last one cannot go: nothing would open the root). */
export async function retireKek(kv: KV, kekId: string): Promise<void> {
  const ids = await kekIds(kv);
  if (!ids.includes(kekId)) throw new KekError(`no keyring entry for kek ${kekId} (known: ${ids.join(', ') || 'none'})`);
  if (ids.length === 1) throw new KekError(`kek ${kekId} is the only one that opens the keyring; rotate to a new KEK first`);
  await kv.purge(PREFIX + kekId);
}
