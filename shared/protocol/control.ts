// The compute daemon's local control socket (`control_socket`): `distribute pause`,
// `resume` and `pause --status`, run at the workstation, speak to the daemon here.
// One request per connection, one JSON object per line each way; the daemon answers and
// closes. Access is the socket file's mode (0660, group `control_group`): the kernel
// refuses everyone else at connect().
import { z } from 'zod';

/** The systemd unit's RuntimeDirectory; where the CLI looks when --socket is not given. */
export const DEFAULT_CONTROL_SOCKET = '/run/distribute/control.sock';

/** A request or answer longer than this is refused. */
export const MAX_CONTROL_LINE = 64 * 1024;

/**
 * Who the client says it is. The daemon checks what it can (see compute/peer.ts) and logs
 * how sure it is.
 */
export const ControlClient = z.object({
  uid: z.number().int().nonnegative(),
  user: z.string().min(1).max(256),
  pid: z.number().int().positive(),
});
export type ControlClient = z.infer<typeof ControlClient>;

export const ControlRequest = z.discriminatedUnion('op', [
  /** duration_ms null: the daemon's default (1 h, capped by max_pause) */
  z.object({ op: z.literal('pause'), duration_ms: z.number().int().positive().nullable(), client: ControlClient }),
  z.object({ op: z.literal('resume'), client: ControlClient }),
  z.object({ op: z.literal('status'), client: ControlClient.optional() }),
]);
export type ControlRequest = z.infer<typeof ControlRequest>;

export const PauseSource = z.enum(['user', 'idle_policy']);
export type PauseSource = z.infer<typeof PauseSource>;

/** What `distribute pause --status --json` prints. Times are ISO strings. */
export const PauseStatus = z.object({
  node: z.string(),
  paused: z.boolean(),
  /** the local user who paused the node, or `idle_policy` */
  by: z.string().nullable(),
  source: PauseSource.nullable(),
  since: z.string().nullable(),
  /** when the daemon resumes by itself; null while paused by the idle policy (it resumes when the machine is quiet) */
  until: z.string().nullable(),
  max_pause_ms: z.number().int(),
  vacate_after_ms: z.number().int().nullable(),
  /** the jobs running here now, and whether each is stopped */
  jobs: z.array(
    z.object({
      attempt: z.number().int(),
      job: z.string(),
      paused: z.boolean(),
      /** when the job is handed back to the head if the pause lasts (vacate_after) */
      vacate_at: z.string().nullable(),
    }),
  ),
  idle_policy: z
    .object({
      load_above: z.number(),
      for_ms: z.number().int(),
      quiet_for_ms: z.number().int(),
      /** the last measured load that is not the cluster's, in cores; null before the first sample */
      load: z.number().nullable(),
    })
    .nullable(),
});
export type PauseStatus = z.infer<typeof PauseStatus>;

export const ControlResponse = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), status: PauseStatus, changed: z.boolean() }),
  z.object({
    ok: z.literal(false),
    /** bad_request: the request itself is wrong (exit 2); refused: not now (exit 1) */
    code: z.enum(['bad_request', 'refused', 'internal']),
    error: z.string(),
  }),
]);
export type ControlResponse = z.infer<typeof ControlResponse>;
