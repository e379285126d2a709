// What `status BATCH` says of the jobs' measured usage: each job's peak memory beside what it
// asked and its CPU time, and for the batch a right-sizing hint, as Slurm's `seff` gives.
import type { StatusBatch } from '../../shared/protocol/api.js';
import { formatMeasuredSize, formatSlurmSize } from '../../shared/spec/units.js';

type Job = StatusBatch['jobs'][number];

/** `212.3M / 1G`, `212.3M` with no reservation, `- / 1G` before any measure. */
export function memoryCell(j: Job): string {
  const peak = j.usage?.peak_memory_bytes ?? null;
  const asked = j.memory ?? null;
  if (peak === null) return asked === null ? '-' : `- / ${formatSlurmSize(asked)}`;
  return asked === null ? formatMeasuredSize(peak) : `${formatMeasuredSize(peak)} / ${formatSlurmSize(asked)}`;
}

/** CPU time in seconds, one decimal: `2.0s`; `-` when not measured. */
export function cpuCell(j: Job): string {
  const cpu = j.usage?.cpu_seconds ?? null;
  return cpu === null ? '-' : `${cpu.toFixed(1)}s`;
}

/**
 * One line on how the measured jobs' peak memory compares with what they asked; null when no
 * job with a reservation has been measured. Suggests a smaller ask when every job used under
 * half of it: the largest peak plus a fifth, rounded up to a whole 64M.
 */
export function rightSizingHint(b: StatusBatch): string | null {
  const measured = b.jobs.filter((j) => j.memory != null && j.memory > 0 && j.usage?.peak_memory_bytes != null);
  if (measured.length === 0) return null;
  const ratios = measured.map((j) => j.usage!.peak_memory_bytes! / j.memory!);
  const maxPeak = Math.max(...measured.map((j) => j.usage!.peak_memory_bytes!));
  const mean = ratios.reduce((a, r) => a + r, 0) / ratios.length;
  const max = Math.max(...ratios);
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  let line = `memory: ${measured.length} job${measured.length === 1 ? '' : 's'} measured, peak ${pct(mean)} of what they asked on average, ${pct(max)} at most (largest peak ${formatMeasuredSize(maxPeak)})`;
  if (max < 0.5) {
    const step = 64 * 1024 ** 2;
    line += `; memory: ${formatSlurmSize(Math.ceil((maxPeak * 1.2) / step) * step)} would do`;
  } else if (max >= 1) {
    line += '; some reached their limit: ask for more, or set memory_retry';
  }
  return line;
}
