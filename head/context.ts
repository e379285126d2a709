// What every part of the running head shares: settings, the store, the log, the node
// sessions and the scheduling trigger. Built once by `startHead`.
import { join } from 'node:path';
import type { Logger } from '../shared/log.js';
import type { HeadMessage } from '../shared/protocol/messages.js';
import type { HeadMetrics } from './metrics.js';
import type { Allocator } from './alloc/allocator.js';
import type { BatchCache } from './snapshot.js';
import type { Store } from './store.js';

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

export interface LogChunk {
  data: Uint8Array;
  /** size of the whole log so far */
  size: number;
  /** the attempt still runs (more may come) */
  running: boolean;
}

/** The node sessions as the rest of the head sees them. */
export interface NodeLink {
  connected(): ReadonlySet<string>;
  send(node: string, msg: HeadMessage): boolean;
  readLog(node: string, attempt: number, stream: 'stdout' | 'stderr', offset: number, max: number): Promise<LogChunk>;
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
}

export function archiveDir(stateDir: string): string {
  return join(stateDir, 'archive');
}

export function inputsDir(stateDir: string): string {
  return join(stateDir, 'inputs');
}
