// The head daemon as a function: `startHead(config)` opens the state dir, listens, and hands
// back its URL and a `close()`. `distribute head` and `distribute up` both run it.
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { HeadConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/log.js';
import { UserError } from '../shared/errors.js';
import { MAX_FRAME } from '../shared/protocol/codec.js';
import { UsageSampler } from './usage/sampler.js';
import { archiveDir, inputsDir, type HeadContext, type HeadSettings } from './context.js';
import { parseListen } from './http.js';
import { HeadMetrics } from './metrics.js';
import { NodeSessions, stallMs } from './node-sessions.js';
import { LoopWatch } from './loop-watch.js';
import { ROUTES } from './routes.js';
import { Scheduling } from './placement-pass.js';
import { Allocator } from './alloc/allocator.js';
import { createHeadServer } from './server.js';
import { BatchCache } from './snapshot.js';
import { Dashboard } from './dashboard/index.js';
import { openStore } from './store.js';
import { dropLoadingBatches } from './queue.js';
import { startNotifications } from './notify/index.js';
import { ResultBacklog } from './result-backlog.js';
import { StateDirSpace } from './state-dir-space.js';
import { stopSegments, useSegments } from './segments.js';

export interface RunningHead {
  /** base URL as nodes and users name it: ws://host:port (wss:// with TLS) */
  url: string;
  /** the same as http(s):// */
  httpUrl: string;
  port: number;
  stateDir: string;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** largest node frame accepted (default: head.yaml's max_frame, 16 MiB) */
  maxFrame?: number;
}

export async function startHead(config: HeadConfig, opts: StartOptions = {}): Promise<RunningHead> {
  const log = opts.logger ?? createLogger('head', { level: config.log_level, buffered: true });
  if (config.node_timeout <= 0) throw new UserError(`head config: node_timeout must be longer than 0 (durations are whole seconds: 5s, 1m)`);
  if (config.heartbeat <= 0) throw new UserError(`head config: heartbeat must be longer than 0`);
  if (config.heartbeat >= config.node_timeout) {
    log.warn({ event: 'config_warning', heartbeat: config.heartbeat, node_timeout: config.node_timeout }, 'heartbeat is not shorter than node_timeout: healthy nodes will be declared lost');
  }
  const stateDir = resolve(config.state_dir);
  for (const dir of [stateDir, archiveDir(stateDir), inputsDir(stateDir)]) mkdirSync(dir, { recursive: true });
  // partial uploads of a previous run: their senders retry
  for (const tmp of [join(archiveDir(stateDir), '.tmp'), join(inputsDir(stateDir), '.tmp')]) rmSync(tmp, { recursive: true, force: true });

  const settings: HeadSettings = {
    stateDir,
    heartbeatMs: config.heartbeat,
    nodeTimeoutMs: config.node_timeout,
    maxAttempts: config.max_attempts,
    maxFrame: opts.maxFrame ?? config.max_frame,
    maxBatchBytes: config.max_batch_bytes,
  };
  const store = openStore(stateDir);
  if (config.small_results === 'segments') useSegments(stateDir);
  else stopSegments(stateDir);
  // a batch the last run was still queueing in chunks: all of it or nothing (head/queue.ts)
  const halfQueued = dropLoadingBatches(store);
  if (halfQueued.length) log.warn({ event: 'half_queued_batches_dropped', batchIds: halfQueued }, 'dropped batches the head stopped queueing halfway');
  // Matrix problems are logged and retried, never fatal: the head schedules without them
  const notifications = await startNotifications(store, config.matrix, { logger: log });
  const batches = new BatchCache(store);
  const sessions = new NodeSessions();
  const loop = new LoopWatch(stallMs(settings), (ms) => sessions.forgiveStall(ms));
  const metrics = new HeadMetrics(loop);
  // when space comes back to a full state dir, a pass: jobs may have waited on the disk
  const space = new StateDirSpace(stateDir, log, () => ctx.schedule());
  const backlog = new ResultBacklog(() => scheduling.request());
  const scheduling = new Scheduling({ store, batches, nodes: sessions, log, metrics, ahead: config.assign_ahead, onFailure: (err) => space.failed(err), heldBack: () => backlog.full() });
  let allocator: Allocator | null = null;
  const ctx: HeadContext = {
    settings,
    store,
    log,
    batches,
    nodes: sessions,
    schedule: () => {
      allocator?.nudge();
      scheduling.request();
    },
    metrics,
    space,
    backlog,
  };
  sessions.bind(ctx);

  const dashboard = new Dashboard({ store, stateDir, log: log.child({ part: 'dashboard' }), connected: () => sessions.connected() });
  store.onCommit(() => dashboard.changed());
  const { server, closeSockets } = createHeadServer(ctx, sessions, ROUTES, { tls: config.tls, dashboard });
  const { host, port } = parseListen(config.listen);
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (err) {
    await notifications.stop();
    store.close();
    throw new Error(`cannot listen on ${config.listen}: ${(err as Error).message}`, { cause: err });
  }
  server.on('error', (err) => log.error({ event: 'server_error', err }, 'server error'));
  const bound = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const secure = !!config.tls;
  const url = `${secure ? 'wss' : 'ws'}://${hostPart}:${bound}`;
  const httpUrl = `${secure ? 'https' : 'http'}://${hostPart}:${bound}`;

  if (config.allocations.length) {
    allocator = new Allocator({ store, batches, nodes: sessions, log: log.child({ part: 'allocations' }), queues: config.allocations, stateDir, headUrl: url, schedule: () => scheduling.request() });
    ctx.allocations = allocator;
    allocator.start();
  }
  sessions.expectReturning();
  ctx.schedule();
  const usage = new UsageSampler({ store, connected: () => sessions.connected(), intervalMs: config.usage_sample_interval, keepMs: config.usage_keep, log });
  usage.start();
  log.info({ event: 'listening', url, stateDir }, `head listening on ${url}`);

  let closing: Promise<void> | null = null;
  return {
    url,
    httpUrl,
    port: bound,
    stateDir,
    close() {
      closing ??= (async () => {
        scheduling.stop();
        space.stop();
        usage.stop();
        allocator?.stop();
        loop.stop();
        dashboard.close();
        sessions.close();
        await closeSockets();
        await notifications.stop();
        await new Promise<void>((ok) => {
          server.close(() => ok());
          server.closeAllConnections();
        });
        store.close();
        stopSegments(stateDir);
        log.info({ event: 'stopped' }, 'head stopped');
      })();
      return closing;
    },
  };
}
