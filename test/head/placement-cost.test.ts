// The cost of a placement does not grow with the queue: a pass with 100,000 jobs queued
// examines exactly the candidates (jobs offered the nodes, and job × node checks) that it
// examines with 1,000 — counted by the scheduler itself, on snapshots the head's own builder
// reads from a real store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PlaceStats } from '../../head/scheduler.js';
import { endAJob, placementPass, queuedCluster, type Scenario } from './placement-scenario.js';

const PASSES = 20;

/** What each of PASSES steady-state passes (one job ends, its slot is filled) examined. */
function examined(s: Scenario): { placed: number; candidates: number; nodeChecks: number }[] {
  return Array.from({ length: PASSES }, (_, k) => {
    endAJob(s, k);
    const stats: PlaceStats = { candidates: 0, nodeChecks: 0 };
    const placed = placementPass(s, stats);
    return { placed, ...stats };
  });
}

describe('placement cost against the length of the queue', () => {
  let small: Scenario;
  let large: Scenario;
  before(() => {
    small = queuedCluster(1_000);
    large = queuedCluster(100_000);
  });
  after(() => {
    small?.close();
    large?.close();
  });

  it('examines as many candidates per placement with 100,000 jobs queued as with 1,000', () => {
    const few = examined(small);
    const many = examined(large);
    assert.ok(few.every((p) => p.placed === 1 && p.candidates >= 1 && p.nodeChecks >= 1), JSON.stringify(few));
    assert.deepEqual(many, few);
    const queued = (s: Scenario) => s.store.stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'`).get()!.n;
    assert.ok(queued(large) > 99_000 && queued(small) > 900, `${queued(small)} and ${queued(large)} queued`);
  });
});
