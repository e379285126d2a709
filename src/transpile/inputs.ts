// Where each file of a batch goes, and which are shared.
//
// A job's folder gets its required files and the initialize step's required files in
// `input/` under their alias, and (python) its file as `run.py`, as on a compute node.
// A source file placed more than once across the batch (the initialize files, a file
// several jobs use) is copied once into the transpiled folder's store and copied from there
// into each job's folder when its task starts: uploads carry each byte once, every job
// still gets its own writable copy, and a container sees a real file (a symlink into the
// store would dangle inside apptainer's `--bind input:/input`). A file one job alone uses is
// placed in that job's folder when transpiling.
import { basename } from 'node:path';
import { UserError } from '../../shared/errors.js';
import { isSafeName, unsafeNameReason } from '../../shared/paths.js';
import { PYTHON_BUILD_FILE, PYTHON_JOB_FILE } from '../../shared/spec/command.js';
import type { BatchSpec, FileRef, JobSpec } from '../../shared/spec/types.js';

/** One file in one folder: `dest` is relative to the job's (or build) folder. */
export interface Placement {
  source: string;
  dest: string;
}

export interface InputPlan {
  /** source path → its name in the store, for sources placed more than once */
  shared: Map<string, string>;
  /** job name → what its folder receives */
  jobs: Map<string, Placement[]>;
  /** what the build folder receives: the build file, the initialize files, the image */
  build: Placement[];
}

function checkAlias(where: string, f: FileRef): void {
  const why = unsafeNameReason(f.alias);
  if (why) throw new UserError(`${where}: file ${f.path}: alias ${why}`);
}

function jobPlacements(batch: BatchSpec, job: JobSpec): Placement[] {
  const where = `batch ${batch.meta.batch_name}, job ${job.name}`;
  const out: Placement[] = [];
  const taken = new Map<string, string>();
  const add = (source: string, dest: string) => {
    const before = taken.get(dest);
    if (before !== undefined) throw new UserError(`${where}: ${before} and ${source} both take the name ${dest}`);
    taken.set(dest, source);
    out.push({ source, dest });
  };
  if (batch.kind === 'python' && job.file) add(job.file.path, PYTHON_JOB_FILE);
  for (const f of [...job.requiredFiles, ...batch.initialize.requiredFiles]) {
    checkAlias(where, f);
    add(f.path, `input/${f.alias}`);
  }
  return out;
}

function buildPlacements(batch: BatchSpec): Placement[] {
  const init = batch.initialize;
  const where = `batch ${batch.meta.batch_name}, initialize`;
  const out: Placement[] = [];
  if (init.kind === 'python' && init.buildFile) out.push({ source: init.buildFile.path, dest: PYTHON_BUILD_FILE });
  if (init.kind === 'apptainer') {
    checkAlias(where, init.sif);
    out.push({ source: init.sif.path, dest: init.sif.alias });
  }
  for (const f of init.requiredFiles) {
    checkAlias(where, f);
    if (out.some((p) => p.dest === f.alias)) throw new UserError(`${where}: two files take the name ${f.alias} in the build folder`);
    out.push({ source: f.path, dest: f.alias });
  }
  return out;
}

/** A readable, safe store name: a number for uniqueness, then the file's own name. */
export function storeName(n: number, source: string): string {
  const base = basename(source).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  const name = `f${String(n).padStart(4, '0')}${base ? `-${base}` : ''}`.slice(0, 120);
  return isSafeName(name) ? name : `f${n}`;
}

export function planInputs(batch: BatchSpec): InputPlan {
  const jobs = new Map<string, Placement[]>();
  const uses = new Map<string, number>();
  for (const job of batch.finalize ? [...batch.jobs, batch.finalize] : batch.jobs) {
    const placements = jobPlacements(batch, job);
    jobs.set(job.name, placements);
    for (const p of placements) uses.set(p.source, (uses.get(p.source) ?? 0) + 1);
  }
  const shared = new Map<string, string>();
  for (const [source, n] of uses) {
    if (n > 1) shared.set(source, storeName(shared.size + 1, source));
  }
  return { shared, jobs, build: buildPlacements(batch) };
}
