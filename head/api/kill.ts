// Cancel a batch's unfinished jobs (or one): queued ones at once, running ones by a
// `cancel` to their node (whose runner kills the job's whole process group).
import { HttpError } from '../http.js';
import { killJobs } from '../transitions.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { requireBatch, type Handler } from './route.js';

export const kill: Handler<Api['kill']> = {
  async handle(call) {
    const body = await call.body();
    const batch = requireBatch(call, call.params.ns!, call.params.batch!);
    const { store, nodes, log } = call.ctx;
    if (body.job !== undefined && !store.jobByName(batch.id, body.job)) {
      throw new HttpError(404, `no job ${body.job} in batch ${batch.namespace}/${batch.name}`);
    }
    const outcome = killJobs(store, batch.id, body.job);
    for (const c of outcome.toCancel) {
      const sent = nodes.send(c.node, { type: 'cancel', attempt: c.attempt, reason: `cancelled by ${call.principal.name}` });
      if (!sent) log.warn({ event: 'cancel_unsent', node: c.node, attempt: c.attempt }, 'node not connected; it drops the attempt when it returns');
    }
    log.info({ event: 'killed', user: call.principal.name, namespace: batch.namespace, batch: batch.name, job: body.job ?? null, cancelled: outcome.cancelled, running: outcome.toCancel.length }, 'jobs cancelled');
    call.ctx.schedule();
    call.reply({ cancelled: outcome.cancelled });
  },
};
