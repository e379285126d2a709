// The shapes of the head's HTTP API: request bodies the head checks, answers the client checks.
// Which route carries which shape, its method, path and callers: http-api.ts.
import { z } from 'zod';
import { JobName, JobState, NodeState, SafeName, Sha256 } from './common.js';

export const ApiError = z.object({ error: z.string() });
export type ApiError = z.infer<typeof ApiError>;

export const Whoami = z.object({ name: z.string(), kind: z.enum(['user', 'node']), admin: z.boolean() });
export type Whoami = z.infer<typeof Whoami>;

/** The head's program version and node protocol version (`distribute doctor` compares them). */
export const Version = z.object({ version: z.string(), protocol: z.number().int() });
export type Version = z.infer<typeof Version>;

export const MissingInputsRequest = z.object({ hashes: z.array(Sha256).max(1_000_000) });
export const MissingInputsResponse = z.object({ missing: z.array(Sha256) });

/** An input file stored (or already there): its hash and size in bytes. */
export const InputStored = z.object({ hash: Sha256, size: z.number().int().nonnegative() });

/** A result archive on the head's disk: the job's new state and the members archived. */
export const ResultTaken = z.object({ attempt: z.number().int(), state: z.string(), members: z.number().int() });

/** The namespace a batch name means among what the caller may see. */
export const ResolveResponse = z.object({ namespace: SafeName, batch: SafeName });

/**
 * A batch to queue. The CLI sends `document`, the YAML it has read and validated as plain data;
 * the head validates it again with the same rules (shared/spec/document.ts), without parsing
 * YAML. Or `yaml`, the text as written, which the head parses: what older CLIs send, and what
 * a client without a YAML parser may send. A head that gets both uses the document. (Heads
 * from before `document` require `yaml`; the CLI sends them that when they refuse a document.)
 */
export const AddRequest = z.object({
  /** the batch file read into plain data (the head checks every field of it) */
  document: z.unknown().optional(),
  /** the batch YAML as written; parsed only when there is no `document` */
  yaml: z.string().optional(),
  /** the name to use in error messages (the file as the user named it) */
  file: z.string(),
  /** the YAML's folder, absolute, on the user's machine: `files` keys are relative to it */
  dir: z.string().max(4096).optional(),
  /** every file the batch names, by its path as written in the YAML (relative to the YAML) */
  files: z.record(z.string(), z.object({ hash: Sha256, size: z.number().int().nonnegative() })),
  dry: z.boolean().default(false),
}).refine((r) => r.document !== undefined || r.yaml !== undefined, { error: 'a batch needs its document (or its yaml)', path: ['document'] });
export type AddRequest = z.infer<typeof AddRequest>;

export const AddResponse = z.object({
  namespace: SafeName,
  batch: SafeName,
  jobs: z.number().int(),
  /** nodes (connected or not) that have every capability the batch needs */
  feasibleNodes: z.array(z.string()),
  knownNodes: z.number().int(),
  dry: z.boolean(),
  /** when no node can run it: the allocation queues whose pilots will */
  pilotQueues: z.array(z.string()).optional(),
});
export type AddResponse = z.infer<typeof AddResponse>;

/** 400 answer to an invalid batch, a line per problem: `FILE: path: message` for a document, `FILE:LINE:COL: path: message` for YAML text. */
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
  /** the memory it asked for, in bytes; null: no reservation (optional for older heads) */
  memory: z.number().int().nullable().optional(),
  /** what its last attempt with a result used; null when none was measured (optional for older heads) */
  usage: z.object({ cpu_seconds: z.number().nullable(), peak_memory_bytes: z.number().int().nullable(), wall_seconds: z.number().nullable() }).nullable().optional(),
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
  /** nodes where the batch's initialize step failed, with the end of its logs; absent when none did */
  build_failures: z.array(z.object({ node: z.string(), log: z.string(), at: z.number().int() })).optional(),
});
export type StatusBatch = z.infer<typeof StatusBatch>;

export const NodeInfo = z.object({
  name: z.string(),
  state: NodeState,
  capabilities: z.array(z.string()),
  resources: z.object({ cpus: z.number().int(), memory: z.number().int(), gpus: z.number().int() }),
  running: z.array(z.object({ namespace: z.string(), batch: z.string(), job: z.string(), attempt: z.number().int() })),
  /** jobs running there in namespaces the viewer cannot see: counted, never named */
  hidden_running: z.number().int().default(0),
});
export type NodeInfo = z.infer<typeof NodeInfo>;

export const DrainResponse = z.object({ node: z.string(), draining: z.boolean() });
export type DrainResponse = z.infer<typeof DrainResponse>;

export const KillRequest = z.object({ job: JobName.optional() });
export const KillResponse = z.object({ cancelled: z.number().int() });
export const RetryResponse = z.object({ requeued: z.number().int() });

/**
 * Query rules of a pull, over the path `<job>/<file>` inside the batch. With no include and
 * no glob, everything is a candidate; otherwise a path must match one include regex or one
 * glob; any exclude match drops it (exclude wins). `job` regexes, when given, keep only jobs
 * whose name matches one. Regexes are JavaScript's, unanchored (`RegExp.test`).
 */
export const PullRules = z.object({
  include: z.array(z.string()).default([]),
  exclude: z.array(z.string()).default([]),
  glob: z.array(z.string()).default([]),
  job: z.array(z.string()).default([]),
  /** include and exclude regexes see `<namespace>/<batch>/<job>/<file>`, as the original distribute's did */
  whole_path: z.boolean().optional(),
});
export type PullRules = z.infer<typeof PullRules>;

export const PullPlanRequest = PullRules.extend({ namespace: SafeName, batch: SafeName });
export type PullPlanRequest = z.infer<typeof PullPlanRequest>;

/** One archived member: `path` inside its job's results, size in bytes, mtime in epoch ms. */
export const PlannedMember = z.object({
  job: JobName,
  path: z.string(),
  size: z.number().int().nonnegative(),
  mtime: z.number().int().nullable(),
  /** the file's SHA-256 as the head stored it (docs/integrity.md); null for links and results archived before checksums */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable().optional(),
});
export type PlannedMember = z.infer<typeof PlannedMember>;

export const PullPlan = z.object({
  namespace: SafeName,
  batch: SafeName,
  /** the selected members of finished jobs, by job then path */
  members: z.array(PlannedMember),
  bytes: z.number().int().nonnegative(),
  jobs: z.object({
    total: z.number().int(),
    /** done or failed, with archived results */
    finished: z.number().int(),
    /** queued, assigned, running or paused: their results are still to come */
    unfinished: z.number().int(),
    /** finished jobs with at least one selected member */
    selected: z.number().int(),
  }),
});
export type PullPlan = z.infer<typeof PullPlan>;

/**
 * A pull: `members` (each `<job>/<file>`, as a plan listed them) when given, else the rules.
 * Members that are no longer archived (removed, or the job runs again) are left out.
 */
export const PullRequest = PullRules.extend({
  namespace: SafeName,
  batch: SafeName,
  members: z.array(z.string()).max(10_000_000).optional(),
});
export type PullRequest = z.infer<typeof PullRequest>;

/** Delete archived results: the whole batch (its rows too), or one job's. */
export const RmRequest = z.object({
  job: JobName.optional(),
  /** kill unfinished jobs first instead of refusing */
  force: z.boolean().default(false),
});
export type RmRequest = z.infer<typeof RmRequest>;

export const RmResponse = z.object({
  /** jobs whose results were deleted */
  jobs: z.number().int(),
  /** members in the deleted archives */
  files: z.number().int(),
  /** bytes of archive files deleted from the head's disk */
  bytes: z.number().int(),
  /** the batch itself is gone (its name can be used again) */
  batch_removed: z.boolean(),
  /** jobs killed first (with force) */
  cancelled: z.number().int(),
});
export type RmResponse = z.infer<typeof RmResponse>;

/** Cluster utilisation over time (head/usage/query.ts): per node, points of cpus held in steps of `step_ms`. */
export const UsageAnswer = z.object({
  since: z.number(),
  until: z.number(),
  step_ms: z.number(),
  nodes: z.array(z.object({
    name: z.string(),
    cpus: z.number(),
    samples: z.array(z.object({ at: z.number(), busy: z.number(), peak: z.number() })),
  })),
});
