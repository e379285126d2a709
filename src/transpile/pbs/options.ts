// PBS options of a job: its `resources` (cpus → ncpus, memory → mem, gpus → ngpus, time →
// walltime), overridden by `--job-resources` (queue, walltime, ...). PBS reads nothing of
// the batch's `slurm:` block but its `setup` lines, which are plain shell.
import { WHOLE_NODE } from '../../../shared/spec/types.js';
import { UserError } from '../../../shared/errors.js';
import { parseDuration, parseSize, type Parsed } from '../../../shared/spec/units.js';
import type { JobSpec } from '../../../shared/spec/types.js';
import { checkOptions } from '../job-resources.js';
import { compactDuration, type JobShape } from '../plan.js';
import { directiveLines, setupLines } from '../lines.js';
import { integer, positiveInt, word, type Check, type RawValue } from '../values.js';

/** Bytes in PBS's notation: the largest whole unit, lower case (`8gb`, `1536mb`). */
export function formatPbsSize(bytes: number): string {
  for (const [unit, mult] of [['tb', 1024 ** 4], ['gb', 1024 ** 3], ['mb', 1024 ** 2], ['kb', 1024]] as const) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${bytes}b`;
}

/** Seconds as PBS's walltime `HH:MM:SS`, hours past 24 as they are. */
export function formatWalltime(seconds: number): string {
  const s = Math.ceil(seconds);
  return [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60].map((x) => String(x).padStart(2, '0')).join(':');
}

const pbsSize: Check = (v) => {
  const p = parseSize(v);
  return p.ok ? { ok: true, value: formatPbsSize(p.value) } : p;
};

const walltimeSeconds: Check = (v) => {
  const p: Parsed<number> = parseDuration(v);
  if (!p.ok) return p;
  if (p.value === 0) return { ok: false, error: `"${v}" is no time at all; give a walltime such as 2h` };
  return { ok: true, value: String(p.value) };
};

const nonNegativeInt: Check = (v) => {
  const r = integer(v);
  return r.ok && Number(r.value) < 0 ? { ok: false, error: `"${v}" must not be negative` } : r;
};

/** The keys `--job-resources` may set for PBS, in the order they are written. */
export const PBS_KEYS: Record<string, Check> = {
  job_name: word,
  queue: word,
  account: word,
  ncpus: positiveInt,
  mem: pbsSize,
  ngpus: nonNegativeInt,
  walltime: walltimeSeconds,
  place: word,
  array_limit: positiveInt,
  batch_size: positiveInt,
};

export interface PbsFlags {
  resources: Record<string, string>;
  extraDirectives: string[];
  setup: string[];
}

export interface PbsOptions {
  /** key → value; walltime in seconds */
  values: Record<string, string>;
  extra: string[];
  setup: string[];
  arrayLimit: number | null;
}

export function checkPbsFlags(raw: Record<string, RawValue>): Record<string, string> {
  return checkOptions(raw, PBS_KEYS, '--job-resources');
}

export function pbsShapeOf(batchName: string, flags: PbsFlags) {
  return (job: JobSpec): JobShape<PbsOptions> => {
    const where = `batch ${batchName}, job ${job.name}`;
    const r = job.resources;
    const values: Record<string, string> = { ncpus: String(r.cpus === WHOLE_NODE ? 1 : r.cpus) };
    if (r.memory !== null) values.mem = formatPbsSize(r.memory);
    if (r.gpus > 0) values.ngpus = String(r.gpus);
    if (r.time !== null) values.walltime = String(r.time);
    for (const [k, v] of Object.entries(flags.resources)) if (k !== 'array_limit' && k !== 'batch_size') values[k] = v;
    if (values.ngpus === '0') delete values.ngpus;
    const options: PbsOptions = {
      values,
      extra: directiveLines('#PBS', flags.extraDirectives, '--extra-directive'),
      setup: [...setupLines(job.slurm.setup ?? [], `${where}: slurm.setup`), ...setupLines(flags.setup, '--setup')],
      arrayLimit: flags.resources.array_limit !== undefined ? Number(flags.resources.array_limit) : null,
    };
    const time = values.walltime === undefined ? null : Number(values.walltime);
    if (time !== null && !Number.isFinite(time)) throw new UserError(`${where}: walltime ${values.walltime} is not a duration`);
    const parts = [`c${values.ncpus}`];
    if (values.mem) parts.push(`m${values.mem}`);
    if (values.ngpus) parts.push(`g${values.ngpus}`);
    if (time !== null) parts.push(`t${compactDuration(time)}`);
    return { key: JSON.stringify(options), label: parts.join('-'), options, cpus: Number(values.ncpus), timeLimit: time };
  };
}
