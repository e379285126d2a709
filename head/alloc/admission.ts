// Whether the allocation queues could run a batch that no node of the lab can: every job
// must fit some queue's pilots (capabilities, size, and a time limit within their walltime),
// else those jobs would wait forever. `add` asks this only when no known node has the
// batch's capabilities.
import type { JobSpec } from '../../shared/spec/types.js';
import type { AllocationConfig } from '../../shared/config.js';
import { pilotMisfit } from './decide.js';
import { pilotShape } from './allocator.js';

export interface PilotAdmission {
  /** queues whose pilots could run some of the jobs */
  queues: string[];
  /** `job: why` for jobs no queue could run (the first few) */
  unfit: string[];
  unfitCount: number;
}

const LISTED = 5;

export function pilotAdmission(queues: readonly AllocationConfig[], capabilities: readonly string[], jobs: readonly (Pick<JobSpec, 'name' | 'resources' | 'nodes'> & { count?: number })[]): PilotAdmission {
  const shapes = queues.map(pilotShape);
  const fitting = new Set<string>();
  const unfit: string[] = [];
  let unfitCount = 0;
  const seen = new Map<string, string | null>();
  for (const job of jobs) {
    const r = job.resources;
    const key = JSON.stringify([r.cpus, r.memory, r.gpus, r.time, job.nodes]);
    let misfit = seen.get(key);
    if (misfit === undefined) {
      const group = { capabilities, demand: { cpus: r.cpus, memory: r.memory, gpus: r.gpus }, nodes: job.nodes, time: r.time };
      const why: string[] = [];
      misfit = null;
      for (const s of shapes) {
        const m = pilotMisfit(s, group);
        if (m === null) fitting.add(s.queue);
        else why.push(m);
      }
      if (why.length === shapes.length) misfit = why.join('; ');
      seen.set(key, misfit);
    }
    if (misfit !== null) {
      unfitCount += job.count ?? 1; // one entry may stand for several jobs of the same demand
      if (unfit.length < LISTED) unfit.push(`${job.name}: ${misfit}`);
    }
  }
  return { queues: [...fitting].sort(), unfit, unfitCount };
}
