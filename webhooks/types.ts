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
  /** The event's mode: live deliveries are held to the live URL rules (webhooks/safety.ts). Absent in old tasks: read from the payload. */
  livemode?: boolean;
  /** A resend (POST /v1/events/:id/retry) or DLQ replay: the delivery this one repeats. */
  repeat_of?: string;
  /**
   * Tries made before this task was stored: 1 after the fan-out's failed inline first try
   * (webhooks/delivery.ts firstTry); 0 from a commit read again, which may have had one. Either
   * way the worker counts on from the recorded tries instead of calling its first POST try 1.
   */
  tried?: number;
  /** Not to be tried before this time (Unix ms): the inline first try's backoff. */
  not_before?: number;
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
  /** The first 1 KB of the response body (UTF-8, lossy); null when there was no response. */
  response_body?: string | null;
  /** The API request that caused the event (sent as the Request-Id header). */
  request_id?: string | null;
  /** PAY_EVENTS sequence of the commit that caused the delivery (absent in old receipts). */
  commit_seq?: number;
}

/** One try, as the dead letter keeps it. */
export interface TryRecord {
  attempt: number;
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
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
  /** Everything a replay needs: the payload as signed, the mode, the tries (absent in old dead letters). */
  payload?: string;
  livemode?: boolean;
  history?: TryRecord[];
  /** Why it died: out of tries, or its endpoint was disabled. */
  reason?: 'exhausted' | 'endpoint_disabled';
  request_id?: string | null;
  /** PAY_EVENTS sequence of the commit that caused the delivery (absent in old dead letters). */
  commit_seq?: number;
}
