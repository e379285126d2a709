// Requeue a batch's failed jobs; each runs again as a new attempt.
import { retryJobs } from '../transitions.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { requireBatch, type Handler } from './route.js';

export const retry: Handler<Api['retry']> = {
  handle(call) {
    const batch = requireBatch(call, call.params.ns!, call.params.batch!);
    const requeued = retryJobs(call.ctx.store, batch.id);
    call.ctx.log.info({ event: 'retried', user: call.principal.name, namespace: batch.namespace, batch: batch.name, requeued }, 'failed jobs requeued');
    call.ctx.schedule();
    call.reply({ requeued });
  },
};
