// A stand-in head for the compute agent's tests: a real HTTP server and WebSocket endpoint on
// 127.0.0.1 that speaks the node protocol (shared/protocol) and records what the node does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decode, encode } from '../../shared/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { NodeMessage, type HeadMessage } from '../../shared/protocol/messages.js';

export type Assign = Extract<HeadMessage, { type: 'assign' }>;

export class FakeHead {
  readonly token = 'node-token';
  url = '';
  readonly inputs = new Map<string, Buffer>();
  readonly inputGets = new Map<string, number>();
  readonly results = new Map<number, Buffer>();
  /** every result the node sent: over HTTP (PUT) or in a `result` message, and the status answered */
  readonly resultPuts: { attempt: number; status: number; via: 'http' | 'message' }[] = [];
  /** status the next result (PUT or message) is answered with; 200 when it returns undefined */
  resultStatus: (attempt: number) => number = () => 200;
  readonly received: NodeMessage[] = [];
  /** the frames the node sent, each as the types of the messages it carried (a bundle's in order) */
  readonly frames: string[][] = [];
  readonly refusedUpgrades: string[] = [];
  drop: number[] = [];
  private socket: WebSocket | null = null;
  private waiters: { match: (m: NodeMessage) => boolean; resolve: (m: NodeMessage) => void }[] = [];
  private server: Server;
  private wss = new WebSocketServer({ noServer: true });

  constructor() {
    this.server = createServer((req, res) => {
      req.on('error', () => {});
      this.http(req, res);
    });
    this.server.on('upgrade', (req, sock, head) => {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        this.refusedUpgrades.push(req.headers.authorization ?? '');
        sock.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\r\n{"error":"unknown token"}');
        return;
      }
      this.wss.handleUpgrade(req, sock, head, (ws) => this.connected(ws));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  addInput(data: Buffer): string {
    const hash = createHash('sha256').update(data).digest('hex');
    this.inputs.set(hash, data);
    return hash;
  }

  send(m: HeadMessage): void {
    if (!this.socket) throw new Error('no node connected');
    this.socket.send(encode(m));
  }

  /** Cuts the node's connection as a network failure would. */
  cut(): void {
    this.socket?.terminate();
    this.socket = null;
  }

  /** The first message (already received or to come) of this type that matches. */
  next<T extends NodeMessage['type']>(type: T, match: (m: Extract<NodeMessage, { type: T }>) => boolean = () => true, timeoutMs = 10_000): Promise<Extract<NodeMessage, { type: T }>> {
    const test = (m: NodeMessage) => m.type === type && match(m as Extract<NodeMessage, { type: T }>);
    const found = this.received.find(test);
    if (found) return Promise.resolve(found as Extract<NodeMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match: test,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<NodeMessage, { type: T }>);
        },
      });
    });
  }

  /** Resolves with the body of the next result stored for `attempt`. */
  async result(attempt: number, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.results.has(attempt)) {
      if (Date.now() > deadline) throw new Error(`no result for attempt ${attempt}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.results.get(attempt)!;
  }

  private connected(ws: WebSocket): void {
    this.socket = ws;
    // a node that hangs up hard (terminate, a stopped test) resets the connection: not a failure of the fake
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const d = decode(NodeMessage, data as Buffer);
      if (!d.ok) throw new Error(`the node sent an invalid frame: ${JSON.stringify(d.error)}`);
      // what the node sent within one turn comes as one bundle (protocol 3): each counts alone
      const messages = d.value.type === 'bundle' ? d.value.messages : [d.value];
      this.frames.push(messages.map((m) => m.type));
      for (const m of messages) this.take(ws, m);
    });
  }

  private take(ws: WebSocket, m: NodeMessage): void {
    this.received.push(m);
    if (m.type === 'hello') ws.send(encode({ type: 'welcome', protocol: PROTOCOL_VERSION, heartbeatMs: 100, nodeTimeoutMs: 2000, drop: this.drop } satisfies HeadMessage));
    if (m.type === 'result') {
      const status = this.resultStatus(m.attempt);
      this.resultPuts.push({ attempt: m.attempt, status, via: 'message' });
      if (status === 200) this.results.set(m.attempt, Buffer.from(m.data));
      ws.send(encode({ type: 'result_taken', re: m.id, status, message: status === 200 ? null : 'no' } satisfies HeadMessage));
    }
    for (const w of [...this.waiters]) {
      if (w.match(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  private http(req: IncomingMessage, res: ServerResponse): void {
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      res.writeHead(401).end('{"error":"unknown token"}');
      return;
    }
    const input = /^\/v1\/inputs\/([0-9a-f]{64})$/.exec(req.url ?? '');
    if (req.method === 'GET' && input) {
      const hash = input[1]!;
      this.inputGets.set(hash, (this.inputGets.get(hash) ?? 0) + 1);
      const data = this.inputs.get(hash);
      if (!data) return void res.writeHead(404).end('{"error":"no such input"}');
      res.writeHead(200, { 'content-length': data.length });
      // in two writes, so the node sees a stream
      res.write(data.subarray(0, data.length >> 1));
      setImmediate(() => res.end(data.subarray(data.length >> 1)));
      return;
    }
    const result = /^\/v1\/results\/(\d+)$/.exec(req.url ?? '');
    if (req.method === 'PUT' && result) {
      const attempt = Number(result[1]);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.resultStatus(attempt);
        this.resultPuts.push({ attempt, status, via: 'http' });
        if (status === 200) this.results.set(attempt, Buffer.concat(chunks));
        res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{}' : '{"error":"no"}');
      });
      return;
    }
    res.writeHead(404).end('{"error":"not found"}');
  }
}

export function shellAssign(attempt: number, job: string, command: string, extra: Partial<Assign> = {}): Assign {
  return {
    type: 'assign',
    attempt,
    attemptNumber: 1,
    batchId: 1,
    namespace: 'ns',
    batch: 'b',
    kind: 'shell',
    initialize: { kind: 'shell', command: null, requiredFiles: [] },
    job: { name: job, file: null, command, requiredFiles: [], resources: { cpus: 1, memory: null, gpus: 0, time: null } },
    cpus: 1,
    gpus: [],
    ...extra,
  };
}
