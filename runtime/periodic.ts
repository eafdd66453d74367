// A background job run every `intervalMs`, one run at a time (a slow run delays the next, never
// overlaps it); the timer never keeps a stopping process alive, and stop() waits for the run in progress.
export function every(intervalMs: number, run: () => Promise<unknown>, onError: (err: unknown) => void): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(run).catch(onError);
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
