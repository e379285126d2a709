// A simulated fleet: N compute nodes in this process, each its own WebSocket to a real head
// with its own node token (made by the head's token code), speaking the node protocol through
// the project's codec and channel (what a turn sends leaves as one bundle, as a real node's
// does): hello, heartbeats, started, finished, and a small real result archive (gzip'd tar
// with `_distribute/result.json` and empty logs) in a `result` message. Jobs
// "run" for `runMs` on a timer, no process: a job costs the fleet a few frames, so what a run
// measures is the head. Used by the capacity section of `npm run bench` and by tests.
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { WebSocket } from 'ws';
import { Channel } from '../../shared/protocol/channel.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { HeadMessage, NODE_BUNDLED, type NodeMessage } from '../../shared/protocol/messages.js';
import { NODE_PATH } from '../../head/server.js';
import { openStore } from '../../head/store.js';
import { createToken } from '../../head/tokens.js';

type Assign = Extract<HeadMessage, { type: 'assign' }>;

export interface FleetOptions {
  /** the head's http(s) URL */
  head: string;
  nodes: { name: string; token: string }[];
  /** jobs a node runs at once (its cpus; jobs of 1 cpu) */
  slots: number;
  /** how long a job "runs"; 0 = it ends as soon as it starts */
  runMs: number;
  /** connections opened at once while the fleet joins */
  joinConcurrency?: number;
}

/** Node tokens for `names`, written into the head's database as `distribute token create` does. */
export function nodeTokens(stateDir: string, names: string[]): { name: string; token: string }[] {
  const store = openStore(stateDir);
  try {
    return names.map((name) => ({ name, token: createToken(store, { kind: 'node', name }) }));
  } finally {
    store.close();
  }
}

/** One tar entry of a file with `body`, padded to whole blocks. */
function tarFile(path: string, body: Buffer, mtime: Date): Buffer[] {
  const header = new Header({ path, mode: 0o644, size: body.length, mtime, type: 'File' });
  header.encode();
  const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  body.copy(padded);
  return [header.block!, padded];
}

/** The archive a real node would send for a job that exited 0 at once. */
export function resultArchive(node: string, m: Assign, exitCode = 0): Buffer {
  const now = new Date();
  const iso = now.toISOString();
  const result = {
    namespace: m.namespace, batch: m.batch, job: m.job.name, node, attempt: m.attempt,
    exit_code: exitCode, signal: null, timed_out: false, cancelled: false, error: null, success: exitCode === 0, start: iso, end: iso,
  };
  return gzipSync(
    Buffer.concat([
      ...tarFile('_distribute/result.json', Buffer.from(JSON.stringify(result) + '\n'), now),
      ...tarFile('_distribute/stdout.log', Buffer.alloc(0), now),
      ...tarFile('_distribute/stderr.log', Buffer.alloc(0), now),
      Buffer.alloc(1024),
    ]),
    { level: 1 },
  );
}

export interface FleetCounts {
  assigned: number;
  started: number;
  finished: number;
  /** results the head answered 200 */
  taken: number;
  /** results answered with another status (attempt → status) */
  refused: number;
  /** result archives sent (a 500 is sent again) */
  sent: number;
  /** frames from the head */
  frames: number;
}

export class SimNode {
  private ws: WebSocket | null = null;
  private channel: Channel<HeadMessage, NodeMessage> | null = null;
  private readonly waiting: Assign[] = [];
  private readonly running = new Map<number, NodeJS.Timeout | null>();
  private readonly pendingResults = new Map<number, { attempt: number; data: Buffer }>();
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | null = null;
  /** set by silence(): sends nothing more, as a machine that froze */
  silent = false;
  /** attempt ids whose result the head took, in order */
  readonly taken: number[] = [];

  constructor(
    readonly name: string,
    private readonly token: string,
    private readonly fleet: SimFleet,
  ) {}

  /** Connects, says hello and resolves at the head's welcome. */
  join(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.token}` }, perMessageDeflate: false });
      this.ws = ws;
      const channel = new Channel<HeadMessage, NodeMessage>(ws, {
        schema: HeadMessage,
        bundled: NODE_BUNDLED,
        onInvalid: (detail) => this.fleet.error(this.name, new Error(`invalid frame from the head: ${detail}`)),
      });
      this.channel = channel;
      let welcomed = false;
      ws.on('open', () => {
        this.send({
          type: 'hello', protocol: PROTOCOL_VERSION, node: this.name, capabilities: ['shell'],
          resources: { cpus: this.fleet.slots, memory: 8 * 1024 ** 3, gpus: 0 }, maxJobs: null, running: [], unacknowledged: [], paused: false,
        });
      });
      ws.on('message', () => this.fleet.counts.frames++);
      channel.onMessage((m) => {
        if (m.type === 'welcome') {
          welcomed = true;
          this.heartbeat = setInterval(() => this.send({ type: 'heartbeat' }), m.heartbeatMs);
          resolve();
          return;
        }
        this.receive(m);
      });
      ws.on('error', (err) => (welcomed ? this.fleet.error(this.name, err) : reject(err)));
      ws.on('close', (code, reason) => {
        this.stopTimers();
        if (!welcomed) reject(new Error(`${this.name}: closed before welcome (${code} ${reason.toString()})`));
        else if (!this.silent && !this.fleet.closing) this.fleet.error(this.name, new Error(`connection closed (${code} ${reason.toString()})`));
      });
    });
  }

  /** Stops sending anything (heartbeats included) and running its jobs, the socket left open. */
  silence(): number[] {
    this.silent = true;
    this.stopTimers();
    return [...this.running.keys()];
  }

  close(): void {
    this.stopTimers();
    this.ws?.terminate();
  }

  private stopTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const t of this.running.values()) if (t) clearTimeout(t);
  }

  private send(m: NodeMessage): void {
    if (this.silent || this.ws?.readyState !== WebSocket.OPEN) return;
    this.channel!.sendSoon(m);
  }

  private receive(m: HeadMessage): void {
    if (this.silent) return;
    switch (m.type) {
      case 'assign':
        this.fleet.counts.assigned++;
        this.fleet.onAssign?.(this.name, m);
        this.waiting.push(m);
        this.startWaiting();
        return;
      case 'result_taken': {
        const r = this.pendingResults.get(m.re);
        if (!r) return;
        this.pendingResults.delete(m.re);
        if (m.status === 200) {
          this.fleet.counts.taken++;
          this.taken.push(r.attempt);
        } else if (m.status === 500) {
          this.sendResult(r.attempt, r.data);
        } else {
          this.fleet.counts.refused++;
        }
        this.fleet.progress();
        return;
      }
      case 'cancel': {
        if (!this.running.has(m.attempt)) return;
        const t = this.running.get(m.attempt);
        if (t) clearTimeout(t);
        this.running.delete(m.attempt);
        this.send({ type: 'finished', attempt: m.attempt, exitCode: null, signal: 'SIGKILL', timedOut: false, cancelled: true, error: null });
        this.startWaiting();
        return;
      }
      case 'drop': {
        const t = this.running.get(m.attempt);
        if (t) clearTimeout(t);
        this.running.delete(m.attempt);
        const i = this.waiting.findIndex((a) => a.attempt === m.attempt);
        if (i >= 0) this.waiting.splice(i, 1);
        this.startWaiting();
        return;
      }
      case 'read_log':
        this.send({ type: 'log_data', re: m.id, data: new Uint8Array(0), size: 0, running: this.running.has(m.attempt) });
        return;
      case 'error':
        this.fleet.error(this.name, new Error(`the head said: ${m.message}`));
        return;
      default:
        return;
    }
  }

  private startWaiting(): void {
    while (this.running.size < this.fleet.slots && this.waiting.length > 0) {
      const m = this.waiting.shift()!;
      this.send({ type: 'started', attempt: m.attempt, pid: 1000 + m.attempt });
      this.fleet.counts.started++;
      const end = () => this.finish(m);
      this.running.set(m.attempt, this.fleet.runMs > 0 ? setTimeout(end, this.fleet.runMs) : null);
      if (this.fleet.runMs === 0) setImmediate(end);
    }
  }

  private finish(m: Assign): void {
    if (this.silent || !this.running.has(m.attempt)) return;
    this.running.delete(m.attempt);
    this.send({ type: 'finished', attempt: m.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    this.fleet.counts.finished++;
    this.sendResult(m.attempt, resultArchive(this.name, m));
    this.startWaiting();
  }

  private sendResult(attempt: number, data: Buffer): void {
    const id = this.nextId++;
    this.pendingResults.set(id, { attempt, data });
    this.fleet.counts.sent++;
    this.send({ type: 'result', id, attempt, data: data as Uint8Array<ArrayBuffer> });
  }
}

export class SimFleet {
  readonly counts: FleetCounts = { assigned: 0, started: 0, finished: 0, taken: 0, refused: 0, sent: 0, frames: 0 };
  readonly nodes: SimNode[] = [];
  readonly errors: string[] = [];
  readonly slots: number;
  readonly runMs: number;
  closing = false;
  /** told of every assignment (tests record them) */
  onAssign: ((node: string, m: Assign) => void) | null = null;
  private waiters: { taken: number; resolve: () => void }[] = [];

  private constructor(opts: FleetOptions) {
    this.slots = opts.slots;
    this.runMs = opts.runMs;
  }

  /** Joins every node (a few at a time) and resolves once all were welcomed. */
  static async start(opts: FleetOptions): Promise<SimFleet> {
    const fleet = new SimFleet(opts);
    const url = opts.head.replace(/^http/, 'ws') + NODE_PATH;
    for (const n of opts.nodes) fleet.nodes.push(new SimNode(n.name, n.token, fleet));
    const queue = [...fleet.nodes];
    const worker = async () => {
      for (let n = queue.shift(); n; n = queue.shift()) await n.join(url);
    };
    try {
      await Promise.all(Array.from({ length: opts.joinConcurrency ?? 20 }, worker));
    } catch (err) {
      fleet.close();
      throw err;
    }
    return fleet;
  }

  /** Resolves once the head has taken `n` results in all. */
  whenTaken(n: number): Promise<void> {
    if (this.counts.taken >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ taken: n, resolve }));
  }

  /** @internal */
  progress(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => this.counts.taken >= w.taken);
    this.waiters = this.waiters.filter((w) => this.counts.taken < w.taken);
    for (const w of ready) w.resolve();
  }

  /** @internal */
  error(node: string, err: Error): void {
    this.errors.push(`${node}: ${err.message}`);
  }

  close(): void {
    this.closing = true;
    for (const n of this.nodes) n.close();
  }
}
