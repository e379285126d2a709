// Add a batch: never trust the client. The batch is validated again here, with the rules the
// CLI applied — from the document the CLI read from the YAML (shared/spec/document.ts; no YAML
// parse on the head), or from the YAML text when a client sends only that — in the batch
// parser's worker thread (head/batch-parser.ts), off the event loop. Every file it names
// must have been uploaded (by content hash); the namespace must be the user's (or free); some
// known node must have every capability. Then all jobs are queued in one transaction and a
// scheduling pass runs. `dry` answers the same without queueing.
import { posix, relative, sep } from 'node:path';
import type { AddResponse } from '../../shared/protocol/api.js';
import type { WireFile, WireInitialize, WireJob } from '../../shared/protocol/common.js';
import { PYTHON_BUILD_FILE, PYTHON_JOB_FILE } from '../../shared/spec/command.js';
import type { BatchSpec, FileRef } from '../../shared/spec/types.js';
import { isSafeName } from '../../shared/paths.js';
import { MAX_FRAME } from '../../shared/protocol/codec.js';
import { formatBytes } from '../../shared/spec/units.js';
import { HttpError, readBody } from '../http.js';
import { batchParser } from '../batch-parser.js';
import { namespaceRefusal, queueBatch, type NewBatch } from '../queue.js';
import { missingCapabilities } from '../scheduler.js';
import { pilotAdmission } from '../alloc/admission.js';
import { pilotOf } from '../alloc/records.js';
import type { BatchRecord, JobRecord, Store } from '../store.js';
import { visibleInput, type InputViewer } from '../inputs.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

export const add: Handler<Api['add']> = {
  async handle(call) {
    const { ctx, principal } = call;
    const raw = await readBody(call.req, ctx.settings.maxBatchBytes, 'batch document', 'max_batch_bytes');
    // parsed and checked in a worker thread: seconds of YAML never stall the loop
    const checked = await batchParser().check(raw);
    if (!checked.ok) throw new HttpError(checked.status, checked.error, checked.extra);
    const { fields: body, batch } = checked;
    const { namespace, batch_name: name } = batch.meta;

    const refusal = namespaceRefusal(ctx.store, namespace, principal.name, principal.admin);
    if (refusal) throw new HttpError(403, refusal);
    if (ctx.store.batchByName(namespace, name)) throw new HttpError(409, `batch ${name} already exists in namespace ${namespace}; choose another batch_name`);

    const wire = toWire(ctx.store, batch, body.files, body.file, principal.admin ? null : principal.name);
    if (!wire.ok) throw new HttpError(400, `${body.file}: ${wire.problems.length} file${wire.problems.length === 1 ? '' : 's'} not on the head`, { problems: wire.problems });

    // pilots come and go: the allocation queues, not their pilots of the moment, say what they can run
    const known = ctx.store
      .nodes()
      .filter((n) => !ctx.allocations || pilotOf(ctx.store, n.name) === undefined)
      .map((n) => ({ name: n.name, capabilities: JSON.parse(n.capabilities) as string[] }));
    const feasible = known.filter((n) => missingCapabilities(batch.meta.capabilities, n.capabilities).length === 0).map((n) => n.name);
    let pilotQueues: string[] | undefined;
    if (feasible.length === 0) {
      // no node of the lab: the allocation queues' pilots may run it, if they can run every job
      const queues = ctx.allocations?.queues ?? [];
      const viaPilots = queues.length ? pilotAdmission(queues, batch.meta.capabilities, batch.jobs) : null;
      if (viaPilots && viaPilots.unfitCount === 0) pilotQueues = viaPilots.queues;
      else {
        const why = known.length === 0 ? ['no compute node has joined this head yet'] : known.map((n) => `node ${n.name} lacks ${missingCapabilities(batch.meta.capabilities, n.capabilities).join(', ')}`);
        if (viaPilots) why.push(`${viaPilots.unfitCount} job${viaPilots.unfitCount === 1 ? '' : 's'} no allocation queue can run: ${viaPilots.unfit.join('; ')}${viaPilots.unfitCount > viaPilots.unfit.length ? '; ...' : ''}`);
        const needs = batch.meta.capabilities.length ? `it needs ${batch.meta.capabilities.join(', ')}; ` : '';
        throw new HttpError(400, `no node${viaPilots ? ' and no allocation queue' : ''} can run batch ${name}: ${needs}${why.join('; ')}`, { problems: why });
      }
    }

    const response: AddResponse = { namespace, batch: name, jobs: batch.jobs.length, feasibleNodes: feasible, knownNodes: known.length, dry: body.dry, ...(pilotQueues ? { pilotQueues } : {}) };
    if (body.dry) return call.reply(response);

    const queued = queueBatch(ctx.store, { namespace, name, owner: principal.name, admin: principal.admin, record: wire.record, jobs: wire.jobs });
    if (!queued.ok) throw new HttpError(queued.status, queued.error);
    // logged and scheduled as soon as it is committed (the scheduler sees it from now on);
    // the user hears it is queued once the commit is on disk
    ctx.log.info({ event: 'batch_added', user: principal.name, namespace, batch: name, batchId: queued.batchId, jobs: batch.jobs.length, feasibleNodes: feasible }, 'batch queued');
    ctx.schedule();
    await ctx.store.synced();
    call.reply(response);
  },
};

type Uploaded = Record<string, { hash: string; size: number }>;

type Wire = { ok: true; record: BatchRecord; jobs: NewBatch['jobs'] } | { ok: false; problems: string[] };

/** The batch with every file replaced by its content hash, as nodes receive it. */
function toWire(store: Store, batch: BatchSpec, uploaded: Uploaded, file: string, viewer: InputViewer): Wire {
  const problems = new Map<string, string>();
  const known = new Map<string, number | null>();
  const fileOf = (ref: FileRef, where: string, fixedName?: string): WireFile => {
    // the same key the client used: the path as written, relative to the YAML's folder
    const key = relative(batch.source.dir, ref.path).split(sep).join(posix.sep);
    const alias = isSafeName(ref.alias) ? ref.alias : (fixedName ?? ref.alias);
    const entry = uploaded[key];
    if (!entry) {
      if (!problems.has(key)) problems.set(key, `${file}: ${where}: ${key} was not uploaded with the batch`);
      return { alias, hash: '0'.repeat(64), size: 0 };
    }
    if (!known.has(entry.hash)) known.set(entry.hash, visibleInput(store, entry.hash, viewer)?.size ?? null);
    const size = known.get(entry.hash);
    if (size === null || size === undefined) {
      if (!problems.has(key)) problems.set(key, `${file}: ${where}: ${key} (sha256 ${entry.hash}) is not on the head; upload it first`);
    } else if (size !== entry.size) {
      if (!problems.has(key)) problems.set(key, `${file}: ${where}: ${key} is ${entry.size} bytes by the client's count, ${size} on the head`);
    }
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
  const jobs = [...batch.jobs, ...(batch.finalize ? [batch.finalize] : [])].map((j) => {
    const job: WireJob = {
      name: j.name,
      file: j.file && fileOf(j.file, `job ${j.name}`, PYTHON_JOB_FILE),
      command: j.command,
      requiredFiles: j.requiredFiles.map((f) => fileOf(f, `job ${j.name}`)),
      resources: { cpus: j.resources.cpus, memory: j.resources.memory, gpus: j.resources.gpus, time: j.resources.time },
    };
    return { name: j.name, record: { job, nodes: j.nodes, retries: j.retries, ...(j.memoryRetry ? { memoryRetry: j.memoryRetry } : {}), ...(j.timeRetry ? { timeRetry: j.timeRetry } : {}) }, after: j.after, finalize: j === batch.finalize };
  });
  // every job goes to its node in one `assign` frame: one the node would refuse must not be queued
  const initSize = JSON.stringify(initialize).length;
  for (const j of jobs) {
    const size = initSize + JSON.stringify(j.record.job).length + 1024;
    if (size > MAX_FRAME && problems.size < 20) problems.set(`job:${j.name}`, `${file}: job ${j.name}: its assignment would be about ${formatBytes(size)}, over the ${formatBytes(MAX_FRAME)} a node accepts in one message`);
  }
  if (problems.size) return { ok: false, problems: [...problems.values()] };
  return { ok: true, record: { kind: batch.kind, initialize, meta: batch.meta, file }, jobs };
}
