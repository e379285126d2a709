import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeStatus, localTime } from '../../src/control-format.js';
import type { PauseStatus } from '../../shared/protocol/control.js';

const now = new Date(2025, 2, 2, 14, 30, 0);
const at = (h: number, m: number) => new Date(2025, 2, 2, h, m, 0).toISOString();

const base: PauseStatus = {
  node: 'ws1',
  paused: true,
  by: 'alice',
  source: 'user',
  since: at(14, 0),
  until: at(15, 0),
  max_pause_ms: 24 * 3600_000,
  vacate_after_ms: 3600_000,
  jobs: [{ attempt: 4, job: 'study/sweep/re_100', paused: true, vacate_at: at(15, 0) }],
  idle_policy: null,
};

describe('pause --status', () => {
  it('tells who paused, since and until when, and what is stopped', () => {
    const text = describeStatus(base, now);
    assert.match(text, /^node ws1: paused by alice since 14:00:00 until 15:00:00 \(30m 00s left\)$/m);
    assert.match(text, /1 of 1 job stopped \(study\/sweep\/re_100\); no new job is placed here/);
    assert.match(text, /still paused at 15:00:00 goes back to the queue/);
  });

  it('says when a pause is the idle policy\'s and has no deadline', () => {
    const text = describeStatus({ ...base, by: 'idle_policy', source: 'idle_policy', until: null, jobs: [], idle_policy: { load_above: 1.5, for_ms: 60_000, quiet_for_ms: 300_000, load: 1.83 } }, now);
    assert.match(text, /paused by idle_policy since 14:00:00 until the machine is quiet/);
    assert.match(text, /load that is not the cluster's 1\.83 cores; pauses above 1\.5 cores for 1m 00s, resumes after 5m 00s quiet/);
  });

  it('says plainly when the node is not paused', () => {
    assert.match(describeStatus({ ...base, paused: false, by: null, source: null, since: null, until: null, jobs: [] }, now), /^node ws1: not paused; no jobs running here$/m);
  });

  it('writes the date of a time on another day', () => {
    assert.equal(localTime(new Date(2025, 2, 3, 9, 5, 7).toISOString(), now), '2025-03-03 09:05:07');
  });
});
