import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../shared/log.js';
import { END_MARGIN_MS, pilotEnd } from '../../compute/pilot.js';

describe('a pilot leaves by itself', () => {
  it('after idle_timeout with nothing to do, not before', async () => {
    let idle = false;
    const end = pilotEnd(() => idle, { idleTimeoutMs: 300, endsAt: Date.now() + 3600_000 }, silentLogger());
    let left: string | null = null;
    void end.done.then((why) => (left = why));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(left, null, 'busy: stays');
    idle = true;
    const idleFrom = Date.now();
    assert.equal(await end.done, 'idle for 300ms');
    assert.ok(Date.now() - idleFrom >= 200, `idle for the timeout, less one check interval (${Date.now() - idleFrom} ms)`);
  });

  it('before its walltime ends, busy or not', async () => {
    const end = pilotEnd(() => false, { idleTimeoutMs: 60_000, endsAt: Date.now() + END_MARGIN_MS + 200 }, silentLogger());
    assert.equal(await end.done, 'its walltime ends');
  });
});
