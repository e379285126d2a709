// The batch as the program sees it after parsing and validation: every default filled in,
// parameters expanded, file paths absolute. Everything past the parser works on these.

export type JobKind = 'python' | 'apptainer' | 'shell';

/** A file the batch ships: `path` is absolute on the machine that read the YAML; `alias` is its name in `input/`. */
export interface FileRef {
  path: string;
  alias: string;
}

/** `cpus: all`: the whole node, alone; the job is told the node's cpus. */
export const WHOLE_NODE = 0;

export interface Resources {
  /** at least 1, or WHOLE_NODE */
  cpus: number;
  /** bytes; null = no reservation */
  memory: number | null;
  gpus: number;
  /** seconds; null = no limit */
  time: number | null;
}

export const DEFAULT_RESOURCES: Resources = { cpus: 1, memory: null, gpus: 0, time: null };

/** The `slurm:` block, batch- or job-level, as written (keys of docs/architecture.md, Batch file). */
export interface SlurmBlock {
  job_name?: string;
  output?: string;
  nodes?: number;
  ntasks?: number;
  cpus_per_task?: number;
  mem_per_cpu?: string;
  hint?: string;
  time?: string;
  partition?: string;
  account?: string;
  mail_user?: string;
  mail_type?: string;
  qos?: string;
  gres?: string;
  mem?: string;
  constraint?: string;
  array_limit?: number;
  extra_directives?: string[];
  setup?: string[];
}

export type SortOrder = 'gpus_runtime_memory' | 'gpus_memory_runtime' | 'none';
export type NotifyEvent = 'end' | 'first_failure';

export interface Meta {
  batch_name: string;
  namespace: string;
  /** Matrix user to tell when the batch ends; null = nobody */
  matrix: string | null;
  capabilities: string[];
  priority: number;
  sort: SortOrder;
  /** pin every job to these node names; null = anywhere */
  nodes: string[] | null;
  retries: number;
  notify: NotifyEvent[];
}

export type Initialize =
  | { kind: 'python'; buildFile: FileRef | null; requiredFiles: FileRef[] }
  | { kind: 'apptainer'; sif: FileRef; requiredFiles: FileRef[]; requiredMounts: string[] }
  | { kind: 'shell'; command: string | null; requiredFiles: FileRef[] };

/** A request that grows after a failure for want of it (memory_retry, time_retry). */
export interface Growth {
  factor: number;
  max: number;
}

export interface JobSpec {
  name: string;
  /** python: the script run as `python3 run.py <cpus>` */
  file: FileRef | null;
  /** shell: run by `/bin/sh -c` */
  command: string | null;
  requiredFiles: FileRef[];
  resources: Resources;
  /** pin to these node names (job-level overrides meta.nodes); null = anywhere */
  nodes: string[] | null;
  retries: number;
  /** after an out-of-memory failure: run again with memory × factor, up to max (bytes); absent: no */
  memoryRetry?: Growth | null;
  /** after a time limit: run again with the limit × factor, up to max (seconds); absent: no */
  timeRetry?: Growth | null;
  /** the batch's slurm block with the job's merged over it, field by field */
  slurm: SlurmBlock;
  /** jobs of the batch that must end done before this one starts (names, patterns resolved); absent = none */
  after?: string[];
}

/** The name the finalize step runs and is archived under (not a name a job can take). */
export const FINALIZE_JOB = '_finalize';

export interface BatchSpec {
  meta: Meta;
  kind: JobKind;
  initialize: Initialize;
  jobs: JobSpec[];
  /** the `finalize:` step, named FINALIZE_JOB: runs once every job has ended; absent or null = none */
  finalize?: JobSpec | null;
  /** batch-level slurm block */
  slurm: SlurmBlock;
  /** where the YAML came from: absolute file and its folder */
  source: { file: string; dir: string };
}
