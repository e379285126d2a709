// What every part of the running head shares: settings, the store, the log, the node
// sessions and the scheduling trigger. Built once by `startHead`.
import { join } from 'node:path';
import type { Logger } from '../shared/log.js';
import type { HeadMetrics } from './metrics.js';
import type { Allocator } from './alloc/allocator.js';
import type { NodeLink } from './node-link.js';
import type { BatchCache } from './snapshot.js';
import type { Store } from './store.js';
import type { StateDirSpace } from './state-dir-space.js';
import type { ResultBacklog } from './result-backlog.js';

export interface HeadSettings {
  stateDir: string;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  maxAttempts: number;
  /** largest WebSocket frame accepted from a node (and sent to one) */
  maxFrame: number;
  /** largest batch document `add` accepts */
  maxBatchBytes: number;
}

export interface HeadContext {
  settings: HeadSettings;
  store: Store;
  log: Logger;
  batches: BatchCache;
  nodes: NodeLink;
  /** ask for a scheduling pass (coalesced: one pass per turn of the event loop) */
  schedule(): void;
  /** counters for GET /metrics; absent in tests that build a context by hand */
  metrics?: HeadMetrics;
  /** head.yaml's allocation queues (pilots on a batch system); absent without any */
  allocations?: Allocator;
  /** whether the state dir is full ("state dir full" once per episode); absent in tests that build a context by hand */
  space?: StateDirSpace;
  /** results being archived now; placement waits while there are too many (result-backlog.ts) */
  backlog?: ResultBacklog;
}

export type { LogChunk, NodeLink } from './node-link.js';

export function archiveDir(stateDir: string): string {
  return join(stateDir, 'archive');
}

export function inputsDir(stateDir: string): string {
  return join(stateDir, 'inputs');
}
