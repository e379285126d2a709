// Properties of the scheduler over random clusters and job mixes (seeded, so a failure names
// the seed that reproduces it): passes are replayed as the head would run them — place, the
// placed jobs run, some end, nodes pause or drain, place again — and every pass is checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place, why, type Placement, type SnapshotNode, type SnapshotQueue, type SnapshotUser } from '../../head/scheduler.js';
import type { SortOrder } from '../../shared/spec/types.js';
import { G, node, queue } from './scheduler-support.js';

/** mulberry32: small, fast, good enough to draw test cases */
function rng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;

const CAPS = ['python3', 'gfortran', 'cuda'];
const SORTS: SortOrder[] = ['none', 'gpus_runtime_memory', 'gpus_memory_runtime'];

interface Running {
  jobId: number;
  owner: string;
  node: string;
  cpus: number;
  memory: number;
  gpus: number[];
}

function subset(r: Rng, xs: readonly string[], p: number): string[] {
  return xs.filter(() => r.chance(p));
}

function randomNodes(r: Rng): SnapshotNode[] {
  return Array.from({ length: r.int(1, 6) }, (_, i) =>
    node(`n${i}`, {
      capabilities: subset(r, CAPS, 0.6),
      total: { cpus: r.int(1, 16), memory: r.int(1, 64) * G, gpus: r.chance(0.4) ? r.int(1, 4) : 0 },
      maxJobs: r.chance(0.2) ? r.int(1, 4) : null,
    }),
  );
}

/** Queues of random batches; job ids are unique and grow in submission order. */
function randomQueues(r: Rng, nodeNames: string[]): SnapshotQueue[] {
  const queues: SnapshotQueue[] = [];
  let id = 1;
  const batches = r.int(1, 6);
  for (let b = 1; b <= batches; b++) {
    const owner = r.pick(['alice', 'bob', 'carol', 'dan']);
    const priority = r.int(0, 2);
    const sort = r.pick(SORTS);
    const capabilities = subset(r, CAPS, 0.3);
    const buildFailedOn = subset(r, nodeNames, 0.15);
    const shapes = r.int(1, 3);
    for (let s = 0; s < shapes; s++) {
      const n = r.int(1, 30);
      const jobIds = Array.from({ length: n }, () => id++);
      const times = jobIds.map(() => (r.chance(0.2) ? null : r.int(1, 48) * 3600));
      if (sort !== 'none') times.sort((x, y) => (y ?? Infinity) - (x ?? Infinity)); // the snapshot's order
      queues.push(
        queue(b, jobIds, {
          owner,
          priority,
          sort,
          capabilities,
          buildFailedOn,
          demand: { cpus: r.int(1, 8), memory: r.chance(0.5) ? null : r.int(1, 16) * G, gpus: r.chance(0.25) ? r.int(1, 2) : 0 },
          nodes: r.chance(0.25) ? [...subset(r, nodeNames, 0.5), ...(r.chance(0.3) ? ['elsewhere'] : [])] : null,
          ...(sort !== 'none' ? { times } : {}),
        }),
      );
    }
  }
  return queues;
}

/** The nodes as the head would snapshot them with these jobs running. */
function withUsage(nodes: SnapshotNode[], running: Running[]): SnapshotNode[] {
  return nodes.map((n) => {
    const mine = running.filter((j) => j.node === n.name);
    return {
      ...n,
      used: {
        cpus: mine.reduce((s, j) => s + j.cpus, 0),
        memory: mine.reduce((s, j) => s + j.memory, 0),
        gpus: mine.flatMap((j) => j.gpus),
        jobs: mine.length,
      },
    };
  });
}

function usersOf(running: Running[], served: Map<string, number>): SnapshotUser[] {
  const owners = new Set([...served.keys(), ...running.map((j) => j.owner)]);
  return [...owners].map((name) => ({ name, running: running.filter((j) => j.owner === name).length, lastServed: served.get(name) ?? 0 }));
}

/** Every promise of one pass, checked against the snapshot it was made from. */
function checkPass(nodes: SnapshotNode[], queues: SnapshotQueue[], placements: Placement[], seed: number): void {
  const ctx = (p: Placement) => `seed ${seed}: job ${p.jobId} on ${p.node}`;
  const byNode = new Map(nodes.map((n) => [n.name, n]));
  const queueOf = new Map<number, SnapshotQueue>();
  for (const q of queues) for (const id of q.jobIds) queueOf.set(id, q);
  const seen = new Set<number>();
  const added = new Map<string, { cpus: number; memory: number; gpus: number[]; jobs: number }>();
  for (const p of placements) {
    const n = byNode.get(p.node);
    const q = queueOf.get(p.jobId);
    assert.ok(n && q, ctx(p));
    assert.ok(!seen.has(p.jobId), `${ctx(p)}: placed twice`);
    seen.add(p.jobId);
    assert.ok(!n.lost && !n.paused && !n.draining, `${ctx(p)}: node not available`);
    for (const c of q.capabilities) assert.ok(n.capabilities.includes(c), `${ctx(p)}: lacks ${c}`);
    if (q.nodes) assert.ok(q.nodes.includes(n.name), `${ctx(p)}: pinned to ${q.nodes.join(',')}`);
    assert.ok(!q.buildFailedOn.includes(n.name), `${ctx(p)}: build failed there`);
    assert.equal(p.gpus.length, q.demand.gpus, ctx(p));
    const a = added.get(n.name) ?? { cpus: 0, memory: 0, gpus: [], jobs: 0 };
    a.cpus += p.cpus;
    a.memory += p.memory ?? 0;
    a.gpus.push(...p.gpus);
    a.jobs += 1;
    added.set(n.name, a);
  }
  for (const [name, a] of added) {
    const n = byNode.get(name)!;
    const gpus = [...n.used.gpus, ...a.gpus];
    assert.equal(new Set(gpus).size, gpus.length, `seed ${seed}: node ${name} gives a GPU twice: ${gpus.join(',')}`);
    assert.ok(gpus.every((g) => g >= 0 && g < n.total.gpus), `seed ${seed}: node ${name} gives a GPU it lacks: ${gpus.join(',')}`);
    if (n.maxJobs !== null) {
      assert.ok(n.used.jobs + a.jobs <= n.maxJobs, `seed ${seed}: node ${name} runs over max_jobs`);
    } else {
      assert.ok(n.used.cpus + a.cpus <= n.total.cpus, `seed ${seed}: node ${name} oversubscribed in cpus`);
      assert.ok(n.used.memory + a.memory <= n.total.memory, `seed ${seed}: node ${name} oversubscribed in memory`);
    }
  }
  // each queue is taken from its head, in its order
  for (const q of queues) {
    const taken = q.jobIds.filter((id) => seen.has(id));
    assert.deepEqual(taken, q.jobIds.slice(0, taken.length), `seed ${seed}: batch ${q.batchId} skipped a job of its own queue`);
  }
}

/** After a pass, the next job of every queue fits on no node: nothing placeable is left waiting. */
function checkNothingLeftThatFits(nodes: SnapshotNode[], queues: SnapshotQueue[], placements: Placement[], running: Running[], seed: number): void {
  const after = withUsage(nodes, [...running, ...placements.map((p) => ({ jobId: p.jobId, owner: '', node: p.node, cpus: p.cpus, memory: p.memory ?? 0, gpus: p.gpus }))]);
  const placed = new Set(placements.map((p) => p.jobId));
  for (const q of queues) {
    const next = q.jobIds.find((id) => !placed.has(id));
    if (next === undefined) continue;
    for (const n of after) assert.notEqual(why(q, n), null, `seed ${seed}: job ${next} of batch ${q.batchId} fits on ${n.name} but waits`);
  }
}

describe('scheduler properties over random clusters and job mixes', () => {
  it('never oversubscribes a node, keeps capabilities, pins and failed builds, and leaves nothing waiting that fits', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const nodes = randomNodes(r);
      let queues = randomQueues(r, nodes.map((n) => n.name));
      const running: Running[] = [];
      const served = new Map<string, number>();
      let stamp = 0;
      for (let pass = 0; pass < 40; pass++) {
        for (const n of nodes) {
          n.paused = r.chance(0.1);
          n.draining = r.chance(0.05);
          n.lost = r.chance(0.05);
        }
        const snapNodes = withUsage(nodes, running);
        const users = usersOf(running, served);
        const placements = place({ nodes: snapNodes, queues, users });
        checkPass(snapNodes, queues, placements, seed);
        checkNothingLeftThatFits(snapNodes, queues, placements, running, seed);
        const owner = new Map(queues.flatMap((q) => q.jobIds.map((id) => [id, q.owner] as const)));
        for (const p of placements) {
          running.push({ jobId: p.jobId, owner: owner.get(p.jobId)!, node: p.node, cpus: p.cpus, memory: p.memory ?? 0, gpus: p.gpus });
          served.set(owner.get(p.jobId)!, ++stamp);
        }
        const placedIds = new Set(placements.map((p) => p.jobId));
        queues = queues.map((q) => {
          const rest = q.jobIds.map((id, i) => [id, q.times?.[i] ?? null] as const).filter(([id]) => !placedIds.has(id));
          return { ...q, jobIds: rest.map(([id]) => id), ...(q.times ? { times: rest.map(([, t]) => t) } : {}) };
        });
        // some running jobs end (a node's own jobs end with it when it is lost)
        for (let i = running.length - 1; i >= 0; i--) if (r.chance(0.4)) running.splice(i, 1);
        if (queues.every((q) => q.jobIds.length === 0)) break;
      }
    }
  });

  it('under fair share, a user who submits later gets a node at the first job end after they submit', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const nodes = Array.from({ length: r.int(1, 4) }, (_, i) =>
        r.chance(0.3) ? node(`n${i}`, { maxJobs: r.int(1, 3) }) : node(`n${i}`, { total: { cpus: r.int(4, 12), memory: 64 * G, gpus: 0 } }),
      );
      // alice queues far more than the cluster holds first: batches of jobs of 1-4 cpus
      const queues: SnapshotQueue[] = [];
      const duration = new Map<number, number>();
      let id = 1;
      for (let b = 1, batches = r.int(1, 3); b <= batches; b++) {
        for (let s = 0; s < 2; s++) {
          const ids = Array.from({ length: 200 }, () => id++);
          for (const j of ids) duration.set(j, r.int(1, 10));
          queues.push(queue(b, ids, { owner: 'alice', priority: 0, demand: { cpus: r.int(1, 4), memory: r.chance(0.5) ? r.int(1, 8) * G : null, gpus: 0 } }));
        }
      }
      const maxLength = Math.max(...duration.values());
      const submitAt = r.int(1, 25);
      const late = queue(10, Array.from({ length: 5 }, () => id++), { owner: 'bob' });
      for (const j of late.jobIds) duration.set(j, r.int(1, 10));

      const running: (Running & { end: number })[] = [];
      const served = new Map<string, number>();
      let stamp = 0;
      let live = queues;
      let firstStart: number | null = null;
      let firstEndAfterSubmit: number | null = null;
      let now = 0;
      for (let step = 0; step < 400 && firstStart === null; step++) {
        // events at `now`: jobs end, bob submits
        for (let i = running.length - 1; i >= 0; i--) if (running[i]!.end <= now) running.splice(i, 1);
        const placements = place({ nodes: withUsage(nodes, running), queues: live, users: usersOf(running, served) });
        const owner = new Map(live.flatMap((q) => q.jobIds.map((j) => [j, q.owner] as const)));
        for (const p of placements) {
          running.push({ jobId: p.jobId, owner: owner.get(p.jobId)!, node: p.node, cpus: p.cpus, memory: p.memory ?? 0, gpus: p.gpus, end: now + duration.get(p.jobId)! });
          served.set(owner.get(p.jobId)!, ++stamp);
          if (owner.get(p.jobId) === 'bob') firstStart ??= now;
        }
        const placedIds = new Set(placements.map((p) => p.jobId));
        live = live.map((q) => ({ ...q, jobIds: q.jobIds.filter((j) => !placedIds.has(j)) }));
        const nextEnd = Math.min(...running.map((j) => j.end));
        if (now < submitAt && nextEnd >= submitAt) {
          now = submitAt;
          live = [...live, late];
          continue;
        }
        if (now >= submitAt && firstEndAfterSubmit === null && now > submitAt) firstEndAfterSubmit = now;
        now = nextEnd;
      }
      assert.notEqual(firstStart, null, `seed ${seed}: bob never got a node`);
      const firstFree = firstEndAfterSubmit ?? submitAt;
      assert.ok(firstStart! <= firstFree, `seed ${seed}: bob submitted at ${submitAt}, a job ended at ${firstFree}, bob started at ${firstStart}`);
      assert.ok(firstStart! - submitAt <= maxLength, `seed ${seed}: bob waited ${firstStart! - submitAt}, longer than one job (${maxLength})`);
    }
  });
});
