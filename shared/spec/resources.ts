// Resources and slurm blocks as layers: the batch default, then the job, field by field.
import { parseDuration, parseSize } from './units.js';
import { DEFAULT_RESOURCES, WHOLE_NODE, type Resources, type SlurmBlock } from './types.js';
import type { RawResources, RawSlurm } from './schema.js';

/** Lays each (already validated) layer over the defaults; a field left out keeps the one below. */
export function mergeResources(...layers: (RawResources | undefined)[]): Resources {
  const out: Resources = { ...DEFAULT_RESOURCES };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.cpus !== undefined) out.cpus = layer.cpus === 'all' ? WHOLE_NODE : layer.cpus;
    if (layer.gpus !== undefined) out.gpus = layer.gpus;
    if (layer.memory !== undefined) out.memory = layer.memory === null ? null : valueOf(parseSize(layer.memory));
    if (layer.time !== undefined) out.time = layer.time === null ? null : valueOf(parseDuration(layer.time));
  }
  return out;
}

function valueOf(r: { ok: true; value: number } | { ok: false; error: string }): number {
  if (!r.ok) throw new Error(`resources were not validated: ${r.error}`);
  return r.value;
}

/** A slurm block as the rest of the program reads it: sizes and times as strings, as written. */
export function slurmBlock(raw: RawSlurm | undefined): SlurmBlock {
  const out: SlurmBlock = {};
  if (!raw) return out;
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const asString = key === 'mem' || key === 'mem_per_cpu' || key === 'time';
    (out as Record<string, unknown>)[key] = asString ? String(value) : value;
  }
  return out;
}

/** The job's slurm block over the batch's, field by field. */
export function mergeSlurm(batch: SlurmBlock, job: SlurmBlock): SlurmBlock {
  return { ...batch, ...job };
}
