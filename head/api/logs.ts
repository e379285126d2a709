// A job's stdout (or stderr). While it runs, the head asks its node (`read_log`) and
// forwards what comes back; a finished job's log is read from its archive. With follow=1 the
// response stays open and new output is forwarded until the job ends.
import type { ServerResponse } from 'node:http';
import { copyMember } from '../archive.js';
import { locateArchive } from '../archive-location.js';
import type { HeadContext } from '../context.js';
import { HttpError } from '../http.js';
import type { JobRow } from '../store.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { requireBatch, type Handler } from './route.js';

const CHUNK = 256 * 1024;
/** how often a follower asks a node for new output when it had none */
const FOLLOW_POLL_MS = 250;

export const logs: Handler<Api['logs']> = {
  async handle(call) {
    const batch = requireBatch(call, call.params.ns!, call.params.batch!);
    const job = call.ctx.store.jobByName(batch.id, call.params.job!);
    if (!job) throw new HttpError(404, `no job ${call.params.job} in batch ${batch.namespace}/${batch.name}`);
    const stream = call.query.get('stream') ?? 'stdout';
    if (stream !== 'stdout' && stream !== 'stderr') throw new HttpError(400, `stream must be stdout or stderr, not ${stream}`);
    const follow = call.query.get('follow') === '1';
    const res = call.res;
    let gone = false;
    res.on('close', () => (gone = true));
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    await forwardLog(call.ctx, res, { id: job.id, namespace: batch.namespace, batch: batch.name, job: job.name }, stream, follow, () => gone);
    res.end();
  },
};

interface Where {
  id: number;
  namespace: string;
  batch: string;
  job: string;
}

async function forwardLog(ctx: HeadContext, res: ServerResponse, w: Where, stream: 'stdout' | 'stderr', follow: boolean, gone: () => boolean): Promise<void> {
  let offset = 0;
  let attemptSeen: number | null = null;
  while (!gone()) {
    const job = ctx.store.job(w.id);
    if (!job) return;
    if (job.current_attempt !== attemptSeen) {
      // a new attempt writes a new log from its start
      attemptSeen = job.current_attempt;
      offset = 0;
    }
    const live = liveOn(ctx, job);
    if (live) {
      let chunk;
      try {
        chunk = await ctx.nodes.readLog(live.node, live.attempt, stream, offset, CHUNK);
      } catch (err) {
        ctx.log.debug({ event: 'read_log_failed', node: live.node, attempt: live.attempt, err: (err as Error).message }, 'could not read a log from its node');
        if (!follow) return;
        await sleep(FOLLOW_POLL_MS);
        continue;
      }
      if (chunk.data.byteLength > 0) {
        offset += chunk.data.byteLength;
        if (!res.write(chunk.data)) await drained(res);
        continue;
      }
      if (!follow) return;
      await sleep(FOLLOW_POLL_MS);
      continue;
    }
    if (job.state === 'done' || job.state === 'failed') {
      const archived = ctx.store.stmt('SELECT 1 FROM archive_members WHERE job_id = ? AND path = ?').get(w.id, `_distribute/${stream}.log`);
      if (archived) await copyMember(locateArchive(ctx.store, ctx.settings.stateDir, w.namespace, w.batch, w.job), `_distribute/${stream}.log`, res, offset);
      return;
    }
    if (job.state === 'cancelled' || !follow) return;
    // queued or assigned and not started, or between its process's end and its result
    await sleep(FOLLOW_POLL_MS);
  }
}

/** The node and attempt to ask, while the job's current attempt may still have its log there. */
function liveOn(ctx: HeadContext, job: JobRow): { node: string; attempt: number } | null {
  if (job.current_attempt === null || !['assigned', 'running', 'paused'].includes(job.state)) return null;
  const a = ctx.store.attempt(job.current_attempt);
  if (!a || !['running', 'finished'].includes(a.state)) return null;
  if (!ctx.nodes.connected().has(a.node)) return null;
  return { node: a.node, attempt: a.id };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((r) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      r();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
