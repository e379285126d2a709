// Add a batch: never trust the client. The batch is validated again here, with the rules the
// CLI applied — from the document the CLI read from the YAML (shared/spec/document.ts; no YAML
// parse on the head), or from the YAML text when a client sends only that — in the batch
// parser's worker thread (head/batch-parser.ts), off the event loop, which also turns it into
// the rows the head stores (head/batch-prepare.ts). Every file it names must have been
// uploaded (by content hash) and be the user's to name; the namespace must be the user's (or
// free); some known node must have every capability. Then the jobs are queued, all or nothing
// (in chunks for a large batch: head/queue.ts), and a scheduling pass runs. `dry` answers the
// same without queueing.
import type { AddResponse } from '../../shared/protocol/api.js';
import { HttpError, readBody } from '../http.js';
import { batchParser } from '../batch-parser.js';
import type { PreparedBatch } from '../batch-prepare.js';
import { namespaceRefusal, queueLargeBatch } from '../queue.js';
import { missingCapabilities } from '../scheduler.js';
import { pilotAdmission } from '../alloc/admission.js';
import { pilotOf } from '../alloc/records.js';
import type { Store } from '../store.js';
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
    const { fields: body, prepared } = checked;
    const { meta } = prepared.record;
    const { namespace, batch_name: name } = meta;

    const refusal = namespaceRefusal(ctx.store, namespace, principal.name, principal.admin);
    if (refusal) throw new HttpError(403, refusal);
    if (ctx.store.batchByName(namespace, name)) throw new HttpError(409, `batch ${name} already exists in namespace ${namespace}; choose another batch_name`);

    const problems = [...prepared.problems, ...inputProblems(ctx.store, prepared, body.file, principal.admin ? null : principal.name)];
    if (problems.length) throw new HttpError(400, `${body.file}: ${problems.length} file${problems.length === 1 ? '' : 's'} not on the head`, { problems });

    // pilots come and go: the allocation queues, not their pilots of the moment, say what they can run
    const known = ctx.store
      .nodes()
      .filter((n) => !ctx.allocations || pilotOf(ctx.store, n.name) === undefined)
      .map((n) => ({ name: n.name, capabilities: JSON.parse(n.capabilities) as string[] }));
    const feasible = known.filter((n) => missingCapabilities(meta.capabilities, n.capabilities).length === 0).map((n) => n.name);
    let pilotQueues: string[] | undefined;
    if (feasible.length === 0) {
      // no node of the lab: the allocation queues' pilots may run it, if they can run every job
      const queues = ctx.allocations?.queues ?? [];
      const viaPilots = queues.length ? pilotAdmission(queues, meta.capabilities, prepared.demands) : null;
      if (viaPilots && viaPilots.unfitCount === 0) pilotQueues = viaPilots.queues;
      else {
        const why = known.length === 0 ? ['no compute node has joined this head yet'] : known.map((n) => `node ${n.name} lacks ${missingCapabilities(meta.capabilities, n.capabilities).join(', ')}`);
        if (viaPilots) why.push(`${viaPilots.unfitCount} job${viaPilots.unfitCount === 1 ? '' : 's'} no allocation queue can run: ${viaPilots.unfit.join('; ')}${viaPilots.unfitCount > viaPilots.unfit.length ? '; ...' : ''}`);
        const needs = meta.capabilities.length ? `it needs ${meta.capabilities.join(', ')}; ` : '';
        throw new HttpError(400, `no node${viaPilots ? ' and no allocation queue' : ''} can run batch ${name}: ${needs}${why.join('; ')}`, { problems: why });
      }
    }

    const response: AddResponse = { namespace, batch: name, jobs: prepared.jobCount, feasibleNodes: feasible, knownNodes: known.length, dry: body.dry, ...(pilotQueues ? { pilotQueues } : {}) };
    if (body.dry) return call.reply(response);

    // in chunks, one turn of the loop each, and invisible until whole (head/queue.ts)
    const queued = await queueLargeBatch(ctx.store, { namespace, name, owner: principal.name, admin: principal.admin, record: prepared.record, chunks: prepared.chunks });
    if (!queued.ok) throw new HttpError(queued.status, queued.error);
    // logged and scheduled as soon as it is committed (the scheduler sees it from now on);
    // the user hears it is queued once the commit is on disk
    ctx.log.info({ event: 'batch_added', user: principal.name, namespace, batch: name, batchId: queued.batchId, jobs: prepared.jobCount, feasibleNodes: feasible }, 'batch queued');
    ctx.schedule();
    await ctx.store.synced();
    call.reply(response);
  },
};

/** Problems with the files a prepared batch names: each must be on the head, of the size the client says, and the user's to name. */
function inputProblems(store: Store, prepared: PreparedBatch, file: string, viewer: InputViewer): string[] {
  const problems: string[] = [];
  const sizes = new Map<string, number | null>();
  for (const input of prepared.inputs) {
    if (!sizes.has(input.hash)) sizes.set(input.hash, visibleInput(store, input.hash, viewer)?.size ?? null);
    const size = sizes.get(input.hash);
    if (size === null || size === undefined) problems.push(`${file}: ${input.where}: ${input.key} (sha256 ${input.hash}) is not on the head; upload it first`);
    else if (size !== input.size) problems.push(`${file}: ${input.where}: ${input.key} is ${input.size} bytes by the client's count, ${size} on the head`);
  }
  return problems;
}
