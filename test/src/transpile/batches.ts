// BatchSpec objects built in code for the transpiler tests, with their files on disk.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RESOURCES, type BatchSpec, type JobSpec, type Resources, type SlurmBlock } from '../../../shared/spec/types.js';

export function meta(batch_name: string, namespace = 'tests'): BatchSpec['meta'] {
  return { batch_name, namespace, matrix: null, capabilities: [], priority: 0, sort: 'none', nodes: null, retries: 0, notify: [] };
}

export function job(name: string, extra: Partial<JobSpec> = {}): JobSpec {
  return { name, file: null, command: null, requiredFiles: [], resources: { ...DEFAULT_RESOURCES }, nodes: null, retries: 0, slurm: {}, ...extra };
}

export function write(dir: string, name: string, content: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** A shell batch of `n` jobs that each write a file derived from their name and a shared input. */
export function shellBatch(dir: string, n: number, opts: { resources?: Partial<Resources>; slurm?: SlurmBlock; name?: string } = {}): BatchSpec {
  const shared = write(dir, 'greeting.txt', 'hello from the shared input\n');
  const name = opts.name ?? 'shell_batch';
  const jobs = Array.from({ length: n }, (_, i) =>
    job(`job-${String(i).padStart(2, '0')}`, {
      command: `cat "$DISTRIBUTE_INPUT/greeting.txt" > "$DISTRIBUTE_SAVE/out.txt"; echo "$DISTRIBUTE_JOB_NAME $DISTRIBUTE_CPUS ${i}" >> "$DISTRIBUTE_SAVE/out.txt"; echo 'it''s job ${i}'`,
      resources: { ...DEFAULT_RESOURCES, ...opts.resources },
      slurm: opts.slurm ?? {},
    }),
  );
  return {
    meta: meta(name),
    kind: 'shell',
    initialize: { kind: 'shell', command: null, requiredFiles: [{ path: shared, alias: 'greeting.txt' }] },
    jobs,
    slurm: opts.slurm ?? {},
    source: { file: join(dir, 'batch.yaml'), dir },
  };
}
