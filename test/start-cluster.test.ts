// `npm start` with NATS_CLUSTER=3: a node of the local JetStream cluster that dies (SIGKILL) is
// started again by the supervisor on its ports from its store, says so, and rejoins; payments go on
// through the outage and after it (R3 streams keep a quorum with one node down).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { eventually, launchStack } from './helpers/launcher.ts';

t.test('NATS_CLUSTER=3: a killed node is started again and rejoins', { timeout: 180_000 }, async (t) => {
  const stack = await launchStack(t, { NATS_CLUSTER: '3', LOG_LEVEL: 'warn' }, { prefix: 'paynats-start-cluster-', startMs: 120_000 });
  const { demo } = stack;
  const nodes = stack.processes().processes.filter((p) => p.name === 'nats-server');
  t.equal(nodes.length, 3, 'three nats-server nodes in processes.json');
  const demoKeys = JSON.parse(readFileSync(`${stack.dataDir}/demo-merchant.json`, 'utf8')) as { secret_key: string };
  const pay = async () => {
    const res = await fetch(`${demo.url}/v1/payment_intents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demoKeys.secret_key}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=2000&currency=usd&confirm=true&payment_method=pm_card_visa',
    });
    return res.status === 200 ? ((await res.json()) as { status: string }).status : `HTTP ${res.status}`;
  };
  t.equal(await pay(), 'succeeded', 'a payment before');

  const victim = nodes[1]!;
  process.kill(victim.pid, 'SIGKILL');
  const again = await eventually(
    `${victim.worker_id} started again`,
    () => stack.processes().processes.find((p) => p.name === 'nats-server' && p.worker_id === victim.worker_id && p.alive && p.pid !== victim.pid),
    60_000,
    200,
  );
  t.ok(again.pid > 0, `${victim.worker_id}: new pid ${again.pid}`);
  t.match(readFileSync(stack.logFile, 'utf8'), new RegExp(`nats-server ${victim.worker_id} exited unexpectedly \\(code null, signal SIGKILL\\); starting it again`), 'the supervisor said why');
  await eventually(`${victim.worker_id} answers`, () => readFileSync(stack.logFile, 'utf8').includes(`nats-server ${victim.worker_id} started again`), 60_000, 200);
  t.notOk(stack.exited(), 'the stack kept running');
  const after = await eventually('a payment after the restart', async () => ((await pay().catch(() => null)) === 'succeeded' ? 'succeeded' : null), 30_000, 500);
  t.equal(after, 'succeeded');
});
