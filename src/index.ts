// The public library: build batches and parameter sweeps in TypeScript and write them as
// batch YAML that `distribute` accepts. A sweep is expanded here, one job per combination,
// so the file lists every job (and any job can be edited by hand afterwards).
// File paths are written as given: relative to the YAML file's folder, or absolute.
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { BatchSpecError } from '../shared/spec/load.js';
import { parseBatch } from '../shared/spec/parse.js';
import type { RawSlurm } from '../shared/spec/schema.js';
import type { BatchSpec, JobKind, NotifyEvent, SortOrder } from '../shared/spec/types.js';

export type { BatchSpec, JobSpec, FileRef, Resources, SlurmBlock, Initialize, JobKind, Meta } from '../shared/spec/types.js';
export { DEFAULT_RESOURCES } from '../shared/spec/types.js';
export { loadBatch, BatchSpecError } from '../shared/spec/load.js';
export { parseBatch, formatSpecErrors, type SpecError, type ParseResult } from '../shared/spec/parse.js';
export { batchJsonSchema } from '../shared/spec/schema.js';

/** A file to ship: its path, or `{ path, alias }` to give it another name on the node. */
export type FileInput = string | { path: string; alias?: string };

export interface ResourcesInput {
  cpus?: number;
  /** `512M`, `8G` (a number is megabytes); null for no reservation */
  memory?: string | number | null;
  gpus?: number;
  /** `90s`, `2h30m`, `HH:MM:SS`, `PT2H` (a number is minutes); null for no limit */
  time?: string | number | null;
}

export type SlurmInput = RawSlurm;

interface JobCommon {
  name: string;
  requiredFiles?: FileInput[];
  resources?: ResourcesInput;
  /** run only on these nodes */
  nodes?: string[];
  retries?: number;
  slurm?: SlurmInput;
  /** jobs of the batch that must end done first: names or `*` patterns */
  after?: string[];
}

export interface PythonJob extends JobCommon {
  /** the script, run on the node as `python3 run.py <cpus>` */
  file: FileInput;
}
export interface ShellJob extends JobCommon {
  /** run by `/bin/sh -c` */
  command: string;
}
export type ApptainerJob = JobCommon;

export interface PythonInit {
  buildFile?: FileInput;
  requiredFiles?: FileInput[];
}
export interface ShellInit {
  command?: string;
  requiredFiles?: FileInput[];
}
export interface ApptainerInit {
  sif: FileInput;
  requiredFiles?: FileInput[];
  /** absolute paths inside the container */
  requiredMounts?: string[];
}

interface KindTypes {
  python: { job: PythonJob; init: PythonInit };
  shell: { job: ShellJob; init: ShellInit };
  apptainer: { job: ApptainerJob; init: ApptainerInit };
}

export type JobFor<K extends JobKind> = KindTypes[K]['job'];
/** The finalize step: a job of the kind without name or after (it runs after every job). */
export type FinalizeFor<K extends JobKind> = Omit<JobFor<K>, 'name' | 'after'>;
export type InitFor<K extends JobKind> = KindTypes[K]['init'];

interface BatchCommon {
  namespace: string;
  /** the batch name, unique within the namespace */
  name: string;
  capabilities?: string[];
  /** Matrix user told when the batch ends */
  matrix?: string | null;
  priority?: number;
  sort?: SortOrder;
  nodes?: string[];
  retries?: number;
  notify?: NotifyEvent[];
  /** default resources of every job */
  resources?: ResourcesInput;
  slurm?: SlurmInput;
}

export type BatchOptions<K extends JobKind> = BatchCommon & { kind: K } & (K extends 'apptainer' ? { initialize: InitFor<K> } : { initialize?: InitFor<K> });

type Doc = Record<string, unknown>;

/** Drops undefined fields, so the YAML holds only what was said. */
function defined(obj: Doc): Doc {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

function fileDoc(f: FileInput): unknown {
  return typeof f === 'string' ? f : defined({ path: f.path, alias: f.alias });
}

function filesDoc(files: FileInput[] | undefined): unknown {
  return files?.map(fileDoc);
}

function resourcesDoc(r: ResourcesInput | undefined): unknown {
  return r ? defined({ cpus: r.cpus, memory: r.memory, gpus: r.gpus, time: r.time }) : undefined;
}

export class BatchBuilder<K extends JobKind> {
  private readonly jobList: JobFor<K>[] = [];
  private finalizeStep: FinalizeFor<K> | undefined;

  constructor(readonly options: BatchOptions<K>) {}

  /** Adds one job. */
  job(job: JobFor<K>): this {
    this.jobList.push(job);
    return this;
  }

  /** Adds many jobs (a sweep). */
  jobs(jobs: Iterable<JobFor<K>>): this {
    for (const job of jobs) this.jobList.push(job);
    return this;
  }

  /** Sets the step that runs once every job has ended, with their results in `input/results/<job>/`. */
  finalize(step: FinalizeFor<K>): this {
    this.finalizeStep = step;
    return this;
  }

  get size(): number {
    return this.jobList.length;
  }

  /** The batch as the YAML document it becomes (snake_case keys, as in the file). */
  toObject(): Doc {
    const o = this.options;
    const kind = o.kind;
    const init = o.initialize as (PythonInit & ShellInit & Partial<ApptainerInit>) | undefined;
    const initDoc = init
      ? defined({
          build_file: init.buildFile === undefined ? undefined : fileDoc(init.buildFile),
          sif: init.sif === undefined ? undefined : fileDoc(init.sif),
          command: init.command,
          required_files: filesDoc(init.requiredFiles),
          required_mounts: init.requiredMounts,
        })
      : undefined;
    const jobDoc = (j: Partial<JobCommon> & Partial<PythonJob> & Partial<ShellJob>) =>
      defined({
        name: j.name,
        file: j.file === undefined ? undefined : fileDoc(j.file),
        command: j.command,
        required_files: filesDoc(j.requiredFiles),
        resources: resourcesDoc(j.resources),
        nodes: j.nodes,
        retries: j.retries,
        slurm: j.slurm,
        after: j.after,
      });
    const jobs = this.jobList.map((j) => jobDoc(j));
    return defined({
      meta: defined({
        batch_name: o.name,
        namespace: o.namespace,
        matrix: o.matrix,
        capabilities: o.capabilities ?? [],
        priority: o.priority,
        sort: o.sort,
        nodes: o.nodes,
        retries: o.retries,
        notify: o.notify,
        resources: resourcesDoc(o.resources),
      }),
      [kind]: defined({ initialize: initDoc, jobs }),
      slurm: o.slurm,
      finalize: this.finalizeStep === undefined ? undefined : jobDoc(this.finalizeStep),
    });
  }

  /** The batch file's text; `schema` adds the editor's `$schema` line. */
  toYAML(opts: { schema?: string } = {}): string {
    const header = opts.schema ? `# yaml-language-server: $schema=${opts.schema}\n` : '';
    return header + stringify(this.toObject(), { lineWidth: 0 });
  }

  /** Checks the batch as if written at `file` (its files are looked up from that folder). */
  validate(file: string, opts: { checkFiles?: boolean } = {}): BatchSpec {
    const result = parseBatch(this.toYAML(), { file, checkFiles: opts.checkFiles ?? true });
    if (!result.ok) throw new BatchSpecError(result.errors);
    return result.batch;
  }

  /**
   * Validates, then writes the batch file. An invalid batch is not written: a
   * BatchSpecError lists every problem. Returns the batch as `distribute` will read it.
   */
  async write(file: string, opts: { checkFiles?: boolean; schema?: string } = {}): Promise<BatchSpec> {
    const spec = this.validate(file, opts);
    await writeFile(file, this.toYAML({ schema: opts.schema }));
    return spec;
  }
}

/** Starts a batch: `batch({ kind: 'shell', namespace: 'lab', name: 'sweep' }).job({...})`. */
export function batch<K extends JobKind>(options: BatchOptions<K>): BatchBuilder<K> {
  return new BatchBuilder(options);
}

export type ParamScalar = string | number | boolean;
export type Grid = Record<string, readonly ParamScalar[]>;
/** One point of a grid: each parameter's name with one of its values. */
export type Point<G extends Grid> = { [P in keyof G]: G[P][number] };

/**
 * Every combination of the grid's values (`product`: the first parameter varies slowest), or
 * the lists paired position by position (`zip`, which needs lists of equal length).
 */
export function points<const G extends Grid>(grid: G, mode: 'product' | 'zip' = 'product'): Point<G>[] {
  const names = Object.keys(grid) as (keyof G & string)[];
  if (mode === 'zip') {
    const len = grid[names[0]!]?.length ?? 0;
    for (const n of names) {
      if (grid[n]!.length !== len) throw new Error(`zip needs lists of equal length; "${n}" has ${grid[n]!.length}, "${names[0]}" has ${len}`);
    }
    return Array.from({ length: len }, (_, i) => Object.fromEntries(names.map((n) => [n, grid[n]![i]])) as Point<G>);
  }
  let out: Record<string, ParamScalar>[] = [{}];
  for (const n of names) out = out.flatMap((p) => grid[n]!.map((v) => ({ ...p, [n]: v })));
  return out as Point<G>[];
}

/** A job for every point of the grid: `sweep({ re: [100, 200], mesh: ['a', 'b'] }, (p) => ({ name: `re${p.re}_${p.mesh}`, ... }))`. */
export function sweep<const G extends Grid, J>(grid: G, make: (point: Point<G>, index: number) => J, opts: { mode?: 'product' | 'zip' } = {}): J[] {
  return points(grid, opts.mode).map(make);
}
