import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batch, points, sweep, BatchSpecError } from '../../src/index.js';
import { loadBatch } from '../../shared/spec/load.js';
import { REPO_ROOT, tempDir } from '../helpers/cli.js';

/** The first ```ts block under the README's "Writing batches from TypeScript" heading. */
function readmeExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Writing batches from TypeScript'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the README has the example');
  return m[1]!;
}

describe('the README sweep example', () => {
  it('runs as written against the built package and writes a 120-job batch that validates', async () => {
    const tmp = tempDir();
    // inside the package, so `import ... from 'distribute'` resolves to it (self-reference)
    const scriptDir = join(REPO_ROOT, 'test-output');
    const script = join(scriptDir, `readme-sweep-${process.pid}.mts`);
    try {
      mkdirSync(scriptDir, { recursive: true });
      writeFileSync(script, readmeExample());
      writeFileSync(join(tmp.dir, 'naca0012.dat'), 'NACA 0012\n');
      const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), script], { cwd: tmp.dir, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, 'polar_sweep: 120 jobs\n');

      const file = join(tmp.dir, 'polar_sweep.yaml');
      assert.match(readFileSync(file, 'utf8'), /^# yaml-language-server: \$schema=batch\.schema\.json\n/);
      const spec = await loadBatch(file);
      assert.equal(spec.kind, 'shell');
      assert.equal(spec.jobs.length, 120);
      assert.equal(new Set(spec.jobs.map((j) => j.name)).size, 120);
      const big = spec.jobs.find((j) => j.name === 're5000000_m0.3_a8')!;
      assert.deepEqual(big.resources, { cpus: 4, memory: 2 * 1024 ** 3, gpus: 0, time: 1200 });
      assert.equal(big.command, 'echo "re=5000000 mach=0.3 alpha=8" > "$DISTRIBUTE_SAVE/case.txt"');
      const small = spec.jobs.find((j) => j.name === 're100000_m0_a0')!;
      assert.deepEqual(small.resources, { cpus: 1, memory: 512 * 1024 ** 2, gpus: 0, time: 1200 });
      assert.deepEqual(spec.initialize, { kind: 'shell', command: null, requiredFiles: [{ path: join(tmp.dir, 'naca0012.dat'), alias: 'naca0012.dat' }] });
    } finally {
      rmSync(script, { force: true });
      tmp.cleanup();
    }
  });
});

describe('the library', () => {
  it('expands a grid as the YAML does: product with the first parameter slowest, or zip', () => {
    assert.deepEqual(points({ a: [1, 2], b: ['x', 'y'] }), [{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }, { a: 2, b: 'y' }]);
    assert.deepEqual(points({ a: [1, 2], b: ['x', 'y'] }, 'zip'), [{ a: 1, b: 'x' }, { a: 2, b: 'y' }]);
    assert.throws(() => points({ a: [1, 2], b: ['x'] }, 'zip'), /equal length/);
    assert.deepEqual(sweep({ n: [3, 4] }, (p, i) => `${i}:${p.n}`), ['0:3', '1:4']);
  });

  it('writes a python batch with snake_case keys, files and a slurm block', async () => {
    const tmp = tempDir();
    try {
      for (const f of ['run.py', 'build.py', 'p1.json', 'p2.json']) writeFileSync(join(tmp.dir, f), '');
      const b = batch({
        kind: 'python',
        namespace: 'lab',
        name: 'py',
        capabilities: ['python3'],
        retries: 2,
        initialize: { buildFile: 'build.py' },
        slurm: { partition: 'short' },
      }).jobs(sweep({ p: [1, 2] }, (x) => ({ name: `p${x.p}`, file: 'run.py', requiredFiles: [{ path: `p${x.p}.json`, alias: 'params.json' }] })));
      assert.deepEqual(b.toObject(), {
        meta: { batch_name: 'py', namespace: 'lab', capabilities: ['python3'], retries: 2 },
        python: {
          initialize: { build_file: 'build.py' },
          jobs: [
            { name: 'p1', file: 'run.py', required_files: [{ path: 'p1.json', alias: 'params.json' }] },
            { name: 'p2', file: 'run.py', required_files: [{ path: 'p2.json', alias: 'params.json' }] },
          ],
        },
        slurm: { partition: 'short' },
      });
      const spec = await b.write(join(tmp.dir, 'py.yaml'));
      assert.deepEqual(spec.jobs.map((j) => [j.name, j.retries, j.slurm.partition, j.requiredFiles[0]!.path]), [
        ['p1', 2, 'short', join(tmp.dir, 'p1.json')],
        ['p2', 2, 'short', join(tmp.dir, 'p2.json')],
      ]);
      assert.deepEqual((await loadBatch(join(tmp.dir, 'py.yaml'))).jobs, spec.jobs);
    } finally {
      tmp.cleanup();
    }
  });

  it('refuses to write an invalid batch and names every problem', async () => {
    const tmp = tempDir();
    try {
      const b = batch({ kind: 'apptainer', namespace: 'lab', name: 'bad name', initialize: { sif: 'missing.sif' } })
        .job({ name: 'a', resources: { cpus: 0 } })
        .job({ name: 'a' });
      const file = join(tmp.dir, 'bad.yaml');
      await assert.rejects(b.write(file), (err: unknown) => {
        assert.ok(err instanceof BatchSpecError);
        assert.deepEqual(err.errors.map((e) => e.path), [
          'meta.batch_name',
          'apptainer.initialize.sif',
          'apptainer.jobs[0].resources.cpus',
          'apptainer.jobs[1].name',
        ]);
        return true;
      });
      assert.equal(existsSync(file), false);
    } finally {
      tmp.cleanup();
    }
  });
});
