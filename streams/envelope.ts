// A commit is what one decision appends: one message holding the decision's events and the
// aggregate's state after them. One message per decision makes the decision atomic on any server
// version; the post-evolve snapshot makes loading an aggregate one last-by-subject read, and lets
// consumers (projector, webhooks) build their payloads from the state the events produced, never
// from a stale read.
import type { IntentEvent, IntentState, MerchantEvent, MerchantState } from '../actors/mod.ts';
import type { CustomerEvent, CustomerState, SetupIntentEvent, SetupIntentState, ProductEvent, ProductState, PaymentLinkEvent, PaymentLinkState, CouponEvent, CouponState } from '../actors/mod.ts';

export type Stamped<E> = E & { id: string; v: number };

interface CommitBase {
  v: 1;
  /** Commit id; also the JetStream Nats-Msg-Id, so a retried append is de-duplicated. */
  id: string;
  merchant_id: string;
  aggregate_id: string;
  /** The command that caused it. */
  command: string;
  request_id: string | null;
  correlation_id: string | null;
  /** Unix seconds. */
  at: number;
  /**
   * The keyed commands (requests with an Idempotency-Key) this aggregate applied in the last 24 h,
   * carried forward commit to commit: command id → [the subject's last sequence before that
   * command's commit, the request's fingerprint, unix seconds]. A repeat of one is answered from
   * the commit it names (runtime/aggregates.ts): the aggregate's own history is its idempotency record.
   */
  applied?: Applied;
}

export type Applied = Record<string, [prevSeq: number, fingerprint: string, at: number]>;

export interface IntentCommit extends CommitBase {
  aggregate: 'intent';
  events: Stamped<IntentEvent>[];
  state: NonNullable<IntentState>;
}

export interface MerchantCommit extends CommitBase {
  aggregate: 'merchant';
  events: Stamped<MerchantEvent>[];
  state: NonNullable<MerchantState>;
}

export interface CustomerCommit extends CommitBase {
  aggregate: 'customer';
  events: Stamped<CustomerEvent>[];
  state: NonNullable<CustomerState>;
}

export interface SetupIntentCommit extends CommitBase {
  aggregate: 'setup_intent';
  events: Stamped<SetupIntentEvent>[];
  state: NonNullable<SetupIntentState>;
}

export interface ProductCommit extends CommitBase {
  aggregate: 'product';
  events: Stamped<ProductEvent>[];
  state: NonNullable<ProductState>;
}

export interface PaymentLinkCommit extends CommitBase {
  aggregate: 'payment_link';
  events: Stamped<PaymentLinkEvent>[];
  state: NonNullable<PaymentLinkState>;
}

export interface CouponCommit extends CommitBase {
  aggregate: 'coupon';
  events: Stamped<CouponEvent>[];
  state: NonNullable<CouponState>;
}

export type Commit = IntentCommit | MerchantCommit | CustomerCommit | SetupIntentCommit | ProductCommit | PaymentLinkCommit | CouponCommit;

/** A commit as read back from the stream. */
export interface StoredCommit<C extends Commit = Commit> {
  commit: C;
  seq: number;
  subject: string;
  /** Stream time, ms since epoch. */
  time: number;
}

export type AnyEvent = Stamped<IntentEvent> | Stamped<MerchantEvent> | Stamped<CustomerEvent> | Stamped<SetupIntentEvent> | Stamped<ProductEvent> | Stamped<PaymentLinkEvent> | Stamped<CouponEvent>;
