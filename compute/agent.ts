// The compute daemon's link to the head: dial `ws(s)://head/v1/node` with the node token,
// say hello (capabilities, resources, what it still runs or holds), heartbeat at the head's
// pace, and take its orders (assign, cancel, drop, read_log). A lost connection is dialled
// again with exponential backoff and jitter; jobs keep running meanwhile and their
// results wait in the spool. For a while after a connection is lost (a head restart takes
// seconds), the backoff stays under a quarter of the head's node_timeout: a head that comes
// back finds its nodes back before it would count them lost (and requeue all they run).
import { WebSocket } from 'ws';
import { Channel } from '../shared/protocol/channel.js';
import { MAX_FRAME } from '../shared/protocol/codec.js';
import { PROTOCOL_VERSION, type NodeResources } from '../shared/protocol/common.js';
import { HeadMessage, NODE_BUNDLED, type NodeMessage } from '../shared/protocol/messages.js';
import { errorMessage } from '../shared/errors.js';
import { tlsAdvice } from '../shared/tls.js';
import type { Logger } from '../shared/log.js';
import { Attempts } from './attempts.js';
import { authorization, type HeadEndpoint } from '../shared/head-http.js';
import { InputCache } from './inputs.js';
import { ResultSpool } from './results.js';
import { WorkspacePool } from './workspace-pool.js';
import { Launcher } from './launcher-client.js';
import type { SandboxPolicy } from './sandbox.js';
import type { PauseController } from './pause.js';
import { linkPause, pausedMessage } from './pause-link.js';
import { join } from 'node:path';
import type { ContainmentOptions } from './runner.js';
import { NODE_PATH } from '../shared/protocol/http-api.js';

/** How long after losing the head the node keeps dialling at a quarter of node_timeout (at least). */
const RESTART_WINDOW_MS = 60_000;

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
  /** run jobs in the bwrap sandbox */
  sandbox?: SandboxPolicy | null;
  /** the workstation's pause (`distribute pause`, idle policy); none: never paused */
  pause?: PauseController;
  /** first reconnect delay and its ceiling */
  reconnectMs?: { min: number; max: number };
  /** a cgroup per job and build (compute/cgroup); none: process groups */
  containment?: ContainmentOptions;
}

export interface StopOptions {
  /** how long running jobs may go on before they are handed back; default 0 */
  drainMs?: number;
  /** how long to wait for finished results to upload; default 10 s */
  flushMs?: number;
}

/** Resolves when `p` does or after `ms`, whichever comes first. */
function raceTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

export class ComputeAgent {
  private readonly log: Logger;
  private readonly inputs: InputCache;
  private readonly spool: ResultSpool;
  private readonly attempts: Attempts;
  private readonly launcher: Launcher;
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
  private draining = false;
  private stopping: Promise<void> | null = null;
  private onRegistered!: () => void;
  /** Resolves when the head first welcomes this node. */
  readonly registered = new Promise<void>((r) => (this.onRegistered = r));

  constructor(private readonly o: AgentOptions) {
    this.log = o.logger.child({ node: o.node });
    this.inputs = new InputCache(join(o.workDir, '.inputs'), o.head, this.log);
    const pool = new WorkspacePool(o.workDir);
    this.launcher = new Launcher(this.log, { cpus: o.resources.cpus, memory: o.resources.memory, maxJobs: o.maxJobs });
    this.spool = new ResultSpool(join(o.workDir, '.spool'), o.head, { logger: this.log, pool, direct: (attempt, archive) => this.sendResult(attempt, archive) });
    this.attempts = new Attempts({
      pool,
      node: o.node,
      workDir: o.workDir,
      inputs: this.inputs,
      spool: this.spool,
      logger: this.log,
      send: (m) => this.send(m),
      ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
      sandbox: o.sandbox ?? null,
      spawn: this.launcher.spawn,
      ...(o.containment ? { containment: o.containment } : {}),
      ...(o.pause ? { watch: o.pause.track.bind(o.pause), watchBuild: o.pause.trackBuild.bind(o.pause) } : {}),
    });
    if (o.pause) linkPause(o.pause, this.attempts, (m) => this.send(m));
  }

  /**
   * Picks up the results a previous run left, kills the jobs it left running (the head
   * requeues them when this node's hello does not list them), then dials the head (and keeps
   * dialling).
   */
  async start(): Promise<void> {
    await this.spool.recover();
    try {
      await this.attempts.reclaim();
    } catch (err) {
      this.log.error({ event: 'reclaim_failed', err: errorMessage(err) }, 'could not look for jobs left running by the previous run');
    }
    this.dial();
  }

  /**
   * A clean stop (SIGTERM): tells the head it is draining, so nothing more is placed here;
   * lets the running jobs finish for up to `drainMs` (0: not at all); hands the rest back
   * (`vacated`: the head queues them again for another node; then killed, and `finished`
   * once their processes are gone, with no result); when connected, tries each finished
   * result's upload once more, for up to `flushMs` (what the head did not take waits in the
   * spool for the next start); then hangs up. Heartbeats go on meanwhile, so the head does not count the node
   * lost while it drains.
   */
  stop(reason = 'the compute daemon is stopping', o: StopOptions = {}): Promise<void> {
    this.stopping ??= (async () => {
      this.draining = true;
      this.send({ type: 'draining' });
      const drainMs = o.drainMs ?? 0;
      if (drainMs > 0 && this.attempts.size > 0) {
        this.log.info({ event: 'draining', jobs: this.attempts.size, drain_ms: drainMs }, 'letting the running jobs finish');
        await raceTimeout(this.attempts.idle(), drainMs);
      }
      if (this.attempts.size > 0) this.log.info({ event: 'returning', jobs: this.attempts.size }, 'handing the running jobs back to the head');
      await this.attempts.returnAll(reason);
      if (this.welcomed && this.spool.pending().length > 0) await raceTimeout(this.spool.flushOnce(), o.flushMs ?? 10_000);
      this.stopped = true;
      if (this.redial) clearTimeout(this.redial);
      this.stopHeartbeat();
      this.spool.stop();
      this.launcher.stop();
      this.channel?.close(1001, 'node stopping');
    })();
    return this.stopping;
  }

  /** Nothing runs or waits here, and every result is on the head. */
  isIdle(): boolean {
    return this.attempts.size === 0 && this.spool.pending().length === 0;
  }

  /** A small result on the connection (`result`, answered by `result_taken`); null when not connected. */
  private sendResult(attempt: number, archive: Buffer): Promise<{ status: number; text: string }> | null {
    const ch = this.channel;
    if (!ch || !this.welcomed || ch.socket.readyState !== WebSocket.OPEN) return null;
    return ch.request<Extract<HeadMessage, { type: 'result_taken' }>>({ type: 'result', attempt, data: archive } as never, 60_000).then((a) => ({ status: a.status, text: a.message ?? '' }));
  }

  private send(m: NodeMessage): boolean {
    const ch = this.channel;
    if (!ch || !this.welcomed || ch.socket.readyState !== WebSocket.OPEN) return false;
    // what is sent within one turn leaves as one frame (protocol 3 bundles)
    ch.sendSoon(m);
    return true;
  }

  private dial(): void {
    if (this.stopped) return;
    const url = this.o.head.ws + NODE_PATH;
    const ws = new WebSocket(url, { headers: authorization(this.o.head), maxPayload: MAX_FRAME, handshakeTimeout: 10_000, ...(this.o.head.ca ? { ca: this.o.head.ca } : {}) });
    const channel = new Channel<HeadMessage, NodeMessage>(ws, {
      schema: HeadMessage,
      bundled: NODE_BUNDLED,
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
        paused: this.o.pause?.paused ?? false,
      });
    });
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('error', (err) => {
      const tls = tlsAdvice(err);
      this.log.warn({ event: 'connect_failed', head: url, err: errorMessage(err), ...(tls ? { tls } : {}) }, tls ? `cannot reach the head: ${tls}` : 'cannot reach the head');
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
        // sent before the head read `draining`: hand it straight back, never started
        if (this.draining) {
          this.send({ type: 'vacated', attempt: m.attempt, reason: 'the compute daemon is stopping' });
          this.send({ type: 'finished', attempt: m.attempt, exitCode: null, signal: null, timedOut: false, cancelled: true, error: null });
          return;
        }
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
    if (this.o.pause?.paused) this.send(pausedMessage(this.o.pause.state));
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
    if (this.nodeTimeoutMs !== null && this.disconnectedAt !== null && Date.now() - this.disconnectedAt < Math.max(RESTART_WINDOW_MS, 10 * this.nodeTimeoutMs)) {
      ceiling = Math.min(ceiling, Math.max(min, this.nodeTimeoutMs / 4));
    }
    this.failures++;
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    if (wasWelcomed) this.log.warn({ event: 'disconnected', reason: why, retry_ms: delay }, 'lost the head; reconnecting');
    else this.log.debug({ event: 'reconnect', reason: why, retry_ms: delay }, 'dialling the head again');
    this.redial = setTimeout(() => this.dial(), delay);
  }
}
