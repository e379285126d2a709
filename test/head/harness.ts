// A real head on 127.0.0.1:0 in this process, tokens made the way `token create` makes them,
// and a raw WebSocket node that speaks the real protocol, for the head's tests.
import WebSocket from 'ws';
import { Readable, Writable } from 'node:stream';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { startHead, type RunningHead } from '../../head/daemon.js';
import { openStore, type Store } from '../../head/store.js';
import { createToken } from '../../head/tokens.js';
import { HeadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { decode, encode } from '../../shared/protocol/codec.js';
import { HeadMessage, type NodeMessage } from '../../shared/protocol/messages.js';
import { PROTOCOL_VERSION, type NodeResources } from '../../shared/protocol/common.js';
import { tempDir } from '../helpers/cli.js';

export interface LogLine {
  event?: string;
  msg?: string;
  [k: string]: unknown;
}

export interface TestHead {
  head: RunningHead;
  stateDir: string;
  /** a second connection to the head's database, as `token create` would open */
  store: Store;
  logs: LogLine[];
  user(name: string, admin?: boolean): string;
  nodeToken(name: string): string;
  http(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: any; text: string }>;
  stop(): Promise<void>;
}

/** Durations in seconds (fractions allowed). */
/**
 * A head in this process. `assignAhead` defaults to 0 here: these tests speak the node protocol
 * by hand and expect one `assign` per free cpu (assigning ahead is tested with real daemons).
 */
export async function startTestHead(o: { nodeTimeout?: number; heartbeat?: number; maxAttempts?: number; assignAhead?: number; smallResults?: 'segments' | 'files' } = {}): Promise<TestHead> {
  const { dir, cleanup } = tempDir('distribute-head-');
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger('head', { level: 'debug', destination: { write: (s: string) => sink.write(s) } as never });
  const config = HeadConfig.parse({
    listen: '127.0.0.1:0',
    state_dir: dir,
    node_timeout: o.nodeTimeout ?? 5,
    heartbeat: o.heartbeat ?? 1,
    max_attempts: o.maxAttempts ?? 3,
    assign_ahead: o.assignAhead ?? 0,
    // a file per result unless asked: these tests look at archives on disk by name
    small_results: o.smallResults ?? process.env.TEST_SMALL_RESULTS ?? 'files',
  });
  const head = await startHead(config, { logger });
  const store = openStore(dir);
  return {
    head,
    stateDir: dir,
    store,
    logs,
    user: (name, admin = false) => createToken(store, { kind: 'user', name, admin }),
    nodeToken: (name) => createToken(store, { kind: 'node', name }),
    async http(method, path, token, body) {
      const res = await fetch(`${head.httpUrl}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body),
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: res.status, json, text };
    },
    async stop() {
      await head.close();
      store.close();
      cleanup();
    },
  };
}

export type Hello = Extract<NodeMessage, { type: 'hello' }>;

export function hello(node: string, o: Partial<Hello> = {}): Hello {
  return {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    node,
    capabilities: [],
    resources: { cpus: 4, memory: 8 * 1024 ** 3, gpus: 0 } satisfies NodeResources,
    maxJobs: null,
    running: [],
    unacknowledged: [],
    paused: false,
    ...o,
  };
}

/** A compute node as the head sees it, driven by the test: raw frames in, typed messages out. */
export class TestNode {
  readonly inbox: HeadMessage[] = [];
  private waiters: { pred: (m: HeadMessage) => boolean; resolve: (m: HeadMessage) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private heartbeat: NodeJS.Timeout | null = null;
  /** answers some messages itself (as a daemon answers read_log); others go to the inbox */
  answer: ((m: HeadMessage) => NodeMessage | null) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const d = decode(HeadMessage, data);
      if (!d.ok) throw new Error(`the head sent an invalid frame: ${JSON.stringify(d.error)}`);
      // a bundle is the messages of one turn of the head's loop: each is received on its own, as the agent does
      if (d.value.type === 'bundle') for (const m of d.value.messages) this.receive(m);
      else this.receive(d.value);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  private receive(msg: HeadMessage): void {
    const reply = this.answer?.(msg);
    if (reply) return this.send(reply);
    const i = this.waiters.findIndex((w) => w.pred(msg));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
    else this.inbox.push(msg);
  }

  /** Opens the WebSocket; rejects with the HTTP status when the upgrade is refused. */
  static connect(url: string, token: string | null): Promise<TestNode> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}/v1/node`, { headers: token ? { authorization: `Bearer ${token}` } : {}, maxPayload: 64 * 1024 * 1024 });
      ws.once('open', () => resolve(new TestNode(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  static async join(url: string, token: string, h: Hello): Promise<{ node: TestNode; welcome: Extract<HeadMessage, { type: 'welcome' }> }> {
    const node = await TestNode.connect(url, token);
    node.send(h);
    const welcome = await node.next('welcome');
    return { node, welcome: welcome as Extract<HeadMessage, { type: 'welcome' }> };
  }

  send(msg: NodeMessage | Record<string, unknown>): void {
    this.ws.send(encode(msg));
  }

  sendRaw(data: Buffer | string): void {
    this.ws.send(data);
  }

  /** The next message of this type (or matching pred); messages already received count. */
  next<T extends HeadMessage['type']>(type: T, pred: (m: Extract<HeadMessage, { type: T }>) => boolean = () => true, timeoutMs = 5000): Promise<Extract<HeadMessage, { type: T }>> {
    const match = (m: HeadMessage) => m.type === type && pred(m as Extract<HeadMessage, { type: T }>);
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Extract<HeadMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${type} from the head within ${timeoutMs} ms (inbox: ${this.inbox.map((m) => m.type).join(', ') || 'empty'})`));
      }, timeoutMs);
      const waiter = {
        pred: match,
        resolve: (m: HeadMessage) => {
          clearTimeout(timer);
          resolve(m as Extract<HeadMessage, { type: T }>);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Heartbeats every ms until closed, as a live daemon does. */
  beat(ms = 200): void {
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat' }), ms);
  }

  silence(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  close(): Promise<{ code: number; reason: string }> {
    this.silence();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close();
    return this.closed;
  }
}

export { until } from '../helpers/until.js';

import type { NewBatch } from '../../head/queue.js';
import type { Meta } from '../../shared/spec/types.js';

/** A shell batch as `add` would queue it, for tests that drive the queue directly. */
export function shellBatch(namespace: string, name: string, jobs: { name: string; cpus?: number; gpus?: number; nodes?: string[] }[], o: { owner?: string; capabilities?: string[] } = {}): NewBatch {
  const meta: Meta = {
    batch_name: name, namespace, matrix: null, capabilities: o.capabilities ?? [], priority: 0, sort: 'none', nodes: null, retries: 0, notify: [],
  };
  return {
    namespace,
    name,
    owner: o.owner ?? 'alice',
    admin: false,
    record: { kind: 'shell', initialize: { kind: 'shell', command: null, requiredFiles: [] }, meta },
    jobs: jobs.map((j) => ({
      name: j.name,
      record: {
        job: { name: j.name, file: null, command: `echo ${j.name}`, requiredFiles: [], resources: { cpus: j.cpus ?? 1, memory: null, gpus: j.gpus ?? 0, time: null } },
        nodes: j.nodes ?? null,
        retries: 0,
      },
    })),
  };
}

/** A result archive as a node packs it: distribute_save content at the top, plus _distribute/. */
export async function resultArchive(o: { exitCode?: number; stdout?: string; files?: Record<string, string>; raw?: (dir: string) => void } = {}): Promise<Buffer> {
  const { dir, cleanup } = tempDir('distribute-result-');
  try {
    mkdirSync(join(dir, '_distribute'));
    writeFileSync(join(dir, '_distribute', 'stdout.log'), o.stdout ?? 'hello from the job\n');
    writeFileSync(join(dir, '_distribute', 'stderr.log'), '');
    writeFileSync(join(dir, '_distribute', 'result.json'), JSON.stringify({ exit_code: o.exitCode ?? 0, signal: null, timed_out: false, cancelled: false }));
    for (const [p, text] of Object.entries(o.files ?? { 'out.txt': 'result\n' })) {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), text);
    }
    o.raw?.(dir);
    const file = join(dir, '..', `${dir.split('/').pop()}.tar.gz`);
    await tar.c({ gzip: true, file, cwd: dir }, readdirSync(dir));
    return readFileSync(file);
  } finally {
    cleanup();
  }
}

/** PUTs a result archive as a node does; `base` is the head's http URL. */
export async function putResult(base: string, token: string, attempt: number, body: Buffer) {
  const res = await fetch(`${base}/v1/results/${attempt}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body });
  return { status: res.status, json: (await res.json()) as { error?: string; state?: string; members?: number } };
}

/** Lists a tar stream: member path → content. */
export async function untar(body: ReadableStream<Uint8Array>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const parser = new tar.Parser({
    onReadEntry: (e) => {
      let text = '';
      e.on('data', (d: Buffer) => (text += d.toString()));
      e.on('end', () => out.set(e.path, text));
    },
  });
  await new Promise<void>((resolve, reject) => {
    Readable.fromWeb(body as never).pipe(parser).on('end', resolve).on('error', reject);
  });
  return out;
}
