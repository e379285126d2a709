// What a local run (`distribute run`) ended with: which jobs did what, and whether it succeeded.
// Its own file so that the run (run-batch.ts) and what shows it (progress.ts) both read it.
import type { BuildResult } from '../../compute/runner.js';

export interface LocalRunOutcome {
  batch: string;
  /** `<saveDir>/<batch_name>` */
  resultsDir: string;
  build: BuildResult | null;
  /** where a failed build's logs were kept */
  buildLogs: string | null;
  done: string[];
  failed: string[];
  cancelled: string[];
  /** never started: the build failed or the run was interrupted */
  notRun: string[];
  interrupted: boolean;
  wallMs: number;
}

/** The run succeeded: the build (if any) and every job. */
export function runSucceeded(o: LocalRunOutcome): boolean {
  return !o.interrupted && o.buildLogs === null && o.failed.length === 0 && o.cancelled.length === 0 && o.notRun.length === 0;
}
