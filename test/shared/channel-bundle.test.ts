// Channel.sendSoon over a real WebSocket: what one turn queues leaves as one bundle frame,
// unwrapped in order on the other side; answers inside a bundle settle their requests; types
// that may not be bundled leave alone, in order.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Channel } from '../../shared/protocol/channel.js';
import { decode } from '../../shared/protocol/codec.js';
import { HEAD_BUNDLED, HeadMessage, NODE_BUNDLED, NodeMessage } from '../../shared/protocol/messages.js';

describe('Channel bundles', () => {
  let wss: WebSocketServer;
  let node: Channel<HeadMessage, NodeMessage>;
  let head: Channel<NodeMessage, HeadMessage>;
  const frames: NodeMessage[] = [];
  const received: NodeMessage[] = [];

  before(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const accepted = new Promise<WebSocket>((r) => wss.once('connection', r));
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    await new Promise((r) => ws.once('open', r));
    const server = await accepted;
    server.on('message', (data) => {
      const d = decode(NodeMessage, data as Buffer);
      if (d.ok) frames.push(d.value);
    });
    head = new Channel<NodeMessage, HeadMessage>(server, { schema: NodeMessage, bundled: HEAD_BUNDLED });
    head.onMessage((m) => {
      received.push(m);
      if (m.type === 'result') head.sendSoon({ type: 'result_taken', re: m.id, status: 200, message: null });
    });
    node = new Channel<HeadMessage, NodeMessage>(ws, { schema: HeadMessage, bundled: NODE_BUNDLED });
  });
  after(() => {
    node.close();
    wss.close();
  });

  it('sends one frame per turn and keeps the order', async () => {
    const finished = (attempt: number) => ({ type: 'finished', attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null }) as const;
    node.sendSoon({ type: 'started', attempt: 1, pid: 10 });
    node.sendSoon(finished(1));
    node.sendSoon({ type: 'draining' });
    node.sendSoon({ type: 'started', attempt: 2, pid: 11 });
    const taken = node.request<Extract<HeadMessage, { type: 'result_taken' }>>({ type: 'result', attempt: 1, data: new Uint8Array([1, 2, 3]) } as never);
    const answer = await taken;
    assert.equal(answer.status, 200);
    // a bundle, `draining` alone (it may not be bundled), then a bundle of the rest
    assert.deepEqual(frames.map((f) => f.type), ['bundle', 'draining', 'bundle']);
    assert.deepEqual(received.map((m) => m.type), ['started', 'finished', 'draining', 'started', 'result']);
    assert.deepEqual(received.map((m) => ('attempt' in m ? m.attempt : null)), [1, 1, null, 2, 1]);
  });

  it('sends a lone message as itself', async () => {
    frames.length = 0;
    node.sendSoon({ type: 'heartbeat' });
    const t = Date.now();
    while (frames.length === 0 && Date.now() - t < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(frames, [{ type: 'heartbeat' }]);
  });
});
