// The master key and the keys derived from it. The master key is the key-encryption key (KEK):
// read from MASTER_KEY (base64, 32 bytes) or from DATA_DIR/keys/master.key, created on first start
// with mode 0600. This is the one place a KMS or HSM would plug in.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

export interface KeyRing {
  /** Wraps per-card data keys. */
  vaultKek: Buffer;
  /** Encrypts webhook signing secrets at rest. */
  secretsKey: Buffer;
  /** Keyed hash of API keys. */
  apiKeyPepper: Buffer;
  /** Keyed card fingerprints: the same card gives the same fingerprint, and the PAN cannot be brute-forced from it. */
  fingerprintKey: Buffer;
  /** Seals stored idempotent responses and keys their parameter fingerprints (gateway/idempotency.ts). */
  idempotencyKey: Buffer;
  /** Short id of the master key, stored beside every envelope, for rotation. */
  kid: string;
}

function derive(master: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `paynats/${label}`, 32));
}

export function loadMasterKey(dataDir: string, env: Record<string, string | undefined> = process.env): Buffer {
  const fromEnv = env.MASTER_KEY;
  if (fromEnv) {
    const k = Buffer.from(fromEnv, 'base64');
    if (k.length !== 32) throw new Error('MASTER_KEY must be 32 bytes, base64-encoded');
    return k;
  }
  const file = path.join(dataDir, 'keys', 'master.key');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const k = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (k.length !== 32) throw new Error(`${file} must hold 32 bytes, base64-encoded`);
  return k;
}

export function keyRing(master: Buffer): KeyRing {
  return {
    vaultKek: derive(master, 'vault-kek'),
    secretsKey: derive(master, 'secrets'),
    apiKeyPepper: derive(master, 'api-key-pepper'),
    fingerprintKey: derive(master, 'card-fingerprint'),
    idempotencyKey: derive(master, 'idempotency'),
    kid: createHmac('sha256', master).update('kid').digest('hex').slice(0, 8),
  };
}

export function hashApiKey(ring: KeyRing, key: string): string {
  return createHmac('sha256', ring.apiKeyPepper).update(key).digest('hex');
}
