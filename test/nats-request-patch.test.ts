// nats/request-patch.ts: nats-core's request objects without an Error per request, and requests
// still behave: answered, timed out, no responders, and requestMany (the command protocol's).
import t from 'tap';
import { createRequire } from 'node:module';
import path from 'node:path';
import { connectNats } from '../nats/mod.ts';
import { applyRequestPatches } from '../nats/request-patch.ts';
import { withNats } from './helpers/nats.ts';

const require = createRequire(import.meta.url);
const internal = require('@nats-io/nats-core/internal') as { RequestOne: { prototype: { cancel(err?: Error): void } }; RequestError: new () => Error };

t.test('both patches apply to the nats-core in use (a nats-core upgrade that changed the code fails here: review nats/request-patch.ts)', async (t) => {
  t.strictSame(applyRequestPatches(), { requestOneCancel: true, requestManyTraces: true });
  // A RequestMany as the connection makes one: no async-trace error built, the upstream methods.
  const dir = path.dirname(require.resolve('@nats-io/nats-core/internal'));
  const mod = require(path.join(dir, 'request.js')) as Record<string, new (...a: unknown[]) => Record<string, unknown>>;
  let cancelled = 0;
  let ended = 0;
  const r = new mod.RequestMany!({ cancel: () => cancelled++ }, 'x', { callback: (_e: unknown, m: unknown) => m === null && ended++, maxWait: 10_000 });
  t.equal(r.ctx, undefined, 'no RequestError made up front');
  t.ok(r instanceof mod.BaseRequest!);
  t.equal(typeof r.token, 'string');
  (r.cancel as () => void)();
  await new Promise((res) => setImmediate(res));
  t.equal(cancelled, 1, "upstream cancel: leaves the mux");
  t.equal(ended, 1, 'and ends the callback with null');
});

t.test('requests answer, time out and find no responders as before; no RequestError per request', async (t) => {
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'request-patch-test');
  t.teardown(() => nc.close());
  nc.subscribe('echo', {
    callback: (_err, m) => {
      m.respond(m.data);
    },
  });
  nc.subscribe('silent', { callback: () => {} });
  nc.subscribe('many', {
    callback: (_err, m) => {
      m.respond(new TextEncoder().encode('a'));
      m.respond(new TextEncoder().encode('b'));
    },
  });
  await nc.flush();

  // The prototype patched is the one the connection's requests use.
  const proto = internal.RequestOne.prototype;
  const patched = proto.cancel;
  let cancels = 0;
  let rejectedWith: unknown[] = [];
  proto.cancel = function (this: { deferred: { reject(e: unknown): void } }, err?: Error) {
    cancels++;
    const d = this.deferred;
    const reject = d.reject;
    d.reject = (e: unknown) => {
      rejectedWith.push(e);
      reject(e);
    };
    return patched.call(this, err);
  };
  t.teardown(() => {
    proto.cancel = patched;
  });

  const m = await nc.request('echo', new TextEncoder().encode('hi'), { timeout: 2000 });
  t.equal(new TextDecoder().decode(m.data), 'hi', 'answered');
  const m2 = await nc.request('echo', new TextEncoder().encode('again'), { timeout: 2000 });
  t.equal(new TextDecoder().decode(m2.data), 'again');
  t.equal(cancels, 2, 'every request ends through the patched cancel');
  t.equal(rejectedWith.length, 2);
  t.equal(rejectedWith[0], rejectedWith[1], 'one preallocated error, not one per request');
  t.ok(rejectedWith[0] instanceof internal.RequestError);

  rejectedWith = [];
  const started = Date.now();
  await t.rejects(nc.request('silent', new Uint8Array(0), { timeout: 200 }), { name: 'TimeoutError' }, 'a request nobody answers times out');
  t.ok(Date.now() - started >= 150, 'at its timeout');
  await t.rejects(nc.request('nobody.here', new Uint8Array(0), { timeout: 2000 }), /no responders/i, 'no responders still rejects');

  const got: string[] = [];
  const it = await nc.requestMany('many', new Uint8Array(0), { strategy: 'count', maxMessages: 2, maxWait: 2000 });
  for await (const r of it) got.push(new TextDecoder().decode(r.data));
  t.strictSame(got, ['a', 'b'], 'requestMany gets every reply');
  const none: string[] = [];
  const it2 = await nc.requestMany('silent', new Uint8Array(0), { strategy: 'timer', maxWait: 200 });
  for await (const r of it2) none.push(new TextDecoder().decode(r.data));
  t.strictSame(none, [], 'requestMany ends at maxWait');
});

t.test('nats/encode-patch.ts: the patches apply to the nats-core in use and give the same bytes; publishes, acks and headers through a server', async (t) => {
  const { applyEncodePatches } = await import('../nats/encode-patch.ts');
  t.strictSame(applyEncodePatches(), { encode: true, headersEncode: true }, 'a nats upgrade that changed the code fails here: review nats/encode-patch.ts');
  const dir = path.dirname(require.resolve('@nats-io/nats-core/internal'));
  const encoders = require(path.join(dir, 'encoders.js')) as { encode: (...a: string[]) => Uint8Array; Empty: Uint8Array };
  const te = new TextEncoder();
  for (const s of ['HPUB a.b _INBOX.x 12 34\r\n', '', 'é ü 漢字 \u{1F600}', 'lone \uD800 surrogate']) {
    t.strictSame(Buffer.from(encoders.encode(s)), Buffer.from(te.encode(s)), `same bytes: ${JSON.stringify(s)}`);
  }
  t.strictSame(Buffer.from(encoders.encode('PING', '\r\n')), Buffer.from('PING\r\n'), 'several strings are concatenated');
  t.equal(encoders.encode(), encoders.Empty, 'none: the shared empty array');
  const { headers } = await import('@nats-io/transport-node');
  const h = headers();
  h.set('Request-Id', 'req_1');
  h.set('Writer', 'w_é');
  t.strictSame(Buffer.from((h as unknown as { encode(): Uint8Array }).encode()), Buffer.from(te.encode(h.toString())), 'header block: same bytes');

  // Through a server: publish acks, errors with their classes and codes, direct gets, headers round trip.
  const { url } = await withNats(t);
  const nc = await connectNats(url, 'encode-patch-test');
  t.teardown(() => nc.close());
  const { jetstream, jetstreamManager, JetStreamApiError } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ENC', subjects: ['enc.>'], allow_direct: true });
  const js = jetstream(nc);
  const hh = headers();
  hh.set('Correlation-Id', 'corr_ü');
  const ack = await js.publish('enc.a', te.encode('{"x":"ü"}'), { msgID: 'm1', headers: hh, expect: { lastSubjectSequence: 0 } });
  t.equal(ack.seq, 1);
  t.equal((await js.publish('enc.a', te.encode('again'), { msgID: 'm1' })).duplicate, true, 'a duplicate ack parsed');
  const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);
  const wrongSeq = await failure(js.publish('enc.a', te.encode('x'), { expect: { lastSubjectSequence: 0 } }));
  t.ok(wrongSeq instanceof JetStreamApiError && wrongSeq.code === 10071, 'wrong last sequence: a JetStreamApiError with its code');
  const missing = await failure(jsm.streams.info('NOPE'));
  t.ok(missing instanceof JetStreamApiError && missing.code === 10059 && missing.name === 'StreamNotFoundError', 'a missing stream: StreamNotFoundError with its code');
  const m = await jsm.direct.getMessage('ENC', { last_by_subj: 'enc.a' });
  t.equal(m?.header.get('Correlation-Id'), 'corr_ü', 'headers read back');
  t.equal(new TextDecoder().decode(m!.data), '{"x":"ü"}');
});
