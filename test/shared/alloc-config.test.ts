import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HeadConfig, loadConfig } from '../../shared/config.js';
import { UserError } from '../../shared/errors.js';
import { tempDir } from '../helpers/cli.js';

const UNI = `state_dir: /tmp/x
allocations:
  - name: uni
    backend: slurm
    capabilities: [shell, python3]
    resources: {cpus: 4, memory: 8G}
    max_pilots: 10
    time_limit: 2h
    idle_timeout: 5m
    sbatch_args: [--partition=cpu, --account=lab]
`;

function load(text: string) {
  const t = tempDir('alloc-config-');
  try {
    const file = join(t.dir, 'head.yaml');
    writeFileSync(file, text);
    return loadConfig(HeadConfig, file);
  } finally {
    t.cleanup();
  }
}

describe('head.yaml allocations', () => {
  it('reads a queue with durations and sizes in their units, and the defaults', () => {
    const [q] = load(UNI).allocations;
    assert.deepEqual(
      { ...q, dir: q!.dir },
      { name: 'uni', backend: 'slurm', capabilities: ['shell', 'python3'], resources: { cpus: 4, memory: 8 * 1024 ** 3, gpus: 0 }, max_pilots: 10, time_limit: 7_200_000, idle_timeout: 300_000, sbatch_args: ['--partition=cpu', '--account=lab'], submit_prefix: [], max_failures: 3, backoff: 30_000, poll: 15_000, dir: undefined },
    );
  });

  it('has no queues unless configured', () => {
    assert.deepEqual(load('state_dir: /tmp/x\n').allocations, []);
  });

  it('refuses a queue without time_limit, naming the field', () => {
    assert.throws(() => load(UNI.replace('    time_limit: 2h\n', '')), (e: Error) => e instanceof UserError && /allocations\.0\.time_limit/.test(e.message));
  });

  it('refuses an unknown backend, a duplicate name and an idle_timeout not shorter than the walltime', () => {
    assert.throws(() => load(UNI.replace('backend: slurm', 'backend: lsf')), /allocations\.0\.backend/);
    assert.throws(() => load(UNI + UNI.split('allocations:\n')[1]), /allocations\.1\.name: queue uni is defined twice/);
    assert.throws(() => load(UNI.replace('idle_timeout: 5m', 'idle_timeout: 3h')), /allocations\.0\.idle_timeout: must be shorter than time_limit/);
    assert.throws(() => load(UNI.replace('name: uni', 'name: "../x"')), /allocations\.0\.name/);
  });
});
