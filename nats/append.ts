// One decision = one append, fenced by the aggregate's last subject sequence and de-duplicated by
// msgID. Server codes become our errors here and nowhere else.
import { JetStreamApiError, JetStreamApiCodes } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';

export class StreamConflictError extends Error {
  constructor(readonly subject: string, readonly expectedSeq: number, opts?: ErrorOptions) {
    super(`${subject} moved past sequence ${expectedSeq}: another writer appended`, opts);
    this.name = 'StreamConflictError';
  }
}

export interface Append {
  subject: string;
  /** Nats-Msg-Id: a retried append within the duplicate window is stored once. */
  msgId: string;
  /** Last sequence of this subject the decision was based on; 0 when the aggregate is new. */
  expectedSeq: number;
  data: Uint8Array;
  requestId?: string | null;
  correlationId?: string | null;
  /** The worker that decided: with the sequence, an auditor sees that one writer at a time wrote an aggregate. */
  writer?: string;
}

export interface Appended {
  seq: number;
  duplicate: boolean;
}

const RETRIES = 20;

export async function appendCommit(js: JetStreamClient, a: Append): Promise<Appended> {
  const h = headers();
  if (a.requestId) h.set('Request-Id', a.requestId);
  if (a.correlationId) h.set('Correlation-Id', a.correlationId);
  if (a.writer) h.set('Writer', a.writer);
  const opts = { msgID: a.msgId, expect: { lastSubjectSequence: a.expectedSeq }, headers: h, timeout: 5_000 };
  for (let i = 0; ; i++) {
    try {
      const ack = await js.publish(a.subject, a.data, opts);
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
        throw new StreamConflictError(a.subject, a.expectedSeq, { cause: err });
      }
      // No responders or a timeout during a leader election or a broker restart: the same msgID
      // makes the retry safe.
      if (i >= RETRIES || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** i, 1_000)));
    }
  }
}

export function isTransient(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  const msg = String((err as Error)?.message ?? '');
  if (/NoResponders|Timeout|Disconnect|Reconnect|ConnectionClosed|RequestError/i.test(name) || /no responders|timeout|timed out|disconnect|503/i.test(msg)) return true;
  // In a cluster, a publish while the stream elects a new leader finds no responder, which the
  // client reports as JetStreamNotEnabled (caused by NoResponders): look at the causes too.
  const cause = (err as { cause?: unknown })?.cause;
  return cause !== undefined && cause !== err && isTransient(cause);
}
