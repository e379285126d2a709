// One job at a time, each given the cpus it asks for.
import type { BatchSpec } from '../../shared/spec/types.js';
import { runBatchLocally, type LocalRunOptions, type LocalRunOutcome } from './run-batch.js';

export type SequentialOptions = Omit<LocalRunOptions, 'slots' | 'capCpus'>;

export function runSequential(batch: BatchSpec, opts: SequentialOptions): Promise<LocalRunOutcome> {
  return runBatchLocally(batch, { ...opts, slots: 1, capCpus: false });
}
