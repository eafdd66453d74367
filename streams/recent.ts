// Commits this process has just appended, by stream sequence. The consumers in the same process (the
// projector, the webhook fan-out) take the object the actor built instead of parsing and validating
// its bytes again: in one node that is every commit read twice, the largest decode cost of a payment.
//
// A message matches only with the same sequence, subject and size. Anything else (another process's
// append, a commit older than the last RECENT_COMMITS_MAX, a restart, a stream made again) is decoded
// as before, so a miss costs what every read cost before this. A commit is shared: readers treat it as
// read-only. Under tap (TAP=1) each one is deep-frozen when remembered, so a reader that writes into
// one, or a decider that changes a state in place, fails its tests.
import type { Commit } from './envelope.ts';
import { decodeCommit } from './codec.ts';
import { counter } from '../metrics/registry.ts';

/** Enough for the projector's lag at full load (a few hundred commits) with room to spare. */
export const RECENT_COMMITS_MAX = 2_048;

interface Entry {
  subject: string;
  size: number;
  commit: Commit;
}

const checkShared = process.env.TAP === '1';

/** This process's reads, summed over its readers; a scrape reads them (no metric work per commit). */
const reads = { appended: 0, decoded: 0 };
counter(
  'paynats_commit_reads_total',
  "Commits read by this process's projector and webhook fan-out: taken as this process's actors appended them (source=appended, no decode), or decoded from the message",
  ['source'],
  function () {
    this.reset();
    this.inc({ source: 'appended' }, reads.appended);
    this.inc({ source: 'decoded' }, reads.decoded);
  },
);

/** A commit decoded from its message's bytes, counted. */
function decoded(data: Uint8Array): Commit {
  reads.decoded++;
  return decodeCommit(data);
}

function deepFreeze(x: unknown): void {
  if (typeof x !== 'object' || x === null || Object.isFrozen(x)) return;
  Object.freeze(x);
  for (const v of Object.values(x)) deepFreeze(v);
}

export class RecentCommits {
  readonly #entries = new Map<number, Entry>();
  #hits = 0;
  #misses = 0;

  constructor(private readonly max = RECENT_COMMITS_MAX) {}

  /** After an append: the commit stored at `seq` on `subject`, `size` bytes. */
  remember(seq: number, subject: string, size: number, commit: Commit): void {
    if (checkShared) deepFreeze(commit);
    this.#entries.set(seq, { subject, size, commit });
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value as number);
  }

  /** The commit a stream message holds: the remembered object when it is that message, else decoded. */
  commitOf(m: { seq: number; subject: string; data: Uint8Array }): Commit {
    const e = this.#entries.get(m.seq);
    if (e && e.subject === m.subject && e.size === m.data.length) {
      this.#hits++;
      reads.appended++;
      return e.commit;
    }
    this.#misses++;
    return decoded(m.data);
  }

  stats(): { size: number; hits: number; misses: number } {
    return { size: this.#entries.size, hits: this.#hits, misses: this.#misses };
  }
}

/** For readers with no appender in their process: always decodes. */
export const decodeOnly = { commitOf: (m: { data: Uint8Array }): Commit => decoded(m.data) };

export type CommitReader = Pick<RecentCommits, 'commitOf'>;
