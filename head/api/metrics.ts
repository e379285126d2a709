// `GET /metrics`: Prometheus text format, to any user token (give Prometheus a token of a
// user that owns nothing: `distribute token create --user metrics`). Cheap enough to scrape
// every few seconds: a few grouped counts over indexed columns.
import { JobState, NodeState, PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { VERSION } from '../../shared/version.js';
import { HeadMetrics, histogramFamily, renderFamilies, type Family } from '../metrics.js';
import type { HeadContext } from '../context.js';
import { nodeInfos } from './nodes.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function metricsText(ctx: HeadContext, m: HeadMetrics): string {
  const jobs = new Map(JobState.options.map((s) => [s as string, 0]));
  for (const r of ctx.store.stmt<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all()) jobs.set(r.state, r.n);
  const nodes = new Map(NodeState.options.map((s) => [s as string, 0]));
  for (const n of nodeInfos(ctx, null)) nodes.set(n.state, (nodes.get(n.state) ?? 0) + 1);
  const member = ctx.store.stmt<{ bytes: number | null }>('SELECT SUM(size) AS bytes FROM archive_members').get();
  const families: Family[] = [
    { name: 'distribute_jobs', help: 'Jobs by state.', type: 'gauge', samples: [...jobs].map(([state, value]) => ({ labels: { state }, value })) },
    { name: 'distribute_nodes', help: 'Known compute nodes by state.', type: 'gauge', samples: [...nodes].map(([state, value]) => ({ labels: { state }, value })) },
    histogramFamily('distribute_placement_seconds', 'Time from an event that asks for placement (add, finish, join, resume) to the end of the scheduling pass that answers it.', m.placement),
    { name: 'distribute_placements_total', help: 'Jobs placed on nodes since the head started.', type: 'counter', samples: [{ value: m.placements }] },
    { name: 'distribute_archive_bytes_total', help: 'Bytes of result archives written since the head started.', type: 'counter', samples: [{ value: m.archiveBytes }] },
    { name: 'distribute_archive_member_bytes', help: 'Size of every file in the result archive, unpacked.', type: 'gauge', samples: [{ value: member?.bytes ?? 0 }] },
    ...(ctx.backlog ? [{ name: 'distribute_results_in_flight', help: 'Results being archived now; past the limit no job is placed until some are taken.', type: 'gauge' as const, samples: [{ value: ctx.backlog.size }] }] : []),
    ...loopFamily(m),
    ...spaceFamilies(ctx),
    { name: 'distribute_head_info', help: 'Version of the head and of its node protocol.', type: 'gauge', samples: [{ labels: { version: VERSION, protocol: String(PROTOCOL_VERSION) }, value: 1 }] },
  ];
  return renderFamilies(families);
}

function loopFamily(m: HeadMetrics): Family[] {
  if (!m.loop) return [];
  const d = m.loop.delay();
  const samples = ([['0.5', d.p50], ['0.9', d.p90], ['0.99', d.p99], ['1', d.max]] as const).map(([quantile, value]) => ({ labels: { quantile }, value }));
  return [{ name: 'distribute_event_loop_delay_seconds', help: "How late the head's event loop ran, over the last one to two minutes.", type: 'gauge', samples }];
}

/** The state dir's file system (statfs at scrape time), and whether a write found it full. */
function spaceFamilies(ctx: HeadContext): Family[] {
  const space = ctx.space;
  const s = space?.space();
  if (!space || !s) return [];
  return [
    { name: 'distribute_state_dir_free_bytes', help: "Free bytes of the file system holding the head's state dir.", type: 'gauge', samples: [{ value: s.free }] },
    { name: 'distribute_state_dir_size_bytes', help: "Size of the file system holding the head's state dir.", type: 'gauge', samples: [{ value: s.total }] },
    { name: 'distribute_state_dir_full', help: '1 while writes to the state dir fail for want of space, until its free space grows again.', type: 'gauge', samples: [{ value: space.full ? 1 : 0 }] },
  ];
}

export const metrics: Handler<Api['metrics']> = {
  handle({ ctx, res }) {
    const text = metricsText(ctx, ctx.metrics ?? new HeadMetrics());
    res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  },
};
