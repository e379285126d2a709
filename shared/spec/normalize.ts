// The checked YAML → BatchSpec. Works part by part (meta, initialize, each job), so a
// problem in one job does not hide the problems of the others: every part that passes its
// schema gets its semantic checks (files, names, duplicates) even when another part failed.
import { posix } from 'node:path';
import { formatPath, type FieldPath } from './positions.js';
import { problemsFromZod, type Problem } from './issues.js';
import { resolveFile, resolveFiles, type FileContext } from './files.js';
import { expandJob, type ExpandedJob, type JobContext } from './jobs.js';
import { resolveDependencies } from './dependencies.js';
import { MAX_EXPANDED_JOBS } from './expand.js';
import { slurmBlock } from './resources.js';
import { readOriginalSpellings } from './compat.js';
import {
  ApptainerInit, BatchFile, FINALIZE_SCHEMAS, KINDS, Meta as MetaSchema, JOB_SCHEMAS, PythonInit, ShellInit, SlurmBlock as SlurmSchema,
  type RawFileRef, type RawJob, type RawMeta,
} from './schema.js';
import { FINALIZE_JOB, type BatchSpec, type Initialize, type JobKind, type JobSpec, type Meta, type SlurmBlock } from './types.js';

export interface NormalizeContext extends FileContext {
  /** the YAML file, absolute */
  file: string;
  /** `line N` of a path, to point at the other half of a duplicate; absent for a document without positions (JSON) */
  lineOf?: (path: FieldPath) => number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function normalizeMeta(raw: RawMeta): Meta {
  return {
    batch_name: raw.batch_name,
    namespace: raw.namespace,
    matrix: raw.matrix ?? null,
    capabilities: raw.capabilities ?? [],
    priority: raw.priority ?? 0,
    sort: raw.sort ?? 'none',
    nodes: raw.nodes ?? null,
    retries: raw.retries ?? 0,
    notify: raw.notify ?? ['end'],
  };
}

/** The batch's kind, from which of python/apptainer/shell is present; problems when not exactly one. */
function kindOf(data: Record<string, unknown>, problems: Problem[]): JobKind | null {
  const present = KINDS.filter((k) => k in data);
  if (present.length === 1) return present[0]!;
  if (present.length === 0) {
    problems.push({ path: [], target: 'value', message: 'a batch needs one of python:, apptainer: or shell: with its jobs' });
  } else {
    for (const k of present.slice(1)) {
      problems.push({ path: [k], target: 'key', message: `a batch has exactly one of python:, apptainer:, shell:; this one also has ${present[0]}:` });
    }
  }
  return null;
}

const RESERVED_MOUNTS = ['/input', '/distribute_save'];

function checkMounts(mounts: readonly string[], path: FieldPath, problems: Problem[]): string[] {
  const seen = new Set<string>();
  mounts.forEach((m, i) => {
    const at = [...path, i];
    const norm = posix.normalize(m).replace(/(.)\/$/, '$1');
    if (!m.startsWith('/')) problems.push({ path: at, target: 'value', message: `"${m}" must be an absolute path inside the container` });
    else if (m.split('/').includes('..')) problems.push({ path: at, target: 'value', message: `"${m}" must not contain ".."` });
    else if (/[,:]/.test(m)) problems.push({ path: at, target: 'value', message: `"${m}" must not contain "," or ":" (they separate apptainer --bind entries)` });
    else if (RESERVED_MOUNTS.includes(norm)) problems.push({ path: at, target: 'value', message: `"${m}" is already bound by distribute (/input and /distribute_save are)` });
    else if (seen.has(norm)) problems.push({ path: at, target: 'value', message: `"${m}" is listed twice` });
    seen.add(norm);
  });
  return mounts.map((m) => posix.normalize(m));
}

/** Initialize block → Initialize, plus the aliases its required files take in input/. */
function normalizeInit(kind: JobKind, raw: unknown, path: FieldPath, ctx: NormalizeContext): { init: Initialize; aliases: Map<string, string> } | null {
  const aliases = new Map<string, string>();
  const before = ctx.problems.length;
  const files = (list: RawFileRef[] | undefined) => resolveFiles(list, [...path, 'required_files'], ctx, aliases);
  // a block that fails its schema is reported by the whole-document parse
  let init: Initialize | null = null;
  switch (kind) {
    case 'python': {
      const r = PythonInit.safeParse(raw ?? {});
      if (!r.success) return null;
      const buildFile = r.data.build_file === undefined ? null : resolveFile(r.data.build_file, [...path, 'build_file'], ctx, { aliasUsed: false });
      init = { kind, buildFile, requiredFiles: files(r.data.required_files) };
      break;
    }
    case 'apptainer': {
      const r = ApptainerInit.safeParse(raw);
      if (!r.success) return null;
      const sif = resolveFile(r.data.sif, [...path, 'sif'], ctx);
      const requiredFiles = files(r.data.required_files);
      const requiredMounts = checkMounts(r.data.required_mounts ?? [], [...path, 'required_mounts'], ctx.problems);
      if (sif) init = { kind, sif, requiredFiles, requiredMounts };
      break;
    }
    case 'shell': {
      const r = ShellInit.safeParse(raw ?? {});
      if (!r.success) return null;
      init = { kind, command: r.data.command ?? null, requiredFiles: files(r.data.required_files) };
      break;
    }
  }
  return init && ctx.problems.length === before ? { init, aliases } : null;
}

type Named = Pick<ExpandedJob, 'origin' | 'set'> & { spec: { name: string } };

/** Refuses two jobs (after expansion) with the same name, pointing at the later one. */
function checkDuplicateNames(jobs: Named[], ctx: NormalizeContext): void {
  const first = new Map<string, Named>();
  const reported = new Set<string>();
  for (const job of jobs) {
    const other = first.get(job.spec.name);
    if (!other) {
      first.set(job.spec.name, job);
      continue;
    }
    const key = `${formatPath(job.origin)} ${job.spec.name}`;
    if (reported.has(key)) continue;
    reported.add(key);
    const line = ctx.lineOf ? ` at line ${ctx.lineOf([...other.origin, 'name'])}` : '';
    const where = other.origin === job.origin ? 'another job from the same parameters' : `${formatPath(other.origin)}${line}`;
    const from = job.set ? ` from parameters (put every parameter in the name)` : '';
    ctx.problems.push({ path: [...job.origin, 'name'], target: 'value', message: `duplicate job name "${job.spec.name}"${from}; also used by ${where}` });
  }
}

/** The alias of the folder the finalize step finds the batch's results in. */
export const FINALIZE_RESULTS = 'results';

/**
 * `finalize:`, a job of the batch's kind without a name: it runs as FINALIZE_JOB. A block that
 * fails its schema is reported by the whole-document parse and, key by key, here.
 */
function normalizeFinalize(kind: JobKind, raw: unknown, ctx: JobContext): JobSpec | null {
  const parsed = FINALIZE_SCHEMAS[kind].safeParse(raw);
  if (!parsed.success) {
    for (const p of problemsFromZod(parsed.error.issues, raw, ['finalize'])) ctx.problems.push(p);
    return null;
  }
  // checked as a job of a safe name, then renamed: FINALIZE_JOB is kept out of job names on purpose
  const [job] = expandJob({ ...(parsed.data as Omit<RawJob, 'name'>), name: 'finalize' }, ['finalize'], ctx);
  if (!job || !job.ok) return null;
  const clash = job.spec.requiredFiles.findIndex((f) => f.alias === FINALIZE_RESULTS);
  if (clash >= 0) {
    ctx.problems.push({ path: ['finalize', 'required_files', clash], target: 'value', message: `the alias "${FINALIZE_RESULTS}" is taken: the batch's results are placed in input/${FINALIZE_RESULTS}/` });
    return null;
  }
  return { ...job.spec, name: FINALIZE_JOB };
}

/**
 * Checks a document already read from YAML or JSON (`data`) against the schema and the rules
 * zod cannot see, and builds the BatchSpec. Returns the batch only when there is no problem.
 */
export function normalizeBatch(written: unknown, ctx: NormalizeContext): BatchSpec | null {
  const problems = ctx.problems;
  if (!isRecord(written)) {
    problems.push({ path: [], target: 'value', message: 'a batch file is a map with meta: and one of python:, apptainer:, shell:' });
    return null;
  }
  const before = problems.length;
  const data = readOriginalSpellings(written, BatchFile);
  const batch = normalizeRecord(data, ctx);
  if (data !== written && Object.hasOwn(written, 'singularity')) {
    // problems name the section as the file spells it
    for (const p of problems.slice(before)) if (p.path[0] === 'apptainer') p.path = ['singularity', ...p.path.slice(1)];
  }
  return batch;
}

function normalizeRecord(data: Record<string, unknown>, ctx: NormalizeContext): BatchSpec | null {
  const problems = ctx.problems;
  const whole = BatchFile.safeParse(data);
  // one by one: a hostile document can have more issues than a call takes arguments
  if (!whole.success) for (const p of problemsFromZod(whole.error.issues, data)) problems.push(p);

  const kind = kindOf(data, problems);
  const metaParsed = MetaSchema.safeParse(data.meta);
  const meta = metaParsed.success ? normalizeMeta(metaParsed.data) : null;
  const slurmParsed = SlurmSchema.safeParse(data.slurm ?? {});
  const batchSlurm: SlurmBlock = slurmParsed.success ? slurmBlock(slurmParsed.data) : {};
  if (!kind) return null;

  const section = data[kind];
  if (!isRecord(section)) return null;
  const init = normalizeInit(kind, section.initialize, [kind, 'initialize'], ctx);

  const metaDefaults = isRecord(data.meta) ? data.meta : {};
  const defaultsParsed = MetaSchema.pick({ resources: true, nodes: true, retries: true, memory_retry: true, time_retry: true }).safeParse({
    resources: metaDefaults.resources,
    nodes: metaDefaults.nodes,
    retries: metaDefaults.retries,
    memory_retry: metaDefaults.memory_retry,
    time_retry: metaDefaults.time_retry,
  });
  const defaults = defaultsParsed.success ? defaultsParsed.data : {};
  // characters filled in from parameters, over the whole batch (bounded: shared/limits.ts)
  const filled = { chars: 0 };
  const jobContext: JobContext = {
    ...ctx,
    kind,
    defaultResources: defaults.resources,
    defaultNodes: defaults.nodes ?? null,
    defaultRetries: defaults.retries ?? 0,
    defaultMemoryRetry: defaults.memory_retry,
    defaultTimeRetry: defaults.time_retry,
    batchSlurm,
    initAliases: init?.aliases ?? new Map(),
    filled,
  };
  const jobs: ExpandedJob[] = [];
  let everyEntryParsed = true;
  // in the order of the file: jobs with other problems still take part in the search for duplicate names
  const named: Named[] = [];
  if (Array.isArray(section.jobs)) {
    for (let i = 0; i < section.jobs.length; i++) {
      const rawJob: unknown = section.jobs[i];
      const parsed = JOB_SCHEMAS[kind].safeParse(rawJob);
      if (!parsed.success) {
        everyEntryParsed = false;
        if (isRecord(rawJob) && typeof rawJob.name === 'string' && rawJob.parameters === undefined) {
          named.push({ origin: [kind, 'jobs', i], set: null, spec: { name: rawJob.name } });
        }
        continue;
      }
      const expanded = expandJob(parsed.data as RawJob, [kind, 'jobs', i], jobContext);
      if (jobs.length + expanded.length > MAX_EXPANDED_JOBS) {
        // the entries after this one are not expanded: the limit bounds the work of a hostile document too
        problems.push({
          path: [kind, 'jobs', i],
          target: 'value',
          message: `the batch comes to ${jobs.length + expanded.length} jobs with this entry, more than the ${MAX_EXPANDED_JOBS} allowed in one batch`,
        });
        break;
      }
      for (const job of expanded) {
        jobs.push(job);
        named.push(job);
      }
    }
  }
  checkDuplicateNames(named, ctx);
  // a pattern can only be said to match nothing when every job's name is known
  if (everyEntryParsed && Array.isArray(section.jobs)) {
    const deps = resolveDependencies(jobs.map((j) => ({ name: j.spec.name, origin: j.origin, set: j.set, afterPatterns: j.afterPatterns })), problems);
    jobs.forEach((j, i) => {
      if (deps[i]!.length > 0) j.spec.after = deps[i]!;
    });
  }
  const finalize = data.finalize === undefined ? null : normalizeFinalize(kind, data.finalize, jobContext);
  if (problems.length > 0 || !meta || !init) return null;
  return {
    meta,
    kind,
    initialize: init.init,
    jobs: jobs.map((j) => j.spec),
    ...(finalize ? { finalize } : {}),
    slurm: batchSlurm,
    source: { file: ctx.file, dir: ctx.dir },
  };
}

