// Node sessions: one WebSocket per compute daemon, after a node-token upgrade. The first
// frame must be `hello` (protocol version checked before anything else); then every message
// goes to its handler in transitions.ts. Liveness is one timer per node, restarted by every
// frame: node_timeout of silence — connected or not — and the node is lost and its attempts
// requeued. A reconnect within node_timeout keeps its attempts. Silence counts only while the
// head could listen: after its own loop stalled (LoopWatch, or a loss timer that fires late),
// every node gets a fresh node_timeout, and a loss waits until the frames already on the
// socket are read.
//
// Batching across jobs: the `started` and `finished` reports that arrive within one turn of
// the event loop, from every node, are recorded in one transaction (recordReports) and answered
// by one scheduling pass; what the head sends a node within one turn (a pass's assignments,
// result_taken answers, drops) leaves as one frame (Channel.sendSoon).
import type { WebSocket, RawData } from 'ws';
import { decode, describeWireError, encode, MAX_FRAME } from '../shared/protocol/codec.js';
import { Channel } from '../shared/protocol/channel.js';
import { PROTOCOL_VERSION } from '../shared/protocol/common.js';
import { HEAD_BUNDLED, NodeMessage, type HeadMessage } from '../shared/protocol/messages.js';
import { errorMessage } from '../shared/errors.js';
import { z } from 'zod';
import type { HeadContext, LogChunk, NodeLink } from './context.js';
import type { Principal } from './tokens.js';
import { staticMisfit } from './scheduler/feasibility.js';
import { snapshotNode } from './snapshot.js';
import {
  declareLost,
  markVacated,
  recordBuildFailure,
  recordReports,
  type Report,
  type ShapeOfJobs,
  registerNode,
  setNodeDraining,
  setNodePaused,
  touchNodes,
} from './transitions.js';
import { takeResult } from './result-intake.js';
import { implausibleClaim } from './node-claims.js';
import { describePins, pinViolation } from './token-pins.js';

type Hello = Extract<NodeMessage, { type: 'hello' }>;
type ResultMessage = Extract<NodeMessage, { type: 'result' }>;
type Pending = { node: string; session: Session; msg: Report['msg'] | ResultMessage };

/** Close codes the head uses (4000–4999 are the application's). */
export const CLOSE = {
  replaced: 4000,
  protocolMismatch: 4001,
  wrongNode: 4002,
  lost: 4003,
  noHello: 4004,
  implausible: 4005,
  beyondPins: 4006,
} as const;

/** Most reports and results taken in one turn of the event loop; the rest in the next turns. */
export const REPORTS_PER_TURN = 128;

/** last_seen is written at most this often per node (the timer in memory is exact). */
const LAST_SEEN_WRITE_MS = 5000;

interface Session {
  node: string;
  ws: WebSocket;
  peer: string;
  channel: Channel<NodeMessage, HeadMessage> | null;
}

export class NodeSessions implements NodeLink {
  private readonly sessions = new Map<string, Session>();
  private readonly lossTimers = new Map<string, NodeJS.Timeout>();
  /** when each node's loss timer is due (Date.now() scale), to tell a late timer from a silent node */
  private readonly deadlines = new Map<string, number>();
  private readonly lastWritten = new Map<string, number>();
  /** last_seen of the nodes heard in this turn, written together at its end */
  private seen = new Map<string, number>();
  private ctx!: HeadContext;
  private stopped = false;
  /** started/finished/result messages of this turn of the event loop, handled together at its end */
  private reports: Pending[] = [];
  private recordQueued = false;

  bind(ctx: HeadContext): void {
    this.ctx = ctx;
  }

  connected(): ReadonlySet<string> {
    return new Set([...this.sessions.values()].filter((s) => s.channel).map((s) => s.node));
  }

  send(node: string, msg: HeadMessage): boolean {
    const s = this.sessions.get(node);
    if (!s?.channel || s.ws.readyState !== s.ws.OPEN) return false;
    s.channel.sendSoon(msg);
    return true;
  }

  async readLog(node: string, attempt: number, stream: 'stdout' | 'stderr', offset: number, max: number): Promise<LogChunk> {
    const s = this.sessions.get(node);
    if (!s?.channel) throw new Error(`node ${node} is not connected`);
    const req = { type: 'read_log', attempt, stream, offset, max } as const;
    const answer = await s.channel.request(req as never, 10_000);
    if (answer.type === 'log_data') return { data: answer.data, size: answer.size, running: answer.running };
    if (answer.type === 'error') throw new Error(`node ${node}: ${answer.message}`);
    throw new Error(`node ${node} answered read_log with ${answer.type}`);
  }

  /** After a restart: nodes that were online get node_timeout to come back before they are lost. */
  expectReturning(): void {
    for (const row of this.ctx.store.nodes()) {
      if (row.state === 'online') this.touch(row.name, false);
    }
  }

  /** A node-token WebSocket, upgraded: wait for its hello. */
  accept(ws: WebSocket, principal: Principal, peer: string): void {
    const log = this.ctx.log.child({ node: principal.name, peer });
    ws.on('error', (err) => log.warn({ event: 'node_socket_error', err: errorMessage(err) }, 'node socket error'));
    const helloTimer = setTimeout(() => {
      log.warn({ event: 'no_hello' }, 'node did not say hello in time');
      ws.close(CLOSE.noHello, 'no hello');
    }, this.ctx.settings.nodeTimeoutMs);
    ws.on('close', () => clearTimeout(helloTimer));

    const beforeHello = (data: RawData, isBinary: boolean) => {
      // a throw here would escape into the socket's event loop and take the head down
      try {
        const hello = this.readHello(ws, principal, data, isBinary, log);
        if (!hello) return;
        clearTimeout(helloTimer);
        ws.off('message', beforeHello);
        this.establish(ws, hello, peer);
      } catch (err) {
        log.error({ event: 'hello_failed', err }, `could not register the node: ${errorMessage(err)}`);
        ws.close(1011, 'the head could not register this node');
      }
    };
    ws.on('message', beforeHello);
  }

  close(): void {
    this.stopped = true;
    for (const t of this.lossTimers.values()) clearTimeout(t);
    this.lossTimers.clear();
    this.deadlines.clear();
    this.sessions.clear();
  }

  /** Validates the first frame; answers and returns null when it is not an acceptable hello. */
  private readHello(ws: WebSocket, principal: Principal, data: RawData, isBinary: boolean, log: HeadContext['log']): Hello | null {
    const reply = (message: string) => ws.send(Buffer.from(encodeError(message)));
    if (!isBinary) {
      log.warn({ event: 'invalid_frame', detail: 'text frame' }, 'invalid frame from node');
      reply('text frames are not spoken here; send msgpack binary frames');
      return null;
    }
    const frame = rawFrame(data);
    const loose = decode(z.object({ type: z.string(), protocol: z.unknown() }).loose(), frame, this.ctx.settings.maxFrame);
    if (loose.ok && loose.value.type === 'hello' && loose.value.protocol !== PROTOCOL_VERSION) {
      const theirs = typeof loose.value.protocol === 'number' ? `version ${loose.value.protocol}` : 'no version';
      const message = `protocol mismatch: the node speaks ${theirs}, this head speaks version ${PROTOCOL_VERSION}`;
      log.warn({ event: 'protocol_mismatch', theirs: loose.value.protocol, ours: PROTOCOL_VERSION }, message);
      reply(message);
      ws.close(CLOSE.protocolMismatch, 'protocol version mismatch');
      return null;
    }
    const decoded = decode(NodeMessage, frame, this.ctx.settings.maxFrame);
    if (!decoded.ok) {
      const detail = describeWireError(decoded.error);
      log.warn({ event: 'invalid_frame', detail }, 'invalid frame from node');
      reply(detail);
      return null;
    }
    if (decoded.value.type !== 'hello') {
      reply(`say hello first (got ${decoded.value.type})`);
      return null;
    }
    const implausible = implausibleClaim(decoded.value);
    if (implausible) {
      const message = `node ${principal.name} ${implausible}; refused`;
      log.warn({ event: 'claim_refused', resources: decoded.value.resources, maxJobs: decoded.value.maxJobs }, message);
      reply(message);
      ws.close(CLOSE.implausible, 'implausible resources');
      return null;
    }
    if (decoded.value.node !== principal.name) {
      const message = `this token belongs to node ${principal.name}, not ${decoded.value.node}`;
      log.warn({ event: 'wrong_node', claimed: decoded.value.node }, message);
      reply(message);
      ws.close(CLOSE.wrongNode, 'token is for another node');
      return null;
    }
    const beyond = principal.pins ? pinViolation(decoded.value, principal.pins) : null;
    if (beyond && principal.pins) {
      const message = `node ${principal.name} ${beyond} (pinned: ${describePins(principal.pins)}); refused`;
      log.warn({ event: 'claim_refused', reason: 'pins', resources: decoded.value.resources, capabilities: decoded.value.capabilities, pins: principal.pins }, message);
      reply(message);
      ws.close(CLOSE.beyondPins, 'claims more than its token allows');
      return null;
    }
    return decoded.value;
  }

  private establish(ws: WebSocket, hello: Hello, peer: string): void {
    if (this.stopped) return;
    const { store, settings } = this.ctx;
    const node = hello.node;
    const log = this.ctx.log.child({ node, peer });
    const previous = this.sessions.get(node);
    if (previous && previous.ws !== ws) {
      log.info({ event: 'node_replaced' }, 'a newer connection of this node replaces the old one');
      previous.ws.close(CLOSE.replaced, 'replaced by a newer connection');
    }
    const session: Session = { node, ws, peer, channel: null };
    this.sessions.set(node, session);
    this.touch(node);

    const outcome = registerNode(store, hello, settings.maxAttempts);
    session.channel = new Channel<NodeMessage, HeadMessage>(ws, {
      schema: NodeMessage,
      bundled: HEAD_BUNDLED,
      maxFrame: settings.maxFrame,
      onInvalid: (detail) => log.warn({ event: 'invalid_frame', detail }, 'invalid frame from node'),
      onOversize: (type, size) => log.error({ event: 'frame_not_sent', type, size, limit: MAX_FRAME }, `a ${type} message of ${size} bytes is over the frame limit; not sent`),
    });
    ws.on('message', () => this.touch(node));
    ws.on('close', (code) => {
      if (this.sessions.get(node) !== session) return;
      this.sessions.delete(node);
      log.info({ event: 'node_disconnected', code }, 'node disconnected; lost unless it returns within node_timeout');
    });
    session.channel.onMessage((m) => {
      try {
        this.handle(session, m);
      } catch (err) {
        log.error({ event: 'node_message_failed', type: m.type, err }, 'handling a node message failed');
        session.channel?.send({ type: 'error', re: null, message: `the head could not handle ${m.type}: ${errorMessage(err)}` });
      }
    });
    session.channel.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      heartbeatMs: settings.heartbeatMs,
      nodeTimeoutMs: settings.nodeTimeoutMs,
      drop: outcome.drop,
    });
    log.info(
      { event: 'node_joined', capabilities: hello.capabilities, resources: hello.resources, maxJobs: hello.maxJobs, kept: outcome.kept, drop: outcome.drop, requeued: outcome.requeued, failed: outcome.failed },
      'node joined',
    );
    this.ctx.schedule();
  }

  private handle(s: Session, m: NodeMessage): void {
    const { store, log } = this.ctx;
    const node = s.node;
    switch (m.type) {
      case 'hello':
        s.channel?.send({ type: 'error', re: null, message: 'hello was already said on this connection' });
        return;
      case 'heartbeat':
        return;
      case 'started':
      case 'finished':
      case 'result':
        this.reports.push({ node, msg: m, session: s });
        this.recordSoon();
        return;
      case 'bundle':
        // the channel unwraps bundles; a bundle inside one is not valid
        return;
      case 'build_failed': {
        if (!this.wasGiven(node, m.batchId, m.attempt)) {
          log.warn({ event: 'report_refused', node, type: m.type, batchId: m.batchId, attempt: m.attempt }, `refused build_failed from node ${node}: it was never given attempt ${m.attempt} of batch ${m.batchId}`);
          s.channel?.send({ type: 'error', re: null, message: `build_failed refused: attempt ${m.attempt} of batch ${m.batchId} was never given to node ${node}` });
          return;
        }
        // the log is shown to the batch's owner: its tail is enough
        const outcome = recordBuildFailure(store, node, m.batchId, m.attempt, m.log.slice(-64 * 1024), capableNodes(this.ctx, m.batchId));
        log.warn({ event: 'build_failed', node, batchId: m.batchId, attempt: m.attempt, failedJobs: outcome.failedJobs }, 'build failed on node');
        this.ctx.schedule();
        return;
      }
      case 'paused':
        setNodePaused(store, node, m.paused);
        log.info({ event: m.paused ? 'node_paused' : 'node_resumed', node, by: m.by, until: m.until }, m.paused ? 'node paused' : 'node resumed');
        if (!m.paused) this.ctx.schedule();
        return;
      case 'vacated':
        if (markVacated(store, node, m.attempt, m.reason)) log.info({ event: 'attempt_vacated', node, attempt: m.attempt, reason: m.reason }, 'job handed back by its paused node; queued again');
        this.ctx.schedule();
        return;
      case 'draining':
        setNodeDraining(store, node);
        log.info({ event: 'node_draining', node }, 'node is draining');
        return;
      case 'log_data':
        log.debug({ event: 'late_answer', node, re: m.re }, 'an answer nobody waits for any more');
        return;
      case 'error':
        log.warn({ event: 'node_error', node, re: m.re, message: m.message }, 'node reported an error');
        return;
      default: {
        const never: never = m;
        return never;
      }
    }
  }

  /**
   * The reports of this turn: one transaction, then their answers, then one scheduling pass;
   * then the results, after the `finished` that came before them.
   */
  private recordSoon(): void {
    if (this.recordQueued) return;
    this.recordQueued = true;
    setImmediate(() => {
      this.recordQueued = false;
      this.recordReports();
    });
  }

  private recordReports(): void {
    // at most REPORTS_PER_TURN, in the order they came (a result after its finished): a
    // thousand nodes' frames read in one turn are taken over several, with the sockets (other
    // users' requests, heartbeats) read in between
    const all = this.reports.length > REPORTS_PER_TURN ? this.reports.splice(0, REPORTS_PER_TURN) : this.reports;
    if (all === this.reports) this.reports = [];
    else this.recordSoon();
    if (this.stopped || all.length === 0) return;
    const { store, log } = this.ctx;
    const batch = all.filter((p): p is Pending & { msg: Report['msg'] } => p.msg.type !== 'result');
    let outcomes;
    try {
      outcomes = recordReports(store, batch);
    } catch (err) {
      this.ctx.space?.failed(err);
      log.error({ event: 'reports_failed', reports: batch.length, err }, `could not record ${batch.length} reports from nodes: ${errorMessage(err)}`);
      outcomes = null;
    }
    let schedule = false;
    if (outcomes) batch.forEach(({ node, msg: m, session: s }, i) => {
      const outcome = outcomes[i]!;
      if (m.type === 'started') {
        if (outcome === 'stale') this.dropStale(s, m.attempt, m.type);
        else if (outcome === 'started') {
          log.info({ event: 'attempt_started', node, attempt: m.attempt, pid: m.pid }, 'attempt started');
          // a job the node held ahead has started: a place ahead is free
          schedule = true;
        }
        return;
      }
      log.info({ event: 'attempt_finished', node, attempt: m.attempt, exitCode: m.exitCode, signal: m.signal, timedOut: m.timedOut, cancelled: m.cancelled, error: m.error, outcome }, 'attempt finished');
      if (outcome === 'stale') this.dropStale(s, m.attempt, m.type);
      // a cancelled attempt's end frees what it held; its result is not wanted
      else if (outcome === 'released') s.channel?.sendSoon({ type: 'drop', attempt: m.attempt, reason: `attempt ${m.attempt} was cancelled` });
      schedule = true;
    });
    if (schedule) this.ctx.schedule();
    for (const { node, msg: m, session: s } of all) {
      if (m.type !== 'result') continue;
      const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      void takeResult(this.ctx, node, m.attempt, data).then((a) => {
        if (a) s.channel?.sendSoon({ type: 'result_taken', re: m.id, status: a.status, message: a.status === 200 ? null : a.error });
      });
    }
  }

  /** Whether attempt `attempt`, of a job of batch `batchId`, was ever assigned to `node`. */
  private wasGiven(node: string, batchId: number, attempt: number): boolean {
    return !!this.ctx.store
      .stmt<{ one: number }>('SELECT 1 AS one FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = ? AND a.node = ? AND j.batch_id = ?')
      .get(attempt, node, batchId);
  }

  /** A report about an attempt that is no longer current: refused, and the node told to drop it. */
  private dropStale(s: Session, attempt: number, type: string): void {
    this.ctx.log.info({ event: 'stale_report', node: s.node, attempt, type }, `refused ${type} of attempt ${attempt}: no longer current; told the node to drop it`);
    s.channel?.sendSoon({ type: 'drop', attempt, reason: `attempt ${attempt} is no longer current on the head` });
  }

  /**
   * The head's loop stood still for `ms`: frames may be waiting unread, so no node is judged
   * by that time; every node with a loss timer gets a fresh node_timeout from now.
   */
  forgiveStall(ms: number): void {
    if (this.stopped || this.lossTimers.size === 0) return;
    this.ctx.log.warn({ event: 'loop_stalled', ms: Math.round(ms), nodes: this.lossTimers.size }, `the head's event loop stood still for ${Math.round(ms)} ms; every node gets a fresh node_timeout`);
    for (const node of [...this.lossTimers.keys()]) this.touch(node, false);
  }

  /** The node spoke (or, at start, is expected back): restart its loss timer. */
  private touch(node: string, heard = true): void {
    if (this.stopped) return;
    const timeout = this.ctx.settings.nodeTimeoutMs;
    const timer = this.lossTimers.get(node);
    if (timer) timer.refresh();
    else this.lossTimers.set(node, setTimeout(() => this.silent(node), timeout));
    this.deadlines.set(node, Date.now() + timeout);
    const now = Date.now();
    if (heard && now - (this.lastWritten.get(node) ?? 0) >= LAST_SEEN_WRITE_MS) {
      this.lastWritten.set(node, now);
      this.seen.set(node, now);
      if (this.seen.size === 1) setImmediate(() => this.writeLastSeen());
    }
  }

  private writeLastSeen(): void {
    const seen = this.seen;
    this.seen = new Map();
    if (this.stopped) return;
    try {
      touchNodes(this.ctx.store, seen);
    } catch (err) {
      // only a display field: the liveness timers are in memory
      this.ctx.log.error({ event: 'touch_failed', nodes: seen.size, err }, `could not record when ${seen.size} nodes were last heard from: ${errorMessage(err)}`);
    }
  }

  /** The loss timer fired: a stall if it fired late; else lost, unless a frame read now says otherwise. */
  private silent(node: string): void {
    const late = Date.now() - (this.deadlines.get(node) ?? Date.now());
    if (late > stallMs(this.ctx.settings)) return this.forgiveStall(late);
    // frames that came during a short stall are read in this turn's poll phase, before this runs
    setImmediate(() => {
      if (this.stopped || Date.now() < (this.deadlines.get(node) ?? 0)) return;
      this.lose(node);
    });
  }

  private lose(node: string): void {
    this.lossTimers.delete(node);
    this.deadlines.delete(node);
    this.lastWritten.delete(node);
    const session = this.sessions.get(node);
    if (session) {
      this.sessions.delete(node);
      session.ws.close(CLOSE.lost, 'silent for node_timeout');
    }
    try {
      const outcome = declareLost(this.ctx.store, node, this.ctx.settings.maxAttempts);
      this.ctx.log.warn({ event: 'node_lost', node, requeued: outcome.requeued.length, failed: outcome.failed.length }, 'node lost: silent for node_timeout');
    } catch (err) {
      this.ctx.log.error({ event: 'node_lost_failed', node, err }, 'could not requeue the attempts of a lost node');
    }
    this.ctx.schedule();
  }
}

/** A gap in the loop longer than this is a stall (a heartbeat's worth, at least a second). */
export function stallMs(settings: { heartbeatMs: number }): number {
  return Math.max(1000, settings.heartbeatMs);
}

/** The known nodes (connected or not) that could run jobs of this shape of the batch, builds aside. */
function capableNodes(ctx: HeadContext, batchId: number): (shape: ShapeOfJobs) => string[] {
  const batch = ctx.batches.get(batchId);
  const known = ctx.store.nodes().map((n) => snapshotNode(ctx.store, n, true));
  return (shape) => {
    if (!batch) return [];
    const queue = { capabilities: batch.meta.capabilities, demand: shape, nodes: shape.nodes, buildFailedOn: [] };
    return known.filter((n) => staticMisfit(queue, n) === null).map((n) => n.name);
  };
}

function rawFrame(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

function encodeError(message: string): Uint8Array {
  const msg: HeadMessage = { type: 'error', re: null, message };
  return encode(msg);
}
