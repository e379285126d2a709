// What `status BATCH` says of the jobs' measured usage: each job's peak memory beside what it
// asked and its CPU time, and for the batch a right-sizing hint, as Slurm's `seff` gives
// (shared/memory-fit.ts: the dashboard's batch page says the same).
import type { StatusBatch } from '../../shared/protocol/api.js';
import { peakOfAsked, rightSizingHint, type MemoryUse } from '../../shared/memory-fit.js';

type Job = StatusBatch['jobs'][number];

function memoryUse(j: Job): MemoryUse {
  return { asked: j.memory ?? null, peak: j.usage?.peak_memory_bytes ?? null };
}

/** `212.3M / 1G`, `212.3M` with no reservation, `- / 1G` before any measure. */
export function memoryCell(j: Job): string {
  return peakOfAsked(memoryUse(j));
}

/** CPU time in seconds, one decimal: `2.0s`; `-` when not measured. */
export function cpuCell(j: Job): string {
  const cpu = j.usage?.cpu_seconds ?? null;
  return cpu === null ? '-' : `${cpu.toFixed(1)}s`;
}

/** The batch's right-sizing line; null when no job with a reservation has been measured. */
export function batchMemoryHint(b: StatusBatch): string | null {
  return rightSizingHint(b.jobs.map(memoryUse));
}
