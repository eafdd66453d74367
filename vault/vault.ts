// The card vault: the only place a card number exists after the request that carried it. The PAN
// (and the CVC, until the first authorization) are sealed per card under the vault KEK; the rest
// of the system sees the payment method id and a CardSummary.
import { createHmac } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { CardSummary } from '../actors/mod.ts';
import { MAGIC_PAYMENT_METHODS, brandOf } from './card.ts';
import { open, seal, type Sealed } from './envelope.ts';
import type { KeyRing } from './keys.ts';
import { randomHex } from './random.ts';
import { Lru } from '../runtime/lru.ts';
import { PURGE_MARKER_TTL } from '../nats/topology.ts';

export interface PaymentMethodRecord {
  id: string;
  merchant_id: string;
  created: number;
  livemode: boolean;
  card: CardSummary;
  billing_details: { email: string | null; name: string | null; phone: string | null };
  metadata: Record<string, string>;
  /** { number, cvc? } sealed; absent for magic test methods. */
  sealed?: Sealed;
}

export interface CardInput {
  number: string;
  exp_month: number;
  exp_year: number;
  cvc?: string;
}

export interface CardSecret {
  number: string;
  cvc?: string;
}

export class VaultError extends Error {
  constructor(readonly code: 'resource_missing', message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

const MAGIC_EXP_YEAR = 2034;
/** How long a read card record (sealed) serves later reads in this process, and how many are kept. */
const RECENT_MS = 5_000;
const RECENT_MAX = 2_000;

export interface Vault {
  tokenize(merchantId: string, card: CardInput, extra: { billing_details?: PaymentMethodRecord['billing_details']; metadata?: Record<string, string> }, now: number, livemode: boolean): Promise<PaymentMethodRecord>;
  /** The public record, if it belongs to this merchant and mode (magic test methods belong to every merchant's test mode). */
  get(merchantId: string, pmId: string, livemode: boolean): Promise<PaymentMethodRecord | null>;
  /** Opens the card for one authorization. Only the actor runtime calls this. */
  reveal(merchantId: string, pmId: string): Promise<CardSecret>;
  /** PCI: the CVC is not kept after authorization. */
  forgetCvc(merchantId: string, pmId: string): Promise<void>;
  /** Crypto-shredding: the record and its wrapped key are gone. */
  destroy(merchantId: string, pmId: string): Promise<void>;
}

const key = (merchantId: string, pmId: string) => `pm.${merchantId}.${pmId}`;

/**
 * `kv` (file storage) holds each card's sealed number; `cvcs` (memory storage, short TTL) holds its
 * sealed CVC until the network has decided: a CVC never reaches a disk, and dropping it costs no fsync.
 */
export function createVault(kv: KV, ring: KeyRing, cvcs: KV): Vault {
  const fingerprint = (pan: string) => createHmac('sha256', ring.fingerprintKey).update(pan).digest('base64url').slice(0, 16);

  function summary(pan: string, expMonth: number, expYear: number): CardSummary {
    return {
      brand: brandOf(pan),
      last4: pan.slice(-4),
      exp_month: expMonth,
      exp_year: expYear,
      fingerprint: fingerprint(pan),
      funding: 'credit',
      country: 'US',
    };
  }

  function magic(merchantId: string, pmId: string): PaymentMethodRecord | null {
    const pan = MAGIC_PAYMENT_METHODS[pmId];
    if (!pan) return null;
    return {
      id: pmId,
      merchant_id: merchantId,
      created: 0,
      livemode: false,
      card: summary(pan, 12, MAGIC_EXP_YEAR),
      billing_details: { email: null, name: null, phone: null },
      metadata: {},
    };
  }

  // A confirmation reads its card up to three times within moments (the gateway's check, the
  // worker's summary for the attempt, reveal): the stored text (the number still sealed) is kept
  // for RECENT_MS after a read, so one KV get serves all three. A record never changes after
  // tokenize, it is only destroyed: destroy here drops it at once (and no read that raced the
  // destroy keeps it: `shreds`), a destroy by another process is seen here within RECENT_MS.
  const recent = new Lru<string, { text: string; at: number }>(RECENT_MAX);
  let shreds = 0;

  async function load(merchantId: string, pmId: string): Promise<PaymentMethodRecord | null> {
    if (!/^[A-Za-z0-9_]{1,64}$/.test(pmId)) return null;
    const k = key(merchantId, pmId);
    const now = Date.now();
    const hit = recent.get(k);
    if (hit && now - hit.at < RECENT_MS) return JSON.parse(hit.text) as PaymentMethodRecord;
    if (hit) recent.delete(k);
    const before = shreds;
    const e = await kv.get(k);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
    const text = e.string();
    if (shreds === before) recent.set(k, { text, at: now });
    return JSON.parse(text) as PaymentMethodRecord;
  }

  return {
    async tokenize(merchantId, card, extra, now, livemode) {
      const id = `pm_${randomHex(12)}`;
      const secret: CardSecret = { number: card.number };
      const rec: PaymentMethodRecord = {
        id,
        merchant_id: merchantId,
        created: now,
        livemode,
        card: summary(card.number, card.exp_month, card.exp_year),
        billing_details: extra.billing_details ?? { email: null, name: null, phone: null },
        metadata: extra.metadata ?? {},
        sealed: seal(ring.vaultKek, ring.kid, Buffer.from(JSON.stringify(secret)), `${merchantId}/${id}`),
      };
      await kv.create(key(merchantId, id), JSON.stringify(rec));
      if (card.cvc) {
        const sealedCvc = seal(ring.vaultKek, ring.kid, Buffer.from(card.cvc), `cvc/${merchantId}/${id}`);
        await cvcs.put(key(merchantId, id), JSON.stringify(sealedCvc));
      }
      return publicRecord(rec);
    },
    async get(merchantId, pmId, livemode) {
      const m = livemode ? null : magic(merchantId, pmId);
      if (m) return m;
      const rec = await load(merchantId, pmId);
      return rec && (rec.livemode ?? false) === livemode ? publicRecord(rec) : null;
    },
    async reveal(merchantId, pmId) {
      const pan = MAGIC_PAYMENT_METHODS[pmId];
      if (pan) return { number: pan, cvc: pan.startsWith('37') ? '1234' : '123' };
      const rec = await load(merchantId, pmId);
      if (!rec?.sealed) throw new VaultError('resource_missing', `No such PaymentMethod: '${pmId}'`);
      const secret = JSON.parse(open(ring.vaultKek, rec.sealed, `${merchantId}/${pmId}`).toString('utf8')) as CardSecret;
      const c = await cvcs.get(key(merchantId, pmId));
      if (c && c.operation === 'PUT' && c.value.length > 0) {
        secret.cvc = open(ring.vaultKek, c.json<Sealed>(), `cvc/${merchantId}/${pmId}`).toString('utf8');
      }
      return secret;
    },
    async forgetCvc(merchantId, pmId) {
      if (MAGIC_PAYMENT_METHODS[pmId]) return;
      await cvcs.purge(key(merchantId, pmId), { ttl: PURGE_MARKER_TTL });
    },
    async destroy(merchantId, pmId) {
      const forget = () => {
        shreds++; // a read in flight now may return the record: it is not kept
        recent.delete(key(merchantId, pmId));
      };
      forget();
      try {
        await cvcs.purge(key(merchantId, pmId), { ttl: PURGE_MARKER_TTL });
        await kv.purge(key(merchantId, pmId));
      } finally {
        forget();
      }
    },
  };
}

function publicRecord(rec: PaymentMethodRecord): PaymentMethodRecord {
  const { sealed: _sealed, ...pub } = rec;
  return pub;
}
