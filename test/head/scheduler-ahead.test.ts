// Assigning ahead (head/scheduler/ahead.ts): once nothing fits the free resources, each node
// takes up to `ahead` more jobs it could run when empty, spread over the nodes; never GPU jobs,
// never to a paused, draining or unfit node; none when `ahead` is 0.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place, type SnapshotNode, type SnapshotQueue } from '../../head/scheduler.js';
import { cpus, G, node, queue } from './scheduler-support.js';

function run(nodes: SnapshotNode[], queues: SnapshotQueue[], ahead: number): string[] {
  return place({ nodes, queues, users: [], ahead }).map((p) => `${p.jobId}@${p.node}`);
}

const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const one = { cpus: 1, memory: 4 * G, gpus: 0 };

describe('assigning ahead', () => {
  it('fills the free cpus first, then gives each node `ahead` more, spread', () => {
    const got = run([node('a', { total: one }), node('b', { total: one })], [queue(1, ids(1, 10))], 2);
    assert.deepEqual(got.slice(0, 2).sort(), ['1@a', '2@b']);
    const perNode = (n: string) => got.filter((p) => p.endsWith(`@${n}`)).length;
    assert.equal(got.length, 6);
    assert.equal(perNode('a'), 3);
    assert.equal(perNode('b'), 3);
    assert.deepEqual(got.map((p) => Number(p.split('@')[0])), ids(1, 6), 'in submission order');
  });

  it('counts the jobs already waiting on a node', () => {
    const a = node('a', { total: one, used: { cpus: 1, jobs: 3 }, waiting: 2 });
    const b = node('b', { total: one, used: { cpus: 1, jobs: 2 }, waiting: 1 });
    assert.deepEqual(run([a, b], [queue(1, ids(1, 5))], 2), ['1@b']);
  });

  it('places nothing ahead when ahead is 0', () => {
    assert.deepEqual(run([node('a', { total: one, used: { cpus: 1, jobs: 1 } })], [queue(1, ids(1, 5))], 0), []);
  });

  it('never puts a GPU job ahead, nor a job the node could not run when empty', () => {
    const full = node('a', { total: { cpus: 2, memory: 8 * G, gpus: 2 }, used: { cpus: 2, jobs: 2, gpus: [0, 1] } });
    assert.deepEqual(run([full], [queue(1, [1], { demand: cpus(1, null, 1) })], 2), [], 'GPU job');
    assert.deepEqual(run([full], [queue(1, [1], { demand: cpus(4) })], 2), [], 'more cpus than the node has');
    assert.deepEqual(run([full], [queue(1, [1], { demand: cpus(1, 16 * G) })], 2), [], 'more memory than the node has');
    assert.deepEqual(run([full], [queue(1, [1], { capabilities: ['matlab'] })], 2), [], 'missing capability');
    assert.deepEqual(run([full], [queue(1, [1], { nodes: ['b'] })], 2), [], 'pinned elsewhere');
    assert.deepEqual(run([full], [queue(1, [1])], 2), ['1@a'], 'an ordinary job does go ahead');
  });

  it('skips paused, draining and lost nodes', () => {
    const busy = { total: one, used: { cpus: 1, jobs: 1 } };
    const nodes = [node('p', { ...busy, paused: true }), node('d', { ...busy, draining: true }), node('l', { ...busy, lost: true })];
    assert.deepEqual(run(nodes, [queue(1, ids(1, 3))], 2), []);
  });

  it('a queue that fit nowhere free is offered again ahead, and fair share goes on alternating', () => {
    const a = node('a', { total: { cpus: 2, memory: 8 * G, gpus: 0 }, used: { cpus: 1, jobs: 1 } });
    // alice's 2-cpu jobs do not fit the one free cpu; bob's 1-cpu job does
    const got = run([a], [queue(1, [1, 2, 3], { demand: cpus(2) }), queue(2, [10, 11, 12], { owner: 'bob' })], 2);
    assert.deepEqual(got, ['10@a', '1@a', '11@a']);
  });
});

describe('a bounded pass', () => {
  it('places the first `limit` jobs of the unbounded pass, ahead ones included, and no more', () => {
    const nodes = ['a', 'b', 'c'].map((n) => node(n, { total: { cpus: 2, memory: 8 * G, gpus: 0 } }));
    const queues = [queue(1, ids(1, 10)), queue(2, ids(100, 10), { owner: 'bob' })];
    const all = place({ nodes, queues, users: [], ahead: 2 }).map((p) => `${p.jobId}@${p.node}`);
    assert.equal(all.length, 12, 'six cpus and two ahead on each of three nodes');
    for (const limit of [1, 5, 6, 8, 12, 50]) {
      const some = place({ nodes, queues, users: [], ahead: 2, limit }).map((p) => `${p.jobId}@${p.node}`);
      assert.deepEqual(some, all.slice(0, limit), `limit ${limit}`);
    }
  });
});
