// coupons: one row per coupon, from the aggregate's snapshot; and a coupon's redemptions, counted from
// the Checkout Sessions that completed with it (the intents that pay them).
import { sql, type Generated, type Insertable, type Kysely, type SqlBool } from 'kysely';
import type { Coupon, PromotionCode } from '../actors/mod.ts';
import { chunks, fromUnix, json, type Int8, type Json, type Timestamp } from './columns.ts';
import type { Database } from './database.ts';
import { keysetPage, type Page, type PageOptions } from './pages.ts';
import { checkoutStatusIs } from './payment-intents.ts';

export interface CouponsTable {
  merchant_id: string;
  id: string;
  livemode: boolean;
  deleted: Generated<boolean>;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<Coupon>;
}

export function couponRowFromState(s: Coupon, seq: number): Insertable<CouponsTable> {
  return { merchant_id: s.merchant_id, id: s.id, livemode: s.livemode, deleted: s.deleted === true, created_at: fromUnix(s.created), last_seq: seq, state: json(s) };
}

/** Inserts or replaces coupons; a row only changes when the incoming sequence is newer than its own. */
export async function upsertCoupons(db: Kysely<Database>, rows: readonly Insertable<CouponsTable>[]): Promise<void> {
  for (const part of chunks(rows, 7)) {
    await db
      .insertInto('coupons')
      .values(part)
      .onConflict((oc) =>
        oc
          .columns(['merchant_id', 'id'])
          .doUpdateSet((eb) => ({ deleted: eb.ref('excluded.deleted'), last_seq: eb.ref('excluded.last_seq'), state: eb.ref('excluded.state') }))
          .whereRef('coupons.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListCouponsOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
}

/** A merchant's coupons of one mode, newest first; deleted ones are not listed. */
export async function listCoupons(db: Kysely<Database>, o: ListCouponsOptions): Promise<Page<Coupon>> {
  const q = db.selectFrom('coupons').select(['id', 'state']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode).where('deleted', '=', false);
  const page = await keysetPage('listCoupons', q, o, { keys: ['created_at', 'id'], cursorTable: 'coupons', cursorScope: { merchant_id: o.merchantId, livemode: o.livemode } });
  return { data: page.data.map((r) => r.state), hasMore: page.hasMore };
}

/**
 * How many Checkout Sessions of the merchant completed with each of these coupons (Stripe's
 * times_redeemed), or promotion codes: one grouped count for a whole page. Ids with none are absent.
 */
async function redemptions(db: Kysely<Database>, merchantId: string, field: 'coupon' | 'promotion_code', ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const key = sql<string>`(state #>> ${sql.lit(`{checkout,discount,${field}}`)})`;
  const rows = await db
    .selectFrom('payment_intents')
    .select([key.as('id'), (eb) => eb.fn.countAll<string>().as('n')])
    .where('merchant_id', '=', merchantId)
    .where(key, 'in', [...ids])
    .where(checkoutStatusIs('complete'))
    .groupBy(key)
    .execute();
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

export const couponRedemptions = (db: Kysely<Database>, merchantId: string, couponIds: readonly string[]) => redemptions(db, merchantId, 'coupon', couponIds);

export interface PromotionCodesTable {
  id: string;
  merchant_id: string;
  coupon_id: string;
  livemode: boolean;
  active: boolean;
  code: string;
  created_at: Timestamp;
  last_seq: Int8;
  state: Json<PromotionCode>;
}

export function promotionCodeRowsFromState(s: Coupon, seq: number): Insertable<PromotionCodesTable>[] {
  return (s.promotion_codes ?? []).map((p) => ({
    id: p.id,
    merchant_id: s.merchant_id,
    coupon_id: s.id,
    livemode: s.livemode,
    active: p.active,
    code: p.code,
    created_at: fromUnix(p.created),
    last_seq: seq,
    state: json(p),
  }));
}

export async function upsertPromotionCodes(db: Kysely<Database>, rows: readonly Insertable<PromotionCodesTable>[]): Promise<void> {
  for (const part of chunks(rows, 9)) {
    await db
      .insertInto('promotion_codes')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({ active: eb.ref('excluded.active'), last_seq: eb.ref('excluded.last_seq'), state: eb.ref('excluded.state') }))
          .whereRef('promotion_codes.last_seq', '<', 'excluded.last_seq'),
      )
      .execute();
  }
}

export interface ListPromotionCodesOptions extends PageOptions {
  merchantId: string;
  livemode: boolean;
  active?: boolean;
  code?: string;
  coupon?: string;
}

/** A merchant's promotion codes of one mode, newest first, each with its coupon's id; `code` matches case-insensitively. */
export async function listPromotionCodes(db: Kysely<Database>, o: ListPromotionCodesOptions): Promise<Page<{ promotionCode: PromotionCode; coupon: string }>> {
  let q = db.selectFrom('promotion_codes').select(['id', 'state', 'coupon_id']).where('merchant_id', '=', o.merchantId).where('livemode', '=', o.livemode);
  if (o.active !== undefined) q = q.where('active', '=', o.active);
  if (o.code !== undefined) q = q.where(sql<SqlBool>`upper(code) = upper(${o.code})`);
  if (o.coupon !== undefined) q = q.where('coupon_id', '=', o.coupon);
  const page = await keysetPage('listPromotionCodes', q, o, { keys: ['created_at', 'id'], cursorTable: 'promotion_codes', cursorScope: { merchant_id: o.merchantId, livemode: o.livemode } });
  return { data: page.data.map((r) => ({ promotionCode: r.state, coupon: r.coupon_id })), hasMore: page.hasMore };
}

/** How many Checkout Sessions of the merchant completed with this promotion code. */
export const promotionCodeRedemptions = (db: Kysely<Database>, merchantId: string, promotionCodeIds: readonly string[]) => redemptions(db, merchantId, 'promotion_code', promotionCodeIds);
