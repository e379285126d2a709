// Every node the head knows, connected or not, with what it runs now.
import type { NodeInfo } from '../../shared/protocol/api.js';
import type { NodeState } from '../../shared/protocol/common.js';
import { parseNodeResources, type NodeRow } from '../store.js';
import type { HeadContext } from '../context.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { visibleNamespaces, type Handler } from './route.js';

interface RunningRow {
  namespace: string;
  batch: string;
  job: string;
  attempt: number;
}

export const nodes: Handler<Api['nodes']> = {
  handle(call) {
    const visible = visibleNamespaces(call);
    call.reply(nodeInfos(call.ctx, visible === null ? null : new Set(visible)));
  },
};

/**
 * Every node; its running jobs named only where `visible` (the viewer's namespaces, null for
 * an admin) holds their namespace, the rest counted in `hidden_running`, as the dashboard does.
 */
export function nodeInfos(ctx: HeadContext, visible: ReadonlySet<string> | null): NodeInfo[] {
  const connected = ctx.nodes.connected();
  const running = ctx.store.stmt<RunningRow>(
    `SELECT b.namespace AS namespace, b.name AS batch, j.name AS job, a.number AS attempt
     FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN batches b ON b.id = j.batch_id
     WHERE a.node = ? AND a.state IN ('assigned', 'running') ORDER BY a.id`,
  );
  return ctx.store.nodes().map((n) => {
    const r = running.all(n.name);
    const shown = visible === null ? r : r.filter((j) => visible.has(j.namespace));
    const res = parseNodeResources(n);
    return {
      name: n.name,
      state: nodeState(n, connected.has(n.name), r.length),
      capabilities: JSON.parse(n.capabilities) as string[],
      resources: { cpus: res.cpus, memory: res.memory, gpus: res.gpus },
      running: shown,
      hidden_running: r.length - shown.length,
    };
  });
}

export function nodeState(n: NodeRow, connected: boolean, running: number): NodeState {
  if (!connected) return 'lost';
  if (n.draining || n.drained) return 'draining';
  if (n.paused) return 'paused';
  return running > 0 ? 'busy' : 'idle';
}
