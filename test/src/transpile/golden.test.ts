// The generated files of one batch for each target, compared with reviewed copies under
// golden/. After an intended change: UPDATE_GOLDEN=1 node test/run.mjs test/src/transpile/golden.test.ts
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RESOURCES, type BatchSpec } from '../../../shared/spec/types.js';
import type { Bundle } from '../../../src/transpile/bundle.js';
import { transpileKubernetes } from '../../../src/transpile/kubernetes/transpile.js';
import { transpilePbs } from '../../../src/transpile/pbs/transpile.js';
import { transpileSlurm } from '../../../src/transpile/slurm/transpile.js';
import { job, meta, write } from './batches.js';
import { tempDir } from '../../helpers/cli.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const tmp = tempDir('distribute-golden-');
after(() => tmp.cleanup());

/** A python sweep: a build step, a shared mesh, per-job parameters, two resource shapes, a slurm block. */
function sweep(): BatchSpec {
  const d = tmp.dir;
  const runPy = write(d, 'run.py', 'import sys\nprint(sys.argv)\n');
  const mesh = { path: write(d, 'mesh.dat', '0 0 1 1\n'), alias: 'mesh.dat' };
  const small = { ...DEFAULT_RESOURCES, cpus: 2, memory: 512 * 1024 ** 2, time: 600 };
  const big = { ...DEFAULT_RESOURCES, cpus: 8, memory: 16 * 1024 ** 3, gpus: 1, time: 36 * 3600 };
  const slurm = { account: 'lab', setup: ['module load python/3.12'] };
  const jobs = [
    ...[100, 200, 300].map((re) => job(`re_${re}`, { file: { path: runPy, alias: 'run.py' }, requiredFiles: [{ path: write(d, `re_${re}.json`, `{"re": ${re}}\n`), alias: 'params.json' }], resources: small, slurm })),
    job('re_1000_fine', {
      file: { path: runPy, alias: 'run.py' },
      requiredFiles: [{ path: write(d, 're_1000.json', '{"re": 1000, "stencil": "fine"}\n'), alias: 'params.json' }],
      resources: big,
      slurm: { ...slurm, partition: 'gpu', extra_directives: ['--exclusive'] },
    }),
  ];
  return {
    meta: meta('re_sweep', 'cylinder'),
    kind: 'python',
    initialize: { kind: 'python', buildFile: { path: write(d, 'build.py', 'print("build")\n'), alias: 'build.py' }, requiredFiles: [mesh] },
    jobs,
    slurm,
    source: { file: join(d, 'batch.yaml'), dir: d },
  };
}

function render(bundle: Bundle): string {
  return [...bundle.texts()].map(([path, text]) => `===== ${path} =====\n${text}`).join('');
}

function matchesGolden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `no golden file ${file}; create it with UPDATE_GOLDEN=1`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden copy`);
}

describe('golden outputs', () => {
  it('slurm', () => {
    const t = transpileSlurm(sweep(), {
      strategy: 'slurm',
      jobResources: ['qos=normal,mail_type=END,FAIL'],
      arrayLimit: 2,
      extraDirectives: [],
      setup: [],
      cluster: { username: 'alice', address: 'login.hpc.example.org', destination: '/scratch/alice/re_sweep' },
    });
    matchesGolden('slurm.txt', render(t.bundle));
  });

  it('slurm+batching with batch_size', () => {
    const t = transpileSlurm(sweep(), { strategy: 'slurm+batching', jobResources: ['batch_size=2'], extraDirectives: [], setup: [], cluster: {} });
    const arrays = new Map([...t.bundle.texts()].filter(([p]) => p.startsWith('_distribute/slurm/') || p === 'submit.sh'));
    matchesGolden('slurm-batching.txt', [...arrays].map(([p, s]) => `===== ${p} =====\n${s}`).join(''));
  });

  it('pbs', () => {
    const t = transpilePbs(sweep(), { strategy: 'pbs', jobResources: ['queue=workq,walltime=12h'], extraDirectives: ['-m abe'], setup: [], cluster: {} });
    matchesGolden('pbs.txt', render(t.bundle));
  });

  it('kubernetes', async () => {
    const t = await transpileKubernetes(sweep(), { strategy: 'kubernetes', jobResources: ['parallelism=2'], volumeClaim: 'results', image: 'python:3.12' });
    matchesGolden('kubernetes.yaml', render(t.bundle));
  });
});
