// Preloaded into every node process of the stack by `npm run bench -- --cpu-prof`
// (NODE_OPTIONS=--import <this file>; Node 20 refuses --cpu-prof in NODE_OPTIONS). Starts the V8
// sampling profiler through node:inspector and writes
// $PAYNATS_CPU_PROF_DIR/CPU.<time>.<pid>.0.0.cpuprofile when the process exits (a clean exit:
// SIGTERM → process.exit; a SIGKILLed process leaves nothing).
import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.PAYNATS_CPU_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.PAYNATS_CPU_PROF_INTERVAL_US ?? 1000) });
  session.post('Profiler.start');
  let written = false;
  process.on('exit', () => {
    if (written) return;
    written = true;
    // The in-process session answers synchronously, so this works inside 'exit'.
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '.').slice(0, 15);
      try {
        writeFileSync(path.join(dir, `CPU.${stamp}.${process.pid}.0.0.cpuprofile`), JSON.stringify(res.profile));
      } catch {
        /* nothing to do at exit */
      }
    });
  });
}
