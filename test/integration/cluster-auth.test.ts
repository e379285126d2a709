import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/cluster.js';
import { closedPort } from '../helpers/net.js';

interface NodeJson {
  name: string;
  state: string;
  capabilities: string[];
  resources: { cpus: number; memory: number; gpus: number };
}

describe('cluster: nodes and tokens', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({
      nodes: [
        { name: 'alpha', capabilities: ['shell'], cpus: 1 },
        { name: 'beta', capabilities: ['shell', 'gfortran'], cpus: 2, memory: '2G' },
      ],
    });
  });
  after(async () => c?.stop());

  it('lists the registered nodes with their capabilities and resources', async () => {
    const nodes = await c.json<NodeJson[]>(['nodes']);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    assert.deepEqual([...byName.keys()].sort(), ['alpha', 'beta']);
    assert.deepEqual(byName.get('beta')!.capabilities, ['shell', 'gfortran']);
    assert.deepEqual(byName.get('beta')!.resources, { cpus: 2, memory: 2 * 1024 ** 3, gpus: 0 });
    assert.equal(byName.get('alpha')!.state, 'idle');
    const table = await c.cli(['nodes']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^NODE\s+STATE\s+CPUS/m);
    assert.match(table.stdout, /^beta\s+idle\s+2\s+2\.0 GiB\s+0\s+0\s+shell,gfortran$/m);
  });

  it('refuses a wrong token and a missing one, saying why', async () => {
    const wrong = await c.cli(['status'], { token: 'not-a-token' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /refused the token/);
    const missing = await c.cli(['status'], { token: null });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no token for ws:\/\/127\.0\.0\.1:\d+/);
    const nodeToken = await c.createToken('node', 'gamma');
    const asNode = await c.cli(['status'], { token: nodeToken });
    assert.equal(asNode.code, 2);
    assert.equal(asNode.stderr, 'error: node gamma holds a node token; this request is for users\n');
  });

  it('refuses a compute daemon with a wrong token or a user token, and says so in its log', async () => {
    const wrong = await c.startNode({ name: 'intruder', capabilities: ['shell'] }, { token: 'made-up-token' });
    const refused = await wrong.event('connect_refused');
    assert.equal(refused.status, 401);
    const user = await c.startNode({ name: 'userish', capabilities: ['shell'] }, { token: await c.user('alice') });
    assert.equal((await user.event('connect_refused')).status, 403);
    await Promise.all([wrong.stop('SIGKILL'), user.stop('SIGKILL')]);
    const nodes = await c.json<NodeJson[]>(['nodes']);
    assert.deepEqual(nodes.map((n) => n.name).sort(), ['alpha', 'beta']);
  });

  it('says so when the head cannot be reached', async () => {
    const port = await closedPort();
    const r = await c.cli(['status', '--head', `ws://127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `error: cannot reach the head at ws://127.0.0.1:${port}: ECONNREFUSED — is \`distribute head\` running?\n`);
  });
});
