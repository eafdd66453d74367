// chaos/procs.ts: a process that ends on its own after it was ready is recorded as a crash and
// started again (as a process manager with restart-always would); one the harness SIGKILLs is not a crash.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Service } from '../chaos/procs.ts';
import { eventually } from './helpers/stack.ts';

t.test('a crash after ready is recorded and restarted; a harness kill is not a crash', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paynats-procs-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'crashed-once');
  const entry = path.join(dir, 'crashy.mjs');
  // Ready at once; the first run ends itself with code 3 shortly after, later runs stay up.
  await fs.writeFile(
    entry,
    `import fs from 'node:fs';
console.log('READY');
if (!fs.existsSync(${JSON.stringify(marker)})) { fs.writeFileSync(${JSON.stringify(marker)}, ''); setTimeout(() => process.exit(3), 200); }
setInterval(() => {}, 1000);
`,
  );
  const s = new Service({ name: 'crashy', kind: 'test', entry, env: {}, ready: /READY/ }, dir);
  t.teardown(async () => {
    await s.stop();
    s.close();
  });
  const t0 = Date.now();
  await s.start(30_000);
  t.comment(`ready after ${Date.now() - t0} ms`);
  // Started again and ready again (two READY lines in its log).
  const readies = async () => ((await fs.readFile(path.join(dir, 'crashy.log'), 'utf8').catch(() => '')).match(/^READY$/gm) ?? []).length;
  await eventually(async () => s.starts === 2 && s.alive() && (await readies()) === 2, 30_000, 50);
  t.equal(s.crashes.length, 1, 'one crash recorded');
  t.match(s.crashes[0], /crashy \(pid \d+\) ended on its own: code 3/);

  s.kill('SIGKILL');
  await eventually(async () => !s.alive(), 10_000, 20);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(s.crashes.length, 1, 'a SIGKILL from the harness is not a crash');
  t.equal(s.starts, 2, 'and it is not restarted behind the harness');
});
