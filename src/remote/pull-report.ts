// What `distribute pull` prints: with --dry, one line per member (size, whether it is already
// here, path) and the totals; after a pull, what came, what was already here, what is to come.
import { formatBytes } from '../../shared/spec/units.js';
import type { PullOutcome } from './pull.js';

function files(n: number): string {
  return `${n} file${n === 1 ? '' : 's'}`;
}

function jobs(n: number): string {
  return `${n} job${n === 1 ? '' : 's'}`;
}

/** `   1.5 MiB  re_100/out/field.csv` per member; `(here)` for those already in the save folder. */
export function dryListing(o: PullOutcome): string {
  const lines = o.members.map((m) => `${formatBytes(m.size).padStart(10)}  ${m.present ? '(here) ' : ''}${m.job}/${m.path}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}

export function pullReport(o: PullOutcome): string {
  const where = `${o.namespace}/${o.batch}`;
  const lines: string[] = [];
  if (o.dry) {
    lines.push(`would pull ${files(o.fetched.files)} (${formatBytes(o.fetched.bytes)}) of ${where} into ${o.dest}; ${o.present.files} already there`);
    lines.push(`selected: ${files(o.selected.files)}, ${formatBytes(o.selected.bytes)} in total, from ${jobs(o.finishedJobs)} finished`);
  } else {
    lines.push(`pulled ${files(o.fetched.files)} (${formatBytes(o.fetched.bytes)}) of ${where} into ${o.dest}`);
    if (o.present.files > 0) lines.push(`${files(o.present.files)} (${formatBytes(o.present.bytes)}) already there with the same size and time: skipped (--force to fetch them again)`);
    if (o.fetched.files > 0) {
      const unchecked = o.fetched.files - o.verified;
      lines.push(`${files(o.verified)} checked against the SHA-256 the head recorded${unchecked > 0 ? `; ${unchecked} with no checksum recorded (archived before checksums, or links)` : ''}`);
    }
    if (o.gone > 0) lines.push(`${files(o.gone)} left the head between the plan and the download (removed, or their job runs again)`);
  }
  if (o.unfinished > 0) lines.push(`${jobs(o.unfinished)} still queued or running: their results are still to come; pull again later`);
  return lines.join('\n') + '\n';
}

/** One line per file that did not arrive intact, naming its job: for stderr. */
export function failureLines(o: PullOutcome): string {
  const lines = o.damaged.map((d) => `error: job ${d.job}: its archive on the head is damaged: ${d.error}`);
  for (const f of o.failed) lines.push(`error: job ${f.job}: ${f.file}: ${f.reason}`);
  if (o.failed.length > 0 || o.damaged.length > 0) {
    const jobsHit = new Set([...o.failed.map((f) => f.job), ...o.damaged.map((d) => d.job)]);
    lines.push(`error: ${files(o.failed.length)} of ${jobs(jobsHit.size)} did not arrive intact; every other file is in place (exit 1)`);
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
