// The card vault: the only place a card number exists after the request that carried it. The PAN
// (and the CVC, until the first authorization) are sealed per card under a data key of the card's
// own, wrapped under the vault KEK; the rest of the system sees the payment method id and a
// CardSummary.
//
// Record formats (both read; v2 written):
//   v1: `sealed` = { v: 1, kid, wdek, ct } (envelope.seal: a data key per payload); the CVC entry is
//       the JSON of its own v1 envelope.
//   v2: `sealed` = { v: 2, kid, wdek, ct }: wdek = the card's data key wrapped under the vault KEK,
//       ct = the number under that key (both AAD `<merchant>/<pm>`); the CVC entry is `2.` + the CVC
//       under the same data key (AAD `cvc/<merchant>/<pm>`). A card costs 3 AES-GCM operations to
//       seal and 3 to reveal instead of 4 and 4, and purging the card record (its wrapped key)
//       leaves nothing that opens the CVC either.
import { createHmac } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { checkMetadata, mergeMetadata, type BillingAddress, type BillingDetails, type CardSummary } from '../actors/mod.ts';
import { MAGIC_PAYMENT_METHODS, brandOf, fundingOf } from './card.ts';
import { newDataKey, open, openUnder, sealUnder, unwrapDataKey, type Sealed } from './envelope.ts';
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
  billing_details: BillingDetails;
  metadata: Record<string, string>;
  /** The customer it is attached to (a saved card); absent or null when none. */
  customer?: string | null;
  /**
   * The PaymentIntent whose setup_future_usage saved it to its customer (vault/saved-cards.ts): kept
   * after a detach, so that payment never saves it again.
   */
  saved_by?: string;
  /** { number } sealed (v1 or v2, see above); absent for magic test methods. */
  sealed?: Sealed | SealedCard;
  /** Made by a request with an Idempotency-Key: its keyed parameter fingerprint and request id (never shown). */
  idempotency?: { fingerprint: string; request_id: string | null };
  /** Stripe's allow_redisplay: whether a checkout may show the saved card again (absent: unspecified). */
  allow_redisplay?: AllowRedisplay;
  /** A card token (tok_…, POST /v1/tokens): the PaymentMethod its one use made. */
  used_by?: string;
}

/** A card token's use: the PaymentMethod it became, or why it did not. */
export type TokenUse = Tokenized | { kind: 'used' } | { kind: 'missing' };

export type AllowRedisplay = 'always' | 'limited' | 'unspecified';

/**
 * A tokenization under an Idempotency-Key: the id is derived from the key (gateway/ids.ts), so the
 * card record is the key's record. A repeat finds it: the same parameters get the record made the
 * first time, other parameters are refused.
 */
export interface TokenizeOnce {
  id: string;
  fingerprint: string;
  requestId: string | null;
}

export type Tokenized = { kind: 'created'; pm: PaymentMethodRecord } | { kind: 'replayed'; pm: PaymentMethodRecord; requestId: string | null } | { kind: 'mismatch' };

/** v2: the card's data key wrapped under the vault KEK, and the number under that key (envelope.sealUnder). */
interface SealedCard {
  v: 2;
  kid: string;
  wdek: string;
  ct: string;
}

/** Prefix of a v2 CVC entry (a v1 entry is a JSON object). */
const CVC_V2 = '2.';

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
  tokenize(
    merchantId: string,
    card: CardInput,
    extra: { billing_details?: PaymentMethodRecord['billing_details']; metadata?: Record<string, string>; allow_redisplay?: AllowRedisplay },
    now: number,
    livemode: boolean,
    once?: TokenizeOnce,
    /** `tok`: a card token (POST /v1/tokens), not a PaymentMethod: only getToken and useToken read it. */
    prefix?: 'pm' | 'tok',
  ): Promise<Tokenized>;
  /** A card token of this merchant and mode (its public part), used or not. */
  getToken(merchantId: string, tokenId: string, livemode: boolean): Promise<PaymentMethodRecord | null>;
  /**
   * A card token's one use: its card becomes a PaymentMethod (sealed afresh under the new id; the
   * number is never outside the vault), with the token's billing details under `extra`'s. A token
   * already used by another PaymentMethod is refused; under an Idempotency-Key (`once`) a repeat gets
   * the PaymentMethod its first use made.
   */
  useToken(
    merchantId: string,
    tokenId: string,
    livemode: boolean,
    extra: { billing_details?: Partial<PaymentMethodRecord['billing_details']>; metadata?: Record<string, string>; allow_redisplay?: AllowRedisplay },
    now: number,
    once?: TokenizeOnce,
  ): Promise<TokenUse>;
  /**
   * The public record, if it belongs to this merchant and mode (magic test methods belong to every
   * merchant's test mode). `fresh`: read from the bucket, not from this process's few-second cache
   * (the record's customer may have changed in another process).
   */
  get(merchantId: string, pmId: string, livemode: boolean, fresh?: boolean): Promise<PaymentMethodRecord | null>;
  /**
   * Sets the customer a card is attached to (null: detached), by compare-and-set on its record, when
   * it is attached to `from` now (or already to `customer`). `savedBy`: the intent saving it
   * (setup_future_usage), written in the same compare-and-set. null when there is no such card.
   */
  setCustomer(merchantId: string, pmId: string, customer: string | null, from: string | null, savedBy?: string): Promise<{ kind: 'set'; pm: PaymentMethodRecord } | { kind: 'conflict'; current: string | null } | null>;
  /**
   * Stripe's PaymentMethod update: billing details, metadata (merged; a key given '' is removed) and
   * the card's expiry, by compare-and-set on its record. null when there is no such card.
   */
  updateDetails(merchantId: string, pmId: string, changes: PaymentMethodChanges): Promise<PaymentMethodRecord | null>;
  /** Opens the card for one authorization. Only the actor runtime calls this. */
  reveal(merchantId: string, pmId: string): Promise<CardSecret>;
  /** PCI: the CVC is not kept after authorization. */
  forgetCvc(merchantId: string, pmId: string): Promise<void>;
  /** Crypto-shredding: the record and its wrapped key are gone. */
  destroy(merchantId: string, pmId: string): Promise<void>;
}

export const ADDRESS_FIELDS = ['city', 'country', 'line1', 'line2', 'postal_code', 'state'] as const;

/** A sent address (fields missing or '' are null); null when no field has a value. */
export function addressOf(sent: Partial<Record<(typeof ADDRESS_FIELDS)[number], string | null>> | null | undefined): BillingAddress | null {
  if (!sent) return null;
  const a = Object.fromEntries(ADDRESS_FIELDS.map((f) => [f, sent[f] || null])) as unknown as BillingAddress;
  return ADDRESS_FIELDS.some((f) => a[f] !== null) ? a : null;
}

/** No billing details at all (what an erasure leaves). */
export const NO_BILLING_DETAILS: BillingDetails = { email: null, name: null, phone: null, address: null };

/** What a PaymentMethod update may change. */
export interface PaymentMethodChanges {
  billing_details?: Partial<PaymentMethodRecord['billing_details']>;
  metadata?: Record<string, string> | '';
  exp_month?: number;
  exp_year?: number;
  allow_redisplay?: AllowRedisplay;
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
      funding: fundingOf(pan),
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
      billing_details: { ...NO_BILLING_DETAILS },
      metadata: {},
    };
  }

  // A confirmation reads its card up to three times within moments (the gateway's check, the
  // worker's summary for the attempt, reveal), usually just after tokenizing it: the stored text
  // (the number still sealed) is kept for RECENT_MS after it is written or read, so at most one KV
  // get serves all three, and none when this process tokenized the card. It is parsed once, on its
  // first use; every caller gets its own copy. A record's card never changes after tokenize; only
  // its customer does (setCustomer, which refreshes the cache here; the API reads that show the
  // customer ask for a fresh read), and it may be destroyed: destroy here drops it at once (and no
  // read that raced the destroy keeps it: `shreds`), a destroy by another process is seen here within RECENT_MS.
  const recent = new Lru<string, { text: string; rec?: PaymentMethodRecord; at: number }>(RECENT_MAX);
  let shreds = 0;
  // The sealed CVC this process just stored, for the one reveal that usually follows within seconds
  // in the same process: taken (deleted) by that reveal, so it is used once without a KV read; a later
  // reveal (a retried attempt) reads the bucket, where forgetCvc is what ends it. Dropped by forgetCvc
  // and destroy here, and after RECENT_MS.
  const recentCvcs = new Lru<string, { sealed: string; at: number }>(RECENT_MAX);

  /** The stored record, parsed; shared with the cache: callers copy (publicRecord) and never change it. */
  async function load(merchantId: string, pmId: string, fresh = false): Promise<PaymentMethodRecord | null> {
    if (!/^[A-Za-z0-9_]{1,64}$/.test(pmId)) return null;
    const k = key(merchantId, pmId);
    const now = Date.now();
    const hit = recent.get(k);
    if (hit && !fresh && now - hit.at < RECENT_MS) return (hit.rec ??= JSON.parse(hit.text) as PaymentMethodRecord);
    if (hit) recent.delete(k);
    const before = shreds;
    const e = await kv.get(k);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
    const text = e.string();
    const rec = JSON.parse(text) as PaymentMethodRecord;
    if (shreds === before) recent.set(k, { text, rec, at: now });
    return rec;
  }


  /**
   * A change to a card record by compare-and-set: `decide` gives the next record, or an answer that
   * keeps it as it is. A concurrent change between the read and the write fails the compare-and-set:
   * read again. null when there is no such card.
   */
  async function change<K>(merchantId: string, pmId: string, decide: (rec: PaymentMethodRecord) => { next: PaymentMethodRecord } | { keep: K }): Promise<PaymentMethodRecord | K | null> {
    if (!/^[A-Za-z0-9_]{1,64}$/.test(pmId)) return null;
    const k = key(merchantId, pmId);
    let lastErr: unknown = null;
    for (let tries = 0; tries < 5; tries++) {
      const e = await kv.get(k);
      if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
      const rec = JSON.parse(e.string()) as PaymentMethodRecord;
      const d = decide(rec);
      if ('keep' in d) return d.keep;
      const text = JSON.stringify(d.next);
      if (text === e.string()) return rec; // nothing changes
      const before = shreds;
      try {
        await kv.update(k, text, e.revision);
      } catch (err) {
        lastErr = err;
        continue;
      }
      recent.delete(k);
      if (shreds === before) recent.set(k, { text, at: Date.now() });
      return d.next;
    }
    throw lastErr instanceof Error ? lastErr : new Error('the card record kept changing');
  }

  const vault: Vault = {
    async tokenize(merchantId, card, extra, now, livemode, once, prefix = 'pm') {
      const id = once ? once.id : `${prefix}_${randomHex(12)}`;
      const k = key(merchantId, id);
      const secret: CardSecret = { number: card.number };
      const aad = `${merchantId}/${id}`;
      const { dek, wdek } = newDataKey(ring.vaultKek, aad);
      let sealedCvc: string | null = null;
      let sealed: SealedCard;
      try {
        sealed = { v: 2, kid: ring.kid, wdek, ct: sealUnder(dek, Buffer.from(JSON.stringify(secret)), aad) };
        if (card.cvc) sealedCvc = CVC_V2 + sealUnder(dek, Buffer.from(card.cvc), `cvc/${aad}`);
      } finally {
        dek.fill(0);
      }
      const rec: PaymentMethodRecord = {
        id,
        merchant_id: merchantId,
        created: now,
        livemode,
        card: summary(card.number, card.exp_month, card.exp_year),
        billing_details: extra.billing_details ?? { ...NO_BILLING_DETAILS },
        metadata: extra.metadata ?? {},
        ...(extra.allow_redisplay && extra.allow_redisplay !== 'unspecified' ? { allow_redisplay: extra.allow_redisplay } : {}),
        sealed,
        ...(once ? { idempotency: { fingerprint: once.fingerprint, request_id: once.requestId } } : {}),
      };
      const text = JSON.stringify(rec);
      const before = shreds;
      try {
        await kv.create(k, text);
      } catch (err) {
        // Under a key: the record exists, so this is a repeat (or a concurrent twin that lost).
        const stored = once ? await load(merchantId, id) : null;
        if (!stored) throw err;
        if (stored.idempotency?.fingerprint !== once!.fingerprint) return { kind: 'mismatch' };
        return { kind: 'replayed', pm: publicRecord(stored), requestId: stored.idempotency.request_id };
      }
      // A crash before this line leaves a card without its CVC: authorized without a CVC check.
      if (sealedCvc) {
        await cvcs.put(k, sealedCvc);
        if (shreds === before) recentCvcs.set(k, { sealed: sealedCvc, at: Date.now() });
      }
      // Kept as stored (the text: parsed on first use, so no caller shares `extra`'s objects).
      if (shreds === before) recent.set(k, { text, at: Date.now() });
      return { kind: 'created', pm: publicRecord(rec) };
    },
    async get(merchantId, pmId, livemode, fresh = false) {
      if (pmId.startsWith('tok_')) return null; // a card token is not a PaymentMethod
      const m = livemode ? null : magic(merchantId, pmId);
      if (m) return m;
      const rec = await load(merchantId, pmId, fresh);
      return rec && (rec.livemode ?? false) === livemode ? publicRecord(rec) : null;
    },
    async getToken(merchantId, tokenId, livemode) {
      if (!tokenId.startsWith('tok_')) return null;
      const rec = await load(merchantId, tokenId, true);
      return rec && (rec.livemode ?? false) === livemode ? publicRecord(rec) : null;
    },
    async useToken(merchantId, tokenId, livemode, extra, now, once) {
      const tok = tokenId.startsWith('tok_') ? await load(merchantId, tokenId, true) : null;
      if (!tok || (tok.livemode ?? false) !== livemode) return { kind: 'missing' };
      // A keyed repeat of the request that used it: the PaymentMethod it made answers again.
      if (tok.used_by && tok.used_by !== once?.id) return { kind: 'used' };
      const secret = await vault.reveal(merchantId, tokenId);
      const card: CardInput = { number: secret.number, exp_month: tok.card.exp_month, exp_year: tok.card.exp_year, ...(secret.cvc ? { cvc: secret.cvc } : {}) };
      const billing = { ...tok.billing_details, ...extra.billing_details };
      const made = await vault.tokenize(merchantId, card, { ...extra, billing_details: billing }, now, livemode, once);
      if (made.kind === 'mismatch') return made;
      // Marked used by compare-and-set: of two uses at once, the one that marks it first keeps its PaymentMethod.
      const mark = await change<'used'>(merchantId, tokenId, (r) => (r.used_by && r.used_by !== made.pm.id ? { keep: 'used' } : { next: { ...r, used_by: made.pm.id } }));
      if (mark === 'used' || mark === null) {
        if (made.kind === 'created') await vault.destroy(merchantId, made.pm.id);
        return { kind: 'used' };
      }
      await vault.forgetCvc(merchantId, tokenId);
      return made;
    },
    async setCustomer(merchantId, pmId, customer, from, savedBy) {
      type Answer = { kind: 'set'; pm: PaymentMethodRecord } | { kind: 'conflict'; current: string | null };
      const r = await change<Answer>(merchantId, pmId, (rec) => {
        const current = rec.customer ?? null;
        if (current === customer && (savedBy === undefined || rec.saved_by === savedBy)) return { keep: { kind: 'set', pm: publicRecord(rec) } };
        if (current !== from && current !== customer) return { keep: { kind: 'conflict', current } };
        return { next: { ...rec, customer, ...(savedBy === undefined ? {} : { saved_by: savedBy }) } };
      });
      return r && ('kind' in r ? r : { kind: 'set', pm: publicRecord(r) });
    },
    async updateDetails(merchantId, pmId, changes) {
      const r = await change<never>(merchantId, pmId, (rec) => {
        const metadata = changes.metadata === undefined ? rec.metadata : mergeMetadata(rec.metadata, changes.metadata);
        if (changes.metadata !== undefined) checkMetadata(metadata);
        return {
          next: {
            ...rec,
            billing_details: { ...rec.billing_details, ...changes.billing_details },
            metadata,
            card: { ...rec.card, ...(changes.exp_month !== undefined ? { exp_month: changes.exp_month } : {}), ...(changes.exp_year !== undefined ? { exp_year: changes.exp_year } : {}) },
            ...(changes.allow_redisplay !== undefined ? { allow_redisplay: changes.allow_redisplay } : {}),
          },
        };
      });
      return r && publicRecord(r);
    },
    async reveal(merchantId, pmId) {
      const pan = MAGIC_PAYMENT_METHODS[pmId];
      if (pan) return { number: pan, cvc: pan.startsWith('37') ? '1234' : '123' };
      const rec = await load(merchantId, pmId);
      if (!rec?.sealed) throw new VaultError('resource_missing', `No such PaymentMethod: '${pmId}'`);
      const aad = `${merchantId}/${pmId}`;
      const k = key(merchantId, pmId);
      const local = recentCvcs.get(k);
      recentCvcs.delete(k);
      let cvcText: string | null;
      if (local && Date.now() - local.at < RECENT_MS) cvcText = local.sealed;
      else {
        const c = await cvcs.get(k);
        cvcText = c && c.operation === 'PUT' && c.value.length > 0 ? c.string() : null;
      }
      // v2: one unwrap of the card's data key opens the number and the CVC.
      const dek = rec.sealed.v === 2 ? unwrapDataKey(ring.vaultKek, rec.sealed.wdek, aad) : null;
      try {
        const number = dek && rec.sealed.v === 2 ? openUnder(dek, rec.sealed.ct, aad) : open(ring.vaultKek, rec.sealed as Sealed, aad);
        const secret = JSON.parse(number.toString('utf8')) as CardSecret;
        if (cvcText !== null) {
          let cvc: Buffer;
          if (!cvcText.startsWith(CVC_V2)) cvc = open(ring.vaultKek, JSON.parse(cvcText) as Sealed, `cvc/${aad}`); // v1: a data key of its own
          else if (dek) cvc = openUnder(dek, cvcText.slice(CVC_V2.length), `cvc/${aad}`);
          else throw new Error('malformed CVC entry: a v2 CVC for a v1 card');
          secret.cvc = cvc.toString('utf8');
        }
        return secret;
      } finally {
        dek?.fill(0);
      }
    },
    async forgetCvc(merchantId, pmId) {
      if (MAGIC_PAYMENT_METHODS[pmId]) return;
      recentCvcs.delete(key(merchantId, pmId));
      await cvcs.purge(key(merchantId, pmId), { ttl: PURGE_MARKER_TTL });
    },
    async destroy(merchantId, pmId) {
      const forget = () => {
        shreds++; // a read in flight now may return the record: it is not kept
        recent.delete(key(merchantId, pmId));
        recentCvcs.delete(key(merchantId, pmId));
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
  return vault;
}

/** What callers see: the record without its sealed part, a copy of its own (the stored one may be cached). */
function publicRecord(rec: PaymentMethodRecord): PaymentMethodRecord {
  const { sealed: _sealed, idempotency: _idempotency, ...pub } = rec;
  return copyJson(pub);
}

/** A deep copy of parsed JSON (plain objects, arrays, primitives): what JSON.parse of the same text gives, without the text. */
function copyJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyJson) as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = copyJson((v as Record<string, unknown>)[k]);
    // JSON.parse makes "__proto__" an own property; an assignment would set the prototype instead.
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out as T;
}
