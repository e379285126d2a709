// The progress bar of a pull on a terminal: one line redrawn in place (bytes, rate, files),
// at most every `intervalMs`, erased when the pull ends so the summary stands alone. Off a
// terminal nothing is drawn (the summary line says it all).
import { formatBytes } from '../../shared/spec/units.js';

export interface Terminal {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressState {
  bytes: number;
  totalBytes: number;
  files: number;
  totalFiles: number;
  elapsedMs: number;
}

/** `  42% [########------------]  1.0 GiB / 2.4 GiB  85.3 MiB/s  12/30 files` */
export function progressLine(s: ProgressState, width = 80): string {
  const fraction = s.totalBytes > 0 ? Math.min(1, s.bytes / s.totalBytes) : s.totalFiles > 0 ? s.files / s.totalFiles : 1;
  const rate = s.elapsedMs > 0 ? (s.bytes * 1000) / s.elapsedMs : 0;
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const tail = ` ${formatBytes(s.bytes)} / ${formatBytes(s.totalBytes)}  ${formatBytes(Math.round(rate))}/s  ${s.files}/${s.totalFiles} files`;
  const barWidth = Math.max(10, Math.min(30, width - pct.length - tail.length - 4));
  const filled = Math.round(fraction * barWidth);
  return `${pct} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`;
}

export class PullProgress {
  private bytes = 0;
  private files = 0;
  private readonly started: number;
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(
    private readonly out: Terminal,
    private readonly total: { files: number; bytes: number },
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 100,
  ) {
    this.started = now();
  }

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  addBytes(n: number): void {
    this.bytes += n;
    this.draw(false);
  }

  addFile(): void {
    this.files++;
    this.draw(false);
  }

  /** Erases the bar. */
  end(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  private draw(force: boolean): void {
    if (!this.enabled) return;
    const t = this.now();
    if (!force && t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    const line = progressLine({ bytes: this.bytes, totalBytes: this.total.bytes, files: this.files, totalFiles: this.total.files, elapsedMs: t - this.started }, this.out.columns ?? 80);
    this.out.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }
}
