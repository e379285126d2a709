// Delete a batch's archived results (or one job's) from the head's disk: the owner of the
// namespace or an admin. Answers what was freed.
import type { RmResponse } from '../../shared/protocol/api.js';
import { HttpError } from '../http.js';
import { removeResults } from '../remove.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { requireBatch, type Handler } from './route.js';

export const rm: Handler<Api['rm']> = {
  async handle(call) {
    const body = await call.body();
    const batch = requireBatch(call, call.params.ns!, call.params.batch!);
    const { store, nodes, log, settings } = call.ctx;
    if (body.job !== undefined && !store.jobByName(batch.id, body.job)) {
      throw new HttpError(404, `no job ${body.job} in batch ${batch.namespace}/${batch.name}`);
    }
    const out = await removeResults(store, settings.stateDir, batch, { job: body.job, force: body.force, by: call.principal.name });
    if (!out.ok) throw new HttpError(out.status, out.error);
    for (const c of out.toCancel) nodes.send(c.node, { type: 'cancel', attempt: c.attempt, reason: `results removed by ${call.principal.name}` });
    if (out.cancelled > 0) call.ctx.schedule();
    if (out.batchRemoved) call.ctx.batches.forget(batch.id);
    log.info(
      { event: 'results_removed', user: call.principal.name, namespace: batch.namespace, batch: batch.name, job: body.job ?? null, jobs: out.jobs, files: out.files, bytes: out.bytes, batch_removed: out.batchRemoved, cancelled: out.cancelled },
      'results removed',
    );
    const answer: RmResponse = { jobs: out.jobs, files: out.files, bytes: out.bytes, batch_removed: out.batchRemoved, cancelled: out.cancelled };
    call.reply(answer);
  },
};
