// A compute node that speaks the protocol by hand (the project's codec and messages, a real
// node token), for tests and the red-team script that play a node in hostile hands.
import { WebSocket } from 'ws';
import { decode, encode } from '../../shared/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { HeadMessage, type NodeMessage } from '../../shared/protocol/messages.js';

/** A node that speaks the protocol by hand. */
export class RawNode {
  readonly received: HeadMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: { match: (m: HeadMessage) => boolean; resolve: (m: HeadMessage) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const d = decode(HeadMessage, data);
      if (!d.ok) return;
      this.received.push(d.value);
      this.waiters = this.waiters.filter((w) => (w.match(d.value) ? (w.resolve(d.value), false) : true));
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  static async connect(c: { url: string }, token: string): Promise<RawNode> {
    const ws = new WebSocket(`${c.url}/v1/node`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((ok, fail) => ws.once('open', ok).once('error', fail));
    return new RawNode(ws);
  }

  send(m: NodeMessage): void {
    this.ws.send(encode(m));
  }

  hello(name: string, resources: { cpus: number; memory: number; gpus: number }, capabilities: string[]): void {
    this.send({ type: 'hello', protocol: PROTOCOL_VERSION, node: name, capabilities, resources, maxJobs: null, running: [], unacknowledged: [], paused: false });
  }

  next(match: (m: HeadMessage) => boolean, what: string, timeoutMs = 15_000): Promise<HeadMessage> {
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }
}
