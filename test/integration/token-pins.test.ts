// Node token pins: an admin pins what a node token's hello may claim, with the real CLI;
// a node (played by hand, as a stolen token would be) that claims more is refused, naming
// both its claim and the pin, and the head logs it; `token list` shows the pins.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { runCli } from '../helpers/cli.js';
import { TestCluster } from '../helpers/cluster.js';
import { RawNode } from '../helpers/raw-node.js';
import { until } from '../helpers/until.js';

const GiB = 1024 ** 3;
const errorText = (m: HeadMessage) => (m.type === 'error' ? m.message : '');

describe('node token pins', () => {
  let c: TestCluster;
  let token: string;
  before(async () => {
    c = await TestCluster.start({ nodes: [] });
    const r = await runCli(['token', 'create', '--state-dir', c.stateDir, '--node', 'lab7', '--cpus', '16', '--memory', '64G', '--gpus', '2', '--capabilities', 'a,b']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /token for node lab7, pinned to cpus 16, memory 64\.0 GiB, gpus 2, capabilities \[a, b\]/);
    token = r.stdout.trim().split('\n').at(-1)!;
  });
  after(async () => c?.stop());

  it('token list shows the pins, as a table and as JSON, never the token', async () => {
    const json = await runCli(['token', 'list', '--state-dir', c.stateDir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const tokens = JSON.parse(json.stdout) as { kind: string; name: string; pins: Record<string, unknown> }[];
    const lab7 = tokens.find((t) => t.name === 'lab7');
    assert.deepEqual(lab7, { kind: 'node', name: 'lab7', admin: false, created: (lab7 as { created?: string })?.created, pins: { cpus: 16, memory: 64 * GiB, gpus: 2, capabilities: ['a', 'b'] } });
    assert.ok(!json.stdout.includes(token), 'token list printed a token');
    const text = await runCli(['token', 'list', '--state-dir', c.stateDir]);
    assert.match(text.stdout, /^KIND\s+NAME\s+ADMIN\s+CREATED\s+PINS$/m);
    assert.match(text.stdout, /^node\s+lab7\s+\S+\s+cpus 16, memory 64\.0 GiB, gpus 2, capabilities \[a, b\]$/m);
  });

  it('refuses pins on a user token and pins out of range, with exit 2', async () => {
    const user = await runCli(['token', 'create', '--state-dir', c.stateDir, '--user', 'u', '--cpus', '4']);
    assert.equal(user.code, 2);
    assert.match(user.stderr, /pin a node token/);
    const huge = await runCli(['token', 'create', '--state-dir', c.stateDir, '--node', 'n', '--cpus', '100000']);
    assert.equal(huge.code, 2);
    assert.match(huge.stderr, /--cpus 100000: give a whole number from 1 to 4096/);
    const size = await runCli(['token', 'create', '--state-dir', c.stateDir, '--node', 'n', '--memory', 'lots']);
    assert.equal(size.code, 2);
    assert.match(size.stderr, /--memory: "lots" is not a size/);
  });

  it('welcomes a hello within its pins', async () => {
    const node = await RawNode.connect(c, token);
    node.hello('lab7', { cpus: 16, memory: 64 * GiB, gpus: 2 }, ['a']);
    await node.next((m) => m.type === 'welcome', 'a welcome');
    const nodes = await c.json<{ name: string; resources: { cpus: number } }[]>(['nodes'], { user: 'admin' });
    assert.equal(nodes.find((n) => n.name === 'lab7')?.resources.cpus, 16);
    node.ws.close();
    await until(() => node.closed !== null, 'the node to close');
  });

  const beyond: [string, { cpus: number; memory: number; gpus: number }, string[], string][] = [
    ['cpus', { cpus: 17, memory: GiB, gpus: 0 }, ['a'], 'node lab7 claims 17 cpus; its token allows at most 16'],
    ['memory', { cpus: 1, memory: 65 * GiB, gpus: 0 }, ['a'], 'node lab7 claims 65.0 GiB of memory; its token allows at most 64.0 GiB'],
    ['gpus', { cpus: 1, memory: GiB, gpus: 3 }, ['a'], 'node lab7 claims 3 GPUs; its token allows at most 2'],
    ['a capability', { cpus: 1, memory: GiB, gpus: 0 }, ['a', 'cuda12', 'b'], 'node lab7 claims capability cuda12; its token allows only a, b'],
  ];
  for (const [what, resources, capabilities, claim] of beyond) {
    it(`refuses a hello beyond its pinned ${what}, naming claim and pin`, async () => {
      const node = await RawNode.connect(c, token);
      node.hello('lab7', resources, capabilities);
      const refusal = await node.next((m) => m.type === 'error', 'a refusal');
      assert.equal(errorText(refusal), `${claim} (pinned: cpus 16, memory 64.0 GiB, gpus 2, capabilities [a, b]); refused`);
      await until(() => node.closed !== null, 'the refused node to be disconnected');
      assert.equal(node.closed!.code, 4006);
      assert.ok(!node.received.some((m) => m.type === 'welcome'), 'the node was welcomed');
      const line = await c.head.event('claim_refused', (l) => l.msg === errorText(refusal));
      assert.equal(line.node, 'lab7');
      assert.equal(line.reason, 'pins');
    });
  }
});
