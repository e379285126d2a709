// Utilisation samples: one row per connected node per interval, old rows pruned as new ones
// come; and the range query, merged into steps so a long range stays at MAX_POINTS per node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../../head/store.js';
import { UsageSampler, LOOKS_PER_INTERVAL } from '../../../head/usage/sampler.js';
import { MAX_POINTS, usageSince } from '../../../head/usage/query.js';
import { parseSince } from '../../../head/api/usage.js';
import { silentLogger } from '../../../shared/log.js';
import { tempDir } from '../../helpers/cli.js';

function withStore(fn: (store: Store) => void): void {
  const t = tempDir('distribute-usage-');
  const store = openStore(t.dir);
  try {
    fn(store);
  } finally {
    store.close();
    t.cleanup();
  }
}

function addNode(store: Store, name: string, cpus: number): void {
  store.stmt(`INSERT INTO nodes (name, capabilities, resources, state, last_seen, first_seen) VALUES (?, '[]', ?, 'online', 0, 0)`).run(name, JSON.stringify({ cpus, memory: 0, gpus: 0 }));
}

const rows = (store: Store) => store.stmt<{ at: number; node: string; span_ms: number; busy: number; cpus: number }>('SELECT at, node, span_ms, busy, cpus FROM usage_samples ORDER BY at, node').all();

describe('UsageSampler', () => {
  it('writes one row per connected node when an interval ends, and drops rows older than keep', () => {
    withStore((store) => {
      addNode(store, 'ws1', 4);
      addNode(store, 'ws2', 2);
      addNode(store, 'gone', 8);
      let now = 10_000;
      const sampler = new UsageSampler({ store, connected: () => new Set(['ws1', 'ws2']), intervalMs: 1000, keepMs: 3000, log: silentLogger(), now: () => now });
      for (let i = 0; i < LOOKS_PER_INTERVAL; i++) {
        sampler.look();
        now += 1000 / LOOKS_PER_INTERVAL;
      }
      assert.deepEqual(rows(store), [], 'nothing before the interval ends');
      sampler.look();
      assert.deepEqual(rows(store), [
        { at: 10_000, node: 'ws1', span_ms: 1000, busy: 0, cpus: 4 },
        { at: 10_000, node: 'ws2', span_ms: 1000, busy: 0, cpus: 2 },
      ]);
      for (let s = 0; s < 6; s++) {
        now += 1000;
        sampler.look();
      }
      // the newest row is at 16s; rows before 13s are gone
      assert.deepEqual([...new Set(rows(store).map((r) => r.at))], [13_000, 14_000, 15_000, 16_000]);
      sampler.stop();
      assert.deepEqual([...new Set(rows(store).map((r) => r.at))], [14_000, 15_000, 16_000, 17_000], 'stop writes the interval so far');
    });
  });
});

describe('usageSince', () => {
  it('gives each node its samples in order, merged into steps for a long range', () => {
    withStore((store) => {
      const put = store.stmt('INSERT INTO usage_samples (at, node, span_ms, busy, peak, cpus) VALUES (?, ?, 60000, ?, ?, ?)');
      const day = 24 * 3600_000;
      const t0 = 100 * day;
      for (let m = 0; m < 24 * 60; m++) {
        put.run(t0 + m * 60_000, 'ws1', m % 2, m % 2, 4);
        put.run(t0 + m * 60_000, 'ws2', 2, 3, 8);
      }
      const hour = usageSince(store, t0 + day - 3600_000, t0 + day);
      assert.equal(hour.step_ms, 60_000);
      assert.deepEqual(hour.nodes.map((n) => [n.name, n.cpus, n.samples.length]), [['ws1', 4, 60], ['ws2', 8, 60]]);
      const whole = usageSince(store, t0, t0 + day);
      assert.equal(whole.step_ms, 180_000, 'a day of minutes in at most 720 steps');
      for (const n of whole.nodes) assert.ok(n.samples.length <= MAX_POINTS);
      assert.deepEqual(whole.nodes[0]!.samples[0], { at: t0, busy: 0.333, peak: 1 }, 'a step is the mean of its samples, the peak their largest');
      assert.deepEqual(whole.nodes[1]!.samples[5], { at: t0 + 5 * 180_000, busy: 2, peak: 3 });
    });
  });

  it('reads since as epoch milliseconds or a duration back, and refuses anything else', () => {
    const now = 1_800_000_000_000;
    assert.equal(parseSince(null, now), now - 3600_000);
    assert.equal(parseSince('7d', now), now - 7 * 24 * 3600_000);
    assert.equal(parseSince('90m', now), now - 90 * 60_000);
    assert.equal(parseSince(String(now - 5000), now), now - 5000);
    assert.throws(() => parseSince('yesterday', now), /since: "yesterday" is neither/);
    assert.throws(() => parseSince('12', now), /neither/, 'a bare number is not taken for minutes');
    assert.throws(() => parseSince('x'.repeat(5000), now), /neither/);
  });
});
