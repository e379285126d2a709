// The batch file as written (docs/architecture.md, Batch file), as zod schemas. This is the input side only: it
// checks shapes and values; defaults, file resolution and parameter expansion happen in
// normalize.ts. No transforms here, so the same schema becomes the JSON Schema editors use.
import { z } from 'zod';
import { SAFE_NAME, unsafeNameReason } from '../paths.js';
import { parseDuration, parseSize } from './units.js';
import { MAX_COMMAND_BYTES, MAX_FIELD_CHARS, MAX_LIST_ENTRIES } from '../limits.js';

/**
 * Marks the message of an unknown-key issue with the keys that were expected there, so the
 * error reporter can say "did you mean" (zod's issue does not carry the object's shape).
 */
export const KNOWN_KEYS_MARK = '\u0000known:';

/** A strict object (unknown keys refused) whose unknown-key issue names the known keys. */
function strict<T extends z.ZodRawShape>(shape: T, description?: string) {
  const known = Object.keys(shape);
  const obj = z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? KNOWN_KEYS_MARK + JSON.stringify(known) : undefined),
  });
  return description ? obj.meta({ description }) : obj;
}

/** A string of at most `max` characters, refused with its length (a hostile file may hold megabytes). */
const bounded = (max = MAX_FIELD_CHARS) =>
  z.string().max(max, { error: (iss) => `${String(iss.input).length} characters is over the limit of ${max}` });

/** A list of at most MAX_LIST_ENTRIES entries. */
const list = <T extends z.ZodType>(item: T) =>
  z.array(item).max(MAX_LIST_ENTRIES, { error: (iss) => `${(iss.input as unknown[]).length} entries is over the limit of ${MAX_LIST_ENTRIES}` });

const nonEmpty = (what: string, max = MAX_FIELD_CHARS) => bounded(max).min(1, { error: `${what} must not be empty` });

/** A name that becomes a path on every machine (namespace, batch, node). */
export const SafeName = z.string().regex(SAFE_NAME, {
  error: (iss) => `not usable as a folder name: ${unsafeNameReason(String(iss.input))}`,
});

/** A node name, as given by `compute.yaml`'s `name`. */
const NodeName = SafeName;

/** A size in Slurm's binary units: `512M`, `8G`; a bare number is megabytes. */
export const Size = z
  .union([bounded(64), z.number()])
  .superRefine((value, ctx) => {
    const r = parseSize(value);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
    else if (r.value <= 0) ctx.addIssue({ code: 'custom', message: 'must be more than 0 (leave it out for no reservation)' });
  })
  .meta({ description: 'size in binary units: 512M, 8G, 1.5T (a bare number is megabytes)' });

/** A duration: `90s`, `2h30m`, `HH:MM:SS`, `D-HH:MM:SS`, `PT2H`; a bare number is minutes. */
export const Duration = z
  .union([bounded(64), z.number()])
  .superRefine((value, ctx) => {
    const r = parseDuration(value);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
    else if (r.value <= 0) ctx.addIssue({ code: 'custom', message: 'must be more than 0 (leave it out for no limit)' });
  })
  .meta({ description: 'duration: 90s, 5m, 2h30m, HH:MM:SS, D-HH:MM:SS or ISO-8601 PT2H (a bare number is minutes)' });

export const Resources = strict(
  {
    cpus: z
      .union([z.number().int().min(1), z.literal('all')])
      .optional()
      .meta({ description: 'cpus the job uses (a whole number, at least 1), or all: the whole node, alone, as the original distribute ran jobs; passed to the job' }),
    memory: Size.nullable().optional(),
    gpus: z.number().int().min(0).optional().meta({ description: 'GPUs the job needs (0 or more)' }),
    time: Duration.nullable().optional(),
  },
  'what a job needs; any field left out takes the batch default, else 1 cpu, no GPU, no memory reservation, no time limit',
);

/** A file the batch ships: a path relative to the YAML's folder, or `{path, alias}`. */
export const FileRef = z.union([
  nonEmpty('a file path'),
  strict(
    {
      path: nonEmpty('path').meta({ description: "relative to the batch file's folder, or absolute" }),
      alias: nonEmpty('alias').optional().meta({ description: "the file's name on the node (default: its base name)" }),
    },
    'a file and the name it takes on the node',
  ),
]);

const FileList = list(FileRef);

export const SlurmBlock = strict(
  {
    job_name: bounded().optional(),
    output: bounded().optional(),
    nodes: z.number().int().min(1).optional(),
    ntasks: z.number().int().min(1).optional(),
    cpus_per_task: z.number().int().min(1).optional(),
    mem_per_cpu: Size.optional(),
    hint: bounded().optional(),
    time: Duration.optional(),
    partition: bounded().optional(),
    account: bounded().optional(),
    mail_user: bounded().optional(),
    mail_type: bounded().optional(),
    qos: bounded().optional(),
    gres: bounded().optional(),
    mem: Size.optional(),
    constraint: bounded().optional(),
    array_limit: z.number().int().min(1).optional(),
    extra_directives: list(bounded()).optional(),
    setup: list(bounded()).optional(),
  },
  'Slurm settings used when the batch is transpiled; a job block overrides the batch block field by field',
);

const Scalar = z.union([bounded(), z.number(), z.boolean()]);

/** How much a request grows when an attempt fails for want of it: times `factor`, up to `max`. */
const factor = z.number().min(1.1, { error: 'must be at least 1.1' }).max(64, { error: 'must be at most 64' }).meta({ description: 'the request is multiplied by this' });
export const MemoryRetry = strict(
  { factor, max: Size.meta({ description: 'memory is never raised above this' }) },
  'an attempt killed out of memory runs again with its memory times factor, up to max',
);
export const TimeRetry = strict(
  { factor, max: Duration.meta({ description: 'the time limit is never raised above this' }) },
  'an attempt that hit its time limit runs again with the limit times factor, up to max',
);

/** Keys every kind of job may carry. */
const jobCommon = {
  name: nonEmpty('name').meta({ description: 'unique within the batch; {placeholders} are filled from parameters' }),
  required_files: FileList.optional().meta({ description: 'files placed in input/ under their alias' }),
  resources: Resources.optional(),
  nodes: list(NodeName).optional().meta({ description: 'run only on these nodes' }),
  retries: z.number().int().min(0).max(1000).optional().meta({ description: 're-runs after a non-zero exit' }),
  memory_retry: MemoryRetry.optional(),
  time_retry: TimeRetry.optional(),
  slurm: SlurmBlock.optional(),
  parameters: z
    .record(bounded(128), list(Scalar).min(1, { error: 'a parameter needs at least one value' }))
    .optional()
    .meta({ description: 'the job stands for every combination of these values; {name} placeholders are filled in' }),
  parameter_mode: z.enum(['product', 'zip']).optional().meta({ description: 'product (every combination, default) or zip (pair the lists)' }),
  after: list(nonEmpty('a job name'))
    .optional()
    .meta({ description: 'jobs of this batch that must end done first: names or * patterns, {placeholders} filled from parameters' }),
};

/** A finalize step takes a job's keys but no name (it is `_finalize`), parameters or after (it waits for every job). */
const { name: _name, parameters: _parameters, parameter_mode: _mode, after: _after, ...finalizeCommon } = jobCommon;

const jobs = <T extends z.ZodType>(job: T) => list(job).min(1, { error: 'a batch needs at least one job' });

export const PythonInit = strict({
  build_file: FileRef.optional().meta({ description: 'run once per node as `python3 build.py` before the first job' }),
  required_files: FileList.optional(),
});
export const PythonJob = strict({ ...jobCommon, file: FileRef.meta({ description: 'the script, run as `python3 run.py <cpus>`' }) });
export const PythonFinalize = strict({ ...finalizeCommon, file: PythonJob.shape.file });
export const PythonSection = strict({ initialize: PythonInit.optional(), jobs: jobs(PythonJob) });

export const ApptainerInit = strict({
  sif: FileRef.meta({ description: 'the container image' }),
  required_files: FileList.optional(),
  required_mounts: list(bounded()).optional().meta({ description: 'absolute paths inside the container, each backed by an empty folder' }),
});
export const ApptainerJob = strict(jobCommon);
export const ApptainerFinalize = strict(finalizeCommon);
export const ApptainerSection = strict({ initialize: ApptainerInit, jobs: jobs(ApptainerJob) });

export const ShellInit = strict({
  command: bounded(MAX_COMMAND_BYTES).optional().meta({ description: 'run once per node by /bin/sh -c before the first job' }),
  required_files: FileList.optional(),
});
export const ShellJob = strict({ ...jobCommon, command: nonEmpty('command', MAX_COMMAND_BYTES).meta({ description: 'run by /bin/sh -c' }) });
export const ShellFinalize = strict({ ...finalizeCommon, command: ShellJob.shape.command });
export const ShellSection = strict({ initialize: ShellInit.optional(), jobs: jobs(ShellJob) });

export const Meta = strict({
  batch_name: SafeName.meta({ description: 'unique within the namespace' }),
  namespace: SafeName,
  matrix: z
    .string()
    .max(MAX_FIELD_CHARS, { error: `over the limit of ${MAX_FIELD_CHARS} characters` })
    .regex(/^@[^:\s]+:\S+$/, { error: 'a Matrix user looks like @name:example.org' })
    .nullable()
    .optional()
    .meta({ description: 'Matrix user told when the batch ends; null for nobody' }),
  capabilities: list(nonEmpty('a capability')).optional().meta({ description: 'every one must be on the node (exact, case-sensitive)' }),
  priority: z.number().int().optional().meta({ description: 'higher runs first' }),
  sort: z.enum(['gpus_runtime_memory', 'gpus_memory_runtime', 'none']).optional(),
  nodes: list(NodeName).optional().meta({ description: 'run only on these nodes' }),
  retries: z.number().int().min(0).max(1000).optional().meta({ description: 're-runs after a non-zero exit' }),
  memory_retry: MemoryRetry.optional(),
  time_retry: TimeRetry.optional(),
  notify: list(z.enum(['end', 'first_failure'])).optional(),
  resources: Resources.optional().meta({ description: 'default resources of every job' }),
});

export const KINDS = ['python', 'apptainer', 'shell'] as const;

export const BatchFile = strict({
  meta: Meta,
  python: PythonSection.optional(),
  apptainer: ApptainerSection.optional(),
  shell: ShellSection.optional(),
  slurm: SlurmBlock.optional(),
  finalize: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: "a last step, shaped like a job of the batch's kind without name: runs once every job has ended, with their results in input/results/<job>/" }),
}).meta({
  title: 'distribute batch',
  description: 'A batch of jobs for distribute: meta: and exactly one of python:, apptainer:, shell:',
  // for editors; the parser says the same in words
  oneOf: KINDS.map((k) => ({ required: [k] })),
} as Record<string, unknown>);

/** The JSON Schema of a batch file, for editors (`# yaml-language-server: $schema=...`). */
export function batchJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(BatchFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

export type RawFileRef = z.infer<typeof FileRef>;
export type RawResources = z.infer<typeof Resources>;
export type RawMemoryRetry = z.infer<typeof MemoryRetry>;
export type RawTimeRetry = z.infer<typeof TimeRetry>;
export type RawSlurm = z.infer<typeof SlurmBlock>;
export type RawMeta = z.infer<typeof Meta>;
export type RawBatch = z.infer<typeof BatchFile>;
/** Any kind of job: the kind-specific keys are optional here and checked by the kind's schema. */
export type RawJob = z.infer<typeof ApptainerJob> & { file?: RawFileRef; command?: string };

/** The schema of one job of each kind. */
export const JOB_SCHEMAS = { python: PythonJob, apptainer: ApptainerJob, shell: ShellJob } as const;
/** The schema of the finalize step of each kind. */
export const FINALIZE_SCHEMAS = { python: PythonFinalize, apptainer: ApptainerFinalize, shell: ShellFinalize } as const;
