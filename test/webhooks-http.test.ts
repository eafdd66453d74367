// The webhook POST's kept-alive connections (webhooks/http.ts AgentPool): consecutive POSTs to one
// endpoint reuse a socket; sockets are never shared across merchants, endpoints, or guarded and
// unguarded (live and test) deliveries; every connection a guarded agent opens is checked by the
// guard; idle sockets close; a kept socket the server had closed is retried once on a new one.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { listenOnLoopback } from './helpers/webhook-receiver.ts';
import { BlockedAddressError, createAgentPool, postJson, type AddressGuard } from '../webhooks/http.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An endpoint counting the TCP connections it accepted and which are still open. */
async function endpoint(t: Test) {
  let requests = 0;
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
  server.on('connection', (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listenOnLoopback(t, server);
  return { port, url: `http://127.0.0.1:${port}/hook`, requests: () => requests, connections: () => connections, open: () => sockets.size };
}

const o = { timeoutMs: 2_000, cap: 1024 };
const post = (url: string, extra: Partial<Parameters<typeof postJson>[3]> = {}) => postJson(url, '{"id":"evt_1"}', { 'content-type': 'application/json' }, { ...o, ...extra });

t.test('consecutive POSTs to one endpoint reuse one connection; merchants and endpoints never share one', async (t) => {
  const ep = await endpoint(t);
  const pool = createAgentPool();
  t.teardown(() => pool.destroy());
  const u = new URL(ep.url);
  for (let i = 0; i < 5; i++) t.equal((await post(ep.url, { agent: pool.agentFor('acct_a/we_1', u) })).status, 200);
  t.equal(ep.requests(), 5);
  t.equal(ep.connections(), 1, 'five POSTs, one connection');
  await post(ep.url, { agent: pool.agentFor('acct_b/we_1', u) });
  t.equal(ep.connections(), 2, 'another merchant: a connection of its own');
  await post(ep.url, { agent: pool.agentFor('acct_a/we_2', u) });
  t.equal(ep.connections(), 3, 'another endpoint: a connection of its own');
  await post(ep.url, { agent: pool.agentFor('acct_a/we_1', u, () => null) });
  t.equal(ep.connections(), 4, 'guarded (live) and unguarded (test) deliveries do not share sockets');
  await post(ep.url, { agent: pool.agentFor('acct_a/we_1', u) });
  t.equal(ep.connections(), 4, 'the first endpoint still reuses its socket');
  // Without an agent: one connection per POST, as before.
  await post(ep.url);
  await post(ep.url);
  t.equal(ep.connections(), 6);
});

t.test('a guarded agent checks every connection it opens; a refused address is never connected to', async (t) => {
  const ep = await endpoint(t);
  const pool = createAgentPool();
  t.teardown(() => pool.destroy());
  const checked: string[] = [];
  let refuse = false;
  const guard: AddressGuard = (host, address) => {
    checked.push(address);
    return refuse ? `The URL's host ${host} resolves to ${address}, a loopback, private or link-local address.` : null;
  };
  // A name (not an IP literal), so the connection does a lookup.
  const url = `http://localhost:${ep.port}/hook`;
  const agent = pool.agentFor('acct_live/we_1', new URL(url), guard);
  for (let i = 0; i < 3; i++) t.equal((await post(url, { agent, guard })).status, 200);
  t.equal(ep.connections(), 1, 'reused');
  t.ok(checked.length >= 1, 'the connection was checked');
  const checksOfOne = checked.length;
  // Two at once: the second needs a new connection, which is checked again.
  await Promise.all([post(url, { agent, guard }), post(url, { agent, guard })]);
  t.equal(ep.connections(), 2);
  t.equal(checked.length, 2 * checksOfOne, 'the new connection was checked');
  // The name now points somewhere refused: no new connection gets through.
  refuse = true;
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
  await sleep(50);
  await t.rejects(post(url, { agent, guard }), BlockedAddressError);
  t.equal(ep.connections(), 2, 'nothing connected');
  // Busy sockets are full: a burst needing new connections is refused for each one.
  const results = await Promise.allSettled([post(url, { agent, guard }), post(url, { agent, guard }), post(url, { agent, guard })]);
  t.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof BlockedAddressError), 'every new connection refused');
  t.equal(ep.connections(), 2);
});

t.test('idle sockets close after idleMs', async (t) => {
  const ep = await endpoint(t);
  const pool = createAgentPool({ idleMs: 150 });
  t.teardown(() => pool.destroy());
  const agent = pool.agentFor('acct_idle/we_1', new URL(ep.url));
  await post(ep.url, { agent });
  await sleep(20);
  t.equal(ep.open(), 1, 'kept for the next POST');
  await sleep(400);
  t.equal(ep.open(), 0, 'closed once idle');
  await post(ep.url, { agent });
  t.equal(ep.connections(), 2, 'the next POST opens a new one');
});

t.test('agents are bounded: the least recently used is dropped and its idle sockets closed', async (t) => {
  const ep = await endpoint(t);
  const pool = createAgentPool({ maxAgents: 2 });
  t.teardown(() => pool.destroy());
  const u = new URL(ep.url);
  for (const m of ['a', 'b', 'c']) await post(ep.url, { agent: pool.agentFor(`acct_${m}/we_1`, u) });
  await sleep(50);
  t.equal(pool.size(), 2);
  t.equal(ep.open(), 2, 'the dropped agent’s socket is closed');
});

t.test('a kept socket the server closed meanwhile: the POST is sent again once, on a new connection', async (t) => {
  // A server that answers the first request of each connection and closes it, unanswered, on the second.
  let connections = 0;
  let answered = 0;
  const server = net.createServer((s) => {
    connections++;
    let seen = 0;
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const head = buf.indexOf('\r\n\r\n');
        if (head < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, head))?.[1] ?? 0);
        if (buf.length < head + 4 + len) return;
        buf = buf.slice(head + 4 + len);
        if (++seen > 1) return void s.destroy();
        answered++;
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const pool = createAgentPool();
  t.teardown(() => pool.destroy());
  const agent = pool.agentFor('acct_stale/we_1', new URL(url));
  t.equal((await post(url, { agent })).status, 200);
  t.equal((await post(url, { agent })).status, 200, 'delivered on a new connection');
  t.equal(connections, 2);
  t.equal(answered, 2);
});

t.test('the idle timeout does not cut a slow answer short (only the POST deadline does)', async (t) => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200).end('late'), 300));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const pool = createAgentPool({ idleMs: 50 });
  t.teardown(() => pool.destroy());
  const agent = pool.agentFor('acct_slow/we_1', new URL(url));
  t.same(await post(url, { agent }), { status: 200, body: 'late' });
  t.same(await post(url, { agent }), { status: 200, body: 'late' }, 'and again on the kept socket');
});

t.test('endpoint secrets are opened once per merchant state, and answer as endpointNow does', async (t) => {
  const { randomBytes } = await import('node:crypto');
  const { keyRing, sealString } = await import('../vault/mod.ts');
  const { cachedEndpointNow, endpointNow } = await import('../webhooks/worker.ts');
  const ring = keyRing(randomBytes(32));
  const now = Math.floor(Date.now() / 1000);
  const M = 'acct_cache';
  const seal = (s: string, aad: string) => sealString(ring.secretsKey, 'k1', s, aad);
  const endpoint = (id: string, status: 'enabled' | 'disabled', previous: { s: string; expires_at: number }[] = []) => ({
    id,
    url: `https://hooks.example.com/${id}`,
    enabled_events: ['*'],
    description: null,
    metadata: {},
    status,
    secret_enc: seal(`whsec_${id}_now`, `whsec/${M}/${id}`),
    livemode: false,
    created: now,
    previous_secrets: previous.map((p) => ({ secret_enc: seal(p.s, `whsec/${M}/${id}`), expires_at: p.expires_at })),
  });
  const m = {
    merchant_id: M,
    name: 'Cache',
    address: '',
    gst_id: '',
    call_back_url: 'https://hooks.example.com/onboarding',
    events: ['*'],
    keys: [],
    webhook_secret_enc: seal('whsec_onboarding', `whsec/${M}`),
    webhook_endpoint_id: 'we_onb',
    allowed_origins: [],
    webhook_endpoints: [
      endpoint('we_rolled', 'enabled', [
        { s: 'whsec_old_live', expires_at: now + 3600 },
        { s: 'whsec_old_expired', expires_at: now - 1 },
      ]),
      endpoint('we_off', 'disabled'),
    ],
    created: now,
    updated: now,
  };
  const cached = cachedEndpointNow(ring);
  for (const id of ['we_onb', 'we_rolled', 'we_off', 'we_gone']) {
    t.same(cached(m, id), endpointNow(m, id, ring), id);
    t.same(cached(m, id), endpointNow(m, id, ring), `${id} again (cached)`);
  }
  t.same(cached(m, 'we_rolled')?.secrets, ['whsec_we_rolled_now', 'whsec_old_live'], 'an expired previous secret is not signed with');
  t.equal(cached(null, 'we_onb'), null);
  // A new state (after a merchant commit) is a new object: its endpoints are opened afresh.
  const m2 = { ...m, webhook_endpoints: [endpoint('we_rolled', 'disabled')] };
  t.same(cached(m2, 'we_rolled'), { enabled: false, secrets: ['whsec_we_rolled_now'] });
});
