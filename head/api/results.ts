// A node uploads the result of an attempt; the 200 is its acknowledgement that the result is
// on the head's disk (fsynced, indexed), after which the node may delete its copy.
import { statSync } from 'node:fs';
import { errorMessage } from '../../shared/errors.js';
import { acceptResult } from '../archive.js';
import { HttpError, sendJson } from '../http.js';
import type { Route } from './route.js';

export const resultPut: Route = {
  method: 'PUT',
  path: /^\/v1\/results\/(?<attempt>[^/]+)$/,
  who: 'node',
  async handle(call) {
    const attempt = Number(call.params.attempt);
    if (!Number.isSafeInteger(attempt) || attempt <= 0) throw new HttpError(400, `"${call.params.attempt}" is not an attempt id`);
    const { ctx, principal } = call;
    const log = ctx.log.child({ node: principal.name, attempt });
    let outcome;
    try {
      outcome = await acceptResult(ctx.store, ctx.settings.stateDir, principal.name, attempt, call.req);
    } catch (err) {
      if (call.req.destroyed && !call.req.complete) {
        log.warn({ event: 'result_aborted', err: errorMessage(err) }, 'the node broke off its result upload');
        return;
      }
      // disk full, I/O error: the node keeps its copy and tries again
      log.error({ event: 'result_write_failed', err }, `could not store a result: ${errorMessage(err)}`);
      throw new HttpError(500, `the head could not store the result of attempt ${attempt}: ${errorMessage(err)}`);
    }
    if (outcome.status !== 200) {
      log.warn({ event: 'result_refused', status: outcome.status, error: outcome.error }, outcome.error);
      throw new HttpError(outcome.status, outcome.error);
    }
    log.info(
      { event: 'result_archived', state: outcome.state, exitCode: outcome.exitCode, error: outcome.error, members: outcome.members, path: outcome.path },
      outcome.state === 'requeued' ? `result archived; the job failed (${outcome.error}) and runs again under its retries` : 'result archived',
    );
    ctx.metrics?.archived(statSync(outcome.path).size);
    ctx.schedule();
    sendJson(call.res, 200, { attempt, state: outcome.state, members: outcome.members });
  },
};
