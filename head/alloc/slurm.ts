// The Slurm side of an allocation queue: sbatch, squeue and scancel, each run under the
// queue's `submit_prefix` (e.g. `ssh login.cluster`), bounded in time and output. The pilot
// script goes to sbatch on stdin, so nothing but the queue's folder needs to be shared, and
// no argument carries a character a remote shell would interpret (ids are digits; squeue's
// format has no spaces or pipes).
import { spawn } from 'node:child_process';

/** What the head asks of a batch system about the pilots of one queue. */
export interface BatchSystem {
  /** submits a script; the new job's id */
  submit(script: string): Promise<string>;
  /** the queue's jobs the batch system still lists (pending or running); an id not listed has ended */
  list(jobName: string): Promise<Map<string, JobState>>;
  cancel(ids: readonly string[]): Promise<void>;
}

export interface JobState {
  /** PENDING, RUNNING, COMPLETING, ... as squeue says */
  state: string;
  /** seconds left of its walltime once running; null: not known (pending, unlimited) */
  timeLeft: number | null;
}

const TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 1024 * 1024;

export class CommandError extends Error {}

/** Runs `prefix... cmd args...` with `input` on stdin; its stdout, or a CommandError with what stderr said. */
export function runBounded(prefix: readonly string[], cmd: string, args: readonly string[], input = ''): Promise<string> {
  const argv = [...prefix, cmd, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    const take = (into: 'out' | 'err') => (d: string) => {
      if (into === 'out') stdout = (stdout + d).slice(0, MAX_OUTPUT);
      else stderr = (stderr + d).slice(-4096);
    };
    child.stdout.setEncoding('utf8').on('data', take('out'));
    child.stderr.setEncoding('utf8').on('data', take('err'));
    child.stdin.on('error', () => {}); // a command that exits before reading its input
    child.stdin.end(input);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CommandError(`cannot run ${argv[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const said = stderr.trim().split('\n').slice(-3).join(' ').slice(0, 500);
      reject(new CommandError(`${cmd} ${signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, after ${TIMEOUT_MS / 1000}s` : ''})` : `exited with ${code}`}${said ? `: ${said}` : ''}`));
    });
  });
}

/** Parses a Slurm duration as squeue's %L prints it: `MM:SS`, `HH:MM:SS`, `D-HH:MM:SS`; null for UNLIMITED and the like. */
export function parseTimeLeft(text: string): number | null {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** Parses `squeue -h -o %i,%T,%L` output. */
export function parseSqueue(text: string): Map<string, JobState> {
  const out = new Map<string, JobState>();
  for (const line of text.split('\n')) {
    const [id, state, left] = line.trim().split(',');
    if (!id || !/^\d+$/.test(id) || !state) continue;
    out.set(id, { state, timeLeft: state === 'RUNNING' && left ? parseTimeLeft(left) : null });
  }
  return out;
}

export class Slurm implements BatchSystem {
  constructor(private readonly prefix: readonly string[]) {}

  async submit(script: string): Promise<string> {
    const out = await runBounded(this.prefix, 'sbatch', ['--parsable'], script);
    const id = /^(\d+)(?:;\S+)?\s*$/.exec(out.trim())?.[1];
    if (!id) throw new CommandError(`sbatch answered no job id: ${JSON.stringify(out.slice(0, 200))}`);
    return id;
  }

  async list(jobName: string): Promise<Map<string, JobState>> {
    return parseSqueue(await runBounded(this.prefix, 'squeue', ['-h', `--name=${jobName}`, '-o', '%i,%T,%L']));
  }

  async cancel(ids: readonly string[]): Promise<void> {
    if (ids.length) await runBounded(this.prefix, 'scancel', [...ids]);
  }
}
