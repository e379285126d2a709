// Results being archived at once, and the backpressure they put on placement. A node's
// `finished` frees what its job held, so the head may place the next job before the last one's
// result is archived; when archiving falls behind (a slow disk, a thousand nodes of zero-length
// jobs) the results waiting for it piled up in the head's memory without bound. Past a limit, a
// scheduling pass places nothing until results have been taken: nodes finish what they hold,
// and the jobs wait in the queue (on disk) rather than as results in memory.
export const RESULTS_IN_FLIGHT_MAX = 4096;

export class ResultBacklog {
  private inFlight = 0;

  /** `drained`: called when the backlog falls back under the limit (a pass was held back). */
  constructor(
    private readonly drained: () => void,
    readonly limit = RESULTS_IN_FLIGHT_MAX,
  ) {}

  get size(): number {
    return this.inFlight;
  }

  /** Whether placement should wait for results to be taken. */
  full(): boolean {
    return this.inFlight >= this.limit;
  }

  enter(): void {
    this.inFlight++;
  }

  leave(): void {
    const wasFull = this.full();
    this.inFlight--;
    if (wasFull && !this.full()) this.drained();
  }
}
