// Several jobs at once: `slots` cpus' worth (default one per core), a job taking as many
// slots as its `resources.cpus`.
import { availableParallelism } from 'node:os';
import type { BatchSpec } from '../../shared/spec/types.js';
import { runBatchLocally, type LocalRunOptions, type LocalRunOutcome } from './run-batch.js';

export type MultiprocessingOptions = Omit<LocalRunOptions, 'slots' | 'capCpus'> & {
  /** default: one per core */
  slots?: number;
};

export function runMultiprocessing(batch: BatchSpec, opts: MultiprocessingOptions): Promise<LocalRunOutcome> {
  return runBatchLocally(batch, { ...opts, slots: opts.slots ?? availableParallelism(), capCpus: true });
}
