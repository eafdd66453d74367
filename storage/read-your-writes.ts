// Read-your-writes for list endpoints. Lists read the projection, which trails the commits by a
// batch or two; a merchant that creates an intent and lists at once expects to see it (Stripe's
// lists do). The gateway notes the stream sequence of every commit its commands made, per merchant;
// a list for that merchant first waits, bounded, until the projector's checkpoint (advanced in the
// same transaction as the rows) has reached it. Only this gateway's writes are waited for, and
// never longer than maxWaitMs: a projector that is down or far behind makes lists stale, not stuck.
import type { Kysely } from 'kysely';
import { Lru } from '../runtime/lru.ts';
import { getCheckpoint } from './checkpoints.ts';
import type { Database } from './database.ts';
import { checkpointNames } from './projector.ts';

export interface ReadYourWrites {
  /** A commit for the merchant was appended at `seq` (PAY_EVENTS). */
  wrote(merchantId: string, seq: number): void;
  /** Resolves once the projection holds the merchant's noted commits, or after maxWaitMs. */
  caughtUp(merchantId: string): Promise<void>;
  /** `read` once caught up for the merchant: what a list endpoint calls. */
  after<T>(merchantId: string, read: () => Promise<T>): Promise<T>;
}

export function createReadYourWrites(db: Kysely<Database>, o: { maxWaitMs?: number; pollMs?: number; merchants?: number } = {}): ReadYourWrites {
  const maxWaitMs = o.maxWaitMs ?? 1_000;
  const pollMs = o.pollMs ?? 10;
  const wanted = new Lru<string, number>(o.merchants ?? 10_000);
  let projected = 0; // the highest checkpoint read so far (it never goes backwards)
  const ryw: ReadYourWrites = {
    wrote(merchantId, seq) {
      if (seq > (wanted.get(merchantId) ?? 0)) wanted.set(merchantId, seq);
    },
    async caughtUp(merchantId) {
      const want = wanted.get(merchantId);
      if (want === undefined || want <= projected) return;
      const until = Date.now() + maxWaitMs;
      for (;;) {
        const c = await getCheckpoint(db, checkpointNames.commits);
        if (c && c.last_seq > projected) projected = c.last_seq;
        if (projected >= want) {
          wanted.delete(merchantId);
          return;
        }
        if (Date.now() >= until) return;
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async after(merchantId, read) {
      await ryw.caughtUp(merchantId);
      return read();
    },
  };
  return ryw;
}
