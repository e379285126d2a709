// Requeue a batch's failed jobs; each runs again as a new attempt.
import { retryJobs } from '../transitions.js';
import { sendJson } from '../http.js';
import { requireBatch, type Route } from './route.js';

export const retry: Route = {
  method: 'POST',
  path: /^\/v1\/batches\/(?<ns>[^/]+)\/(?<batch>[^/]+)\/retry$/,
  who: 'user',
  handle(call) {
    const batch = requireBatch(call, call.params.ns!, call.params.batch!);
    const requeued = retryJobs(call.ctx.store, batch.id);
    call.ctx.log.info({ event: 'retried', user: call.principal.name, namespace: batch.namespace, batch: batch.name, requeued }, 'failed jobs requeued');
    call.ctx.schedule();
    sendJson(call.res, 200, { requeued });
  },
};
