// One job entry of the YAML → the jobs it stands for: parameters expanded, names and files
// checked, resources, nodes, retries and slurm laid over the batch's defaults.
import { isSafeName, unsafeNameReason } from '../paths.js';
import { BUILD_FOLDER } from './command.js';
import { compileTemplate, describeSet, parameterSets, placeholdersOf, type ParamSet } from './expand.js';
import { resolveFile, resolveFiles, type FileContext } from './files.js';
import type { FieldPath } from './positions.js';
import { mergeResources, mergeSlurm, slurmBlock } from './resources.js';
import type { RawFileRef, RawJob, RawMemoryRetry, RawResources, RawTimeRetry } from './schema.js';
import type { FileRef, Growth, JobKind, JobSpec, SlurmBlock } from './types.js';
import { formatSlurmSize, parseDuration, parseSize } from './units.js';
import { MAX_COMMAND_BYTES, MAX_EXPANDED_COMMAND_BYTES } from '../limits.js';

export interface JobContext extends FileContext {
  kind: JobKind;
  defaultResources: RawResources | undefined;
  defaultNodes: string[] | null;
  defaultRetries: number;
  defaultMemoryRetry?: RawMemoryRetry | undefined;
  defaultTimeRetry?: RawTimeRetry | undefined;
  batchSlurm: SlurmBlock;
  /** aliases the initialize step already puts in input/, alias → where it is written */
  initAliases: ReadonlyMap<string, string>;
  /** characters of commands made by filling placeholders so far, in the whole batch */
  filled: { chars: number };
}

/** A job after expansion, with the entry of the YAML it came from (for error positions). */
export interface ExpandedJob {
  spec: JobSpec;
  origin: FieldPath;
  set: ParamSet | null;
  /** false when the job has a problem (it still counts when looking for duplicate names) */
  ok: boolean;
  /** `after:` as written, placeholders filled; resolved to names once every job is known (dependencies.ts) */
  afterPatterns: string[];
}

/** Every string of a job in which placeholders are filled, with where it is written. */
function templates(raw: RawJob, path: FieldPath): { at: FieldPath; text: string }[] {
  const out: { at: FieldPath; text: string }[] = [{ at: [...path, 'name'], text: raw.name }];
  if (raw.command !== undefined) out.push({ at: [...path, 'command'], text: raw.command });
  const file = (ref: RawFileRef, at: FieldPath) => {
    if (typeof ref === 'string') out.push({ at, text: ref });
    else {
      out.push({ at: [...at, 'path'], text: ref.path });
      if (ref.alias !== undefined) out.push({ at: [...at, 'alias'], text: ref.alias });
    }
  };
  if (raw.file !== undefined) file(raw.file, [...path, 'file']);
  (raw.after ?? []).forEach((text, i) => out.push({ at: [...path, 'after', i], text }));
  (raw.required_files ?? []).forEach((ref, i) => file(ref, [...path, 'required_files', i]));
  return out;
}

function fillRef(ref: RawFileRef, fill: (s: string) => string): RawFileRef {
  if (typeof ref === 'string') return fill(ref);
  return ref.alias === undefined ? { path: fill(ref.path) } : { path: fill(ref.path), alias: fill(ref.alias) };
}

/** Fills the job's strings for one parameter set, each template split once for all sets. */
function filler(): (set: ParamSet | null) => (s: string) => string {
  const compiled = new Map<string, (values: ParamSet) => string>();
  return (set) => (s) => {
    if (!set) return s;
    let t = compiled.get(s);
    if (!t) compiled.set(s, (t = compileTemplate(s)));
    return t(set);
  };
}

/** The parameter sets of a job: `[null]` for a job without parameters. Problems go to ctx. */
function setsOf(raw: RawJob, path: FieldPath, ctx: JobContext): (ParamSet | null)[] {
  if (!raw.parameters) {
    if (raw.parameter_mode !== undefined) {
      ctx.problems.push({ path: [...path, 'parameter_mode'], target: 'key', message: 'parameter_mode needs parameters: to go with it' });
    }
    return [null];
  }
  const exp = parameterSets(raw.parameters, raw.parameter_mode ?? 'product');
  if (!exp.ok) {
    const at = exp.param !== undefined ? [...path, 'parameters', exp.param] : [...path, 'parameters'];
    ctx.problems.push({ path: at, target: exp.param !== undefined && !exp.error.startsWith('parameter_mode') ? 'key' : 'value', message: exp.error });
    return [];
  }
  const names = Object.keys(raw.parameters);
  let unknown = false;
  for (const { at, text } of templates(raw, path)) {
    for (const p of placeholdersOf(text)) {
      if (!names.includes(p)) {
        unknown = true;
        ctx.problems.push({
          path: at,
          target: 'value',
          message: `unknown placeholder {${p}}; this job's parameters are ${names.map((n) => `{${n}}`).join(', ')} (write {{ and }} for literal braces)`,
        });
      }
    }
  }
  if (unknown) return [];
  if (exp.sets.length > 1 && placeholdersOf(raw.name).length === 0) {
    ctx.problems.push({
      path: [...path, 'name'],
      target: 'value',
      message: `every one of the ${exp.sets.length} jobs these parameters make would be named "${raw.name}"; put placeholders such as {${names[0]}} in the name`,
    });
    return [];
  }
  return exp.sets;
}

/**
 * A memory_retry or time_retry in numbers; null when there is none. It needs the request it
 * grows, and room above it to grow into: a problem at `path` otherwise.
 */
function growth(
  raw: { factor: number; max: string | number } | undefined,
  parse: (v: string | number) => { ok: true; value: number } | { ok: false; error: string },
  request: number | null,
  what: 'memory' | 'time',
  path: FieldPath,
  ctx: JobContext,
): Growth | null {
  if (!raw) return null;
  const max = parse(raw.max);
  if (!max.ok) return null;
  const key = `${what}_retry`;
  if (request === null) {
    ctx.problems.push({ path, target: 'value', message: `${key} needs resources.${what}: it grows the ${what} the job asks for` });
    return null;
  }
  if (max.value <= request) {
    const shown = what === 'memory' ? `${formatSlurmSize(max.value)} is not more than the ${formatSlurmSize(request)} asked` : `${max.value}s is not more than the ${request}s asked`;
    ctx.problems.push({ path, target: 'value', message: `${key}.max: ${shown}` });
    return null;
  }
  return { factor: raw.factor, max: max.value };
}

/** Expands and checks one job entry written at `path` (e.g. `['shell','jobs',2]`). */
export function expandJob(raw: RawJob, path: FieldPath, ctx: JobContext): ExpandedJob[] {
  const out: ExpandedJob[] = [];
  const resources = mergeResources(ctx.defaultResources, raw.resources);
  const slurm = mergeSlurm(ctx.batchSlurm, slurmBlock(raw.slurm));
  const nodes = raw.nodes ?? ctx.defaultNodes;
  const retries = raw.retries ?? ctx.defaultRetries;
  const memoryRetry = growth(raw.memory_retry ?? ctx.defaultMemoryRetry, parseSize, resources.memory, 'memory', [...path, raw.memory_retry ? 'memory_retry' : 'resources'], ctx);
  const timeRetry = growth(raw.time_retry ?? ctx.defaultTimeRetry, parseDuration, resources.time, 'time', [...path, raw.time_retry ? 'time_retry' : 'resources'], ctx);
  const hasFiles = raw.file !== undefined || (raw.required_files?.length ?? 0) > 0;
  const fillFor = filler();
  let nameReported = false;
  let commandReported = false;
  for (const set of setsOf(raw, path, ctx)) {
    const fill = fillFor(set);
    const name = fill(raw.name);
    let ok = true;
    if (!isSafeName(name)) {
      ok = false;
      if (!nameReported) {
        ctx.problems.push({ path: [...path, 'name'], target: 'value', message: `job name not usable as a folder name: ${unsafeNameReason(name)}${set ? ` (${describeSet(set)})` : ''}` });
        nameReported = true;
      }
    }
    if (ok && name === BUILD_FOLDER) {
      ok = false;
      ctx.problems.push({ path: [...path, 'name'], target: 'value', message: `job name "${BUILD_FOLDER}" is reserved: the batch's initialize step runs in the folder of that name` });
    }
    let file: FileRef | null = null;
    let requiredFiles: FileRef[] = [];
    if (hasFiles) {
      const note = set ? ` (job "${name}": ${describeSet(set)})` : '';
      const before = ctx.problems.length;
      file = raw.file === undefined ? null : resolveFile(fillRef(raw.file, fill), [...path, 'file'], ctx, { note, aliasUsed: false });
      requiredFiles = resolveFiles(raw.required_files?.map((r) => fillRef(r, fill)), [...path, 'required_files'], ctx, new Map(ctx.initAliases), note);
      if (ctx.problems.length !== before) ok = false;
    }
    const command = raw.command === undefined ? null : fill(raw.command);
    if (command !== null && set && command !== raw.command) {
      if (command.length > MAX_COMMAND_BYTES) {
        ok = false;
        if (!commandReported) {
          ctx.problems.push({ path: [...path, 'command'], target: 'value', message: `the command filled with ${describeSet(set)} is over the limit of ${MAX_COMMAND_BYTES} characters` });
          commandReported = true;
        }
      }
      ctx.filled.chars += command.length;
      if (ctx.filled.chars > MAX_EXPANDED_COMMAND_BYTES) {
        // the rest is not expanded: the limit bounds the work and memory of a hostile document
        ctx.problems.push({ path: [...path, 'command'], target: 'value', message: `the commands filled from parameters come to more than ${MAX_EXPANDED_COMMAND_BYTES} characters in all; make them shorter or use fewer jobs` });
        break;
      }
    }
    out.push({
      origin: path,
      set,
      ok,
      spec: {
        name,
        file,
        command,
        requiredFiles,
        resources: { ...resources },
        nodes,
        retries,
        ...(memoryRetry ? { memoryRetry } : {}),
        ...(timeRetry ? { timeRetry } : {}),
        slurm: { ...slurm },
      },
      afterPatterns: (raw.after ?? []).map(fill),
    });
  }
  return out;
}
