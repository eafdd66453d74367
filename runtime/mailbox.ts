// One command in flight per aggregate inside its owner: commands for the same key queue behind
// each other; different keys run concurrently. (The subject-sequence fence covers the rest.)
export function createMailbox() {
  const tails = new Map<string, Promise<void>>();
  return {
    exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
      const run = (tails.get(key) ?? Promise.resolve()).then(work);
      const tail = run.then(
        () => {},
        () => {},
      );
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return run;
    },
    get size() {
      return tails.size;
    },
  };
}
export type Mailbox = ReturnType<typeof createMailbox>;
