// Small helpers for tests that talk to a stack's EPN simulator and read an aggregate's commits.
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { decodeCommit } from '../../streams/codec.ts';
import type { Commit } from '../../streams/envelope.ts';
import { EVENTS_STREAM } from '../../streams/subjects.ts';
import type { Stack } from './stack.ts';

/** fetch + JSON, throwing with the status and body on a non-2xx. */
export async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** PUT /admin/faults on the stack's EPN simulator (see epn/sim/faults.ts). */
export const putFaults = (stack: Stack, body: unknown) => json(`${stack.epnUrl}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Every commit on one aggregate's subject, in order. */
export async function commitsOf(natsUrl: string, subject: string): Promise<Commit[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const js = jetstream(nc);
    const oc = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [subject] });
    const out: Commit[] = [];
    const iter = await oc.fetch({ max_messages: 1_000, expires: 1_000 });
    for await (const m of iter) {
      out.push(decodeCommit(m.data));
      if (m.info.pending === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}
