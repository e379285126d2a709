// `distribute pause --status` and the lines pause and resume print, for people.
import type { PauseStatus } from '../shared/protocol/control.js';
import { formatDuration } from '../shared/spec/units.js';

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time: `14:02:11` today, `2025-03-02 14:02:11` another day. */
export function localTime(isoTime: string, now = new Date()): string {
  const t = new Date(isoTime);
  const clock = `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
  const sameDay = t.getFullYear() === now.getFullYear() && t.getMonth() === now.getMonth() && t.getDate() === now.getDate();
  return sameDay ? clock : `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${clock}`;
}

function jobsLine(s: PauseStatus): string {
  if (s.jobs.length === 0) return 'no jobs running here';
  const stopped = s.jobs.filter((j) => j.paused);
  const names = s.jobs.map((j) => j.job).join(', ');
  return stopped.length > 0 ? `${stopped.length} of ${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'} stopped (${names})` : `${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'} running (${names})`;
}

export function describeStatus(s: PauseStatus, now = new Date()): string {
  const lines: string[] = [];
  if (!s.paused) {
    lines.push(`node ${s.node}: not paused; ${jobsLine(s)}`);
  } else {
    const until = s.until === null ? 'until the machine is quiet' : `until ${localTime(s.until, now)} (${formatDuration(Math.max(0, Date.parse(s.until) - now.getTime()))} left)`;
    lines.push(`node ${s.node}: paused by ${s.by ?? 'unknown'} since ${s.since ? localTime(s.since, now) : '?'} ${until}`);
    lines.push(`  ${jobsLine(s)}; no new job is placed here`);
    const vacates = s.jobs.map((j) => j.vacate_at).filter((v): v is string => v !== null).sort();
    if (vacates[0]) lines.push(`  a job still paused at ${localTime(vacates[0], now)} goes back to the queue to run elsewhere (vacate_after ${formatDuration(s.vacate_after_ms ?? 0)})`);
  }
  if (s.idle_policy) {
    const p = s.idle_policy;
    const load = p.load === null ? 'not measured yet' : `${p.load.toFixed(2)} cores`;
    lines.push(`  idle policy: load that is not the cluster's ${load}; pauses above ${p.load_above} cores for ${formatDuration(p.for_ms)}, resumes after ${formatDuration(p.quiet_for_ms)} quiet`);
  }
  lines.push(`  longest pause allowed: ${formatDuration(s.max_pause_ms)}`);
  return lines.join('\n');
}

export function describePause(s: PauseStatus, now = new Date()): string {
  const until = s.until === null ? '' : ` until ${localTime(s.until, now)} (${formatDuration(Math.max(0, Date.parse(s.until) - now.getTime()))})`;
  const stopped = s.jobs.filter((j) => j.paused).length;
  return `paused node ${s.node}${until}: ${stopped} job${stopped === 1 ? '' : 's'} stopped, no new job will be placed here; \`distribute resume\` ends it sooner`;
}

export function describeResume(s: PauseStatus, changed: boolean): string {
  if (!changed) return s.paused ? `node ${s.node} is still paused (by ${s.by})` : `node ${s.node} was not paused`;
  return `resumed node ${s.node}: ${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'} running again`;
}
