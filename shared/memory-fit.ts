// How jobs' measured peak memory compares with what they asked, as Slurm's `seff` tells it:
// one computation for `distribute status BATCH` (src/remote/) and the dashboard's batch page
// (head/dashboard/), so both say the same of the same numbers.
import { formatMeasuredSize, formatSlurmSize } from './spec/units.js';

/** What an attempt killed at its memory limit gives as its error (compute/runner.ts). */
export const OUT_OF_MEMORY = 'out of memory';

/** One job: what it asked (bytes, null = no reservation) and its measured peak (null = not measured). */
export interface MemoryUse {
  asked: number | null;
  peak: number | null;
}

export function isOutOfMemory(error: string | null | undefined): boolean {
  return error != null && error.startsWith(`${OUT_OF_MEMORY}:`);
}

/** `212.3M / 1G`, `212.3M` with no reservation, `- / 1G` before any measure, `-` for neither. */
export function peakOfAsked(u: MemoryUse): string {
  if (u.peak === null) return u.asked === null ? '-' : `- / ${formatSlurmSize(u.asked)}`;
  return u.asked === null ? formatMeasuredSize(u.peak) : `${formatMeasuredSize(u.peak)} / ${formatSlurmSize(u.asked)}`;
}

/**
 * One line on how the measured jobs' peak memory compares with what they asked; null when no
 * job with a reservation has been measured. Suggests a smaller ask when every job used under
 * half of it: the largest peak plus a fifth, rounded up to a whole 64M. Reads its input once,
 * keeping only sums, so a batch's rows can stream through it.
 */
export function rightSizingHint(jobs: Iterable<MemoryUse>): string | null {
  let measured = 0;
  let sum = 0;
  let max = 0;
  let maxPeak = 0;
  for (const j of jobs) {
    if (j.asked === null || j.asked <= 0 || j.peak === null) continue;
    const ratio = j.peak / j.asked;
    measured++;
    sum += ratio;
    max = Math.max(max, ratio);
    maxPeak = Math.max(maxPeak, j.peak);
  }
  if (measured === 0) return null;
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  let line = `memory: ${measured} job${measured === 1 ? '' : 's'} measured, peak ${pct(sum / measured)} of what they asked on average, ${pct(max)} at most (largest peak ${formatMeasuredSize(maxPeak)})`;
  if (max < 0.5) {
    const step = 64 * 1024 ** 2;
    line += `; memory: ${formatSlurmSize(Math.ceil((maxPeak * 1.2) / step) * step)} would do`;
  } else if (max >= 1) {
    line += '; some reached their limit: ask for more, or set memory_retry';
  }
  return line;
}
