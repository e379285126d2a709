// The transpile commands through the built CLI (npm run build first).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../../helpers/cli.js';
import { write } from './batches.js';

const tmp = tempDir('distribute-transpile-cli-');
after(() => tmp.cleanup());

const BATCH = `meta: {batch_name: cli_batch, namespace: tests}
shell:
  jobs:
    - name: job_{i}
      parameters: {i: [1, 2, 3, 4, 5]}
      command: echo {i} > "$DISTRIBUTE_SAVE/i.txt"
      resources: {cpus: 2, memory: 1G, time: 30m}
`;
const file = write(tmp.dir, 'batch.yaml', BATCH);

describe('distribute slurm / pbs / kubernetes', () => {
  it('slurm writes the folder and says what it made', async () => {
    const out = join(tmp.dir, 'slurm');
    const r = await runCli(['slurm', file, '--output', out, '--job-resources', 'partition=short', '--array-limit', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.deepEqual(info.arrays, [{ name: 'c2-m1G-t30m', jobs: 5, tasks: 5, script: '_distribute/slurm/array-c2-m1G-t30m.sh' }]);
    const script = readFileSync(join(out, info.arrays[0].script), 'utf8');
    assert.match(script, /^#SBATCH --array=0-4%2$/m);
    assert.match(script, /^#SBATCH --partition=short$/m);
    assert.deepEqual(readdirSync(out).sort(), ['_distribute', 'job_1', 'job_2', 'job_3', 'job_4', 'job_5', 'submit.sh', 'upload.sh']);
  });

  it('refuses a bad --job-resources with exit 2, the allowed keys, and no folder', async () => {
    const out = join(tmp.dir, 'bad');
    const r = await runCli(['slurm', file, '--output', out, '--job-resources', 'cpus=4,mem=8Q']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key "cpus"; allowed keys: account, .*cpus_per_task/);
    assert.match(r.stderr, /mem: "8Q" is not a size/);
    assert.ok(!existsSync(out));
  });

  it('refuses --wait without --submit and slurm+batching without a size, exit 2', async () => {
    let r = await runCli(['slurm', file, '--output', join(tmp.dir, 'w'), '--wait']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--wait follows the jobs --submit submits/);
    r = await runCli(['slurm', file, '--output', join(tmp.dir, 'b'), '--strategy', 'slurm+batching']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exactly one of --jobs N/);
    r = await runCli(['slurm', file, '--output', join(tmp.dir, 'j'), '--strategy', 'slurm+batching', '--jobs', 'zero']);
    assert.equal(r.code, 2);
  });

  it('refuses an invalid batch with its file:line:col errors, exit 2', async () => {
    const bad = write(tmp.dir, 'bad.yaml', 'meta: {batch_name: x, namespace: y}\nshell:\n  jobs:\n    - name: a\n      command: true\n      resources: {cpus: many}\n');
    const r = await runCli(['slurm', bad, '--output', join(tmp.dir, 'badbatch')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:6:\d+: shell\.jobs\[0\]\.resources\.cpus/);
  });

  it('pbs writes #PBS -J arrays with the queue and walltime given', async () => {
    const out = join(tmp.dir, 'pbs');
    const r = await runCli(['pbs', file, '--output', out, '--job-resources', 'queue=workq,walltime=1h']);
    assert.equal(r.code, 0, r.stderr);
    const script = readFileSync(join(out, '_distribute/pbs/array-c2-m1gb-t1h.sh'), 'utf8');
    assert.match(script, /^#PBS -J 0-4$/m);
    assert.match(script, /^#PBS -q workq$/m);
    assert.match(script, /^#PBS -l walltime=01:00:00$/m);
    assert.match(script, /^#PBS -l select=1:ncpus=2:mem=1gb$/m);
    assert.match(script, /"\$\{PBS_ARRAY_INDEX:-0\}"$/m);
  });

  it('kubernetes writes a manifest, and --apply without kubectl fails with exit 1 and says where it is', async () => {
    const out = join(tmp.dir, 'k8s');
    const r = await runCli(['kubernetes', file, '--output', out, '--apply'], { env: { PATH: '/nonexistent' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kubectl is not on PATH; the manifest is in .*manifest\.yaml/);
    assert.match(readFileSync(join(out, 'manifest.yaml'), 'utf8'), /completionMode: Indexed/);
  });
});
