// The node sessions as the rest of the head sees them (head/node-sessions.ts implements it):
// its own file so that what the context holds can use it without importing the context.
import type { HeadMessage } from '../shared/protocol/messages.js';

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
