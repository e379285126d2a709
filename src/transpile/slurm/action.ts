// `distribute slurm`: load, transpile, write the folder; with --submit run its submit.sh
// here, with --wait follow the jobs to their end.
import { loadBatch } from '../../../shared/spec/load.js';
import { UserError } from '../../../shared/errors.js';
import { FINALIZE_JOB } from '../../../shared/spec/types.js';
import { parseDuration } from '../../../shared/spec/units.js';
import { writeBundle } from '../bundle.js';
import { batchNotes, count, describeFinalize, describeShapes, summary } from '../report.js';
import { summarize } from '../results.js';
import type { Shape } from '../plan.js';
import { FINALIZE_SCRIPT, arrayScriptPath } from './render.js';
import { describeFinalOutcome, describeOutcomes, followJobs, submitFolder } from './submit.js';
import { transpileSlurm } from './transpile.js';
import type { SlurmOptions } from './options.js';

export interface SlurmCliOptions {
  output: string;
  strategy: string;
  jobs?: number;
  jobResources: string[];
  arrayLimit?: number;
  extraDirective: string[];
  setup: string[];
  clusterUsername?: string;
  clusterAddress?: string;
  clusterUploadDestination?: string;
  submit?: boolean;
  wait?: boolean;
  poll: string;
  force?: boolean;
  json?: boolean;
}

export async function slurmAction(file: string, opts: SlurmCliOptions, out = process.stdout, err = process.stderr): Promise<number> {
  if (opts.wait && !opts.submit) throw new UserError('--wait follows the jobs --submit submits; pass both');
  const poll = parseDuration(opts.poll);
  if (!poll.ok || poll.value === 0) throw new UserError(`--poll: ${poll.ok ? 'must be at least 1s' : poll.error}`);
  const batch = await loadBatch(file);
  const t = transpileSlurm(batch, {
    strategy: opts.strategy,
    jobs: opts.jobs,
    jobResources: opts.jobResources,
    arrayLimit: opts.arrayLimit,
    extraDirectives: opts.extraDirective,
    setup: opts.setup,
    cluster: { username: opts.clusterUsername, address: opts.clusterAddress, destination: opts.clusterUploadDestination },
  });
  const dir = await writeBundle(t.bundle, opts.output, opts.force);
  const script = (s: Shape<unknown>) => arrayScriptPath(s as Shape<SlurmOptions>);
  const info = summary(dir, batch.meta.batch_name, t.shapes, script);
  const log = opts.json ? err : out;
  const lines = [...describeShapes(t.shapes, script), ...(batch.finalize ? [describeFinalize(FINALIZE_SCRIPT)] : [])];
  log.write(`${batch.meta.batch_name}: ${count(info.jobs, 'job')} in ${count(t.shapes.length, 'Slurm array')} in ${dir}\n${lines.join('\n')}\n`);
  for (const note of batchNotes(batch)) err.write(`note: ${note}\n`);
  if (!opts.submit) {
    log.write(`next: ${dir}/upload.sh, then ./submit.sh on the cluster (or submit here with --submit)\n`);
    if (opts.json) out.write(JSON.stringify(info) + '\n');
    return 0;
  }
  const ids = await submitFolder(dir, log);
  if (!opts.wait) {
    if (opts.json) out.write(JSON.stringify({ ...info, slurm_jobs: ids }) + '\n');
    return 0;
  }
  const names = t.shapes.flatMap((s) => s.jobs.map((j) => j.name));
  const followed = batch.finalize ? [...names, FINALIZE_JOB] : names;
  // Ctrl-C stops the waiting, not the jobs: they are Slurm's now
  const onInterrupt = () => {
    err.write(`\nstopped waiting; the jobs keep running on Slurm (scancel ${ids.join(' ')} stops them)\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  let all;
  try {
    all = await followJobs(dir, ids, followed, { pollMs: poll.value * 1000, report: (line) => err.write(`slurm: ${line}\n`) });
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  const outcomes = all.filter((o) => o.name !== FINALIZE_JOB);
  const finalize = all.find((o) => o.name === FINALIZE_JOB);
  log.write([...describeOutcomes(outcomes), ...(finalize ? [describeFinalOutcome(finalize)] : [])].join('\n') + '\n');
  if (opts.json) out.write(JSON.stringify({ ...info, slurm_jobs: ids, jobs_outcome: outcomes, ...(finalize ? { finalize_outcome: finalize } : {}) }) + '\n');
  const s = summarize(outcomes);
  return s.failed + s.missing === 0 && (finalize === undefined || finalize.state === 'done') ? 0 : 1;
}
