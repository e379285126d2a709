// Taking a node's result archive, however it came (an HTTP upload, or a `result` message for a
// small one): store it (archive.ts), log it, count it, and place the job again when it is to
// be retried. The answer is
// the HTTP status the node acts on: 200 on disk, 409 stale (discard), 400/403 refused
// (discard), 422 damaged on the way (its bytes differ from the node's checksums: keep it and
// send it again), 507 the state dir is full and 500 any other failure to store it (keep it and
// try again later).
import { statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { errorMessage } from '../shared/errors.js';
import { acceptResult } from './archive.js';
import type { HeadContext } from './context.js';
import { isDiskFull } from './state-dir-space.js';

export type IntakeAnswer =
  | { status: 200; state: string; members: number }
  | { status: 400 | 403 | 409 | 422 | 500 | 507; error: string };

/** `aborted`: the sender went away mid-upload; then there is no one to answer (null). */
export async function takeResult(ctx: HeadContext, node: string, attempt: number, body: Readable | Buffer, aborted: () => boolean = () => false): Promise<IntakeAnswer | null> {
  ctx.backlog?.enter();
  try {
    return await intake(ctx, node, attempt, body, aborted);
  } finally {
    ctx.backlog?.leave();
  }
}

async function intake(ctx: HeadContext, node: string, attempt: number, body: Readable | Buffer, aborted: () => boolean): Promise<IntakeAnswer | null> {
  const log = ctx.log.child({ node, attempt });
  let outcome;
  try {
    outcome = await acceptResult(ctx.store, ctx.settings.stateDir, node, attempt, body);
  } catch (err) {
    if (aborted()) {
      log.warn({ event: 'result_aborted', err: errorMessage(err) }, 'the node broke off its result upload');
      return null;
    }
    // disk full, I/O error: the node keeps its copy and tries again. A full disk is logged
    // loudly once per episode (state-dir-space.ts), each refused result quietly.
    if (ctx.space?.failed(err, { node, attempt }) ?? isDiskFull(err)) {
      log.warn({ event: 'result_write_failed', full: true, err: errorMessage(err) }, `state dir full: the result of attempt ${attempt} was not stored`);
      return { status: 507, error: `the head's state dir is full (${errorMessage(err)}): the result of attempt ${attempt} was not stored; keep it and send it again later` };
    }
    log.error({ event: 'result_write_failed', err }, `could not store a result: ${errorMessage(err)}`);
    return { status: 500, error: `the head could not store the result of attempt ${attempt}: ${errorMessage(err)}` };
  }
  if (outcome.status !== 200) {
    log.warn({ event: 'result_refused', status: outcome.status, error: outcome.error }, outcome.error);
    return outcome;
  }
  log.info(
    { event: 'result_archived', state: outcome.state, exitCode: outcome.exitCode, error: outcome.error, members: outcome.members, path: outcome.path, checked: outcome.checked },
    outcome.state === 'requeued' ? `result archived; the job failed (${outcome.error}) and runs again under its retries` : 'result archived',
  );
  ctx.metrics?.archived(Buffer.isBuffer(body) ? body.length : statSync(outcome.path).size);
  // the attempt's resources were freed at its `finished`; what is news now: a retry queued, or
  // jobs that waited for this one (after:, finalize) released
  ctx.schedule();
  return { status: 200, state: outcome.state, members: outcome.members };
}
