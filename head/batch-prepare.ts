// A checked batch turned into what the head stores: the batch record (its initialize step in
// wire form) and every job's row, with each file replaced by the content hash the client
// uploaded. Pure and synchronous: it runs in the batch parser's worker thread, so the per-job
// work of a 100,000-job batch never runs on the head's event loop. The jobs travel back as
// UTF-8 JSON, QUEUE_CHUNK rows per buffer, moved (not copied) between threads: a structured
// clone of 60,000 objects, or even of 7 MB of strings, costs the receiving loop 0.1-0.4 s on
// a loaded machine. They are parsed one chunk at a time as they are inserted (head/queue.ts). What needs the database (is each
// input on the head, and may this user name it?) is left to the caller: `inputs` lists each
// file once.
import { posix, relative, sep } from 'node:path';
import type { WireFile, WireInitialize } from '../shared/protocol/common.js';
import { MAX_FRAME } from '../shared/protocol/codec.js';
import { PYTHON_BUILD_FILE, PYTHON_JOB_FILE } from '../shared/spec/command.js';
import type { BatchSpec, FileRef, JobSpec } from '../shared/spec/types.js';
import { formatBytes } from '../shared/spec/units.js';
import { isSafeName } from '../shared/paths.js';
import { serializeJobRecord, type BatchRecord } from './store.js';

/** Jobs per chunk: one buffer here, one transaction and one turn of the event loop in queue.ts (~5 ms). */
export const QUEUE_CHUNK = 1_000;

/** One job as queueBatch inserts it: the stored record (serializeJobRecord) and its queue (shape). */
export interface QueueRow {
  name: string;
  spec: string;
  cpus: number;
  memory: number | null;
  gpus: number;
  /** the pin list as stored in shapes.nodes: sorted JSON, or null = anywhere */
  nodes: string | null;
  time: number | null;
  after?: string[];
  finalize?: boolean;
}

/** A file a batch names, to be checked against the head's inputs (first place it is named). */
export interface NamedInput {
  key: string;
  hash: string;
  size: number;
  where: string;
}

/** Jobs of one resource demand, for allocation queues (head/alloc/admission.ts). */
export type Demand = Pick<JobSpec, 'name' | 'resources' | 'nodes'> & { count: number };

export interface PreparedBatch {
  record: BatchRecord;
  /** the batch's jobs, its finalize step not counted */
  jobCount: number;
  /** UTF-8 JSON of QueueRow[], QUEUE_CHUNK rows each, in the batch's order; each its own ArrayBuffer, to be transferred */
  chunks: Uint8Array[];
  inputs: NamedInput[];
  /** files not uploaded with the batch, jobs too large for one assign frame */
  problems: string[];
  demands: Demand[];
}

type Uploaded = Record<string, { hash: string; size: number }>;

export function prepareBatch(batch: BatchSpec, uploaded: Uploaded, file: string): PreparedBatch {
  const problems = new Map<string, string>();
  const inputs = new Map<string, NamedInput>();
  const fileOf = (ref: FileRef, where: string, fixedName?: string): WireFile => {
    // the same key the client used: the path as written, relative to the YAML's folder
    const key = relative(batch.source.dir, ref.path).split(sep).join(posix.sep);
    const alias = isSafeName(ref.alias) ? ref.alias : (fixedName ?? ref.alias);
    const entry = Object.hasOwn(uploaded, key) ? uploaded[key] : undefined;
    if (!entry) {
      if (!problems.has(key)) problems.set(key, `${file}: ${where}: ${key} was not uploaded with the batch`);
      return { alias, hash: '0'.repeat(64), size: 0 };
    }
    if (!inputs.has(key)) inputs.set(key, { key, hash: entry.hash, size: entry.size, where });
    return { alias, hash: entry.hash, size: entry.size };
  };

  const init = batch.initialize;
  let initialize: WireInitialize;
  switch (init.kind) {
    case 'python':
      initialize = { kind: 'python', buildFile: init.buildFile && fileOf(init.buildFile, 'initialize.build_file', PYTHON_BUILD_FILE), requiredFiles: init.requiredFiles.map((f) => fileOf(f, 'initialize.required_files')) };
      break;
    case 'apptainer':
      initialize = { kind: 'apptainer', sif: fileOf(init.sif, 'initialize.sif'), requiredFiles: init.requiredFiles.map((f) => fileOf(f, 'initialize.required_files')), requiredMounts: init.requiredMounts };
      break;
    case 'shell':
      initialize = { kind: 'shell', command: init.command, requiredFiles: init.requiredFiles.map((f) => fileOf(f, 'initialize.required_files')) };
      break;
  }
  // every job goes to its node in one `assign` frame: one the node would refuse must not be queued
  const initSize = JSON.stringify(initialize).length;
  const chunks: Uint8Array[] = [];
  const utf8 = new TextEncoder();
  const demands = new Map<string, Demand>();
  let rows: QueueRow[] = [];
  for (const j of [...batch.jobs, ...(batch.finalize ? [batch.finalize] : [])]) {
    const r = j.resources;
    const job = {
      name: j.name,
      file: j.file && fileOf(j.file, `job ${j.name}`, PYTHON_JOB_FILE),
      command: j.command,
      requiredFiles: j.requiredFiles.map((f) => fileOf(f, `job ${j.name}`)),
      resources: { cpus: r.cpus, memory: r.memory, gpus: r.gpus, time: r.time },
    };
    const spec = serializeJobRecord({ job, nodes: j.nodes, retries: j.retries, ...(j.memoryRetry ? { memoryRetry: j.memoryRetry } : {}), ...(j.timeRetry ? { timeRetry: j.timeRetry } : {}) });
    const size = initSize + spec.length + j.name.length + 1024;
    if (size > MAX_FRAME && problems.size < 20) problems.set(`job:${j.name}`, `${file}: job ${j.name}: its assignment would be about ${formatBytes(size)}, over the ${formatBytes(MAX_FRAME)} a node accepts in one message`);
    const finalize = j === batch.finalize;
    const row: QueueRow = { name: j.name, spec, cpus: r.cpus, memory: r.memory, gpus: r.gpus, nodes: j.nodes === null ? null : JSON.stringify([...j.nodes].sort()), time: r.time };
    if (j.after?.length) row.after = j.after;
    if (finalize) row.finalize = true;
    rows.push(row);
    if (rows.length === QUEUE_CHUNK) {
      chunks.push(utf8.encode(JSON.stringify(rows)));
      rows = [];
    }
    if (!finalize) {
      const key = JSON.stringify([r.cpus, r.memory, r.gpus, r.time, j.nodes]);
      const d = demands.get(key);
      if (d) d.count++;
      else demands.set(key, { name: j.name, resources: r, nodes: j.nodes, count: 1 });
    }
  }
  if (rows.length) chunks.push(utf8.encode(JSON.stringify(rows)));
  return { record: { kind: batch.kind, initialize, meta: batch.meta, file }, jobCount: batch.jobs.length, chunks, inputs: [...inputs.values()], problems: [...problems.values()], demands: [...demands.values()] };
}
