// vault/random.ts: the pooled CSPRNG behind ids, IVs and data keys.
import t from 'tap';
import { randomBase64url, randomBuffer, randomHex } from '../vault/random.ts';

t.test('sizes and encodings', async (t) => {
  t.match(randomHex(12), /^[0-9a-f]{24}$/);
  t.match(randomHex(8), /^[0-9a-f]{16}$/);
  t.match(randomBase64url(24), /^[A-Za-z0-9_-]{32}$/);
  t.equal(randomBuffer(32).length, 32);
  t.equal(randomBuffer(1000).length, 1000, 'larger than the pool hands out');
  t.match(randomHex(300), /^[0-9a-f]{600}$/);
});

t.test('never the same bytes twice, across many pool refills', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) seen.add(randomHex(12));
  t.equal(seen.size, 20_000);
  const bufs = Array.from({ length: 2_000 }, () => randomBuffer(32));
  t.equal(new Set(bufs.map((b) => b.toString('hex'))).size, 2_000);
});

t.test('a buffer handed out is its own: later draws and refills do not change it, zeroing it changes nothing else', async (t) => {
  const key = randomBuffer(32);
  const copy = Buffer.from(key);
  for (let i = 0; i < 1_000; i++) randomBuffer(32); // several refills of the 4 KiB pool
  t.ok(key.equals(copy), 'unchanged');
  t.not(key.buffer, randomBuffer(32).buffer, 'not a view of a shared pool');
  const next = randomBuffer(16);
  const nextCopy = Buffer.from(next);
  key.fill(0);
  t.ok(next.equals(nextCopy));
});

t.test('bytes look uniform (a gross bias check)', async (t) => {
  const counts = new Array<number>(256).fill(0);
  const N = 256 * 400;
  for (let i = 0; i < N / 16; i++) for (const b of randomBuffer(16)) counts[b]!++;
  t.ok(Math.min(...counts) > 250 && Math.max(...counts) < 550, `every byte value near 400 times (${Math.min(...counts)}..${Math.max(...counts)})`);
});
