// The one behaviour a batch written for the original distribute gets differently here, said
// once when it is validated or added: there a python or apptainer job ran alone on its node
// and was told the node's cores (argv[1]); here a job takes what its `resources` ask (1 cpu
// by default) and shares the node. `resources: {cpus: all}` gives back the old behaviour.
import type { BatchSpec } from './types.js';

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The line to add to keep the original's behaviour, under `meta:`. */
export const KEEP_ORIGINAL_LINE = 'resources: {cpus: all}';

/** Whether the batch is in the original's format: python or apptainer, and no `resources` anywhere. */
export function asksNoResources(document: unknown, batch: Pick<BatchSpec, 'kind'>): boolean {
  if (batch.kind === 'shell' || !isRecord(document)) return false;
  if (isRecord(document.meta) && document.meta.resources !== undefined) return false;
  const section = document[batch.kind] ?? document.singularity;
  const jobs = isRecord(section) && Array.isArray(section.jobs) ? section.jobs : [];
  return !jobs.some((j) => isRecord(j) && j.resources !== undefined);
}

/** The note for such a batch (two lines, no trailing newline), or null. */
export function originalFormatNote(file: string, document: unknown, batch: Pick<BatchSpec, 'kind'>): string | null {
  if (!asksNoResources(document, batch)) return null;
  return (
    `note: ${file} gives no resources: the original distribute ran each job alone on its node with argv[1] = the node's cpus; ` +
    `here each job takes 1 cpu (argv[1] = 1) and shares the node. To keep the old behaviour, add under meta:\n` +
    `  ${KEEP_ORIGINAL_LINE}`
  );
}
