import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place, why, missingCapabilities, type SnapshotNode, type SnapshotQueue } from '../../head/scheduler.js';

const G = 1024 ** 3;

function node(name: string, o: Partial<Omit<SnapshotNode, 'used'>> & { used?: Partial<SnapshotNode['used']> } = {}): SnapshotNode {
  return {
    name,
    capabilities: o.capabilities ?? [],
    total: o.total ?? { cpus: 4, memory: 16 * G, gpus: 0 },
    maxJobs: o.maxJobs ?? null,
    lost: o.lost ?? false,
    paused: o.paused ?? false,
    draining: o.draining ?? false,
    used: { cpus: 0, memory: 0, gpus: [], jobs: 0, ...o.used },
  };
}

function queue(batchId: number, jobIds: number[], o: Partial<Omit<SnapshotQueue, 'jobIds' | 'batchId'>> = {}): SnapshotQueue {
  return {
    batchId,
    capabilities: o.capabilities ?? [],
    demand: o.demand ?? { cpus: 1, memory: null, gpus: 0 },
    nodes: o.nodes ?? null,
    buildFailedOn: o.buildFailedOn ?? [],
    jobIds,
  };
}

/** placements as `job@node` (with GPU indices when any), easy to read in a table */
function placed(nodes: SnapshotNode[], queues: SnapshotQueue[]): string[] {
  return place({ nodes, queues }).map((p) => `${p.jobId}@${p.node}${p.gpus.length ? `[${p.gpus.join(',')}]` : ''}`);
}

interface Case {
  name: string;
  nodes: SnapshotNode[];
  queues: SnapshotQueue[];
  expect: string[];
}

const cases: Case[] = [
  {
    name: 'places nothing when no node is connected',
    nodes: [node('a', { lost: true })],
    queues: [queue(1, [1, 2])],
    expect: [],
  },
  {
    name: 'needs every capability of the batch, as exact strings',
    nodes: [node('a', { capabilities: ['python3'] }), node('b', { capabilities: ['python3', 'gfortran'] }), node('c', { capabilities: ['Python3', 'gfortran'] })],
    queues: [queue(1, [1], { capabilities: ['python3', 'gfortran'] })],
    expect: ['1@b'],
  },
  {
    name: 'fills a node up to its cpus and leaves the rest queued',
    nodes: [node('a', { total: { cpus: 4, memory: 16 * G, gpus: 0 } })],
    queues: [queue(1, [1, 2, 3], { demand: { cpus: 2, memory: null, gpus: 0 } })],
    expect: ['1@a', '2@a'],
  },
  {
    name: 'counts what running attempts already hold',
    nodes: [node('a', { used: { cpus: 3, memory: 0, gpus: [], jobs: 3 } })],
    queues: [queue(1, [1, 2])],
    expect: ['1@a'],
  },
  {
    name: 'respects free memory; a job without memory asks for none',
    nodes: [node('a', { total: { cpus: 8, memory: 10 * G, gpus: 0 }, used: { cpus: 0, memory: 4 * G, gpus: [], jobs: 1 } })],
    queues: [queue(1, [1, 2], { demand: { cpus: 1, memory: 4 * G, gpus: 0 } }), queue(2, [3])],
    expect: ['1@a', '3@a'],
  },
  {
    name: 'hands out GPUs by index, lowest free first',
    nodes: [node('g', { total: { cpus: 8, memory: 64 * G, gpus: 4 }, used: { cpus: 1, memory: 0, gpus: [1], jobs: 1 } })],
    queues: [queue(1, [1, 2, 3], { demand: { cpus: 1, memory: null, gpus: 2 } })],
    expect: ['1@g[0,2]'],
  },
  {
    name: 'keeps submission order across batches and skips a queue that fits nowhere',
    nodes: [node('a', { total: { cpus: 4, memory: 16 * G, gpus: 0 } })],
    queues: [queue(2, [20, 21]), queue(1, [10], { demand: { cpus: 8, memory: null, gpus: 0 } }), queue(1, [11, 12])],
    expect: ['11@a', '12@a', '20@a', '21@a'],
  },
  {
    name: 'places nothing on a paused or draining node',
    nodes: [node('p', { paused: true }), node('d', { draining: true }), node('ok', { total: { cpus: 1, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2, 3])],
    expect: ['1@ok'],
  },
  {
    name: 'honours the pin list',
    nodes: [node('a', { total: { cpus: 16, memory: G, gpus: 0 } }), node('b')],
    queues: [queue(1, [1, 2], { nodes: ['b'] })],
    expect: ['1@b', '2@b'],
  },
  {
    name: 'does not place a batch where its build failed',
    nodes: [node('a', { total: { cpus: 16, memory: G, gpus: 0 } }), node('b', { total: { cpus: 1, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2], { buildFailedOn: ['a'] })],
    expect: ['1@b'],
  },
  {
    name: 'queue-depth mode ignores cpus and memory and runs at most maxJobs',
    nodes: [node('q', { total: { cpus: 1, memory: 0, gpus: 0 }, maxJobs: 3, used: { cpus: 0, memory: 0, gpus: [], jobs: 1 } })],
    queues: [queue(1, [1, 2, 3], { demand: { cpus: 8, memory: 100 * G, gpus: 0 } })],
    expect: ['1@q', '2@q'],
  },
  {
    name: 'spreads work: the node with most free cpus wins, ties by name',
    nodes: [node('b', { total: { cpus: 4, memory: G, gpus: 0 } }), node('a', { total: { cpus: 4, memory: G, gpus: 0 } }), node('c', { total: { cpus: 8, memory: G, gpus: 0 }, used: { cpus: 6, memory: 0, gpus: [], jobs: 6 } })],
    queues: [queue(1, [1, 2, 3, 4])],
    expect: ['1@a', '2@b', '3@a', '4@b'],
  },
  {
    name: 'three nodes of different capabilities: each batch lands only where it fits',
    nodes: [
      node('cpu', { capabilities: ['python3'], total: { cpus: 2, memory: 8 * G, gpus: 0 } }),
      node('fortran', { capabilities: ['python3', 'gfortran'], total: { cpus: 1, memory: 8 * G, gpus: 0 } }),
      node('gpu', { capabilities: ['python3', 'cuda'], total: { cpus: 4, memory: 8 * G, gpus: 1 } }),
    ],
    queues: [
      queue(1, [1, 2], { capabilities: ['gfortran'] }),
      queue(2, [3, 4], { capabilities: ['cuda'], demand: { cpus: 1, memory: null, gpus: 1 } }),
      queue(3, [5, 6, 7], { capabilities: ['python3'], demand: { cpus: 2, memory: null, gpus: 0 } }),
    ],
    expect: ['1@fortran', '3@gpu[0]', '5@gpu', '6@cpu'],
  },
];

describe('scheduler.place', () => {
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(placed(c.nodes, c.queues), c.expect));
  }

  it('reports the held resources of each placement', () => {
    const [p] = place({ nodes: [node('a', { total: { cpus: 8, memory: 32 * G, gpus: 2 } })], queues: [queue(7, [70], { demand: { cpus: 3, memory: 5 * G, gpus: 1 } })] });
    assert.deepEqual(p, { jobId: 70, batchId: 7, node: 'a', cpus: 3, memory: 5 * G, gpus: [0] });
  });

  it('does not mutate the snapshot', () => {
    const nodes = [node('a')];
    const queues = [queue(1, [1, 2])];
    const before = JSON.stringify({ nodes, queues });
    place({ nodes, queues });
    assert.equal(JSON.stringify({ nodes, queues }), before);
  });
});

describe('scheduler.why', () => {
  const q = (o: Partial<SnapshotQueue> = {}) => queue(1, [1], o);
  const table: [string, SnapshotNode, SnapshotQueue, string | null][] = [
    ['fits', node('a'), q(), null],
    ['not connected', node('a', { lost: true }), q(), 'node a is not connected'],
    ['paused', node('a', { paused: true }), q(), 'node a is paused'],
    ['missing capabilities', node('a', { capabilities: ['x'] }), q({ capabilities: ['x', 'y', 'z'] }), 'node a lacks capabilities y, z'],
    ['pinned', node('a'), q({ nodes: ['b', 'c'] }), 'pinned to b, c'],
    ['too big for the node', node('a'), q({ demand: { cpus: 8, memory: null, gpus: 0 } }), 'needs 8 cpus, node a has 4'],
    ['busy', node('a', { used: { cpus: 3, memory: 0, gpus: [], jobs: 1 } }), q({ demand: { cpus: 2, memory: null, gpus: 0 } }), 'needs 2 cpus, node a has 1 free'],
    ['memory', node('a', { used: { cpus: 0, memory: 15 * G, gpus: [], jobs: 1 } }), q({ demand: { cpus: 1, memory: 2 * G, gpus: 0 } }), 'needs 2 GiB memory, node a has 1 GiB free'],
    ['no GPU', node('a'), q({ demand: { cpus: 1, memory: null, gpus: 1 } }), 'needs 1 GPUs, node a has 0'],
    ['queue depth full', node('a', { maxJobs: 2, used: { cpus: 0, memory: 0, gpus: [], jobs: 2 } }), q(), 'node a already runs its maximum of 2 jobs'],
  ];
  for (const [name, n, qu, expected] of table) {
    it(name, () => assert.equal(why(qu, n), expected));
  }

  it('names the capabilities a node lacks', () => {
    assert.deepEqual(missingCapabilities(['a', 'B', 'c'], ['b', 'c']), ['a', 'B']);
  });
});
