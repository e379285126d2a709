// Kubernetes resources of a job: `resources` (cpus, memory, gpus, time) overridden by
// `--job-resources`, as container requests and limits (equal, so a job gets what it asked
// and no more, as on a compute node).
import { WHOLE_NODE } from '../../../shared/spec/types.js';
import { parseDuration, parseSize } from '../../../shared/spec/units.js';
import type { JobSpec } from '../../../shared/spec/types.js';
import { checkOptions } from '../job-resources.js';
import { compactDuration, type JobShape } from '../plan.js';
import { integer, positiveInt, type Check, type RawValue } from '../values.js';

/** Bytes as a Kubernetes quantity: `8Gi`, `1536Mi`, else plain bytes. */
export function formatQuantity(bytes: number): string {
  for (const [unit, mult] of [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return String(bytes);
}

const bytes: Check = (v) => {
  const p = parseSize(v);
  return p.ok ? { ok: true, value: String(p.value) } : p;
};
const seconds: Check = (v) => {
  const p = parseDuration(v);
  if (!p.ok) return p;
  return p.value === 0 ? { ok: false, error: `"${v}" is no time at all` } : { ok: true, value: String(p.value) };
};
const gpus: Check = (v) => {
  const r = integer(v);
  return r.ok && Number(r.value) < 0 ? { ok: false, error: `"${v}" must not be negative` } : r;
};

export const KUBERNETES_KEYS: Record<string, Check> = {
  cpus: positiveInt,
  memory: bytes,
  gpus,
  time: seconds,
  parallelism: positiveInt,
  batch_size: positiveInt,
};

export interface KubernetesOptions {
  cpus: number;
  /** bytes; null = no request */
  memory: number | null;
  gpus: number;
  parallelism: number | null;
}

export function checkKubernetesFlags(raw: Record<string, RawValue>): Record<string, string> {
  return checkOptions(raw, KUBERNETES_KEYS, '--job-resources');
}

export function kubernetesShapeOf(flags: Record<string, string>) {
  return (job: JobSpec): JobShape<KubernetesOptions> => {
    const r = job.resources;
    const options: KubernetesOptions = {
      cpus: flags.cpus !== undefined ? Number(flags.cpus) : r.cpus === WHOLE_NODE ? 1 : r.cpus,
      memory: flags.memory !== undefined ? Number(flags.memory) : r.memory,
      gpus: flags.gpus !== undefined ? Number(flags.gpus) : r.gpus,
      parallelism: flags.parallelism !== undefined ? Number(flags.parallelism) : null,
    };
    const time = flags.time !== undefined ? Number(flags.time) : r.time;
    const parts = [`c${options.cpus}`];
    if (options.memory !== null) parts.push(`m${formatQuantity(options.memory).toLowerCase()}`);
    if (options.gpus > 0) parts.push(`g${options.gpus}`);
    if (time !== null) parts.push(`t${compactDuration(time)}`);
    return { key: JSON.stringify([options, time]), label: parts.join('-'), options, cpus: options.cpus, timeLimit: time };
  };
}
