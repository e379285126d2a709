// What Slurm says about submitted jobs, from `squeue` alone: many clusters (and the test
// one) keep no accounting, so `sacct` may be missing. `squeue -t all` lists finished jobs
// for as long as the controller remembers them (MinJobAge); a job it no longer knows has
// finished long ago.
import { spawn } from 'node:child_process';

export interface QueueEntry {
  /** `123` or, for an array task, `123_4` */
  id: string;
  state: string;
}

/** States after which a Slurm job does nothing more. */
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'REVOKED']);

export function isTerminal(state: string): boolean {
  return TERMINAL.has(state.replace(/\+$/, '').split(' ')[0]!);
}

/** Parses `squeue -h -r -o '%i|%T'` output. */
export function parseSqueue(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const bar = trimmed.indexOf('|');
    if (bar <= 0) continue;
    out.push({ id: trimmed.slice(0, bar), state: trimmed.slice(bar + 1) });
  }
  return out;
}

export type QueueReader = (ids: string[]) => Promise<QueueEntry[]>;

/** Reads the jobs' states with squeue; an id squeue no longer knows is left out. */
export const readQueue: QueueReader = (ids) =>
  new Promise((resolve, reject) => {
    const child = spawn('squeue', ['-h', '-r', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(new Error(`cannot run squeue: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(parseSqueue(stdout));
      // every id purged from the controller's memory: they all ended
      else if (/invalid job id/i.test(stderr)) resolve([]);
      else reject(new Error(`squeue exited with ${code}: ${stderr.trim()}`));
    });
  });

export interface QueueCounts {
  pending: number;
  running: number;
  ended: number;
  /** array tasks or jobs that ended in another state than COMPLETED */
  unsuccessful: number;
}

export function countStates(entries: QueueEntry[]): QueueCounts {
  const c: QueueCounts = { pending: 0, running: 0, ended: 0, unsuccessful: 0 };
  for (const e of entries) {
    if (isTerminal(e.state)) {
      c.ended++;
      if (!e.state.startsWith('COMPLETED')) c.unsuccessful++;
    } else if (e.state === 'PENDING') c.pending++;
    else c.running++;
  }
  return c;
}
