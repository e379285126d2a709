// Node sessions: one WebSocket per compute daemon, after a node-token upgrade. The first
// frame must be `hello` (protocol version checked before anything else); then every message
// goes to its handler in transitions.ts. Liveness is one timer per node, restarted by every
// frame: node_timeout of silence — connected or not — and the node is lost and its attempts
// requeued. A reconnect within node_timeout keeps its attempts.
//
// Batching across jobs: the `started` and `finished` reports that arrive within one turn of
// the event loop, from every node, are recorded in one transaction (recordReports) and answered
// by one scheduling pass; what the head sends a node within one turn (a pass's assignments,
// result_taken answers, drops) leaves as one frame (Channel.sendSoon).
import type { WebSocket, RawData } from 'ws';
import { decode, describeWireError, encode } from '../shared/protocol/codec.js';
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
  touchNode,
} from './transitions.js';
import { takeResult } from './result-intake.js';

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
} as const;

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
  private readonly lastWritten = new Map<string, number>();
  private ctx!: HeadContext;
  private stopped = false;
  /** started/finished/result messages of this turn of the event loop, handled together at its end */
  private reports: Pending[] = [];

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
    if (decoded.value.node !== principal.name) {
      const message = `this token belongs to node ${principal.name}, not ${decoded.value.node}`;
      log.warn({ event: 'wrong_node', claimed: decoded.value.node }, message);
      reply(message);
      ws.close(CLOSE.wrongNode, 'token is for another node');
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
    });
    ws.on('message', () => {
      try {
        this.touch(node);
      } catch (err) {
        log.error({ event: 'touch_failed', err }, `could not record that node ${node} is alive: ${errorMessage(err)}`);
      }
    });
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
        if (this.reports.length === 1) setImmediate(() => this.recordReports());
        return;
      case 'bundle':
        // the channel unwraps bundles; a bundle inside one is not valid
        return;
      case 'build_failed': {
        const outcome = recordBuildFailure(store, node, m.batchId, m.attempt, m.log, capableNodes(this.ctx, m.batchId));
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
  private recordReports(): void {
    const all = this.reports;
    this.reports = [];
    if (this.stopped || all.length === 0) return;
    const { store, log } = this.ctx;
    const batch = all.filter((p): p is Pending & { msg: Report['msg'] } => p.msg.type !== 'result');
    let outcomes;
    try {
      outcomes = recordReports(store, batch);
    } catch (err) {
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

  /** A report about an attempt that is no longer current: refused, and the node told to drop it. */
  private dropStale(s: Session, attempt: number, type: string): void {
    this.ctx.log.info({ event: 'stale_report', node: s.node, attempt, type }, `refused ${type} of attempt ${attempt}: no longer current; told the node to drop it`);
    s.channel?.sendSoon({ type: 'drop', attempt, reason: `attempt ${attempt} is no longer current on the head` });
  }

  /** The node spoke (or, at start, is expected back): restart its loss timer. */
  private touch(node: string, heard = true): void {
    if (this.stopped) return;
    const timer = this.lossTimers.get(node);
    if (timer) timer.refresh();
    else this.lossTimers.set(node, setTimeout(() => this.lose(node), this.ctx.settings.nodeTimeoutMs));
    const now = Date.now();
    if (heard && now - (this.lastWritten.get(node) ?? 0) >= LAST_SEEN_WRITE_MS) {
      this.lastWritten.set(node, now);
      touchNode(this.ctx.store, node, now);
    }
  }

  private lose(node: string): void {
    this.lossTimers.delete(node);
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
