// The compute daemon's link to the head: dial `ws(s)://head/v1/node` with the node token,
// say hello (capabilities, resources, what it still runs or holds), heartbeat at the head's
// pace, and take its orders (assign, cancel, drop, read_log). A lost connection is dialled
// again with exponential backoff and jitter; jobs keep running meanwhile and their
// results wait in the spool. For the head's node_timeout after a connection is lost, the
// backoff stays under a quarter of it: a head that restarts finds its nodes back before it
// would count them lost (and requeue all they run).
import { WebSocket } from 'ws';
import { Channel } from '../shared/protocol/channel.js';
import { MAX_FRAME } from '../shared/protocol/codec.js';
import { PROTOCOL_VERSION, type NodeResources } from '../shared/protocol/common.js';
import { HeadMessage, type NodeMessage } from '../shared/protocol/messages.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { Attempts } from './attempts.js';
import { authorization, type HeadEndpoint } from './http.js';
import { InputCache } from './inputs.js';
import { ResultSpool } from './results.js';
import { join } from 'node:path';

export interface AgentOptions {
  head: HeadEndpoint;
  node: string;
  capabilities: string[];
  resources: NodeResources;
  maxJobs: number | null;
  workDir: string;
  logger: Logger;
  /** between SIGTERM and SIGKILL when a job is cancelled */
  killGraceMs?: number;
  /** first reconnect delay and its ceiling */
  reconnectMs?: { min: number; max: number };
}

export class ComputeAgent {
  private readonly log: Logger;
  private readonly inputs: InputCache;
  private readonly spool: ResultSpool;
  private readonly attempts: Attempts;
  private channel: Channel<HeadMessage, NodeMessage> | null = null;
  private welcomed = false;
  private stopped = false;
  private failures = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private redial: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  /** the head's node_timeout, from its last welcome */
  private nodeTimeoutMs: number | null = null;
  /** when the last welcomed connection was lost */
  private disconnectedAt: number | null = null;
  private onRegistered!: () => void;
  /** Resolves when the head first welcomes this node. */
  readonly registered = new Promise<void>((r) => (this.onRegistered = r));

  constructor(private readonly o: AgentOptions) {
    this.log = o.logger.child({ node: o.node });
    this.inputs = new InputCache(join(o.workDir, '.inputs'), o.head, this.log);
    this.spool = new ResultSpool(join(o.workDir, '.spool'), o.head, { logger: this.log });
    this.attempts = new Attempts({
      node: o.node,
      workDir: o.workDir,
      inputs: this.inputs,
      spool: this.spool,
      logger: this.log,
      send: (m) => this.send(m),
      ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
    });
  }

  /**
   * Picks up the results a previous run left, kills the jobs it left running (the head
   * requeues them when this node's hello does not list them), then dials the head (and keeps
   * dialling).
   */
  async start(): Promise<void> {
    await this.spool.recover();
    await this.attempts.reclaim();
    this.dial();
  }

  /** Stops dialling, kills the running jobs and waits for them to end. */
  async stop(reason = 'the compute daemon is stopping'): Promise<void> {
    this.stopped = true;
    if (this.redial) clearTimeout(this.redial);
    this.stopHeartbeat();
    if (this.welcomed) this.send({ type: 'draining' });
    await this.attempts.stopAll(reason);
    this.spool.stop();
    this.channel?.close(1001, 'node stopping');
  }

  private send(m: NodeMessage): boolean {
    const ch = this.channel;
    if (!ch || !this.welcomed || ch.socket.readyState !== WebSocket.OPEN) return false;
    ch.send(m);
    return true;
  }

  private dial(): void {
    if (this.stopped) return;
    const url = `${this.o.head.ws}/v1/node`;
    const ws = new WebSocket(url, { headers: authorization(this.o.head), maxPayload: MAX_FRAME, handshakeTimeout: 10_000 });
    const channel = new Channel<HeadMessage, NodeMessage>(ws, {
      schema: HeadMessage,
      onInvalid: (detail) => this.log.warn({ event: 'invalid_frame', detail }, 'invalid frame from the head'),
    });
    this.channel = channel;
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      this.lost(why);
    };
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.slice(0, 500)));
      res.on('end', () => {
        this.log.error({ event: 'connect_refused', head: url, status: res.statusCode, answer: body.trim() }, `the head refused this node (${res.statusCode})`);
        req.destroy();
        end(`refused with ${res.statusCode}`);
      });
    });
    ws.on('open', () => {
      this.lastHeard = Date.now();
      channel.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        node: this.o.node,
        capabilities: this.o.capabilities,
        resources: this.o.resources,
        maxJobs: this.o.maxJobs,
        running: this.attempts.running(),
        unacknowledged: this.attempts.unacknowledged(),
        paused: false,
      });
    });
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('error', (err) => {
      this.log.warn({ event: 'connect_failed', head: url, err: errorMessage(err) }, 'cannot reach the head');
      end(errorMessage(err));
    });
    ws.on('close', (code, reason) => end(`closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
    channel.onMessage((m) => {
      this.lastHeard = Date.now();
      this.handle(m);
    });
  }

  private handle(m: HeadMessage): void {
    switch (m.type) {
      case 'welcome':
        return this.welcome(m);
      case 'assign':
        return this.attempts.assign(m);
      case 'cancel':
        return this.attempts.cancel(m.attempt, m.reason);
      case 'drop':
        void this.attempts.drop(m.attempt, m.reason);
        return;
      case 'read_log':
        void this.attempts.readLog(m).then((answer) => this.send(answer));
        return;
      case 'error':
        this.log.warn({ event: 'head_error', re: m.re, message: m.message, registered: this.welcomed }, `the head says: ${m.message}`);
        return;
    }
  }

  private welcome(m: Extract<HeadMessage, { type: 'welcome' }>): void {
    this.welcomed = true;
    this.failures = 0;
    this.nodeTimeoutMs = m.nodeTimeoutMs;
    this.disconnectedAt = null;
    this.onRegistered();
    this.log.info(
      { event: 'registered', head: this.o.head.ws, capabilities: this.o.capabilities, resources: this.o.resources, max_jobs: this.o.maxJobs, heartbeat_ms: m.heartbeatMs, drop: m.drop },
      'registered with the head',
    );
    const dropped = new Set(m.drop);
    for (const attempt of m.drop) void this.attempts.drop(attempt, 'the head no longer counts on this attempt');
    this.attempts.sendUnsent(dropped);
    this.spool.kick();
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > Math.max(2 * m.nodeTimeoutMs, 3 * m.heartbeatMs)) {
        this.log.warn({ event: 'head_silent', ms: Date.now() - this.lastHeard }, 'the head went silent; reconnecting');
        this.channel?.socket.terminate();
        return;
      }
      this.send({ type: 'heartbeat' });
      this.channel?.socket.ping();
    }, m.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private lost(why: string): void {
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this.channel = null;
    this.stopHeartbeat();
    if (this.stopped) return;
    const { min, max } = this.o.reconnectMs ?? { min: 250, max: 30_000 };
    if (wasWelcomed) this.disconnectedAt = Date.now();
    let ceiling = Math.min(max, min * 2 ** this.failures);
    if (this.nodeTimeoutMs !== null && this.disconnectedAt !== null && Date.now() - this.disconnectedAt < this.nodeTimeoutMs) {
      ceiling = Math.min(ceiling, Math.max(min, this.nodeTimeoutMs / 4));
    }
    this.failures++;
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    if (wasWelcomed) this.log.warn({ event: 'disconnected', reason: why, retry_ms: delay }, 'lost the head; reconnecting');
    else this.log.debug({ event: 'reconnect', reason: why, retry_ms: delay }, 'dialling the head again');
    this.redial = setTimeout(() => this.dial(), delay);
  }
}
