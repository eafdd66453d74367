import type { JetStreamClient } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';

/** A plain JSON append with a msgID (webhook tasks, receipts, dead letters). */
export async function appendCommitless(js: JetStreamClient, subject: string, body: unknown, msgId: string, requestId: string | null): Promise<void> {
  const h = headers();
  if (requestId) h.set('Request-Id', requestId);
  await js.publish(subject, JSON.stringify(body), { msgID: msgId, headers: h, timeout: 5_000 });
}
