// What a job runs and with which environment: one definition used by the local runner,
// the compute daemon and the Slurm/PBS/Kubernetes transpilers, so outputs look alike everywhere.
import { join } from 'node:path';
import type { BatchSpec, Initialize, JobKind, JobSpec } from './types.js';

/** The folders of one attempt (docs/architecture.md, A job on a compute node), all absolute. */
export interface AttemptPaths {
  /** `<work_dir>/<namespace>/<batch>/<job>/attempt-<n>/` */
  root: string;
  /** `root/input/`: required files under their alias */
  input: string;
  /** `root/distribute_save/`: what is archived */
  save: string;
  /** `root/_distribute/`: stdout.log, stderr.log, result.json */
  meta: string;
  /** `<work_dir>/<namespace>/<batch>/build/`: the initialize step's folder */
  build: string;
}

export function attemptPaths(workDir: string, namespace: string, batch: string, job: string, attempt: number): AttemptPaths {
  const batchDir = join(workDir, namespace, batch);
  const root = join(batchDir, job, `attempt-${attempt}`);
  return { root, input: join(root, 'input'), save: join(root, 'distribute_save'), meta: join(root, '_distribute'), build: join(batchDir, BUILD_FOLDER) };
}

/** The batch folder's entry that holds the initialize step, so no job may take this name. */
export const BUILD_FOLDER = 'build';

/** Name the python job file takes in the attempt folder. */
export const PYTHON_JOB_FILE = 'run.py';
/** Name the python build file takes in the build folder. */
export const PYTHON_BUILD_FILE = 'build.py';

/** Host folder that backs the i-th `required_mounts` entry of an apptainer batch. */
export function mountSource(paths: AttemptPaths, index: number): string {
  return join(paths.root, 'mounts', String(index));
}

/** argv of a job, run with cwd = paths.root. `container` is `apptainer` or `singularity`. */
export function jobArgv(kind: JobKind, init: Initialize, job: JobSpec, paths: AttemptPaths, cpus: number, container = 'apptainer'): string[] {
  switch (kind) {
    case 'python':
      return ['python3', PYTHON_JOB_FILE, String(cpus)];
    case 'shell':
      return ['/bin/sh', '-c', job.command ?? ''];
    case 'apptainer': {
      if (init.kind !== 'apptainer') throw new Error('apptainer batch without an apptainer initialize block');
      const binds = [`${paths.input}:/input`, `${paths.save}:/distribute_save`, ...init.requiredMounts.map((m, i) => `${mountSource(paths, i)}:${m}`)];
      return [container, 'run', '--nv', '--app', 'distribute', '--bind', binds.join(','), join(paths.build, init.sif.alias), String(cpus)];
    }
  }
}

/** argv of the initialize step, run with cwd = build folder; null when the batch has none. */
export function buildArgv(init: Initialize): string[] | null {
  switch (init.kind) {
    case 'python':
      return init.buildFile ? ['python3', PYTHON_BUILD_FILE] : null;
    case 'shell':
      return init.command ? ['/bin/sh', '-c', init.command] : null;
    case 'apptainer':
      return null;
  }
}

export interface JobEnvInput {
  batch: Pick<BatchSpec, 'meta'>;
  job: Pick<JobSpec, 'name'>;
  paths: AttemptPaths;
  cpus: number;
  attempt: number;
  /** GPU indices given to the job; null leaves CUDA_VISIBLE_DEVICES as inherited (local runs) */
  gpus: number[] | null;
}

/** The DISTRIBUTE_* environment of a job (docs/architecture.md, A job on a compute node), to lay over the inherited one. */
export function jobEnv(e: JobEnvInput): Record<string, string> {
  const env: Record<string, string> = {
    DISTRIBUTE_JOB_NAME: e.job.name,
    DISTRIBUTE_BATCH_NAME: e.batch.meta.batch_name,
    DISTRIBUTE_NAMESPACE: e.batch.meta.namespace,
    DISTRIBUTE_CPUS: String(e.cpus),
    DISTRIBUTE_SAVE: e.paths.save,
    DISTRIBUTE_INPUT: e.paths.input,
    DISTRIBUTE_BUILD: e.paths.build,
    DISTRIBUTE_ATTEMPT: String(e.attempt),
  };
  if (e.gpus) env.CUDA_VISIBLE_DEVICES = e.gpus.join(',');
  return env;
}
