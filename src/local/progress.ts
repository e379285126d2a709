// What `distribute run` shows while a batch runs: on a terminal, one line redrawn in place
// (a bar, counts, elapsed time) with failures printed above it; otherwise one plain line per
// finished job, for logs and pipes. A summary at the end either way.
import type { AttemptResult, BuildResult } from '../../compute/runner.js';
import { formatDuration } from '../../shared/spec/units.js';
import type { LocalRunOutcome } from './outcome.js';

export interface ProgressReporter {
  begin(batch: string, jobs: number, parallel: string): void;
  warn(message: string): void;
  buildFinished(result: BuildResult, logsKeptIn: string | null): void;
  jobStarted(job: string): void;
  jobFinished(job: string, result: AttemptResult, ms: number): void;
  end(outcome: LocalRunOutcome): void;
}

export interface Writable {
  write(text: string): unknown;
}

/** `1.2s` under a minute, else `3m 05s`. */
export function shortDuration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(ms);
}

/** Why an attempt failed, in a few words: `exit 3`, `signal SIGKILL`, `timed out`, ... */
export function failureReason(r: Pick<AttemptResult, 'exit_code' | 'signal' | 'timed_out' | 'cancelled' | 'error'>): string {
  if (r.error) return r.error;
  if (r.cancelled) return 'cancelled';
  if (r.timed_out) return 'timed out';
  if (r.signal) return `signal ${r.signal}`;
  return `exit ${r.exit_code}`;
}

export function jobLine(job: string, r: AttemptResult, ms: number): string {
  if (r.success) return `done ${job} (${shortDuration(ms)})`;
  if (r.cancelled) return `cancelled ${job}`;
  return `FAILED ${job} ${failureReason(r)} (${shortDuration(ms)})`;
}

function buildLine(r: BuildResult, kept: string | null): string {
  const why = r.error ?? (r.cancelled ? 'cancelled' : r.signal ? `signal ${r.signal}` : `exit ${r.exit_code}`);
  return `FAILED build: ${why}${kept ? `; its logs are in ${kept}` : ''}`;
}

export function summaryLines(o: LocalRunOutcome): string[] {
  const parts = [`${o.done.length} done`, `${o.failed.length} failed`];
  if (o.cancelled.length) parts.push(`${o.cancelled.length} cancelled`);
  if (o.notRun.length) parts.push(`${o.notRun.length} not run`);
  const lines = [`${o.interrupted ? 'interrupted: ' : ''}${o.batch}: ${parts.join(', ')} in ${shortDuration(o.wallMs)}`];
  if (o.failed.length) {
    const shown = o.failed.slice(0, 10).join(', ');
    lines.push(`failed: ${shown}${o.failed.length > 10 ? `, and ${o.failed.length - 10} more` : ''}`);
  }
  if (o.buildLogs) lines.push(`build logs in ${o.buildLogs}`);
  if (o.done.length + o.failed.length > 0) lines.push(`results in ${o.resultsDir}`);
  return lines;
}

/** One line per event, for pipes and log files. */
export class PlainProgress implements ProgressReporter {
  constructor(private readonly out: Writable, private readonly err: Writable) {}
  begin(batch: string, jobs: number, parallel: string): void {
    this.out.write(`running ${batch}: ${jobs} job${jobs === 1 ? '' : 's'}, ${parallel}\n`);
  }
  warn(message: string): void {
    this.err.write(`warning: ${message}\n`);
  }
  buildFinished(r: BuildResult, kept: string | null): void {
    if (!r.ok) this.out.write(buildLine(r, kept) + '\n');
    else if (r.ran) this.out.write('done build\n');
  }
  jobStarted(_job: string): void {}
  jobFinished(job: string, r: AttemptResult, ms: number): void {
    this.out.write(jobLine(job, r, ms) + '\n');
  }
  end(o: LocalRunOutcome): void {
    this.out.write(summaryLines(o).join('\n') + '\n');
  }
}

const CLEAR_LINE = '\r\x1b[2K';

/** A bar redrawn in place on a terminal; failures and warnings scroll above it. */
export class TtyProgress implements ProgressReporter {
  private total = 0;
  private finished = 0;
  private failed = 0;
  private running = 0;
  private phase = 'build';
  private started = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly out: Writable, private readonly err: Writable, private readonly width = 24) {}

  begin(batch: string, jobs: number, parallel: string): void {
    this.total = jobs;
    this.started = Date.now();
    this.out.write(`running ${batch}: ${jobs} job${jobs === 1 ? '' : 's'}, ${parallel}\n`);
    this.timer = setInterval(() => this.draw(), 1000);
    this.timer.unref();
    this.draw();
  }
  warn(message: string): void {
    this.above(() => this.err.write(`warning: ${message}\n`));
  }
  buildFinished(r: BuildResult, kept: string | null): void {
    this.phase = 'jobs';
    if (!r.ok) this.above(() => this.out.write(buildLine(r, kept) + '\n'));
    else this.draw();
  }
  jobStarted(_job: string): void {
    this.phase = 'jobs';
    this.running++;
    this.draw();
  }
  jobFinished(job: string, r: AttemptResult, ms: number): void {
    this.running--;
    this.finished++;
    if (!r.success) {
      this.failed++;
      this.above(() => this.out.write(jobLine(job, r, ms) + '\n'));
    } else this.draw();
  }
  end(o: LocalRunOutcome): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.out.write(CLEAR_LINE + summaryLines(o).join('\n') + '\n');
  }

  /** The bar's text, without control characters. */
  line(): string {
    const frac = this.total === 0 ? 1 : this.finished / this.total;
    const full = Math.round(frac * this.width);
    const bar = '#'.repeat(full) + '-'.repeat(this.width - full);
    const elapsed = shortDuration(Date.now() - this.started);
    const what = this.phase === 'build' ? 'building' : `${this.running} running`;
    return `[${bar}] ${this.finished}/${this.total}  ${what}${this.failed ? `  ${this.failed} failed` : ''}  ${elapsed}`;
  }

  private draw(): void {
    this.out.write(CLEAR_LINE + this.line());
  }

  private above(print: () => void): void {
    this.out.write(CLEAR_LINE);
    print();
    this.draw();
  }
}

/** The bar on a terminal, plain lines otherwise. */
export function progressFor(out: NodeJS.WriteStream, err: NodeJS.WriteStream): ProgressReporter {
  return out.isTTY ? new TtyProgress(out, err) : new PlainProgress(out, err);
}

/** Says nothing; for library calls and tests. */
export const silentProgress: ProgressReporter = {
  begin() {},
  warn() {},
  buildFinished() {},
  jobStarted() {},
  jobFinished() {},
  end() {},
};
