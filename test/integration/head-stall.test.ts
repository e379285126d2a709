// A head that stood still blames no node: SIGSTOP the head for twice node_timeout while a job
// runs, SIGCONT it, and no node is declared lost; the job ends done, once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/until.js';

describe('a stalled head', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ head: { node_timeout: '2s', heartbeat: 0.5 }, nodes: [{ name: 'n1', capabilities: ['shell'] }, { name: 'n2', capabilities: ['shell'] }] });
  });
  after(async () => c?.stop());

  it('declares no node lost after SIGSTOP for 2 x node_timeout and SIGCONT', async () => {
    const file = join(c.root, 'stall.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'stall', namespace: 'stall' }, shell: { jobs: [{ name: 'long', command: 'sleep 8' }] } }));
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 0, add.stderr);
    await c.head.event('attempt_started');

    process.kill(c.head.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 4000)); // the stall itself: what is tested is its length
    process.kill(c.head.pid, 'SIGCONT');

    const stalled = await c.head.event('loop_stalled');
    assert.ok(Number(stalled.ms) >= 3500, `stall of ${stalled.ms} ms`);
    // a node_timeout and more after the stall, both nodes still online
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(c.head.count('node_lost'), 0, 'a node was declared lost after the head stalled');
    const st = await until(async () => {
      const s = await c.statusOf('stall');
      return s && s.counts.done === 1 ? s : null;
    }, 'the job to end', 20_000, 200);
    assert.equal(st.counts.done, 1);
    assert.equal(c.head.count('job_assigned'), 1, 'the job ran more than once');
  });
});
