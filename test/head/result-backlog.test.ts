// Backpressure from the archive on placement: while more results wait to be archived than the
// limit, a scheduling pass places nothing; the result that brings the backlog under the limit
// asks for the pass that was held back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduling } from '../../head/placement-pass.js';
import { ResultBacklog } from '../../head/result-backlog.js';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { silentLogger } from '../../shared/log.js';
import { until } from '../helpers/until.js';
import { endAJob, queuedCluster } from './placement-scenario.js';

describe('results waiting to be archived', () => {
  it('hold placement back past the limit, and the drain places the queued jobs', async () => {
    const s = queuedCluster(40, { nodes: 2 });
    const sent: HeadMessage[] = [];
    let scheduling: Scheduling | null = null;
    const backlog = new ResultBacklog(() => scheduling?.request(), 3);
    scheduling = new Scheduling({
      store: s.store,
      batches: s.batches,
      nodes: { connected: () => s.connected, send: (_n, m) => (sent.push(m), true), readLog: () => Promise.reject(new Error('no logs here')) },
      log: silentLogger(),
      heldBack: () => backlog.full(),
    });
    try {
      for (let i = 0; i < 3; i++) backlog.enter();
      assert.equal(backlog.full(), true);
      endAJob(s, 0);
      assert.deepEqual(scheduling.run(), [], 'a freed slot is not filled while results pile up');
      backlog.enter();
      backlog.leave(); // still at the limit: no pass asked for
      backlog.leave(); // under it: the held pass runs
      await until(() => sent.some((m) => m.type === 'assign'), 'the held-back pass to place a job');
      assert.equal(sent.filter((m) => m.type === 'assign').length, 1, 'the freed slot is filled');
    } finally {
      scheduling.stop();
      s.close();
    }
  });
});
