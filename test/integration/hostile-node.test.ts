// A node token in hostile hands: a small client speaking the real protocol (the project's
// codec, a real node token) claims a billion cpus and reports a build failure for a batch it
// was never given. Both refused; the head stays small; no node is lost.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { TestCluster } from '../helpers/cluster.js';
import { RawNode as EvilNode } from '../helpers/raw-node.js';
import { until } from '../helpers/until.js';

const errorText = (m: HeadMessage) => (m.type === 'error' ? m.message : '');

describe('hostile node', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'honest', capabilities: ['shell'] }] });
  });
  after(async () => c?.stop());

  it('refuses a hello claiming 10^9 cpus, naming the claim', async () => {
    const evil = await EvilNode.connect(c, await c.createToken('node', 'greedy'));
    evil.hello('greedy', { cpus: 1e9, memory: 1024 ** 3, gpus: 0 }, ['shell']);
    const refusal = await evil.next((m) => m.type === 'error', 'a refusal');
    assert.equal(errorText(refusal), 'node greedy claims 1000000000 cpus; one machine has at most 4096; refused');
    await until(() => evil.closed !== null, 'the refused node to be disconnected');
    assert.equal(evil.closed!.code, 4005);
    const nodes = await c.json<{ name: string }[]>(['nodes'], { user: 'admin' });
    assert.ok(!nodes.some((n) => n.name === 'greedy'), 'the greedy node was registered');
  });

  it('refuses build_failed for a batch it was never given', async () => {
    const evil = await EvilNode.connect(c, await c.createToken('node', 'evil'));
    evil.hello('evil', { cpus: 1, memory: 1024 ** 3, gpus: 0 }, ['evil']);
    await evil.next((m) => m.type === 'welcome', 'a welcome');

    // a batch only the honest node runs
    const file = join(c.root, 'victim.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'victim', namespace: 'v', capabilities: ['shell'] }, shell: { jobs: [{ name: 'j', command: 'true' }] } }));
    assert.equal((await c.cli(['add', file])).code, 0);
    const victim = await c.head.event('batch_added', (l) => l.batch === 'victim');
    const attempt = Number((await c.head.event('job_assigned', (l) => l.batch === 'victim')).attempt);
    evil.send({ type: 'build_failed', batchId: Number(victim.batchId), attempt, log: 'evil says build failed' });
    const refusal = await evil.next((m) => m.type === 'error' && /build_failed refused/.test(m.message), 'a refusal');
    assert.match(errorText(refusal), new RegExp(`^build_failed refused: attempt ${attempt} of batch ${victim.batchId} was never given to node evil$`));
    await c.head.event('report_refused', (l) => l.node === 'evil');

    // the honest node's job ended, no node was lost, and the head stayed small
    const st = await c.statusOf('victim');
    assert.equal(st?.counts.failed, 0);
    assert.ok(!JSON.stringify(st).includes('evil says'), 'the refused report reached the owner');
    assert.equal(c.head.count('node_lost'), 0);
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${c.head.pid}/status`, 'utf8'))![1]) * 1024;
    assert.ok(hwm < 300 * 1024 * 1024, `head peak RSS ${hwm} bytes`);
    evil.ws.close();
  });
});
