// A child process that leads its own process group, with stdout/stderr written straight to
// files. The files are opened here and handed to the child as its fds 1 and 2, so output
// never passes through this process: memory stays flat whatever the job prints, and the
// logs keep growing on disk as the job runs (for `logs --follow`).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Need } from './local-slots.js';

export interface GroupSpawnOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdoutPath: string;
  stderrPath: string;
  /**
   * Start only once the node has room for it (the launcher's LocalSlots), and give the room
   * back when it exits; a job assigned ahead waits so. Aborting `cancelled` while it waits
   * means it never starts: its group comes back with pid null and an exit without error.
   * Ignored by `spawnGroup`, which starts at once.
   */
  room?: { need: Need; cancelled: AbortSignal };
}

export interface GroupExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** set when the process could not be started at all (no such program, ...) */
  error: Error | null;
}

export interface ProcessGroup {
  /** pid of the leader, which is also the process group id; null if spawning failed */
  readonly pid: number | null;
  /** settles when the leader has exited (or failed to start) */
  readonly exited: Promise<GroupExit>;
  /** whether the leader has exited */
  readonly hasExited: boolean;
  /** sends a signal to every process of the group; false if none was there to receive it */
  signal(sig: NodeJS.Signals): boolean;
}

/** Starts a process group: `spawnGroup` here, or through the launcher (launcher-client.ts). */
export type Spawner = (opts: GroupSpawnOptions) => ProcessGroup | Promise<ProcessGroup>;

export function spawnGroup(opts: GroupSpawnOptions): ProcessGroup {
  const [program, ...args] = opts.argv;
  if (!program) throw new Error('cannot spawn an empty command line');
  const out = openSync(opts.stdoutPath, 'w');
  let err: number;
  try {
    err = openSync(opts.stderrPath, 'w');
  } catch (e) {
    closeSync(out);
    throw e;
  }
  let hasExited = false;
  let child;
  try {
    // detached: the child calls setsid(), so it leads a new session and process group and
    // a Ctrl-C at the terminal does not reach it; we signal the group ourselves.
    child = spawn(program, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', out, err] });
  } finally {
    // the child holds its own copies of the descriptors now
    closeSync(out);
    closeSync(err);
  }
  const pid = child.pid ?? null;
  const exited = new Promise<GroupExit>((resolve) => {
    child.on('error', (error) => {
      // an error after a successful start (a failed kill) is not the end of the process
      if (pid !== null && !hasExited) return;
      hasExited = true;
      resolve({ code: null, signal: null, error });
    });
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal, error: null });
    });
  });
  return groupOf(pid, exited, () => hasExited);
}

/** The handle of a process group led by `pid` (null: it never started), however it was started. */
export function groupOf(pid: number | null, exited: Promise<GroupExit>, hasExited: () => boolean): ProcessGroup {
  return {
    pid,
    exited,
    get hasExited() {
      return hasExited();
    },
    signal(sig) {
      if (pid === null) return false;
      try {
        process.kill(-pid, sig);
        return true;
      } catch {
        // ESRCH: the group is empty
        return false;
      }
    },
  };
}
