// `--submit`: runs the folder's submit.sh here (so what a user runs on the cluster is what
// is tested), and `--wait`: follows the submitted jobs to their end with progress.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError, errorMessage } from '../../../shared/errors.js';
import { readOutcome, summarize, type JobOutcome } from '../results.js';
import { countStates, isTerminal, readQueue, type QueueReader } from './queue.js';
import { SUBMITTED_FILE } from './render.js';

/** Runs DIR/submit.sh, its output passed through to `out`; returns the submitted Slurm job ids. */
export async function submitFolder(dir: string, out: NodeJS.WritableStream): Promise<string[]> {
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('bash', [join(dir, 'submit.sh')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(process.stderr, { end: false });
    child.on('error', reject);
    child.on('close', resolve);
  });
  const ids = (await readFile(join(dir, SUBMITTED_FILE), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  if (code !== 0) {
    const hint = ids.length ? ` after submitting ${ids.join(', ')}` : '';
    throw new UserError(`submit.sh in ${dir} failed with status ${code}${hint}; is sbatch on PATH and the cluster reachable?`, 1);
  }
  return ids;
}

export interface FollowOptions {
  /** how often to ask squeue */
  pollMs: number;
  /** one line of progress, written when something changed */
  report: (line: string) => void;
  read?: QueueReader;
  /** consecutive squeue failures tolerated before giving up */
  maxFailures?: number;
}

/** Waits until every submitted job has ended, then returns each job's outcome. */
export async function followJobs(dir: string, ids: string[], jobNames: string[], opts: FollowOptions): Promise<JobOutcome[]> {
  const read = opts.read ?? readQueue;
  const finished = new Map<string, JobOutcome>();
  let failures = 0;
  let last = '';
  for (;;) {
    let entries;
    try {
      entries = await read(ids);
      failures = 0;
    } catch (err) {
      if (++failures >= (opts.maxFailures ?? 30)) throw new UserError(`lost track of Slurm jobs ${ids.join(', ')}: ${errorMessage(err)}`, 1);
      opts.report(`squeue failed (${errorMessage(err)}); trying again`);
      await sleep(opts.pollMs);
      continue;
    }
    for (const name of jobNames) {
      if (finished.has(name)) continue;
      const o = await readOutcome(dir, name);
      if (o.state !== 'missing') finished.set(name, o);
    }
    const c = countStates(entries);
    const failed = [...finished.values()].filter((o) => o.state === 'failed').length;
    const line = `${finished.size}/${jobNames.length} jobs finished (${failed} failed); Slurm tasks: ${c.pending} pending, ${c.running} running, ${c.ended} ended`;
    if (line !== last) opts.report(line);
    last = line;
    if (entries.every((e) => isTerminal(e.state))) break;
    await sleep(opts.pollMs);
  }
  return Promise.all(jobNames.map((name) => finished.get(name) ?? readOutcome(dir, name)));
}

function why(o: JobOutcome): string {
  return o.timed_out ? 'time limit reached' : o.signal ? `killed by ${o.signal}` : `exit code ${o.exit_code}`;
}

/** The finalize step's line: `the finalize step: done`, `... failed (exit code 2)`, `... did not run`. */
export function describeFinalOutcome(o: JobOutcome): string {
  return `the finalize step: ${o.state === 'done' ? 'done' : o.state === 'failed' ? `failed (${why(o)})` : 'did not run'}`;
}

export function describeOutcomes(outcomes: JobOutcome[]): string[] {
  const s = summarize(outcomes);
  const lines = [`${outcomes.length} jobs: ${s.done} done, ${s.failed} failed, ${s.missing} did not run`];
  for (const o of outcomes) {
    if (o.state === 'failed') lines.push(`  ${o.name}: ${why(o)}`);
    else if (o.state === 'missing') lines.push(`  ${o.name}: did not run (cancelled: its initialize step or a job it waits for failed)`);
  }
  return lines;
}
