// A worker that dies holding a command is noticed within STALL_MS (its progress stops), not after the
// whole command timeout; a worker that is slow but alive keeps the caller waiting for its answer.
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { createCommandClient } from '../runtime/client.ts';
import { PROGRESS_BODY, PROGRESS_HEADER, STALL_MS, type CommandRequest } from '../runtime/protocol.ts';
import { partitionOf, subjects } from '../streams/subjects.ts';
import { withNats } from './helpers/nats.ts';

const req = (merchantId: string): CommandRequest => ({
  op: 'intent.cancel',
  merchantId,
  intentId: 'pi_progress',
  reason: null,
  ctx: { commandId: 'cmd_progress', livemode: false, requestId: 'req_progress', correlationId: null, now: 1 },
});

t.test('command progress', async (t) => {
  const { url } = await withNats(t);
  const nc = await connect({ servers: url });
  t.teardown(() => nc.close());
  const client = createCommandClient(nc, { partitions: 4, timeoutMs: 30_000 });
  const seen: (string | undefined)[] = [];

  // acct_dead: one progress beat, then nothing (the process died with the command).
  // acct_slow: progress every second for 5 s, then the reply.
  const subjectOf = (m: string) => subjects.command(partitionOf(m, 4));
  const dead = 'acct_dead';
  let slow = 'acct_slow';
  for (let i = 0; partitionOf(slow, 4) === partitionOf(dead, 4); i++) slow = `acct_slow${i}`;
  nc.subscribe(subjectOf(dead), {
    callback: (_e, m) => {
      seen.push(m.headers?.get(PROGRESS_HEADER));
      m.respond(PROGRESS_BODY);
    },
  });
  nc.subscribe(subjectOf(slow), {
    callback: (_e, m) => {
      const beat = setInterval(() => m.respond(PROGRESS_BODY), 1_000);
      setTimeout(() => {
        clearInterval(beat);
        m.respond(new TextEncoder().encode(JSON.stringify({ ok: true, state: { id: 'pi_progress', status: 'canceled' }, seq: 7 })));
      }, 5_000);
    },
  });
  await nc.flush();

  const started = Date.now();
  const err = await client.send(req(dead)).then(
    () => null,
    (e: { status?: number; message?: string }) => e,
  );
  const took = Date.now() - started;
  t.equal(err?.status, 503, 'a silent worker → 503, retry with the same key');
  t.match(err?.message, /stopped answering/);
  t.ok(took >= STALL_MS && took < STALL_MS + 3_000, `noticed in ${took} ms (stall ${STALL_MS} ms, timeout 30 s)`);
  t.equal(seen[0], '1', 'the caller asked for progress');

  const slowStarted = Date.now();
  const state = (await client.send(req(slow))) as { status: string };
  t.equal(state.status, 'canceled', 'a slow worker that reports progress is waited for');
  t.ok(Date.now() - slowStarted >= 5_000, 'for as long as it works');
});
