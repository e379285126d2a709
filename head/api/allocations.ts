// The allocation queues for admins: `distribute alloc list`, `alloc pause|resume NAME`.
import type { AllocQueueInfo } from '../../shared/protocol/alloc-api.js';
import type { HeadContext } from '../context.js';
import { HttpError } from '../http.js';
import { listedPilots, queueRow } from '../alloc/records.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function queueInfo(ctx: HeadContext, name: string): AllocQueueInfo {
  const config = ctx.allocations!.queues.find((q) => q.name === name)!;
  const q = queueRow(ctx.store, name);
  const connected = ctx.nodes.connected();
  return {
    name,
    backend: config.backend,
    max_pilots: config.max_pilots,
    paused: q.paused,
    failures: q.failures,
    last_error: q.last_error,
    last_error_at: iso(q.last_error_at),
    retry_at: iso(q.retry_at),
    pilots: listedPilots(ctx.store, name).map((p) => ({
      node: p.node,
      job_id: p.job_id,
      state: p.state,
      connected: connected.has(p.node),
      submitted: iso(p.submitted)!,
      ends_at: iso(p.ends_at),
      ended: iso(p.ended),
      end_reason: p.end_reason,
    })),
  };
}

export const allocList: Handler<Api['allocList']> = {
  handle(call) {
    const names = call.ctx.allocations?.queues.map((q) => q.name) ?? [];
    call.reply(names.map((n) => queueInfo(call.ctx, n)));
  },
};

function pauseRoute(paused: boolean): Handler<Api['allocPause']> {
  return {
    handle(call) {
      const name = call.params.name!;
      if (!call.ctx.allocations?.setPaused(name, paused)) throw new HttpError(404, `no allocation queue ${name} in head.yaml`);
      call.reply(queueInfo(call.ctx, name));
    },
  };
}

export const allocPause = pauseRoute(true);
export const allocResume = pauseRoute(false);
