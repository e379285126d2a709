// The allocation queues for admins: `distribute alloc list`, `alloc pause|resume NAME`.
import type { AllocQueueInfo } from '../../shared/protocol/alloc-api.js';
import type { HeadContext } from '../context.js';
import { HttpError, sendJson } from '../http.js';
import { listedPilots, queueRow } from '../alloc/records.js';
import type { ApiCall, Route } from './route.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function requireAdmin(call: ApiCall, what: string): void {
  if (!call.principal.admin) throw new HttpError(403, `only an admin may ${what}`);
}

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

export const allocList: Route = {
  method: 'GET',
  path: /^\/v1\/allocations$/,
  who: 'user',
  handle(call) {
    requireAdmin(call, 'list the allocation queues');
    const names = call.ctx.allocations?.queues.map((q) => q.name) ?? [];
    sendJson(call.res, 200, names.map((n) => queueInfo(call.ctx, n)));
  },
};

function pauseRoute(paused: boolean): Route {
  return {
    method: 'POST',
    path: paused ? /^\/v1\/allocations\/(?<name>[^/]+)\/pause$/ : /^\/v1\/allocations\/(?<name>[^/]+)\/resume$/,
    who: 'user',
    handle(call) {
      requireAdmin(call, `${paused ? 'pause' : 'resume'} an allocation queue`);
      const name = call.params.name!;
      if (!call.ctx.allocations?.setPaused(name, paused)) throw new HttpError(404, `no allocation queue ${name} in head.yaml`);
      sendJson(call.res, 200, queueInfo(call.ctx, name));
    },
  };
}

export const allocPause = pauseRoute(true);
export const allocResume = pauseRoute(false);
