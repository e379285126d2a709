// Building blocks of every message: names, ids, hashes, resources as they travel.
import { z } from 'zod';
import { SAFE_NAME } from '../paths.js';

/** Version of the node protocol; a node of another version is refused at hello. */
export const PROTOCOL_VERSION = 3;
/** Most messages in one `bundle` frame (since version 3). */
export const MAX_BUNDLE = 4096;

export const SafeName = z.string().regex(SAFE_NAME, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');
/** Globally unique id of one attempt of one job (the head's attempts table rowid). */
export const AttemptId = z.number().int().positive();
export type AttemptId = z.infer<typeof AttemptId>;
/** Content address of an input file: lowercase hex SHA-256. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256');

export const WireFile = z.object({ alias: SafeName, hash: Sha256, size: z.number().int().nonnegative() });
export type WireFile = z.infer<typeof WireFile>;

export const WireResources = z.object({
  cpus: z.number().int().min(1),
  memory: z.number().int().nonnegative().nullable(),
  gpus: z.number().int().nonnegative(),
  time: z.number().nonnegative().nullable(),
});
export type WireResources = z.infer<typeof WireResources>;

/** What a node offers: cpus, memory in bytes, GPU count (handed out by index 0..gpus-1). */
export const NodeResources = z.object({
  cpus: z.number().int().min(1),
  memory: z.number().int().nonnegative(),
  gpus: z.number().int().nonnegative(),
});
export type NodeResources = z.infer<typeof NodeResources>;

export const WireInitialize = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('python'), buildFile: WireFile.nullable(), requiredFiles: z.array(WireFile) }),
  z.object({ kind: z.literal('apptainer'), sif: WireFile, requiredFiles: z.array(WireFile), requiredMounts: z.array(z.string()) }),
  z.object({ kind: z.literal('shell'), command: z.string().nullable(), requiredFiles: z.array(WireFile) }),
]);
export type WireInitialize = z.infer<typeof WireInitialize>;

/** The name the batch's finalize step runs under (shared/spec FINALIZE_JOB): kept out of job names, so it never collides with one. */
export const FINALIZE_NAME = '_finalize';

/** A job's name: a safe name, or the finalize step's. */
export const JobName = z.union([SafeName, z.literal(FINALIZE_NAME)]);

export const WireJob = z.object({
  name: JobName,
  file: WireFile.nullable(),
  command: z.string().nullable(),
  requiredFiles: z.array(WireFile),
  resources: WireResources,
});
export type WireJob = z.infer<typeof WireJob>;

export const JobState = z.enum(['queued', 'assigned', 'running', 'paused', 'done', 'failed', 'cancelled']);
export type JobState = z.infer<typeof JobState>;
export const NodeState = z.enum(['idle', 'busy', 'paused', 'lost', 'draining']);
export type NodeState = z.infer<typeof NodeState>;
