import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, perPilot, pilotMisfit, type PilotShape, type QueueState, type WaitingGroup } from '../../head/alloc/decide.js';
import { why } from '../../head/scheduler.js';
import { G, cpus, node, placed, queue } from './scheduler-support.js';
import { placeAhead } from '../../head/scheduler/ahead.js';
import { QueueOrder } from '../../head/scheduler/order.js';

const M = 60;
const uni: PilotShape = { queue: 'uni', capabilities: ['shell', 'python3'], cpus: 4, memory: 8 * G, gpus: 0, usableSeconds: 9 * M };

function group(count: number, o: Partial<WaitingGroup> = {}): WaitingGroup {
  return { capabilities: o.capabilities ?? ['shell'], demand: o.demand ?? cpus(1), nodes: o.nodes ?? null, time: o.time === undefined ? 60 : o.time, count };
}

function state(o: Partial<QueueState> = {}): QueueState {
  return { maxPilots: o.maxPilots ?? 10, live: o.live ?? 0, coming: o.coming ?? 0, held: o.held ?? false };
}

interface Case {
  name: string;
  pilot?: PilotShape;
  groups: WaitingGroup[];
  state?: Partial<QueueState>;
  submit: number;
  wanted?: number;
}

const cases: Case[] = [
  { name: 'submits nothing when nothing waits', groups: [], submit: 0, wanted: 0 },
  { name: 'one pilot per four 1-cpu jobs on 4-cpu pilots', groups: [group(20)], submit: 5, wanted: 5 },
  { name: 'never more live pilots than max_pilots', groups: [group(100)], state: { maxPilots: 10, live: 3, coming: 0 }, submit: 7, wanted: 25 },
  { name: 'pilots pending in the batch system count as coming capacity', groups: [group(20)], state: { live: 5, coming: 5 }, submit: 0, wanted: 5 },
  { name: 'submits only what the coming pilots do not cover', groups: [group(20)], state: { live: 2, coming: 2 }, submit: 3 },
  { name: 'connected pilots are not coming capacity: their jobs are no longer queued', groups: [group(8)], state: { live: 4, coming: 0 }, submit: 2 },
  { name: 'a paused or backing-off queue submits nothing', groups: [group(20)], state: { held: true }, submit: 0, wanted: 5 },
  { name: 'jobs whose time exceeds the pilots\' walltime want no pilot', groups: [group(20, { time: 3600 })], submit: 0, wanted: 0 },
  { name: 'jobs without a time limit want no pilot', groups: [group(20, { time: null })], submit: 0, wanted: 0 },
  { name: 'jobs needing a capability pilots lack want no pilot', groups: [group(5, { capabilities: ['matlab'] })], submit: 0 },
  { name: 'jobs bigger than a pilot want no pilot', groups: [group(3, { demand: cpus(8) }), group(3, { demand: cpus(1, 16 * G) }), group(3, { demand: cpus(1, null, 1) })], submit: 0 },
  { name: 'pinned jobs want no pilot', groups: [group(3, { nodes: ['lab1'] })], submit: 0 },
  { name: 'memory packs: 3 GiB jobs fit two to an 8 GiB pilot', groups: [group(4, { demand: cpus(1, 3 * G) })], submit: 2 },
  { name: 'groups share pilots: two half-pilot groups want one', groups: [group(2), group(1, { demand: cpus(2) })], submit: 1 },
  { name: 'only the fitting groups count', groups: [group(4), group(40, { time: 3600 })], submit: 1 },
];

describe('allocation decision', () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decide(c.pilot ?? uni, c.groups, state(c.state));
      assert.equal(d.submit, c.submit);
      if (c.wanted !== undefined) assert.equal(d.wanted, c.wanted);
    });
  }

  it('says why a pilot cannot take a group, in the words status shows', () => {
    assert.equal(pilotMisfit(uni, group(1, { time: 3600 })), 'needs 1h 00m, pilots of queue uni run jobs of at most 9m 00s');
    assert.equal(pilotMisfit(uni, group(1, { time: null })), 'has no time limit (resources.time), and pilots of queue uni run jobs of at most 9m 00s');
    assert.equal(pilotMisfit(uni, group(1, { capabilities: ['shell', 'matlab'] })), 'pilots of queue uni lack capability matlab');
    assert.equal(pilotMisfit(uni, group(1, { demand: cpus(1, null, 2) })), 'needs 2 GPUs, pilots of queue uni have 0');
    assert.equal(pilotMisfit({ ...uni, memory: null }, group(1, { demand: cpus(1, G) })), 'needs memory, pilots of queue uni state none');
    assert.equal(pilotMisfit(uni, group(1)), null);
  });

  it('counts the jobs one pilot runs at once by cpus, memory and GPUs', () => {
    assert.equal(perPilot(uni, cpus(1)), 4);
    assert.equal(perPilot(uni, cpus(3)), 1);
    assert.equal(perPilot(uni, cpus(1, 5 * G)), 1);
    assert.equal(perPilot({ ...uni, gpus: 2 }, cpus(1, null, 1)), 2);
  });
});

describe('placement on nodes that end', () => {
  const pilot = (name: string, timeLeft: number) => node(name, { timeLeft, total: { cpus: 4, memory: 8 * G, gpus: 0 } });

  it('places on a pilot only jobs whose time fits what it has left', () => {
    const q = queue(1, [1, 2, 3], { times: [600, 60, 60] });
    assert.deepEqual(placed([pilot('uni-1', 300)], [q]), []);
    assert.deepEqual(placed([pilot('uni-1', 600)], [q]), ['1@uni-1', '2@uni-1', '3@uni-1']);
  });

  it('never places a job without a time limit on a pilot, but does on a lab node', () => {
    const q = queue(1, [1]);
    assert.deepEqual(placed([pilot('uni-1', 3600)], [q]), []);
    assert.deepEqual(placed([pilot('uni-1', 3600), node('lab')], [q]), ['1@lab']);
  });

  it('sends the long job to the lab node and the short ones to the pilot', () => {
    const q = queue(1, [1, 2], { times: [3600, 60] });
    assert.deepEqual(placed([pilot('uni-1', 600), node('lab', { total: { cpus: 1, memory: G, gpus: 0 } })], [q]), ['1@lab', '2@uni-1']);
  });

  it('does not assign a job ahead on a pilot it would outlive', () => {
    const full = node('uni-1', { timeLeft: 300, total: { cpus: 1, memory: G, gpus: 0 }, used: { cpus: 1, memory: 0, gpus: [], jobs: 1 } });
    const order = (times: number[]) => new QueueOrder([queue(1, [1], { times })], []);
    assert.equal(placeAhead([full], order([600]), 2).length, 0);
    assert.equal(placeAhead([full], order([60]), 2).length, 1);
  });

  it('tells status why: the time left against the job\'s', () => {
    const q = queue(1, [1]);
    assert.equal(why(q, pilot('uni-7', 300), 3600), 'needs 1h 00m, node uni-7 ends in 5m 00s');
    assert.equal(why(q, pilot('uni-7', 300), null), 'node uni-7 ends in 5m 00s and the job has no time limit');
    assert.equal(why(q, pilot('uni-7', 300), 60), null);
  });
});
