import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_FRAME, encode } from '../../shared/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { hello, startTestHead, TestNode, until, type TestHead } from './harness.js';

describe('head server: auth and the node channel', () => {
  let t: TestHead;
  let alice: string;
  let ws1: string;

  before(async () => {
    t = await startTestHead();
    alice = t.user('alice');
    ws1 = t.nodeToken('ws1');
  });
  after(() => t.stop());

  it('says where it listens, with the bound port, as one JSON log line', () => {
    const line = t.logs.find((l) => l.event === 'listening');
    assert.ok(line);
    assert.equal(line.url, t.head.url);
    assert.match(t.head.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(t.head.port, 0);
  });

  it('answers whoami for a user token created while it runs', async () => {
    const bob = t.user('bob', true);
    const r = await t.http('GET', '/v1/whoami', bob);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { name: 'bob', kind: 'user', admin: true });
  });

  it('refuses HTTP requests without a valid token with 401, and logs the peer', async () => {
    assert.equal((await t.http('GET', '/v1/status', null)).status, 401);
    const wrong = await t.http('GET', '/v1/status', 'not-a-token');
    assert.equal(wrong.status, 401);
    assert.match(wrong.json.error, /valid token/);
    const logged = t.logs.filter((l) => l.event === 'auth_refused' && l.path === '/v1/status');
    assert.ok(logged.length >= 2);
    assert.match(String(logged[0]!.peer), /^127\.0\.0\.1:\d+$/);
  });

  it('refuses a node token on a user request with 403', async () => {
    const r = await t.http('GET', '/v1/status', ws1);
    assert.equal(r.status, 403);
    assert.match(r.json.error, /node token/);
  });

  it('refuses a WebSocket upgrade without a token or with a wrong one (401, logged with the peer)', async () => {
    await assert.rejects(TestNode.connect(t.head.url, null), (e: { status?: number }) => e.status === 401);
    await assert.rejects(TestNode.connect(t.head.url, 'wrong'), (e: { status?: number }) => e.status === 401);
    const logged = t.logs.filter((l) => l.event === 'auth_refused' && l.path === '/v1/node');
    assert.equal(logged.length, 2);
    for (const l of logged) assert.match(String(l.peer), /^127\.0\.0\.1:\d+$/);
  });

  it('refuses a user token on the node endpoint with 403', async () => {
    await assert.rejects(TestNode.connect(t.head.url, alice), (e: { status?: number; body?: string }) => e.status === 403 && /user token/.test(e.body ?? ''));
  });

  it('welcomes a node that says hello with its version, and lists it', async () => {
    const { node, welcome } = await TestNode.join(t.head.url, ws1, hello('ws1', { capabilities: ['python3', 'gfortran'] }));
    assert.equal(welcome.protocol, PROTOCOL_VERSION);
    assert.equal(welcome.heartbeatMs, 1000);
    assert.equal(welcome.nodeTimeoutMs, 5000);
    assert.deepEqual(welcome.drop, []);
    const r = await t.http('GET', '/v1/nodes', alice);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, [{ name: 'ws1', state: 'idle', capabilities: ['python3', 'gfortran'], resources: { cpus: 4, memory: 8 * 1024 ** 3, gpus: 0 }, running: [], hidden_running: 0 }]);
    await node.close();
  });

  it('answers a malformed frame with an error, logs it, and keeps serving on the same connection', async () => {
    const { node } = await TestNode.join(t.head.url, ws1, hello('ws1'));
    node.sendRaw(Buffer.from([0xc1, 0xff, 0x00, 0x13])); // 0xc1 is never valid msgpack
    const err1 = await node.next('error');
    assert.match(err1.message, /not msgpack|invalid/);
    node.send({ type: 'started', attempt: -3, pid: 'x' } as Record<string, unknown>); // valid msgpack, invalid message
    const err2 = await node.next('error');
    assert.match(err2.message, /invalid message: attempt/);
    node.sendRaw('{"type":"heartbeat"}'); // text frame
    assert.match((await node.next('error')).message, /text frames/);
    assert.ok(t.logs.some((l) => l.event === 'invalid_frame' && l.node === 'ws1'));
    // still the same, working session: a second hello is answered, the node stays connected
    node.send(hello('ws1'));
    assert.match((await node.next('error')).message, /already/);
    assert.equal((await t.http('GET', '/v1/nodes', alice)).json[0].state, 'idle');
    await node.close();
  });

  it('refuses an oversized frame by closing with 1009 and keeps serving others', async () => {
    const { node } = await TestNode.join(t.head.url, ws1, hello('ws1'));
    node.sendRaw(Buffer.alloc(MAX_FRAME + 1024, 0x90));
    const closed = await node.closed;
    assert.equal(closed.code, 1009);
    const again = await TestNode.join(t.head.url, ws1, hello('ws1'));
    assert.equal(again.welcome.type, 'welcome');
    assert.equal((await t.http('GET', '/v1/whoami', alice)).status, 200);
    await again.node.close();
  });

  it('refuses a hello of another protocol version, naming both versions, then closes', async () => {
    const node = await TestNode.connect(t.head.url, ws1);
    node.send({ ...hello('ws1'), protocol: PROTOCOL_VERSION + 41 });
    const err = await node.next('error');
    assert.match(err.message, new RegExp(`version ${PROTOCOL_VERSION + 41}.*version ${PROTOCOL_VERSION}`));
    assert.equal((await node.closed).code, 4001);
  });

  it('refuses a hello whose name is not the token\'s node', async () => {
    const node = await TestNode.connect(t.head.url, ws1);
    node.send(hello('someone-else'));
    assert.match((await node.next('error')).message, /belongs to node ws1, not someone-else/);
    assert.equal((await node.closed).code, 4002);
  });

  it('wants hello before anything else', async () => {
    const node = await TestNode.connect(t.head.url, ws1);
    node.send({ type: 'heartbeat' });
    assert.match((await node.next('error')).message, /hello first/);
    node.send(hello('ws1'));
    await node.next('welcome');
    await node.close();
  });

  it('survives frames of garbage from many connections at once', async () => {
    const nodes = await Promise.all(Array.from({ length: 5 }, () => TestNode.connect(t.head.url, ws1)));
    for (const n of nodes) n.sendRaw(encode({ type: 'nonsense', x: 1 }));
    for (const n of nodes) assert.match((await n.next('error')).message, /invalid/);
    await Promise.all(nodes.map((n) => n.close()));
    await until(async () => (await t.http('GET', '/v1/whoami', alice)).status === 200, 'the head to answer');
  });
});
