// The launcher: a small resident child of the compute daemon that starts the jobs' processes.
// Starting a process forks the process that starts it, and a fork costs in proportion to that
// process's memory (its page tables are copied, then torn down at exec): from the ~120 MB
// daemon each start took ~2 ms of CPU and blocked its event loop for 4-6 ms; from this process,
// which loads nothing but Node's own modules, a third of that.
//
// It also keeps the node's room (local-slots.ts): a job assigned ahead waits here, prepared,
// and starts the moment a job before it exits — without a trip through the daemon's event loop.
//
// The daemon sends one JSON line per request on the launcher's stdin and reads JSON lines back
// on its stdout:
//   → {"id":1,"argv":[...],"cwd":"...","env":{...},"stdout":"<log>","stderr":"<log>","need":{"cpus":1,"memory":null}}
//   → {"cancel":1}                                            it no longer wants job 1 started
//   ← {"id":1,"pid":1234}                                     the job's process runs
//   ← {"id":1,"exit":{"code":0,"signal":null,"error":null}}   it has exited (or never started)
// Without `need` a job starts at once. Each job leads its own process group (setsid), its output
// goes straight to its log files, and the daemon signals the group itself; the launcher only
// starts and reaps. It ends when its stdin closes (the daemon is gone); the jobs then live on, as
// they do when the daemon itself starts them, and the daemon's next start finds and kills them
// (leftovers.ts).
//
// Run as a program: `node launcher.js '<capacity as JSON>'`. Imports nothing but Node's modules
// and two small files of its own, to stay small.
import { createInterface } from 'node:readline';
import { LocalSlots, type Capacity, type Need } from './local-slots.js';
import { spawnGroup } from './process-group.js';

interface LaunchRequest {
  id: number;
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: string;
  stderr: string;
  need?: Need;
}

const slots = new LocalSlots(JSON.parse(process.argv[2] ?? '{"cpus":1,"memory":0,"maxJobs":null}') as Capacity);
/** jobs waiting for room, by id */
const waiting = new Map<number, AbortController>();

/** answers of this turn, written together at its end: a job's exit and the next one's start are one write */
let answers: string[] = [];

function reply(m: unknown): void {
  if (answers.push(JSON.stringify(m)) === 1) setImmediate(flushAnswers);
}

function flushAnswers(): void {
  const lines = answers.join('\n') + '\n';
  answers = [];
  process.stdout.write(lines);
}

function start(r: LaunchRequest, release: () => void): void {
  let group;
  try {
    group = spawnGroup({ argv: r.argv, cwd: r.cwd, env: r.env, stdoutPath: r.stdout, stderrPath: r.stderr });
  } catch (err) {
    release();
    reply({ id: r.id, pid: null, exit: { code: null, signal: null, error: err instanceof Error ? err.message : String(err) } });
    return;
  }
  reply({ id: r.id, pid: group.pid });
  void group.exited.then((e) => {
    release();
    reply({ id: r.id, exit: { code: e.code, signal: e.signal, error: e.error ? e.error.message : null } });
  });
}

function launch(r: LaunchRequest): void {
  if (!r.need) return start(r, () => {});
  const cancel = new AbortController();
  waiting.set(r.id, cancel);
  void slots.acquire(r.need, cancel.signal).then((release) => {
    waiting.delete(r.id);
    if (release) start(r, release);
    else reply({ id: r.id, pid: null, exit: { code: null, signal: null, error: null } });
  });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line) return;
  const m = JSON.parse(line) as LaunchRequest | { cancel: number };
  if ('cancel' in m) waiting.get(m.cancel)?.abort();
  else launch(m);
});
process.stdin.on('end', () => process.exit(0));
