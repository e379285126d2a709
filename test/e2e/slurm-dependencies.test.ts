// `after:` and `finalize:` on a real single-node Slurm (test/e2e/slurm/up.sh): the mesh ->
// 8 solves -> finalize batch through `distribute slurm --submit --wait` gives the table
// `distribute run` (and a real node, test/integration/dependencies.test.ts) gives; a failing
// mesh cancels the solves (afterok, --kill-on-invalid-dep) and the finalize step still runs;
// a job waits for its own dependency's task only, not for the whole array before it.
// In CI (CI=true) this must run; elsewhere it is skipped, loudly, where Slurm cannot run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/cli.js';
import { expectedTable, meshBatch, RES } from '../helpers/mesh-batch.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './slurm/cluster.js';

const unavailable = slurmUnavailable();
if (unavailable && process.env.CI === 'true') {
  throw new Error(`CI=true but Slurm cannot run here: ${unavailable}; the Slurm end-to-end test must not be skipped in CI`);
}
if (unavailable) {
  process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING the Slurm dependencies test: ${unavailable}\n${'!'.repeat(78)}\n\n`);
}

let tmp: { dir: string; cleanup: () => void };
let slurm: SlurmCluster | null = null;

async function distribute(args: string[]) {
  return runCli(args, { env: { SLURM_CONF: slurm!.conf }, timeoutMs: 240_000 });
}

const solves = RES.map((re) => `solve_${re}`);
const ran = (out: string, job: string) => existsSync(join(out, job, '_distribute', 'result.json'));
const read = (...path: string[]) => readFileSync(join(...path), 'utf8');

describe('Slurm: after: and finalize:', { skip: unavailable ? `Slurm unavailable: ${unavailable}` : false }, () => {
  before(async () => {
    tmp = tempDir('distribute-e2e-slurm-deps-');
    slurm = await startSlurm(join(tmp.dir, 'slurm'));
  });

  after(async () => {
    await slurm?.stop();
    tmp?.cleanup();
  });

  it('mesh -> 8 solves -> finalize: every solve starts after mesh ended, the table equals distribute run', async () => {
    const file = meshBatch(tmp.dir, 'slurm_ordered');
    const out = join(tmp.dir, 'ordered');
    const s = await distribute(['slurm', file, '--output', out, '--submit', '--wait', '--poll', '1s', '--json']);
    assert.equal(s.code, 0, `${s.stdout}\n${s.stderr}`);
    const info = JSON.parse(s.stdout);
    assert.equal(info.slurm_jobs.length, 3, 'the mesh array, the solves array, the finalize job');
    assert.equal(info.finalize_outcome.state, 'done');
    const meshEnded = BigInt(read(out, 'mesh', 'distribute_save', 'ended').trim());
    for (const job of solves) {
      const started = BigInt(read(out, job, 'distribute_save', 'started').trim());
      assert.ok(started > meshEnded, `${job} started ${started} after mesh ended ${meshEnded}`);
    }
    const fin = join(out, '_finalize', 'distribute_save');
    assert.equal(read(fin, 'table.tsv'), expectedTable());
    assert.equal(read(fin, 'summary.txt'), 'done=9 failed=0\n');
    assert.deepEqual(read(fin, 'seen.txt').trim().split('\n').sort(), ['mesh', ...solves].sort());
    assert.match(read(out, '_finalize', 'input', 'results', 'solve_100', '_distribute', 'result.json'), /"success":true/);

    const save = join(tmp.dir, 'ordered-run');
    const r = await distribute(['run', file, '--save-dir', save]);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['table.tsv', 'summary.txt', 'seen.txt']) {
      assert.equal(read(fin, name), read(save, 'slurm_ordered', '_finalize', name), `${name}: Slurm's finalize step and distribute run's differ`);
    }
  });

  it('a failing mesh: the solves are cancelled, the finalize step runs and sees 0 done', async () => {
    const file = meshBatch(tmp.dir, 'slurm_broken', { failUnless: join(tmp.dir, 'never') });
    const out = join(tmp.dir, 'broken');
    const s = await distribute(['slurm', file, '--output', out, '--submit', '--wait', '--poll', '1s']);
    assert.equal(s.code, 1, `${s.stdout}\n${s.stderr}`);
    assert.match(s.stdout, /9 jobs: 0 done, 1 failed, 8 did not run/);
    assert.match(s.stdout, /mesh: exit code 3/);
    assert.match(s.stdout, /solve_800: did not run/);
    assert.match(s.stdout, /the finalize step: done/);
    for (const job of solves) assert.ok(!ran(out, job), `${job} must not run after its dependency failed`);
    const fin = join(out, '_finalize', 'distribute_save');
    assert.equal(read(fin, 'summary.txt'), 'done=0 failed=9\n');
    assert.equal(read(fin, 'table.tsv'), '');
    assert.equal(read(fin, 'seen.txt'), 'mesh\n');
  });

  it('a job waits for the task of its own dependency: a failure elsewhere in that array cancels only its dependents', async () => {
    const file = join(tmp.dir, 'pairs.yaml');
    writeFileSync(
      file,
      [
        'meta: {batch_name: slurm_pairs, namespace: deps}',
        'shell:',
        '  jobs:',
        '    - name: a_{i}',
        '      parameters: {i: [1, 2, 3]}',
        '      command: test {i} -ne 2',
        '    - name: b_{i}',
        '      parameters: {i: [1, 2, 3]}',
        '      after: ["a_{i}"]',
        '      command: echo b {i} > "$DISTRIBUTE_SAVE/b.txt"',
        '',
      ].join('\n'),
    );
    const out = join(tmp.dir, 'pairs');
    const s = await distribute(['slurm', file, '--output', out, '--submit', '--wait', '--poll', '1s']);
    assert.equal(s.code, 1, `${s.stdout}\n${s.stderr}`);
    assert.match(s.stdout, /6 jobs: 4 done, 1 failed, 1 did not run/);
    assert.match(read(out, 'submit.sh'), /--dependency=afterok:"\$\{ids\[0\]\}"_1 --kill-on-invalid-dep=yes /, 'b_2 waits for task 1 of the a array only');
    assert.equal(read(out, 'b_1', 'distribute_save', 'b.txt'), 'b 1\n');
    assert.equal(read(out, 'b_3', 'distribute_save', 'b.txt'), 'b 3\n');
    assert.ok(!ran(out, 'b_2'), 'b_2 waits for a_2, which failed');
  });
});
