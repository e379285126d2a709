// Watches the head's own event loop: how late it runs (for /metrics, from Node's
// monitorEventLoopDelay), and when it stood still long enough that frames from nodes may be
// waiting unread (a stall: a long synchronous task, SIGSTOP, a swapped-out process). A stall
// is no node's fault: NodeSessions gives every node a fresh node_timeout after one.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** The loop delay over roughly the last minute: quantiles and max, in seconds. */
export interface LoopDelay {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const WINDOW_MS = 60_000;
const TICK_MS = 100;

export class LoopWatch {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private previous: LoopDelay = { p50: 0, p90: 0, p99: 0, max: 0 };
  private readonly rotate: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  private lastTick = performance.now();

  /**
   * `stallMs`: a gap between two ticks longer than this is a stall, reported to `onStall` with
   * its length as soon as the loop runs again.
   */
  constructor(stallMs: number, onStall: (ms: number) => void) {
    this.histogram.enable();
    this.rotate = setInterval(() => {
      this.previous = this.current();
      this.histogram.reset();
    }, WINDOW_MS).unref();
    this.ticker = setInterval(() => {
      const now = performance.now();
      const gap = now - this.lastTick;
      this.lastTick = now;
      if (gap > stallMs + TICK_MS) onStall(gap);
    }, TICK_MS).unref();
  }

  /** Quantiles of the loop's delay over the last one to two minutes. */
  delay(): LoopDelay {
    const c = this.current();
    const p = this.previous;
    return { p50: Math.max(c.p50, p.p50), p90: Math.max(c.p90, p.p90), p99: Math.max(c.p99, p.p99), max: Math.max(c.max, p.max) };
  }

  stop(): void {
    clearInterval(this.rotate);
    clearInterval(this.ticker);
    this.histogram.disable();
  }

  private current(): LoopDelay {
    const h = this.histogram;
    if (h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
    // nanoseconds; the monitor's own resolution (10 ms) is counted as delay, so it is taken off
    const s = (ns: number) => Math.max(0, ns / 1e9 - 0.01);
    return { p50: s(h.percentile(50)), p90: s(h.percentile(90)), p99: s(h.percentile(99)), max: s(h.max) };
  }
}
