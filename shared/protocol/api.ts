// The user (and node bulk-data) HTTP API on the head's one port, under /v1. Bodies are JSON
// unless said otherwise; every request carries `Authorization: Bearer <token>`. Request
// bodies are validated with these schemas on the head; responses with them in the client.
//
//   GET    /v1/whoami                              → Whoami
//   GET    /v1/version                             → Version (any valid token)
//   POST   /v1/inputs/missing       MissingInputsRequest → MissingInputsResponse
//   PUT    /v1/inputs/:sha256       raw bytes, streamed; the head checks the hash → 201
//   GET    /v1/inputs/:sha256       raw bytes, streamed (node tokens)
//   POST   /v1/batches              AddRequest → AddResponse | 400 BadBatch | 403/409 ApiError
//   GET    /v1/status[?namespace=N&batch=B]       → StatusBatch[]
//   GET    /v1/nodes                               → NodeInfo[]
//   POST   /v1/batches/:ns/:batch/kill   KillRequest → KillResponse
//   POST   /v1/batches/:ns/:batch/retry              → RetryResponse
//   GET    /v1/logs/:ns/:batch/:job?stream=stdout|stderr&follow=1  → text, chunked while it runs
//   POST   /v1/pull                 PullRequest → application/x-tar stream of the selected members
//   GET    /v1/resolve?batch=B[&namespace=N]       → { namespace, batch } (409 when ambiguous)
//   PUT    /v1/results/:attempt     .tar.gz, streamed (node tokens) → 200 once fsynced | 409 stale
//   WS     /v1/node                 the node protocol (messages.ts)
// Errors: { error: string } with 400 (bad input), 401 (token), 403 (not yours), 404, 409.
import { z } from 'zod';
import { JobState, NodeState, SafeName, Sha256 } from './common.js';

export const ApiError = z.object({ error: z.string() });
export type ApiError = z.infer<typeof ApiError>;

export const Whoami = z.object({ name: z.string(), kind: z.enum(['user', 'node']), admin: z.boolean() });
export type Whoami = z.infer<typeof Whoami>;

/** The head's program version and node protocol version (`distribute doctor` compares them). */
export const Version = z.object({ version: z.string(), protocol: z.number().int() });
export type Version = z.infer<typeof Version>;

export const MissingInputsRequest = z.object({ hashes: z.array(Sha256).max(1_000_000) });
export const MissingInputsResponse = z.object({ missing: z.array(Sha256) });

export const AddRequest = z.object({
  /** the batch YAML as written; the head parses and validates it again */
  yaml: z.string(),
  /** the name to use in error messages (the file as the user named it) */
  file: z.string(),
  /** every file the batch names, by its path as written in the YAML (relative to the YAML) */
  files: z.record(z.string(), z.object({ hash: Sha256, size: z.number().int().nonnegative() })),
  dry: z.boolean().default(false),
});
export type AddRequest = z.infer<typeof AddRequest>;

export const AddResponse = z.object({
  namespace: SafeName,
  batch: SafeName,
  jobs: z.number().int(),
  /** nodes (connected or not) that have every capability the batch needs */
  feasibleNodes: z.array(z.string()),
  knownNodes: z.number().int(),
  dry: z.boolean(),
});
export type AddResponse = z.infer<typeof AddResponse>;

/** 400 answer to an invalid batch: compiler-style lines `FILE:LINE:COL: path: message`. */
export const BadBatch = z.object({ error: z.string(), problems: z.array(z.string()) });

export const StatusJob = z.object({
  name: z.string(),
  state: JobState,
  node: z.string().nullable(),
  attempt: z.number().int(),
  exit_code: z.number().int().nullable(),
  /** why a failed or cancelled job ended so (e.g. "lost its node 3 times"); optional for older heads */
  error: z.string().nullable().optional(),
  /** why a queued job waits, per node (the scheduler's words); null when it is not queued */
  waiting: z.string().nullable().optional(),
});
export const StatusBatch = z.object({
  namespace: z.string(),
  batch_name: z.string(),
  state: z.enum(['queued', 'running', 'done', 'failed', 'cancelled']),
  counts: z.object({
    queued: z.number().int(), assigned: z.number().int(), running: z.number().int(), paused: z.number().int(),
    done: z.number().int(), failed: z.number().int(), cancelled: z.number().int(),
  }),
  jobs: z.array(StatusJob),
});
export type StatusBatch = z.infer<typeof StatusBatch>;

export const NodeInfo = z.object({
  name: z.string(),
  state: NodeState,
  capabilities: z.array(z.string()),
  resources: z.object({ cpus: z.number().int(), memory: z.number().int(), gpus: z.number().int() }),
  running: z.array(z.object({ namespace: z.string(), batch: z.string(), job: z.string(), attempt: z.number().int() })),
});
export type NodeInfo = z.infer<typeof NodeInfo>;

export const KillRequest = z.object({ job: SafeName.optional() });
export const KillResponse = z.object({ cancelled: z.number().int() });
export const RetryResponse = z.object({ requeued: z.number().int() });

export const PullRequest = z.object({
  namespace: SafeName,
  batch: SafeName,
  /** regexes over `<job>/<path>`; none = everything is a candidate */
  include: z.array(z.string()).default([]),
  exclude: z.array(z.string()).default([]),
});
export type PullRequest = z.infer<typeof PullRequest>;
