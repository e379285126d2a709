import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place, why, missingCapabilities, type PlaceStats, type SnapshotNode, type SnapshotQueue, type SnapshotUser } from '../../head/scheduler.js';
import { G, cpus, node, placed, queue } from './scheduler-support.js';

const H = 3600;

interface Case {
  name: string;
  nodes: SnapshotNode[];
  queues: SnapshotQueue[];
  users?: SnapshotUser[];
  expect: string[];
}

const feasibility: Case[] = [
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
    name: 'runs several jobs on one node, up to its cpus, and leaves the rest queued',
    nodes: [node('a', { total: { cpus: 4, memory: 16 * G, gpus: 0 } })],
    queues: [queue(1, [1, 2, 3], { demand: cpus(2) })],
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
    queues: [queue(1, [1, 2], { demand: cpus(1, 4 * G) }), queue(2, [3])],
    expect: ['1@a', '3@a'],
  },
  {
    name: 'hands out GPUs by index, lowest free first',
    nodes: [node('g', { total: { cpus: 8, memory: 64 * G, gpus: 4 }, used: { cpus: 1, memory: 0, gpus: [1], jobs: 1 } })],
    queues: [queue(1, [1, 2, 3], { demand: cpus(1, null, 2) })],
    expect: ['1@g[0,2]'],
  },
  {
    name: 'never gives one GPU to two jobs: two gpus:2 jobs share a 4-GPU node, the third waits',
    nodes: [node('g', { total: { cpus: 16, memory: 64 * G, gpus: 4 } })],
    queues: [queue(1, [1, 2, 3], { demand: cpus(1, null, 2) })],
    expect: ['1@g[0,1]', '2@g[2,3]'],
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
    name: 'honours job-level pins: two queues of one batch pinned to different nodes',
    nodes: [node('a', { total: { cpus: 1, memory: G, gpus: 0 } }), node('b', { total: { cpus: 1, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 3], { nodes: ['b'] }), queue(1, [2, 4], { nodes: ['a'], demand: cpus(1, 1) })],
    expect: ['1@b', '2@a'],
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
    queues: [queue(1, [1, 2, 3], { demand: cpus(8, 100 * G) })],
    expect: ['1@q', '2@q'],
  },
  {
    name: 'queue-depth mode still hands out GPUs by index and needs free ones',
    nodes: [node('q', { total: { cpus: 1, memory: 0, gpus: 2 }, maxJobs: 8, used: { cpus: 0, memory: 0, gpus: [0], jobs: 1 } })],
    queues: [queue(1, [1, 2], { demand: cpus(1, null, 1) })],
    expect: ['1@q[1]'],
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
      queue(2, [3, 4], { capabilities: ['cuda'], demand: cpus(1, null, 1) }),
      queue(3, [5, 6, 7], { capabilities: ['python3'], demand: cpus(2) }),
    ],
    expect: ['1@fortran', '3@gpu[0]', '5@cpu', '6@gpu'],
  },
];

const ranking: Case[] = [
  {
    name: 'packs: the node with the least room left after the job wins, ties by name',
    nodes: [node('b'), node('a'), node('c', { total: { cpus: 8, memory: G, gpus: 0 }, used: { cpus: 6, memory: 0, gpus: [], jobs: 6 } })],
    queues: [queue(1, [1, 2, 3, 4])],
    expect: ['1@c', '2@c', '3@a', '4@a'],
  },
  {
    name: 'keeps a whole node free for a big job by packing the small ones first',
    nodes: [node('a', { total: { cpus: 16, memory: G, gpus: 0 } }), node('b', { total: { cpus: 16, memory: G, gpus: 0 }, used: { cpus: 8, memory: 0, gpus: [], jobs: 1 } })],
    queues: [queue(1, [1, 2], { demand: cpus(2) }), queue(2, [3], { demand: cpus(16) })],
    expect: ['1@b', '2@b', '3@a'],
  },
  {
    name: 'a job without GPUs goes to a machine without free GPUs when it can',
    nodes: [node('gpu', { total: { cpus: 16, memory: G, gpus: 2 } }), node('plain', { total: { cpus: 16, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2])],
    expect: ['1@plain', '2@plain'],
  },
  {
    name: 'a GPU job takes the node whose free GPUs it fills best',
    nodes: [node('four', { total: { cpus: 8, memory: G, gpus: 4 } }), node('one', { total: { cpus: 8, memory: G, gpus: 1 } })],
    queues: [queue(1, [1], { demand: cpus(1, null, 1) }), queue(2, [2], { demand: cpus(1, null, 4) })],
    expect: ['1@one[0]', '2@four[0,1,2,3]'],
  },
];

const ordering: Case[] = [
  {
    name: 'keeps submission order across batches and skips a queue that fits nowhere',
    nodes: [node('a', { total: { cpus: 4, memory: 16 * G, gpus: 0 } })],
    queues: [queue(2, [20, 21]), queue(1, [10], { demand: cpus(8) }), queue(1, [11, 12])],
    expect: ['11@a', '12@a', '20@a', '21@a'],
  },
  {
    name: 'a 2-cpu job does not wait behind a 16-cpu solver that has no room',
    nodes: [node('ws', { total: { cpus: 16, memory: G, gpus: 0 }, used: { cpus: 10, memory: 0, gpus: [], jobs: 1 } })],
    queues: [queue(1, [1, 2], { demand: cpus(16) }), queue(2, [3], { owner: 'bob', demand: cpus(2) })],
    expect: ['3@ws'],
  },
  {
    name: 'a batch of higher priority goes first, though added later',
    nodes: [node('a', { total: { cpus: 2, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2, 3]), queue(2, [4, 5], { priority: 5 })],
    expect: ['4@a', '5@a'],
  },
  {
    name: 'priority comes before fair share',
    nodes: [node('a', { total: { cpus: 2, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2], { owner: 'bob' }), queue(2, [3, 4], { owner: 'alice', priority: 1 })],
    users: [{ name: 'alice', running: 10, lastServed: 50 }],
    expect: ['3@a', '4@a'],
  },
  {
    name: 'fair share: the user with the fewest running jobs goes first, though they submitted later',
    nodes: [node('a', { total: { cpus: 1, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2], { owner: 'alice' }), queue(2, [3], { owner: 'bob' })],
    users: [{ name: 'alice', running: 3, lastServed: 7 }, { name: 'bob', running: 2, lastServed: 9 }],
    expect: ['3@a'],
  },
  {
    name: 'fair share: on a tie of running jobs, the user served least recently goes first',
    nodes: [node('a', { total: { cpus: 1, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2], { owner: 'alice' }), queue(2, [3], { owner: 'bob' }), queue(3, [4], { owner: 'carol' })],
    users: [{ name: 'alice', running: 1, lastServed: 5 }, { name: 'bob', running: 1, lastServed: 9 }, { name: 'carol', running: 1, lastServed: 7 }],
    expect: ['1@a'],
  },
  {
    name: 'fair share: a user never served goes before one served, at equal running jobs',
    nodes: [node('a', { total: { cpus: 1, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2], { owner: 'alice' }), queue(2, [3], { owner: 'bob' })],
    users: [{ name: 'alice', running: 0, lastServed: 12 }],
    expect: ['3@a'],
  },
  {
    name: 'fair share: one pass alternates between users with equal shares',
    nodes: [node('a', { total: { cpus: 5, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2, 3, 4], { owner: 'alice' }), queue(2, [5, 6, 7], { owner: 'bob' })],
    expect: ['1@a', '5@a', '2@a', '6@a', '3@a'],
  },
  {
    name: 'fair share counts a user\'s running jobs over all their batches, which go in submission order',
    nodes: [node('a', { total: { cpus: 3, memory: G, gpus: 0 } })],
    queues: [queue(1, [1, 2]), queue(3, [5, 6]), queue(2, [3, 4], { owner: 'bob' })],
    users: [{ name: 'alice', running: 0, lastServed: 1 }, { name: 'bob', running: 2, lastServed: 2 }],
    expect: ['1@a', '2@a', '3@a'],
  },
  {
    name: 'sort gpus_runtime_memory: more GPUs, then the longer time, then more memory first',
    nodes: [node('g', { total: { cpus: 4, memory: 64 * G, gpus: 2 } })],
    queues: [
      queue(1, [1, 2], { sort: 'gpus_runtime_memory', demand: cpus(1, 8 * G), times: [2 * H, H] }),
      queue(1, [3], { sort: 'gpus_runtime_memory', demand: cpus(1, 16 * G), times: [H] }),
      queue(1, [4], { sort: 'gpus_runtime_memory', demand: cpus(1, null, 2), times: [60] }),
    ],
    expect: ['4@g[0,1]', '1@g', '3@g', '2@g'],
  },
  {
    name: 'sort gpus_memory_runtime: more GPUs, then more memory, then the longer time first',
    nodes: [node('g', { total: { cpus: 4, memory: 64 * G, gpus: 2 } })],
    queues: [
      queue(1, [1, 2], { sort: 'gpus_memory_runtime', demand: cpus(1, 8 * G), times: [2 * H, H] }),
      queue(1, [3], { sort: 'gpus_memory_runtime', demand: cpus(1, 16 * G), times: [H] }),
      queue(1, [4], { sort: 'gpus_memory_runtime', demand: cpus(1, null, 2), times: [60] }),
    ],
    expect: ['4@g[0,1]', '3@g', '1@g', '2@g'],
  },
  {
    name: 'sort: a job without a time limit counts as the longest',
    nodes: [node('a', { total: { cpus: 2, memory: G, gpus: 0 } })],
    queues: [queue(1, [1], { sort: 'gpus_runtime_memory', demand: cpus(1, 1), times: [10 * H] }), queue(1, [2], { sort: 'gpus_runtime_memory', times: [null] })],
    expect: ['2@a', '1@a'],
  },
  {
    name: 'sort none keeps submission order whatever the jobs ask for',
    nodes: [node('g', { total: { cpus: 3, memory: 64 * G, gpus: 2 } })],
    queues: [queue(1, [1], { demand: cpus(1, G) }), queue(1, [2], { demand: cpus(1, null, 2) }), queue(1, [3], { demand: cpus(1, 8 * G) })],
    expect: ['1@g', '2@g[0,1]', '3@g'],
  },
  {
    name: 'sort applies within a batch only: submission order still goes between batches',
    nodes: [node('a', { total: { cpus: 2, memory: G, gpus: 0 } })],
    queues: [queue(1, [1], { sort: 'gpus_runtime_memory', times: [60] }), queue(2, [2], { sort: 'gpus_runtime_memory', times: [10 * H] })],
    expect: ['1@a', '2@a'],
  },
];

function table(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const c of cases) it(c.name, () => assert.deepEqual(placed(c.nodes, c.queues, c.users), c.expect));
  });
}

table('scheduler: feasibility', feasibility);
table('scheduler: ranking of nodes', ranking);
table('scheduler: ordering', ordering);

describe('scheduler.place', () => {
  it('reports the held resources of each placement', () => {
    const [p] = place({ nodes: [node('a', { total: { cpus: 8, memory: 32 * G, gpus: 2 } })], queues: [queue(7, [70], { demand: cpus(3, 5 * G, 1) })] });
    assert.deepEqual(p, { jobId: 70, batchId: 7, node: 'a', cpus: 3, memory: 5 * G, gpus: [0] });
  });

  it('does not mutate the snapshot', () => {
    const nodes = [node('a', { total: { cpus: 4, memory: G, gpus: 2 } })];
    const queues = [queue(1, [1, 2], { demand: cpus(1, null, 1) }), queue(2, [3], { owner: 'bob' })];
    const users = [{ name: 'alice', running: 1, lastServed: 3 }];
    const before = JSON.stringify({ nodes, queues, users });
    place({ nodes, queues, users });
    assert.equal(JSON.stringify({ nodes, queues, users }), before);
  });

  it('examines one candidate per placement plus one per queue that fits nowhere, however long the queues', () => {
    const count = (length: number) => {
      const stats: PlaceStats = { candidates: 0, nodeChecks: 0 };
      const ids = Array.from({ length }, (_, i) => i + 1);
      const out = place(
        {
          nodes: [node('a', { total: { cpus: 3, memory: G, gpus: 0 } }), node('b', { total: { cpus: 2, memory: G, gpus: 0 } })],
          queues: [queue(1, ids, { demand: cpus(8) }), queue(2, ids.map((i) => i + length)), queue(3, ids.map((i) => i + 2 * length), { owner: 'bob' })],
        },
        stats,
      );
      return { placed: out.length, ...stats };
    };
    const small = count(10);
    assert.deepEqual(small, { placed: 5, candidates: 6, nodeChecks: small.nodeChecks });
    assert.deepEqual(count(100_000), small);
  });
});

describe('scheduler.why', () => {
  const q = (o: Partial<SnapshotQueue> = {}) => queue(1, [1], o);
  const cases: [string, SnapshotNode, SnapshotQueue, string | null][] = [
    ['fits', node('a'), q(), null],
    ['not connected', node('a', { lost: true }), q(), 'node a is not connected'],
    ['paused', node('a', { paused: true }), q(), 'node a is paused'],
    ['draining', node('a', { draining: true }), q(), 'node a is draining'],
    ['missing capabilities', node('a', { capabilities: ['x'] }), q({ capabilities: ['x', 'y', 'z'] }), 'node a lacks capabilities y, z'],
    ['pinned', node('a'), q({ nodes: ['b', 'c'] }), 'pinned to b, c'],
    ['build failed', node('a'), q({ buildFailedOn: ['a'] }), 'its build failed on node a'],
    ['too big for the node', node('a'), q({ demand: cpus(8) }), 'needs 8 cpus, node a has 4'],
    ['busy', node('a', { used: { cpus: 3, memory: 0, gpus: [], jobs: 1 } }), q({ demand: cpus(2) }), 'needs 2 cpus, node a has 1 free'],
    ['memory', node('a', { used: { cpus: 0, memory: 15 * G, gpus: [], jobs: 1 } }), q({ demand: cpus(1, 2 * G) }), 'needs 2 GiB memory, node a has 1 GiB free'],
    ['no GPU', node('a'), q({ demand: cpus(1, null, 1) }), 'needs 1 GPUs, node a has 0'],
    ['GPUs held', node('a', { total: { cpus: 4, memory: G, gpus: 2 }, used: { cpus: 1, memory: 0, gpus: [0, 1], jobs: 1 } }), q({ demand: cpus(1, null, 1) }), 'needs 1 GPUs, node a has 0 free'],
    ['queue depth full', node('a', { maxJobs: 2, used: { cpus: 0, memory: 0, gpus: [], jobs: 2 } }), q(), 'node a already runs its maximum of 2 jobs'],
    ['queue depth ignores cpus', node('a', { maxJobs: 2 }), q({ demand: cpus(64) }), null],
  ];
  for (const [name, n, qu, expected] of cases) {
    it(name, () => assert.equal(why(qu, n), expected));
  }

  it('names the capabilities a node lacks', () => {
    assert.deepEqual(missingCapabilities(['a', 'B', 'c'], ['b', 'c']), ['a', 'B']);
  });
});
