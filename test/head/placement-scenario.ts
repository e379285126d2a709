// A lab whose queue holds `queued` jobs, in a real store, scheduled with the head's own
// snapshot builder, scheduler and transitions — for the candidate-count test and the
// placement benchmark (test/bench/placement.ts). Steady state: the cluster is full, a job
// ends, one placement pass fills its slot; that pass is what is counted and timed.
import { buildSnapshot, BatchCache } from '../../head/snapshot.js';
import { place, type PlaceStats } from '../../head/scheduler.js';
import { queueBatch, type NewBatch } from '../../head/queue.js';
import { openStore, type Store } from '../../head/store.js';
import { applyPlacements, markFinished, registerNode } from '../../head/transitions.js';
import type { Meta, SortOrder } from '../../shared/spec/types.js';
import { tempDir } from '../helpers/cli.js';
import { hello } from './harness.js';

const G = 1024 ** 3;

export interface Scenario {
  store: Store;
  batches: BatchCache;
  connected: ReadonlySet<string>;
  close(): void;
}

interface BatchPlan {
  owner: string;
  name: string;
  share: number;
  priority?: number;
  sort?: SortOrder;
  capabilities?: string[];
  nodes?: string[];
  /** the resources of job i */
  shape: (i: number) => { cpus: number; memory: number | null; gpus: number };
}

const PLAN: BatchPlan[] = [
  { owner: 'alice', name: 'sweep', share: 0.6, shape: (i) => ({ cpus: 1 + (i % 2), memory: null, gpus: 0 }) },
  { owner: 'alice', name: 'sorted', share: 0.1, sort: 'gpus_runtime_memory', shape: (i) => ({ cpus: 1, memory: (i % 2) * G, gpus: 0 }) },
  { owner: 'bob', name: 'post', share: 0.2, shape: () => ({ cpus: 1, memory: null, gpus: 0 }) },
  { owner: 'carol', name: 'train', share: 0.05, capabilities: ['cuda'], shape: () => ({ cpus: 2, memory: 4 * G, gpus: 1 }) },
  { owner: 'dan', name: 'pinned', share: 0.05, priority: 1, nodes: ['n0', 'n1'], shape: () => ({ cpus: 1, memory: null, gpus: 0 }) },
];

function batchOf(plan: BatchPlan, jobs: number): NewBatch {
  const meta: Meta = {
    batch_name: plan.name, namespace: plan.owner, matrix: null, capabilities: plan.capabilities ?? [], priority: plan.priority ?? 0,
    sort: plan.sort ?? 'none', nodes: plan.nodes ?? null, retries: 0, notify: [],
  };
  return {
    namespace: plan.owner,
    name: plan.name,
    owner: plan.owner,
    admin: false,
    record: { kind: 'shell', initialize: { kind: 'shell', command: null, requiredFiles: [] }, meta },
    jobs: Array.from({ length: jobs }, (_, i) => ({
      name: `${plan.name}_${i}`,
      record: {
        job: { name: `${plan.name}_${i}`, file: null, command: 'true', requiredFiles: [], resources: { ...plan.shape(i), time: ((i * 7919) % 48) * 1800 || null } },
        nodes: plan.nodes ?? null,
        retries: 0,
      },
    })),
  };
}

/**
 * `nodes` workstations of 4 cpus and 16 GiB (two of them with 4 GPUs and `cuda`, one in
 * queue-depth mode), `queued` jobs over five batches of four users, and a first pass that
 * fills every slot.
 */
export function queuedCluster(queued: number, o: { nodes?: number } = {}): Scenario {
  const { dir, cleanup } = tempDir('distribute-placement-');
  const store = openStore(dir);
  const count = o.nodes ?? 8;
  const connected = new Set<string>();
  for (let i = 0; i < count; i++) {
    const name = `n${i}`;
    const gpu = i === count - 1 || i === count - 2;
    registerNode(store, hello(name, { capabilities: gpu ? ['cuda'] : [], resources: { cpus: 4, memory: 16 * G, gpus: gpu ? 4 : 0 }, maxJobs: i === 2 ? 4 : null }), 3);
    connected.add(name);
  }
  for (const plan of PLAN) queueBatch(store, batchOf(plan, Math.round(queued * plan.share)));
  const s: Scenario = { store, batches: new BatchCache(store), connected, close: () => (store.close(), cleanup()) };
  placementPass(s);
  return s;
}

/** The oldest running job of node `n<k mod nodes>` ends: its slot is free (turn by turn, every node frees one). */
export function endAJob(s: Scenario, k: number): void {
  const node = `n${k % s.connected.size}`;
  const a = s.store.stmt<{ id: number }>('SELECT id FROM attempts WHERE node = ? AND ended IS NULL ORDER BY id LIMIT 1').get(node);
  if (!a) throw new Error(`no job runs on ${node}`);
  markFinished(s.store, node, { type: 'finished', attempt: a.id, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
}

/** One scheduling pass as the head runs it: snapshot, place, one transaction. */
export function placementPass(s: Scenario, stats?: PlaceStats): number {
  const snapshot = buildSnapshot(s.store, s.batches, s.connected);
  return applyPlacements(s.store, place(snapshot, stats)).length;
}
