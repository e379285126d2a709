// What this node runs at once. The head may assign a job ahead (head/scheduler/ahead.ts): it
// arrives while the node is full and waits here, in the order assigned, until the jobs before it
// leave enough cpus and memory (or, in queue-depth mode, a slot). A job that would not fit even
// an empty node is let through once nothing runs, so a queue never sticks.

export interface Capacity {
  cpus: number;
  /** bytes */
  memory: number;
  /** queue-depth mode: at most this many at once, cpus and memory ignored */
  maxJobs: number | null;
}

export interface Need {
  cpus: number;
  /** bytes; null = no reservation */
  memory: number | null;
}

interface Waiter {
  need: Need;
  admit: (release: () => void) => void;
}

export class LocalSlots {
  private cpus = 0;
  private memory = 0;
  private jobs = 0;
  private readonly waiters: Waiter[] = [];

  constructor(private readonly capacity: Capacity) {}

  /** Jobs waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with the release once the job may start; null when `signal` aborts first (the job
   * was cancelled while it waited: it never takes room).
   */
  acquire(need: Need, signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w: Waiter = {
        need,
        admit: (release) => {
          signal?.removeEventListener('abort', abort);
          resolve(release);
        },
      };
      const abort = () => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        resolve(null);
        this.admit();
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.waiters.push(w);
      this.admit();
    });
  }

  private fits(n: Need): boolean {
    if (this.jobs === 0) return true;
    if (this.capacity.maxJobs !== null) return this.jobs < this.capacity.maxJobs;
    return this.cpus + n.cpus <= this.capacity.cpus && this.memory + (n.memory ?? 0) <= this.capacity.memory;
  }

  /** Starts waiting jobs, first come first, while the first one fits. */
  private admit(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.need)) {
      const w = this.waiters.shift()!;
      const cpus = w.need.cpus;
      const memory = w.need.memory ?? 0;
      this.cpus += cpus;
      this.memory += memory;
      this.jobs++;
      let released = false;
      w.admit(() => {
        if (released) return;
        released = true;
        this.cpus -= cpus;
        this.memory -= memory;
        this.jobs--;
        this.admit();
      });
    }
  }
}
