// Batches the user may see, each job counted in exactly one state (DESIGN §8), with why a
// failed job failed, why a queued job waits, and the logs of the builds that failed.
import type { JobState } from '../../shared/protocol/common.js';
import type { StatusBatch } from '../../shared/protocol/api.js';
import { why, type SnapshotNode } from '../scheduler.js';
import { snapshotNode } from '../snapshot.js';
import { waitingFor } from '../dependencies.js';
import { sendJson } from '../http.js';
import type { HeadContext } from '../context.js';
import type { BatchRow } from '../store.js';
import { visibleNamespaces, type Route } from './route.js';

interface JobLine {
  name: string;
  state: JobState;
  node: string | null;
  attempt_count: number;
  exit_code: number | null;
  error: string | null;
  shape_id: number;
  id: number;
  batch_id: number;
  blocked: number;
  finalize: number;
}

interface ShapeRow {
  cpus: number;
  memory: number | null;
  gpus: number;
  nodes: string | null;
}

export const status: Route = {
  method: 'GET',
  path: /^\/v1\/status$/,
  who: 'user',
  handle(call) {
    const { store } = call.ctx;
    const namespace = call.query.get('namespace');
    const name = call.query.get('batch');
    const visible = visibleNamespaces(call);
    const rows = store
      .stmt<BatchRow>('SELECT * FROM batches WHERE (@ns IS NULL OR namespace = @ns) AND (@batch IS NULL OR name = @batch) ORDER BY id')
      .all({ ns: namespace, batch: name })
      .filter((b) => visible === null || visible.includes(b.namespace));
    const explain = waitingExplainer(call.ctx);
    sendJson(call.res, 200, rows.map((b) => batchStatus(call.ctx, b, explain)));
  },
};

function batchStatus(ctx: HeadContext, b: BatchRow, explain: (b: BatchRow, shapeId: number) => string): StatusBatch {
  const jobs = ctx.store
    .stmt<JobLine>('SELECT id, batch_id, name, state, node, attempt_count, exit_code, error, shape_id, blocked, finalize FROM jobs WHERE batch_id = ? ORDER BY id')
    .all(b.id);
  const builds = ctx.store.stmt<{ node: string; log: string; at: number }>('SELECT node, log, at FROM build_failures WHERE batch_id = ? ORDER BY node').all(b.id);
  const counts = { queued: 0, assigned: 0, running: 0, paused: 0, done: 0, failed: 0, cancelled: 0 };
  for (const j of jobs) counts[j.state]++;
  return {
    namespace: b.namespace,
    batch_name: b.name,
    state: batchState(counts),
    counts,
    jobs: jobs.map((j) => ({
      name: j.name,
      state: j.state,
      node: j.node,
      attempt: j.attempt_count,
      exit_code: j.exit_code,
      error: j.state === 'failed' || j.state === 'cancelled' ? j.error : null,
      waiting: j.state === 'queued' ? (waitingFor(ctx.store, j) ?? explain(b, j.shape_id)) : null,
    })),
    // only when there are some: the DESIGN shape stays as it was for every other batch
    ...(builds.length ? { build_failures: builds } : {}),
  };
}

export function batchState(c: Record<JobState, number>): StatusBatch['state'] {
  if (c.assigned + c.running + c.paused > 0) return 'running';
  if (c.queued > 0) return c.done + c.failed + c.cancelled > 0 ? 'running' : 'queued';
  if (c.failed > 0) return 'failed';
  if (c.cancelled > 0) return 'cancelled';
  return 'done';
}

/** Why the jobs of one queue (batch × shape) wait, node by node; computed once per queue. */
function waitingExplainer(ctx: HeadContext): (b: BatchRow, shapeId: number) => string {
  let nodes: SnapshotNode[] | null = null;
  const cache = new Map<number, string>();
  return (b, shapeId) => {
    const hit = cache.get(shapeId);
    if (hit !== undefined) return hit;
    const connected = ctx.nodes.connected();
    nodes ??= ctx.store.nodes().map((n) => snapshotNode(ctx.store, n, connected.has(n.name)));
    const shape = ctx.store.stmt<ShapeRow>('SELECT cpus, memory, gpus, nodes FROM shapes WHERE id = ?').get(shapeId)!;
    const batch = ctx.batches.get(b.id)!;
    const queue = {
      batchId: b.id,
      capabilities: batch.meta.capabilities,
      demand: { cpus: shape.cpus, memory: shape.memory, gpus: shape.gpus },
      nodes: shape.nodes === null ? null : (JSON.parse(shape.nodes) as string[]),
      buildFailedOn: ctx.store.stmt<{ node: string }>('SELECT node FROM build_failures WHERE batch_id = ?').all(b.id).map((r) => r.node),
    };
    const reasons = nodes.map((n) => why(queue, n));
    const text =
      nodes.length === 0 ? 'no node has joined yet'
      : reasons.some((r) => r === null) ? 'about to be placed'
      : reasons.join('; ');
    cache.set(shapeId, text);
    return text;
  };
}
