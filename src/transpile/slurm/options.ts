// Slurm options of a job, in layers: the job's `resources`, then its `slurm:` block (the
// batch's with the job's merged over it), then `--job-resources`. Each key becomes
// `#SBATCH --key-with-dashes=value`. Setting one of `mem` / `mem_per_cpu` in a layer drops
// the other from the layers below (Slurm refuses both).
import { WHOLE_NODE } from '../../../shared/spec/types.js';
import { UserError } from '../../../shared/errors.js';
import { formatSlurmSize, parseDuration } from '../../../shared/spec/units.js';
import type { JobSpec, SlurmBlock } from '../../../shared/spec/types.js';
import { checkOptions } from '../job-resources.js';
import { compactDuration, labelPart, type JobShape } from '../plan.js';
import { gres, integer, listOf, nodeCount, oneOf, positiveInt, slurmSize, word, type Check, type RawValue } from '../values.js';
import { directiveLines, setupLines } from '../lines.js';

const MAIL_TYPES = ['NONE', 'BEGIN', 'END', 'FAIL', 'REQUEUE', 'ALL', 'INVALID_DEPEND', 'STAGE_OUT', 'TIME_LIMIT', 'TIME_LIMIT_90', 'TIME_LIMIT_80', 'TIME_LIMIT_50', 'ARRAY_TASKS'];
const HINTS = ['compute_bound', 'memory_bound', 'multithread', 'nomultithread'];

/** `time` in seconds (as text), or UNLIMITED. */
const timeSeconds: Check = (v) => {
  if (typeof v === 'string' && /^(unlimited|infinite)$/i.test(v.trim())) return { ok: true, value: 'UNLIMITED' };
  const p = parseDuration(v);
  if (!p.ok) return p;
  if (p.value === 0) return { ok: false, error: `"${v}" is no time at all; give a limit such as 2h, or UNLIMITED` };
  return { ok: true, value: String(p.value) };
};

/** The Slurm keys a batch or `--job-resources` may set, in the order their directives are written. */
export const SLURM_KEYS: Record<string, Check> = {
  job_name: word,
  partition: word,
  account: word,
  qos: word,
  reservation: word,
  time: timeSeconds,
  nodes: nodeCount,
  ntasks: positiveInt,
  ntasks_per_node: positiveInt,
  cpus_per_task: positiveInt,
  mem: slurmSize,
  mem_per_cpu: slurmSize,
  gres,
  constraint: word,
  nodelist: word,
  exclude: word,
  hint: oneOf(HINTS),
  nice: integer,
  mail_type: listOf(MAIL_TYPES),
  mail_user: word,
  output: word,
};

/** Keys of distribute itself, allowed beside the Slurm ones in `--job-resources`. */
export const SLURM_EXTRA_KEYS: Record<string, Check> = { array_limit: positiveInt, batch_size: positiveInt };

export interface SlurmFlags {
  /** checked `--job-resources` values (Slurm keys and distribute's) */
  resources: Record<string, string>;
  extraDirectives: string[];
  setup: string[];
  arrayLimit: number | null;
}

export interface SlurmOptions {
  /** key → normalized value, `time` in seconds or UNLIMITED */
  values: Record<string, string>;
  /** `#SBATCH` lines written as given */
  extra: string[];
  setup: string[];
  arrayLimit: number | null;
}

/** Checks `--job-resources` for Slurm; an unknown key is refused with the list. */
export function checkSlurmFlags(raw: Record<string, RawValue>): Record<string, string> {
  return checkOptions(raw, { ...SLURM_KEYS, ...SLURM_EXTRA_KEYS }, '--job-resources');
}

function overlay(base: Record<string, string>, layer: Record<string, string>, where: string): Record<string, string> {
  if (layer.mem !== undefined && layer.mem_per_cpu !== undefined) throw new UserError(`${where}: mem and mem_per_cpu exclude each other; give one`);
  const out = { ...base };
  if (layer.mem !== undefined) delete out.mem_per_cpu;
  if (layer.mem_per_cpu !== undefined) delete out.mem;
  for (const [k, v] of Object.entries(layer)) if (k in SLURM_KEYS) out[k] = v;
  return out;
}

function resourceLayer(job: JobSpec): Record<string, string> {
  const r = job.resources;
  // cpus: all asks nothing here: the slurm: block's cpus_per_task decides, as it did in the original
  const out: Record<string, string> = r.cpus === WHOLE_NODE ? {} : { cpus_per_task: String(r.cpus) };
  if (r.memory !== null) out.mem = formatSlurmSize(r.memory);
  if (r.gpus > 0) out.gres = `gpu:${r.gpus}`;
  if (r.time !== null) out.time = String(r.time);
  return out;
}

function blockLayer(block: SlurmBlock, where: string): Record<string, string> {
  const raw: Record<string, RawValue> = {};
  for (const [k, v] of Object.entries(block)) {
    if (k in SLURM_KEYS && (typeof v === 'string' || typeof v === 'number')) raw[k] = v;
  }
  return checkOptions(raw, SLURM_KEYS, `${where}: slurm`);
}

/** The Slurm options of one job, and the shape key that groups it with its equals. */
export function slurmShapeOf(batchName: string, flags: SlurmFlags) {
  return (job: JobSpec): JobShape<SlurmOptions> => {
    const where = `batch ${batchName}, job ${job.name}`;
    let values = overlay({}, resourceLayer(job), where);
    values = overlay(values, blockLayer(job.slurm, where), where);
    values = overlay(values, flags.resources, '--job-resources');
    const options: SlurmOptions = {
      values,
      extra: [
        ...directiveLines('#SBATCH', job.slurm.extra_directives ?? [], `${where}: slurm.extra_directives`),
        ...directiveLines('#SBATCH', flags.extraDirectives, '--extra-directive'),
      ],
      setup: [...setupLines(job.slurm.setup ?? [], `${where}: slurm.setup`), ...setupLines(flags.setup, '--setup')],
      arrayLimit: flags.arrayLimit ?? (flags.resources.array_limit ? Number(flags.resources.array_limit) : null) ?? job.slurm.array_limit ?? null,
    };
    const time = values.time === undefined || values.time === 'UNLIMITED' ? null : Number(values.time);
    return { key: JSON.stringify(options), label: slurmLabel(values, time), options, cpus: Number(values.cpus_per_task ?? 1), timeLimit: time };
  };
}

function slurmLabel(v: Record<string, string>, time: number | null): string {
  const parts = [`c${v.cpus_per_task ?? 1}`];
  if (v.mem) parts.push(`m${v.mem}`);
  if (v.mem_per_cpu) parts.push(`mc${v.mem_per_cpu}`);
  if (v.gres) parts.push(labelPart(v.gres));
  if (time !== null) parts.push(`t${compactDuration(time)}`);
  return parts.join('-');
}
