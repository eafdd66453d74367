// What an operator sees with the real, pinned nats CLI against a live stack: readable JSON with the
// ids they search for (stream names, the intent's commits with their Request-Id, a durable's lag,
// the partition owner). These are the commands docs/runbook.md tells them to run.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ensureNatsCli } from '../scripts/tools.ts';
import { subjects } from '../streams/subjects.ts';
import { startStack, eventually } from './helpers/stack.ts';

const run = promisify(execFile);

t.test('nats stream ls / stream view / stream get / consumer info / kv get show the payment', async (t) => {
  const bin = await ensureNatsCli();
  const stack = await startStack(t);
  const m = await stack.onboard();
  const res = await fetch(`${stack.url}/v1/payment_intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.secret_key}`, 'content-type': 'application/x-www-form-urlencoded', 'x-correlation-id': 'order-9' },
    body: new URLSearchParams({ amount: '1234', currency: 'usd', confirm: 'true', payment_method: 'pm_card_visa' }),
  });
  t.equal(res.status, 200);
  const rid = res.headers.get('request-id')!;
  const pi = ((await res.json()) as { id: string }).id;
  const subject = subjects.intent(m.merchant_id, pi);

  // No user contexts: only this stack's server.
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-natscli-'));
  t.teardown(() => fs.rm(home, { recursive: true, force: true }));
  const nats = async (...args: string[]) => {
    const r = await run(bin, [...args, '--server', stack.nats.url], { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home }, timeout: 30_000, maxBuffer: 16 << 20 });
    return r.stdout;
  };

  // nats stream ls --json: the payment streams by name.
  const ls = JSON.parse(await nats('stream', 'ls', '-a', '--json')) as unknown;
  const names = (Array.isArray(ls) ? ls : []).map((s: unknown) => (typeof s === 'string' ? s : (s as { config: { name: string } }).config.name));
  t.ok(names.includes('PAY_EVENTS') && names.includes('PAY_WEBHOOKS'), `stream ls lists the payment streams (${names.join(', ')})`);
  t.ok(names.includes('KV_pay_owners'), 'and the KV buckets behind them');

  // nats stream view --subject: the intent's commits, readable, with their headers. It pages
  // interactively, so it needs a terminal: run it under one, as an operator does.
  const view = (
    await run('script', ['-qec', [bin, 'stream', 'view', 'PAY_EVENTS', '25', '--subject', subject, '--server', stack.nats.url].join(' '), '/dev/null'], {
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, TERM: 'dumb' },
      timeout: 30_000,
    })
  ).stdout;
  t.match(view, subject, 'the view names the subject');
  t.match(view, `Request-Id: ${rid}`, 'and shows the Request-Id header');
  t.match(view, 'Correlation-Id: order-9');
  t.match(view, 'attempt.succeeded', 'the events are readable');
  // In scripts: nats sub --stream … --all --raw gives one JSON commit per line (jq-able), and ends
  // after --wait without new messages.
  const raw = (await nats('sub', '--stream', 'PAY_EVENTS', `pay.evt.intent.*.${pi}`, '--all', '--raw', '--wait', '2s'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { aggregate_id: string; request_id: string; correlation_id: string; events: { type: string }[]; state: { status: string } });
  t.ok(raw.length >= 3, `--raw gives one JSON commit per line (${raw.length})`);
  t.ok(raw.every((c) => c.aggregate_id === pi && c.request_id === rid && c.correlation_id === 'order-9'));
  t.same(raw.flatMap((c) => c.events.map((e) => e.type)).slice(0, 3), ['intent.created', 'attempt.started', 'attempt.succeeded']);

  // nats stream get --last-for --json: the intent's current state; headers and data as base64.
  const got = JSON.parse(await nats('stream', 'get', 'PAY_EVENTS', '--last-for', subject, '--json')) as { subject: string; seq: number; hdrs?: string; data: string };
  t.equal(got.subject, subject);
  const state = JSON.parse(Buffer.from(got.data, 'base64').toString('utf8')) as { state: { id: string; status: string; amount: number } };
  t.same({ id: state.state.id, status: state.state.status, amount: state.state.amount }, { id: pi, status: 'succeeded', amount: 1234 });
  t.match(Buffer.from(got.hdrs ?? '', 'base64').toString('utf8'), `Request-Id: ${rid}`);

  // nats consumer info --json: the projector's lag drains to 0.
  const info = await eventually(async () => {
    const ci = JSON.parse(await nats('consumer', 'info', 'PAY_EVENTS', 'projector', '--json')) as { name: string; num_pending: number; num_ack_pending: number; delivered: { stream_seq: number } };
    return ci.num_pending === 0 && ci.num_ack_pending === 0 ? ci : null;
  }, 30_000, 500);
  t.equal(info.name, 'projector');
  t.ok(info.delivered.stream_seq >= got.seq, 'the projector has seen the intent');

  // nats kv get: who owns the merchant's partition (the lease value is the worker id).
  const { partitionOf } = await import('../streams/subjects.ts');
  const p = partitionOf(m.merchant_id, stack.config.partitions);
  const owner = (await nats('kv', 'get', 'pay_owners', `partition.${p}`, '--raw')).trim();
  t.equal(owner, stack.config.workerId, `partition ${p} is owned by this stack's worker`);
  const kvls = await nats('kv', 'ls', 'pay_owners');
  t.match(kvls, `partition.${p}`);
  t.match(kvls, `worker.${stack.config.workerId}`);
});
