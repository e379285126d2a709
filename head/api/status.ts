// Batches the user may see, each job counted in exactly one state (docs/architecture.md, CLI contract), with why a
// failed job failed, why a queued job waits, and the logs of the builds that failed.
import type { JobState } from '../../shared/protocol/common.js';
import type { StatusBatch } from '../../shared/protocol/api.js';
import { why, type SnapshotNode } from '../scheduler.js';
import { snapshotNode } from '../snapshot.js';
import { waitingFor } from '../dependencies.js';
import type { HeadContext } from '../context.js';
import { LOADING_NAMESPACE, type BatchRow } from '../store.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { visibleNamespaces, type Handler } from './route.js';

interface JobLine {
  name: string;
  state: JobState;
  node: string | null;
  attempt_count: number;
  exit_code: number | null;
  error: string | null;
  shape_id: number;
  memory: number | null;
  cpu_seconds: number | null;
  peak_memory: number | null;
  wall_seconds: number | null;
  time_limit: number | null;
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

export const status: Handler<Api['status']> = {
  handle(call) {
    const { store } = call.ctx;
    const namespace = call.query.get('namespace');
    const name = call.query.get('batch');
    const visible = visibleNamespaces(call);
    const rows = store
      .stmt<BatchRow>(`SELECT * FROM batches WHERE (@ns IS NULL OR namespace = @ns) AND (@batch IS NULL OR name = @batch) AND namespace != '${LOADING_NAMESPACE}' ORDER BY id`)
      .all({ ns: namespace, batch: name })
      .filter((b) => visible === null || visible.includes(b.namespace));
    const explain = waitingExplainer(call.ctx);
    call.reply(rows.map((b) => batchStatus(call.ctx, b, explain)));
  },
};

function batchStatus(ctx: HeadContext, b: BatchRow, explain: (b: BatchRow, shapeId: number, time: number | null) => string): StatusBatch {
  const jobs = ctx.store
    .stmt<JobLine>(
      `SELECT j.id, j.batch_id, j.blocked, j.finalize, j.name, j.state, j.node, j.attempt_count, j.exit_code, j.error, j.shape_id, j.time_limit, s.memory, a.cpu_seconds, a.peak_memory, a.wall_seconds
         FROM jobs j JOIN shapes s ON s.id = j.shape_id
         LEFT JOIN attempts a ON a.id = (SELECT MAX(id) FROM attempts WHERE job_id = j.id AND state = 'archived')
        WHERE j.batch_id = ? ORDER BY j.id`,
    )
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
      waiting: j.state === 'queued' ? (waitingFor(ctx.store, j) ?? explain(b, j.shape_id, j.time_limit)) : null,
      memory: j.memory,
      usage: j.wall_seconds === null ? null : { cpu_seconds: j.cpu_seconds, peak_memory_bytes: j.peak_memory, wall_seconds: j.wall_seconds },
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

/**
 * Why the jobs of one queue (batch × shape, and time limit: pilots take only the jobs that
 * fit their time left) wait, node by node, then what the allocation queues say; computed once
 * per queue.
 */
function waitingExplainer(ctx: HeadContext): (b: BatchRow, shapeId: number, time: number | null) => string {
  let nodes: SnapshotNode[] | null = null;
  const cache = new Map<string, string>();
  return (b, shapeId, time) => {
    const key = `${shapeId}/${time}`;
    const hit = cache.get(key);
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
    const reasons = nodes.map((n) => why(queue, n, time));
    let text =
      reasons.some((r) => r === null) ? 'about to be placed'
      : nodes.length === 0 ? (ctx.allocations ? '' : 'no node has joined yet')
      : reasons.join('; ');
    if (ctx.allocations && !reasons.some((r) => r === null)) {
      const pilots = ctx.allocations.explain({ ...queue, time }).text;
      text = text ? `${pilots}; ${text}` : pilots;
    }
    cache.set(key, text);
    return text;
  };
}
