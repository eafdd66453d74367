// Messages of the webhook pipeline, in the PAY_WEBHOOKS stream. Recorded and delivered are
// separate facts (hyperswitch #3408): a task says a delivery is owed, a receipt says what one try did.

/** pay.webhook.deliver.<merchant_id>: one per (Stripe event, endpoint). Nats-Msg-Id = delivery id. */
export interface DeliveryTask {
  v: 1;
  /** whd_…, derived from event id + endpoint id, so fan-out redelivery owes nothing twice. */
  id: string;
  merchant_id: string;
  endpoint_id: string;
  url: string;
  event_id: string;
  event_type: string;
  /** The Stripe event object, as it will be POSTed (the body is signed as serialized here). */
  payload: string;
  /** PAY_EVENTS sequence of the commit that caused it. */
  commit_seq: number;
  created: number;
}

/** pay.webhook.receipt.<merchant_id>: the outcome of one try. */
export interface DeliveryReceipt {
  v: 1;
  delivery_id: string;
  merchant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  url: string;
  /** 1-based try number. */
  attempt: number;
  outcome: 'delivered' | 'failed';
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  /** Unix seconds. */
  at: number;
  /** Unix seconds of the next try; null when delivered or out of tries. */
  next_retry_at: number | null;
}

/** pay.webhook.dlq.<merchant_id>: a delivery that ran out of tries, with its last error. */
export interface DeadLetter {
  v: 1;
  delivery_id: string;
  merchant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  url: string;
  attempts: number;
  last_error: string | null;
  at: number;
}
