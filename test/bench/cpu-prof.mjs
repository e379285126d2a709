// Loaded with `--import` through NODE_OPTIONS (where `--cpu-prof` is not allowed) by the bench
// cluster's profiled compute daemons: their launcher (compute/launcher.ts, a Node process the
// daemon starts) writes a V8 CPU profile into BENCH_CPU_PROF_DIR when it exits. Other Node
// processes that inherit the variable are left alone.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir && /launcher\.[jt]s$/.test(process.argv[1] ?? '')) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // an in-process session answers synchronously: the profile is written before the exit completes
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `launcher-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
