// What a node runs at once (compute/local-slots.ts): jobs assigned ahead wait, in the order
// they came, until the jobs before them leave enough cpus and memory (or a slot).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LocalSlots } from '../../compute/local-slots.js';

const G = 1024 ** 3;

/** Whether the promise has settled, after the microtasks queued now have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('local slots', () => {
  it('lets jobs in while their cpus fit and the next one in when one ends', async () => {
    const slots = new LocalSlots({ cpus: 2, memory: 8 * G, maxJobs: null });
    const a = await slots.acquire({ cpus: 1, memory: null });
    const b = await slots.acquire({ cpus: 1, memory: null });
    const c = slots.acquire({ cpus: 1, memory: null });
    assert.equal(await settled(c), false, 'the third waits: both cpus are taken');
    assert.equal(slots.waiting, 1);
    a!();
    assert.equal(await settled(c), true, 'starts once one ends');
    a!(); // a second release changes nothing
    const d = slots.acquire({ cpus: 1, memory: null });
    assert.equal(await settled(d), false);
    b!();
    assert.ok(await d);
  });

  it('keeps the order: a small job does not pass a big one waiting before it', async () => {
    const slots = new LocalSlots({ cpus: 4, memory: 8 * G, maxJobs: null });
    const first = await slots.acquire({ cpus: 3, memory: null });
    const big = slots.acquire({ cpus: 4, memory: null });
    const small = slots.acquire({ cpus: 1, memory: null });
    assert.equal(await settled(small), false, 'one cpu is free, but the big job came first');
    first!();
    const bigRelease = await big;
    assert.equal(await settled(small), false);
    bigRelease!();
    assert.ok(await small);
  });

  it('counts memory', async () => {
    const slots = new LocalSlots({ cpus: 8, memory: 4 * G, maxJobs: null });
    const a = await slots.acquire({ cpus: 1, memory: 3 * G });
    const b = slots.acquire({ cpus: 1, memory: 2 * G });
    assert.equal(await settled(b), false);
    a!();
    assert.ok(await b);
  });

  it('in queue-depth mode counts jobs only', async () => {
    const slots = new LocalSlots({ cpus: 1, memory: G, maxJobs: 2 });
    await slots.acquire({ cpus: 4, memory: 2 * G });
    await slots.acquire({ cpus: 4, memory: 2 * G });
    assert.equal(await settled(slots.acquire({ cpus: 1, memory: null })), false);
  });

  it('lets a job bigger than the node in when nothing runs, rather than never', async () => {
    const slots = new LocalSlots({ cpus: 1, memory: G, maxJobs: null });
    assert.ok(await slots.acquire({ cpus: 2, memory: null }));
  });

  it('a cancelled job leaves the wait without taking room, and the next one moves up', async () => {
    const slots = new LocalSlots({ cpus: 1, memory: G, maxJobs: null });
    const running = await slots.acquire({ cpus: 1, memory: null });
    const cancel = new AbortController();
    const cancelled = slots.acquire({ cpus: 1, memory: null }, cancel.signal);
    const next = slots.acquire({ cpus: 1, memory: null });
    cancel.abort();
    assert.equal(await cancelled, null);
    assert.equal(slots.waiting, 1);
    running!();
    assert.ok(await next);
    assert.equal(await slots.acquire({ cpus: 1, memory: null }, AbortSignal.abort()), null, 'already cancelled');
  });
});
