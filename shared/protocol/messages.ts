// The node protocol: every message between a compute daemon and the head, as one
// discriminated union per direction. Frames are msgpack (codec.ts), validated on receipt.
//
// Conversation:
//   node → hello (version, name, capabilities, resources, what it still runs or holds)
//   head → welcome (timings; which held attempts to drop and which results to upload) | error
//   head → assign … node → started … node → finished … then the result archive: a small one
//   (most jobs) in a `result` message, answered by `result_taken` once it is on the head's
//   disk; a big one, or any when the node is not connected, over HTTP
//   (`PUT /v1/results/:attempt`), whose 200 is that acknowledgement. Same statuses either way.
//   Since version 2 (1 had no `result`).
//   node → heartbeat every heartbeatMs; silent for nodeTimeoutMs = lost.
//   head → cancel (kill the job) | drop (a stale attempt: kill it, discard its result).
//   node → paused (the person at the desk took the machine back, or gave it back);
//   node → vacated (a job paused longer than vacate_after: the node kills it and discards its
//   result, the head queues it again to run elsewhere, not counted against the job), then
//   the usual `finished` once its process is gone, which frees what it held.
//   Requests that want an answer carry `id`; the answer carries `re` with the same number.
//   Since version 3: the messages one side sends within one turn of its event loop travel as
//   one `bundle` frame (channel.ts `sendSoon`): a scheduling pass's assignments to a node, a
//   node's started/finished/result reports, the head's result_taken answers. Each message in a
//   bundle means what it means alone, in the order given.
import { z } from 'zod';
import { AttemptId, MAX_BUNDLE, NodeResources, SafeName, WireInitialize, WireJob } from './common.js';

const RunningAttempt = z.object({ attempt: AttemptId, paused: z.boolean() });

const Started = z.object({ type: z.literal('started'), attempt: AttemptId, pid: z.number().int() });
const Finished = z.object({
  type: z.literal('finished'),
  attempt: AttemptId,
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  cancelled: z.boolean(),
  /** a message for the user when the attempt could not even start (missing input, build failed) */
  error: z.string().nullable(),
});
/** a small result archive (gzip'd tar), as `PUT /v1/results/:attempt` would carry it; answered by `result_taken` */
const Result = z.object({ type: z.literal('result'), id: z.number().int(), attempt: AttemptId, data: z.instanceof(Uint8Array) });
/** a job stopped by the pause for vacate_after: requeue it elsewhere; its `finished` follows */
const Vacated = z.object({ type: z.literal('vacated'), attempt: AttemptId, reason: z.string() });
const Heartbeat = z.object({ type: z.literal('heartbeat') });
/** what a node's `bundle` may carry */
const NodeBundled = z.discriminatedUnion('type', [Heartbeat, Started, Finished, Result, Vacated]);
export const NODE_BUNDLED: ReadonlySet<string> = new Set(NodeBundled.options.map((o) => o.shape.type.value));

export const NodeMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    protocol: z.number().int(),
    node: SafeName,
    capabilities: z.array(z.string()),
    resources: NodeResources,
    /** queue-depth mode: at most this many jobs at once, resources ignored */
    maxJobs: z.number().int().positive().nullable(),
    /** attempts this daemon still runs (after a reconnect) */
    running: z.array(RunningAttempt),
    /** attempts that finished here and whose results the head has not acknowledged */
    unacknowledged: z.array(AttemptId),
    paused: z.boolean(),
  }),
  Heartbeat,
  Started,
  Finished,
  /** the batch's initialize step failed on this node: no more of its jobs here */
  z.object({ type: z.literal('build_failed'), batchId: z.number().int().positive(), attempt: AttemptId, log: z.string() }),
  /** the person at the desk paused or resumed this node */
  z.object({
    type: z.literal('paused'),
    paused: z.boolean(),
    by: z.string().nullable(),
    until: z.string().nullable(),
  }),
  Vacated,
  /** the node is stopping: place nothing more here */
  z.object({ type: z.literal('draining') }),
  Result,
  /** several of the messages above, sent within one turn of the node's event loop */
  z.object({ type: z.literal('bundle'), messages: z.array(NodeBundled).max(MAX_BUNDLE) }),
  /** answer to `read_log` */
  z.object({ type: z.literal('log_data'), re: z.number().int(), data: z.instanceof(Uint8Array), size: z.number().int(), running: z.boolean() }),
  z.object({ type: z.literal('error'), re: z.number().int().nullable(), message: z.string() }),
]);
export type NodeMessage = z.infer<typeof NodeMessage>;

const Assign = z.object({
  type: z.literal('assign'),
  attempt: AttemptId,
  /** 1 for the first try, 2 after a lost node or a retry, ... */
  attemptNumber: z.number().int().positive(),
  batchId: z.number().int().positive(),
  namespace: SafeName,
  batch: SafeName,
  kind: z.enum(['python', 'apptainer', 'shell']),
  initialize: WireInitialize,
  job: WireJob,
  cpus: z.number().int().positive(),
  /** GPU indices given to this job (CUDA_VISIBLE_DEVICES) */
  gpus: z.array(z.number().int().nonnegative()),
  /**
   * the batch's finalize step: how its other jobs ended (done; failed or cancelled). The node
   * fetches their results (GET /v1/finalize/:attempt) into input/results/ before it starts.
   */
  finalize: z.object({ done: z.number().int().nonnegative(), failed: z.number().int().nonnegative() }).optional(),
});
const Cancel = z.object({ type: z.literal('cancel'), attempt: AttemptId, reason: z.string() });
/** answer to `result`, with the HTTP status the upload would have had: 200 stored, 409 stale, 400 refused, 500 (507: the head's state dir is full) try again */
const ResultTaken = z.object({ type: z.literal('result_taken'), re: z.number().int(), status: z.number().int(), message: z.string().nullable() });
const Drop = z.object({ type: z.literal('drop'), attempt: AttemptId, reason: z.string() });
/** what the head's `bundle` may carry */
const HeadBundled = z.discriminatedUnion('type', [Assign, Cancel, ResultTaken, Drop]);
export const HEAD_BUNDLED: ReadonlySet<string> = new Set(HeadBundled.options.map((o) => o.shape.type.value));

export const HeadMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    protocol: z.number().int(),
    heartbeatMs: z.number().int().positive(),
    nodeTimeoutMs: z.number().int().positive(),
    /** held attempts that are no longer current: kill them, discard their results */
    drop: z.array(AttemptId),
  }),
  Assign,
  Cancel,
  ResultTaken,
  Drop,
  /** several of the messages above, sent within one turn of the head's event loop (a pass's assignments to this node) */
  z.object({ type: z.literal('bundle'), messages: z.array(HeadBundled).max(MAX_BUNDLE) }),
  /** read part of a job's log: stream stdout|stderr from offset, at most max bytes */
  z.object({ type: z.literal('read_log'), id: z.number().int(), attempt: AttemptId, stream: z.enum(['stdout', 'stderr']), offset: z.number().int().nonnegative(), max: z.number().int().positive() }),
  z.object({ type: z.literal('error'), re: z.number().int().nullable(), message: z.string() }),
]);
export type HeadMessage = z.infer<typeof HeadMessage>;
