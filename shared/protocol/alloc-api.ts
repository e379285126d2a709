// The head's answers about its allocation queues (admins; the routes are in http-api.ts).
import { z } from 'zod';

export const PilotInfo = z.object({
  node: z.string(),
  job_id: z.string(),
  /** pending: submitted, not joined yet; running: the batch system runs it; ended */
  state: z.enum(['pending', 'running', 'ended']),
  connected: z.boolean(),
  submitted: z.string(),
  /** the walltime's end, once known */
  ends_at: z.string().nullable(),
  ended: z.string().nullable(),
  end_reason: z.string().nullable(),
});
export type PilotInfo = z.infer<typeof PilotInfo>;

export const AllocQueueInfo = z.object({
  name: z.string(),
  backend: z.string(),
  max_pilots: z.number().int(),
  /** null, or 'admin' / 'failures' */
  paused: z.string().nullable(),
  failures: z.number().int(),
  last_error: z.string().nullable(),
  last_error_at: z.string().nullable(),
  /** after a failed submission: none before this time */
  retry_at: z.string().nullable(),
  pilots: z.array(PilotInfo),
});
export type AllocQueueInfo = z.infer<typeof AllocQueueInfo>;
