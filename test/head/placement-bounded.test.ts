// A bounded scheduling pass: one that placed as many jobs as it may asks for the next, so slots
// freed together are all filled, a few per turn, without another event.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduling } from '../../head/placement-pass.js';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { silentLogger } from '../../shared/log.js';
import { until } from '../helpers/until.js';
import { endAJob, queuedCluster } from './placement-scenario.js';

describe('a bounded scheduling pass', () => {
  it('places at most its bound, and the passes that follow fill every freed slot', async () => {
    const s = queuedCluster(400, { nodes: 8 });
    const sent: HeadMessage[] = [];
    const scheduling = new Scheduling({
      store: s.store,
      batches: s.batches,
      nodes: { connected: () => s.connected, send: (_n, m) => (sent.push(m), true), readLog: () => Promise.reject(new Error('no logs here')) },
      log: silentLogger(),
      perPass: 3,
    });
    try {
      for (let k = 0; k < 8; k++) endAJob(s, k);
      assert.equal(scheduling.run().length, 3, 'one pass places its bound');
      await until(() => sent.filter((m) => m.type === 'assign').length >= 8, 'the following passes to fill the other five slots');
      assert.equal(sent.filter((m) => m.type === 'assign').length, 8);
    } finally {
      scheduling.stop();
      s.close();
    }
  });
});
