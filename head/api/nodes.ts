// Every node the head knows, connected or not, with what it runs now.
import type { NodeInfo } from '../../shared/protocol/api.js';
import type { NodeState } from '../../shared/protocol/common.js';
import { parseNodeResources, type NodeRow } from '../store.js';
import type { HeadContext } from '../context.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

interface RunningRow {
  namespace: string;
  batch: string;
  job: string;
  attempt: number;
}

export const nodes: Handler<Api['nodes']> = {
  handle(call) {
    call.reply(nodeInfos(call.ctx));
  },
};

export function nodeInfos(ctx: HeadContext): NodeInfo[] {
  const connected = ctx.nodes.connected();
  const running = ctx.store.stmt<RunningRow>(
    `SELECT b.namespace AS namespace, b.name AS batch, j.name AS job, a.number AS attempt
     FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN batches b ON b.id = j.batch_id
     WHERE a.node = ? AND a.state IN ('assigned', 'running') ORDER BY a.id`,
  );
  return ctx.store.nodes().map((n) => {
    const r = running.all(n.name);
    const res = parseNodeResources(n);
    return {
      name: n.name,
      state: nodeState(n, connected.has(n.name), r.length),
      capabilities: JSON.parse(n.capabilities) as string[],
      resources: { cpus: res.cpus, memory: res.memory, gpus: res.gpus },
      running: r,
    };
  });
}

export function nodeState(n: NodeRow, connected: boolean, running: number): NodeState {
  if (!connected) return 'lost';
  if (n.draining || n.drained) return 'draining';
  if (n.paused) return 'paused';
  return running > 0 ? 'busy' : 'idle';
}
