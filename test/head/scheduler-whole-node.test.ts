import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place, why } from '../../head/scheduler.js';
import { WHOLE_NODE } from '../../shared/spec/types.js';
import { G, cpus, node, placed, queue } from './scheduler-support.js';

const whole = { cpus: WHOLE_NODE, memory: null, gpus: 0 };

describe('cpus: all (the whole node, alone)', () => {
  it('takes every cpu and GPU of an empty node, and tells the job the node\'s cpus', () => {
    const p = place({ nodes: [node('a', { total: { cpus: 12, memory: 64 * G, gpus: 2 } })], queues: [queue(1, [1, 2], { demand: whole })] });
    assert.deepEqual(p, [{ jobId: 1, batchId: 1, node: 'a', cpus: 12, memory: null, gpus: [0, 1] }]);
  });

  it('runs one job per node: each of two empty nodes takes one, the third waits', () => {
    assert.deepEqual(placed([node('a'), node('b')], [queue(1, [1, 2, 3], { demand: whole })]), ['1@a', '2@b']);
  });

  it('waits for a node that runs nothing, however many cpus are free', () => {
    const busy = node('a', { total: { cpus: 64, memory: 64 * G, gpus: 0 }, used: { cpus: 1, memory: 0, gpus: [], jobs: 1 } });
    assert.deepEqual(placed([busy], [queue(1, [1], { demand: whole })]), []);
    assert.match(why(queue(1, [1], { demand: whole }), busy) ?? '', /needs the whole of node a \(cpus: all\), which runs 1 job/);
  });

  it('keeps other jobs off the node it took, in the same pass', () => {
    assert.deepEqual(placed([node('a')], [queue(1, [1], { demand: whole }), queue(2, [2, 3], { demand: cpus(1) })]), ['1@a']);
  });

  it('is kept off a node a small job took earlier in the pass', () => {
    assert.deepEqual(placed([node('a')], [queue(1, [1], { demand: cpus(1) }), queue(2, [2], { demand: whole })]), ['1@a']);
  });

  it('takes every slot of a node in queue-depth mode', () => {
    assert.deepEqual(placed([node('q', { maxJobs: 4 })], [queue(1, [1], { demand: whole }), queue(2, [2, 3])]), ['1@q']);
  });
});
