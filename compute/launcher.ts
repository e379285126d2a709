// The launcher: a small resident child of the compute daemon that starts the jobs' processes.
// Starting a process forks the process that starts it, and a fork costs in proportion to that
// process's memory (its page tables are copied, then torn down at exec): from the ~120 MB
// daemon each start took ~2 ms of CPU and blocked its event loop for 4-6 ms; from this process,
// which loads nothing but Node's own modules, a third of that. The daemon sends one JSON line
// per job on the launcher's stdin and reads JSON lines back on its stdout:
//   → {"id":1,"argv":[...],"cwd":"...","env":{...},"stdout":"<log path>","stderr":"<log path>"}
//   ← {"id":1,"pid":1234}                                     the job's process runs
//   ← {"id":1,"exit":{"code":0,"signal":null,"error":null}}   it has exited (or never started)
// Each job leads its own process group (setsid), its output goes straight to its log files,
// and the daemon signals the group itself; the launcher only starts and reaps. It ends when its
// stdin closes (the daemon is gone); the jobs then live on, as they do when the daemon itself
// starts them, and the daemon's next start finds and kills them (leftovers.ts).
//
// Run as a program: `node launcher.js`. Imports nothing but Node's modules, to stay small.
import { spawnGroup } from './process-group.js';
import { createInterface } from 'node:readline';

interface LaunchRequest {
  id: number;
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: string;
  stderr: string;
}

function reply(m: unknown): void {
  process.stdout.write(JSON.stringify(m) + '\n');
}

function launch(r: LaunchRequest): void {
  let group;
  try {
    group = spawnGroup({ argv: r.argv, cwd: r.cwd, env: r.env, stdoutPath: r.stdout, stderrPath: r.stderr });
  } catch (err) {
    reply({ id: r.id, pid: null, exit: { code: null, signal: null, error: err instanceof Error ? err.message : String(err) } });
    return;
  }
  reply({ id: r.id, pid: group.pid });
  void group.exited.then((e) => reply({ id: r.id, exit: { code: e.code, signal: e.signal, error: e.error ? e.error.message : null } }));
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line) launch(JSON.parse(line) as LaunchRequest);
});
process.stdin.on('end', () => process.exit(0));
