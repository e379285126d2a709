import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActiveTimeLimit, MAX_TIMER_MS } from '../../compute/time-limit.js';
import { ManualClock } from './manual-clock.js';

describe('ActiveTimeLimit', () => {
  it('expires after the limit of running time', () => {
    const clock = new ManualClock();
    let fired = 0;
    const limit = new ActiveTimeLimit(1000, () => fired++, clock);
    limit.start();
    clock.advance(999);
    assert.equal(fired, 0);
    clock.advance(1);
    assert.equal(fired, 1);
    assert.equal(limit.hasExpired, true);
  });

  it('does not count the time between stop and start', () => {
    const clock = new ManualClock();
    let firedAt = -1;
    const limit = new ActiveTimeLimit(1000, () => (firedAt = clock.now()), clock);
    limit.start();
    clock.advance(400);
    limit.stop();
    clock.advance(5000);
    assert.equal(firedAt, -1);
    assert.equal(limit.activeMs, 400);
    limit.start();
    clock.advance(599);
    assert.equal(firedAt, -1);
    clock.advance(1);
    assert.equal(firedAt, 6000);
  });

  it('waits out a limit longer than setTimeout can in steps', () => {
    const clock = new ManualClock();
    let fired = 0;
    const limitMs = 30 * 24 * 3600 * 1000; // 30 days
    const limit = new ActiveTimeLimit(limitMs, () => fired++, clock);
    limit.start();
    clock.advance(MAX_TIMER_MS);
    assert.equal(fired, 0);
    assert.equal(clock.pending, 1);
    clock.advance(limitMs - MAX_TIMER_MS);
    assert.equal(fired, 1);
  });

  it('without a limit only counts', () => {
    const clock = new ManualClock();
    const limit = new ActiveTimeLimit(null, () => assert.fail('no limit to reach'), clock);
    limit.start();
    clock.advance(10_000);
    assert.equal(limit.activeMs, 10_000);
    assert.equal(clock.pending, 0);
  });
});
