// The three configuration files: head.yaml, compute.yaml, and the user's
// ~/.config/distribute/config.yaml. Parsed and validated here, once, at start.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from './errors.js';
import { parseDuration, parseSize } from './spec/units.js';
import { SafeName } from './protocol/common.js';
import { MAX_FRAME } from './protocol/codec.js';
import { DEFAULT_MAX_BATCH_BYTES } from './limits.js';

export const DEFAULT_PORT = 8952;

/** A duration field: `90s`, `5m`, `HH:MM:SS`... (or a number of seconds), to milliseconds. */
export const DurationMs = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 1000);
  const r = parseDuration(v);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.value * 1000;
});

/** A size field: `512M`, `8G`, to bytes. */
export const SizeBytes = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const r = parseSize(typeof v === 'number' ? `${v}M` : v);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.value;
});

/** the levels of shared/log.ts (pino's); the `--log-level` flag overrides the config's */
const LogLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

const Tls = z.strictObject({ cert: z.string(), key: z.string() });

export const MatrixConfig = z.strictObject({
  homeserver_url: z.string().url(),
  user_id: z.string(),
  access_token: z.string().optional(),
  password: z.string().optional(),
  device_name: z.string().default('distribute'),
});

// head.yaml `allocations:`: queues of pilot jobs the head submits to a batch system (Slurm)
// when the lab's own nodes cannot take the waiting jobs. Each pilot is an ordinary compute
// daemon named `<queue>-<batch job id>`; docs/allocations.md has the design.
/** A pilot's node name is `<queue>-<job id>`: the queue's name leaves room for the id. */
const QueueName = SafeName.refine((s) => s.length <= 100, 'at most 100 characters (the pilot names add the Slurm job id)');

/** One argument of a command line: no NUL, bounded. */
const Arg = z.string().min(1).max(1000).refine((s) => !/[\0\n\r]/.test(s), 'no NUL bytes or line breaks');

export const AllocationConfig = z.strictObject({
  name: QueueName,
  backend: z.literal('slurm'),
  /** what a pilot node offers */
  capabilities: z.array(z.string().min(1).max(200)).max(200).default([]),
  resources: z.strictObject({
    cpus: z.number().int().min(1).max(4096),
    memory: SizeBytes.optional(),
    gpus: z.number().int().min(0).max(64).default(0),
  }),
  max_pilots: z.number().int().min(1).max(1000),
  /** each pilot's walltime; required: a partition's maximum is never a good default */
  time_limit: DurationMs.refine((ms) => ms >= 60_000, 'at least 1m'),
  /** a pilot with nothing it can run exits after this long */
  idle_timeout: DurationMs.default(5 * 60_000),
  sbatch_args: z.array(Arg).max(100).default([]),
  /** the command sbatch, squeue and scancel run under, e.g. [ssh, login.cluster.example] */
  submit_prefix: z.array(Arg).max(20).default([]),
  /** consecutive failed submissions that pause the queue; the first ones back off */
  max_failures: z.number().int().min(1).max(100).default(3),
  /** the first wait after a failed submission, doubled after each further one */
  backoff: DurationMs.default(30_000),
  /** how often the head asks the batch system about its pilots */
  poll: DurationMs.refine((ms) => ms >= 200, 'at least 0.2s').default(15_000),
  /** the folder of this queue's scripts, logs and pilot work dirs, seen at the same path by the head and the pilots; default <state_dir>/allocations/<name> */
  dir: z.string().min(1).max(4096).optional(),
  /** the head's URL as the pilots dial it; default: the address the head listens on */
  head_url: z.string().min(1).max(1000).optional(),
  /** the command that starts `distribute` on a pilot; default: this head's own node and CLI */
  command: z.array(Arg).min(1).max(20).optional(),
});
export type AllocationConfig = z.infer<typeof AllocationConfig>;

export const Allocations = z
  .array(AllocationConfig)
  .max(100)
  .default([])
  .superRefine((queues, ctx) => {
    const seen = new Set<string>();
    queues.forEach((q, i) => {
      if (seen.has(q.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `queue ${q.name} is defined twice` });
      seen.add(q.name);
      if (q.idle_timeout >= q.time_limit) ctx.addIssue({ code: 'custom', path: [i, 'idle_timeout'], message: 'must be shorter than time_limit' });
    });
  });

export const HeadConfig = z.strictObject({
  /** `host:port`; default 127.0.0.1:8952 */
  listen: z.string().default(`127.0.0.1:${DEFAULT_PORT}`),
  state_dir: z.string(),
  node_timeout: DurationMs.default(5000),
  heartbeat: DurationMs.default(1000),
  max_attempts: z.number().int().min(1).default(3),
  /** jobs each node may hold waiting beyond those it runs, started there as soon as one ends; 0: none */
  assign_ahead: z.number().int().min(0).max(64).default(2),
  /** how long one utilisation sample covers (docs/dashboard.md); the head looks 12 times in it */
  usage_sample_interval: DurationMs.default(60_000).refine((ms) => ms >= 1000 && ms <= 3600_000, 'between 1s and 1h'),
  /** how long utilisation samples are kept */
  usage_keep: DurationMs.default(7 * 24 * 3600_000).refine((ms) => ms >= 3600_000 && ms <= 366 * 24 * 3600_000, 'between 1h and 366d'),
  tls: Tls.optional(),
  matrix: MatrixConfig.optional(),
  log_level: LogLevel.default('info'),
  allocations: Allocations,
  /** largest batch document `add` may send (docs/hostile-input.md) */
  max_batch_bytes: SizeBytes.default(DEFAULT_MAX_BATCH_BYTES),
  /** largest WebSocket frame a node may send, and the head will send */
  max_frame: SizeBytes.default(MAX_FRAME),
  /** where results sent whole in a message go: appended to their batch's segment files, or a file each (docs/throughput.md) */
  small_results: z.enum(['segments', 'files']).default('segments'),
});
export type HeadConfig = z.infer<typeof HeadConfig>;

export const ComputeConfig = z.strictObject({
  /** the head's base URL: ws://host:8952, wss://..., http(s):// accepted */
  head: z.string(),
  token_file: z.string().optional(),
  token: z.string().optional(),
  name: SafeName.optional(),
  capabilities: z.array(z.string()).default([]),
  work_dir: z.string(),
  resources: z.strictObject({ cpus: z.number().int().min(1).optional(), memory: SizeBytes.optional(), gpus: z.number().int().min(0).optional() }).default({}),
  max_jobs: z.number().int().min(1).optional(),
  control_socket: z.string().optional(),
  control_group: z.string().optional(),
  max_pause: DurationMs.default(24 * 3600 * 1000),
  vacate_after: DurationMs.optional(),
  /** load_above: cores busy with work that is not the cluster's (compute/idle.ts) */
  idle_policy: z.strictObject({ load_above: z.number().positive(), for: DurationMs, quiet_for: DurationMs }).optional(),
  sandbox: z.enum(['none', 'bwrap']).default('none'),
  /** where jobs' processes are put (compute/cgroup): the best the machine offers, or one insisted on */
  containment: z.enum(['auto', 'cgroup-v2', 'cgroup-v1', 'process-group']).default('auto'),
  /** the cgroup subtree of this daemon's jobs, under each hierarchy; default distribute/<node> (or the service's own cgroup) */
  cgroup_parent: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a relative path of plain names, like distribute/node1').refine((p) => !p.split('/').includes('..'), 'no .. in it').optional(),
  /** most processes and threads of one job at once (its cgroup's pids.max): stops fork bombs */
  max_processes: z.number().int().min(8).max(4_194_304).default(4096),
  /** when the daemon runs as root, each running job and build gets a uid (and gid) of its own from this range; `none`: jobs run as the daemon's user */
  job_uids: z.union([z.literal('none'), z.string().regex(/^\d{1,10}-\d{1,10}$/, 'a range of uids like 61000-61999, or none')])
    .refine((r) => r === 'none' || ((([lo, hi]) => lo! >= 1000 && lo! <= hi! && hi! < 4_294_967_295)(r.split('-').map(Number))), 'a range from at least 1000 up, low-high')
    .default('61000-61999'),
  ca: z.string().optional(),
  log_level: LogLevel.default('info'),
  /** a pilot of an allocation queue (written by its sbatch script): leave when idle, and before the walltime's end (Unix seconds) */
  pilot: z.strictObject({ idle_timeout: DurationMs, ends_at: z.number().int().positive() }).optional(),
});
export type ComputeConfig = z.infer<typeof ComputeConfig>;

export const UserConfig = z.strictObject({
  head: z.string().optional(),
  token: z.string().optional(),
  ca: z.string().optional(),
});
export type UserConfig = z.infer<typeof UserConfig>;

export function userConfigPath(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'distribute', 'config.yaml');
}

/**
 * Reads and validates a YAML config file. Relative paths inside it are the caller's to
 * resolve against `dirname(file)` (see `resolveFrom`). Throws a UserError (exit 2) naming the
 * file and field.
 */
export function loadConfig<S extends z.ZodType>(schema: S, file: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new UserError(`${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new UserError(lines.join('\n'));
  }
  return parsed.data;
}

export function resolveFrom(file: string, path: string): string {
  return resolve(dirname(file), path);
}

/** `ws://h:p`, `http://h:p`, `wss://`, `https://` → the http(s) and ws(s) base URLs. */
export function headUrls(base: string): { http: string; ws: string } {
  const m = /^(wss?|https?):\/\/([^/]+)\/?$/.exec(base.trim());
  if (!m) throw new UserError(`head URL "${base}" must look like ws://host:8952 or wss://host:8952`);
  const secure = m[1] === 'wss' || m[1] === 'https';
  return { http: `${secure ? 'https' : 'http'}://${m[2]}`, ws: `${secure ? 'wss' : 'ws'}://${m[2]}` };
}
