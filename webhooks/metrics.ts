// Webhook metrics (served by GET /metrics wherever the registry is exposed).
import { counter, gauge, histogram } from '../metrics/registry.ts';

/** Every try, by how it ended: delivered, failed (will be retried), dead (out of tries or endpoint disabled). */
export const deliveries = counter('paynats_webhook_deliveries_total', 'Webhook delivery tries by outcome (delivered, failed = retried later, dead = dead-lettered)', ['outcome']);

/** Failed tries by cause: http_4xx, http_5xx, redirect, timeout, network, blocked (live address check). */
export const failures = counter('paynats_webhook_failures_total', 'Failed webhook tries by cause', ['reason']);

/** Tries scheduled again with backoff. */
export const retries = counter('paynats_webhook_retries_total', 'Webhook tries scheduled again after a backoff delay');

/** Endpoints we disabled for failing everything for WEBHOOK_DISABLE_AFTER_MS. */
export const endpointsDisabled = counter('paynats_webhook_endpoints_disabled_total', 'Webhook endpoints disabled automatically for failing');

/** From the task's append (fan-out) to the 2xx: queueing plus every retry. */
export const lag = histogram(
  'paynats_webhook_delivery_lag_seconds',
  'Time from a delivery task being queued to its successful delivery (queueing and retries included)',
  [],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 86400, 3 * 86400],
);

/** One POST, start to answer (or timeout). */
export const requestSeconds = histogram('paynats_webhook_request_duration_seconds', 'Duration of one webhook POST', ['outcome']);

let dlqDepthSource: (() => Promise<number>) | null = null;

/** Dead letters waiting in pay.webhook.dlq.> (replayed ones are removed from it). */
export const dlqDepth = gauge('paynats_webhook_dlq_depth', 'Dead letters in pay.webhook.dlq.> not yet replayed', [], async function () {
  if (!dlqDepthSource) return;
  try {
    this.set(await dlqDepthSource());
  } catch {
    // NATS unreachable: keep the last value
  }
});

export function setDlqDepthSource(f: () => Promise<number>): void {
  dlqDepthSource = f;
}

export function failureReason(status: number | null, error: string | null): string {
  if (status !== null) return status >= 300 && status < 400 ? 'redirect' : status >= 500 ? 'http_5xx' : 'http_4xx';
  if (error?.startsWith('timed out')) return 'timeout';
  if (error?.startsWith('blocked')) return 'blocked';
  return 'network';
}
