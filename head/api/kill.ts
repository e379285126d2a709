// Cancel a batch's unfinished jobs (or one): queued ones at once, running ones by a
// `cancel` to their node (whose runner kills the job's whole process group).
import { KillRequest } from '../../shared/protocol/api.js';
import { HttpError, readJson, sendJson } from '../http.js';
import { killJobs } from '../transitions.js';
import { requireBatch, type Route } from './route.js';

export const kill: Route = {
  method: 'POST',
  path: /^\/v1\/batches\/(?<ns>[^/]+)\/(?<batch>[^/]+)\/kill$/,
  who: 'user',
  async handle(call) {
    const body = await readJson(call.req, KillRequest);
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
    sendJson(call.res, 200, { cancelled: outcome.cancelled });
  },
};
