// An `assign` from the head, turned into what the runner takes: the batch and job as spec
// types, with every file pointing at its verified copy in the node's input cache.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeadMessage } from '../shared/protocol/messages.js';
import type { WireFile } from '../shared/protocol/common.js';
import type { AttemptPaths } from '../shared/spec/command.js';
import type { FileRef, Initialize, JobSpec } from '../shared/spec/types.js';
import type { AttemptResult, BatchForRunner, InputFile } from './runner.js';

export type Assign = Extract<HeadMessage, { type: 'assign' }>;

/** Every file an assignment needs on this node, each hash once. */
export function filesOf(a: Assign): WireFile[] {
  const init = a.initialize;
  const all: WireFile[] = [...a.job.requiredFiles, ...init.requiredFiles];
  if (a.job.file) all.push(a.job.file);
  if (init.kind === 'python' && init.buildFile) all.push(init.buildFile);
  if (init.kind === 'apptainer') all.push(init.sif);
  const seen = new Set<string>();
  return all.filter((f) => !seen.has(f.hash) && seen.add(f.hash));
}

/** Where each hash is on this node. */
export type LocalFiles = ReadonlyMap<string, string>;

function ref(f: WireFile, local: LocalFiles): FileRef {
  const path = local.get(f.hash);
  if (!path) throw new Error(`input ${f.alias} (${f.hash}) was not fetched`);
  return { path, alias: f.alias };
}

function input(f: WireFile, local: LocalFiles): InputFile {
  return { alias: f.alias, source: ref(f, local).path };
}

export function runnerBatch(a: Assign, local: LocalFiles): BatchForRunner {
  const init = a.initialize;
  let initialize: Initialize;
  switch (init.kind) {
    case 'python':
      initialize = { kind: 'python', buildFile: init.buildFile ? ref(init.buildFile, local) : null, requiredFiles: init.requiredFiles.map((f) => ref(f, local)) };
      break;
    case 'apptainer':
      initialize = { kind: 'apptainer', sif: ref(init.sif, local), requiredFiles: init.requiredFiles.map((f) => ref(f, local)), requiredMounts: init.requiredMounts };
      break;
    case 'shell':
      initialize = { kind: 'shell', command: init.command, requiredFiles: init.requiredFiles.map((f) => ref(f, local)) };
      break;
  }
  return {
    kind: a.kind,
    initialize,
    meta: { batch_name: a.batch, namespace: a.namespace, matrix: null, capabilities: [], priority: 0, sort: 'none', nodes: null, retries: 0, notify: [] },
  };
}

export function runnerJob(a: Assign, local: LocalFiles): JobSpec {
  return {
    name: a.job.name,
    file: a.job.file ? ref(a.job.file, local) : null,
    command: a.job.command,
    requiredFiles: a.job.requiredFiles.map((f) => ref(f, local)),
    resources: a.job.resources,
    nodes: null,
    retries: 0,
    slurm: {},
  };
}

/** The job's required files and the initialize step's, for the attempt's `input/` folder. */
export function attemptInputs(a: Assign, local: LocalFiles): InputFile[] {
  return [...a.job.requiredFiles, ...a.initialize.requiredFiles].map((f) => input(f, local));
}

/** The initialize step's files, for the build folder. */
export function buildInputs(a: Assign, local: LocalFiles): { inputs: InputFile[]; buildFile: string | null; sif: InputFile | null } {
  const init = a.initialize;
  return {
    inputs: init.requiredFiles.map((f) => input(f, local)),
    buildFile: init.kind === 'python' && init.buildFile ? ref(init.buildFile, local).path : null,
    sif: init.kind === 'apptainer' ? input(init.sif, local) : null,
  };
}

/**
 * The `_distribute/` of an attempt that never got to start its process (an input that could
 * not be fetched, a failed build): the same files a run leaves, the reason in stderr.log.
 */
export async function writeUnstartedResult(paths: AttemptPaths, a: Assign, node: string, error: string, cancelled: boolean): Promise<AttemptResult> {
  await mkdir(paths.save, { recursive: true });
  await mkdir(paths.meta, { recursive: true });
  const now = new Date().toISOString();
  const result: AttemptResult = {
    namespace: a.namespace,
    batch: a.batch,
    job: a.job.name,
    node,
    attempt: a.attemptNumber,
    exit_code: null,
    signal: null,
    timed_out: false,
    cancelled,
    error: cancelled ? null : error,
    success: false,
    start: now,
    end: now,
    out_of_memory: false,
    usage: { cpu_seconds: 0, peak_memory_bytes: 0, wall_seconds: 0 },
  };
  await writeFile(join(paths.meta, 'stdout.log'), '');
  await writeFile(join(paths.meta, 'stderr.log'), `distribute: ${error}\n`);
  await writeFile(join(paths.meta, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}
