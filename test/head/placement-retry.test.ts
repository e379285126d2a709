// A scheduling pass whose transaction the store refuses (a full disk; here the store made
// read-only, a real SQLite refusal) is tried again by itself: queued jobs do not wait for an
// unrelated event once the store takes writes again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduling } from '../../head/placement-pass.js';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { createLogger } from '../../shared/log.js';
import { until } from '../helpers/until.js';
import { endAJob, queuedCluster } from './placement-scenario.js';

describe('a failed scheduling pass', () => {
  it('is tried again after a backoff, and places the queued job once the store takes writes', async () => {
    const s = queuedCluster(40, { nodes: 2 });
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('head', {
      level: 'debug',
      destination: { write: (t: string) => void lines.push(...t.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)) } as never,
    });
    const sent: HeadMessage[] = [];
    const failures: unknown[] = [];
    const scheduling = new Scheduling({
      store: s.store,
      batches: s.batches,
      nodes: { connected: () => s.connected, send: (_n, m) => (sent.push(m), true), readLog: () => Promise.reject(new Error('no logs here')) },
      log: logger,
      onFailure: (err) => failures.push(err),
    });
    try {
      endAJob(s, 0);
      s.store.db.pragma('query_only = ON');
      scheduling.request();
      await until(() => lines.some((l) => l.event === 'schedule_failed'), 'the pass to fail');
      const failed = lines.find((l) => l.event === 'schedule_failed')!;
      assert.equal(failed.retry_ms, 1000);
      assert.equal(failures.length, 1, 'the failure is reported (a full disk starts an episode)');
      assert.equal(sent.length, 0);

      // the store takes writes again; nothing else asks for a pass
      s.store.db.pragma('query_only = OFF');
      await until(() => sent.length > 0, 'the retried pass to place the queued job', 5000);
      assert.equal(sent.filter((m) => m.type === 'assign').length, 1, 'the freed slot is filled');
    } finally {
      scheduling.stop();
      s.close();
    }
  });
});
