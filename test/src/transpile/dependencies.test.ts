// after: and finalize: in transpiled folders: arrays planned by dependency, Slurm's and PBS's
// submit.sh (text, and bash -n on every script), the finalize step's runtime run by bash on a
// folder as the jobs leave it, and Kubernetes' refusal.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FINALIZE_JOB, type BatchSpec } from '../../../shared/spec/types.js';
import { UserError } from '../../../shared/errors.js';
import { jobDepths, planShapes } from '../../../src/transpile/plan.js';
import { writeBundle } from '../../../src/transpile/bundle.js';
import { transpileSlurm } from '../../../src/transpile/slurm/transpile.js';
import { transpilePbs } from '../../../src/transpile/pbs/transpile.js';
import { transpileKubernetes } from '../../../src/transpile/kubernetes/transpile.js';
import { job, meta } from './batches.js';
import { runCli, tempDir, REPO_ROOT } from '../../helpers/cli.js';

const tmp = tempDir('distribute-transpile-deps-');
after(() => tmp.cleanup());

/** mesh -> solve_1..3 (after mesh), pre_a, pre_b; post_a after pre_a only; report after everything; a finalize step. */
function batch(): BatchSpec {
  const solves = [1, 2, 3].map((i) => job(`solve_${i}`, { command: `echo ${i} > "$DISTRIBUTE_SAVE/v"`, after: ['mesh'] }));
  return {
    meta: meta('deps'),
    kind: 'shell',
    initialize: { kind: 'shell', command: null, requiredFiles: [] },
    jobs: [
      job('mesh', { command: 'echo mesh' }),
      ...solves,
      job('pre_a', { command: 'true' }),
      job('pre_b', { command: 'true' }),
      job('post_a', { command: 'true', after: ['pre_a'] }),
      job('report', { command: 'true', after: ['solve_1', 'solve_2', 'solve_3', 'post_a'] }),
    ],
    finalize: job(FINALIZE_JOB, { command: 'ls "$DISTRIBUTE_INPUT/results" > "$DISTRIBUTE_SAVE/seen"' }),
    slurm: {},
    source: { file: join(tmp.dir, 'batch.yaml'), dir: tmp.dir },
  };
}

const slurmOpts = { strategy: 'slurm', jobResources: [], extraDirectives: [], setup: [], cluster: {} };
const shapeOf = (j: { name: string }) => ({ key: 'one', label: 'c1', options: {}, cpus: 1, timeLimit: null, job: j.name });

describe('planning arrays by dependency', () => {
  it('gives each job its depth, iteratively, and refuses a cycle built in code', () => {
    const d = jobDepths(batch().jobs);
    assert.deepEqual(Object.fromEntries(d), { mesh: 0, pre_a: 0, pre_b: 0, solve_1: 1, solve_2: 1, solve_3: 1, post_a: 1, report: 2 });
    const chain = Array.from({ length: 100_000 }, (_, i) => job(`j${i}`, i ? { after: [`j${i - 1}`] } : {}));
    assert.equal(jobDepths(chain).get('j99999'), 99_999);
    assert.throws(() => jobDepths([job('a', { after: ['b'] }), job('b', { after: ['a'] })]), UserError);
  });

  it('groups jobs that wait for the same tasks, and names a partial wait by task', () => {
    const shapes = planShapes(batch(), shapeOf, { kind: 'one-per-task' });
    assert.deepEqual(
      shapes.map((s) => [s.name, s.depth, s.tasks.flat(), s.after]),
      [
        ['c1', 0, ['mesh', 'pre_a', 'pre_b'], []],
        ['c1-d1', 1, ['solve_1', 'solve_2', 'solve_3'], [{ array: 0, tasks: [0] }]],
        ['c1-d1-2', 1, ['post_a'], [{ array: 0, tasks: [1] }]],
        ['c1-d2', 2, ['report'], [{ array: 1, tasks: null }, { array: 2, tasks: null }]],
      ],
    );
  });

  it('with batching a dependent waits for the task that holds its dependency', () => {
    const shapes = planShapes(batch(), shapeOf, { kind: 'tasks', tasks: 2 });
    assert.deepEqual(shapes[0]!.tasks, [['mesh', 'pre_a'], ['pre_b']]);
    assert.deepEqual(shapes[1]!.after, [{ array: 0, tasks: [0] }]);
    assert.deepEqual(shapes[1]!.jobs.map((j) => j.name), ['solve_1', 'solve_2', 'solve_3', 'post_a'], 'post_a waits for the same task as the solves');
    assert.equal(shapes.length, 3);
  });
});

function bashN(dir: string, files: string[]): void {
  for (const f of files) {
    const r = spawnSync('bash', ['-n', join(dir, f)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `bash -n ${f}: ${r.stderr}`);
  }
}

describe('Slurm: after: and finalize:', () => {
  it('submits each array after the tasks it waits for and the finalize step afterany on all', async () => {
    const t = transpileSlurm(batch(), slurmOpts);
    const submit = t.bundle.texts().get('submit.sh')!;
    const subs = submit.split('\n').filter((l) => l.startsWith('id=$(submit'));
    assert.deepEqual(subs, [
      'id=$(submit ${after[@]+"${after[@]}"} _distribute/slurm/array-c1.sh)',
      'id=$(submit --dependency=afterok:"${ids[0]}"_0 --kill-on-invalid-dep=yes _distribute/slurm/array-c1-d1.sh)',
      'id=$(submit --dependency=afterok:"${ids[0]}"_1 --kill-on-invalid-dep=yes _distribute/slurm/array-c1-d1-2.sh)',
      'id=$(submit --dependency=afterok:"${ids[1]}":"${ids[2]}" --kill-on-invalid-dep=yes _distribute/slurm/array-c1-d2.sh)',
      'id=$(submit --dependency=afterany:"${ids[0]}":"${ids[1]}":"${ids[2]}":"${ids[3]}" _distribute/slurm/finalize.sh)',
    ]);
    const fin = t.bundle.texts().get('_distribute/slurm/finalize.sh')!;
    assert.match(fin, /^#SBATCH --job-name=deps-finalize$/m);
    assert.match(fin, /^distribute_run_finalize "\$root"\/_distribute\/finalize-jobs.txt$/m);
    assert.equal(t.bundle.texts().get('_distribute/finalize-jobs.txt'), batch().jobs.map((j) => `${j.name}\n`).join(''));
    const out = join(tmp.dir, 'slurm');
    await writeBundle(t.bundle, out);
    bashN(out, ['submit.sh', '_distribute/task.sh', '_distribute/slurm/finalize.sh', '_distribute/slurm/array-c1-d2.sh', `_distribute/jobs/${FINALIZE_JOB}.sh`]);
  });

  it('a batch without after: or finalize: keeps the plain submit.sh', () => {
    const b = batch();
    b.jobs = b.jobs.map((j) => ({ ...j, after: undefined }));
    b.finalize = null;
    const submit = transpileSlurm(b, slurmOpts).bundle.texts().get('submit.sh')!;
    assert.doesNotMatch(submit, /ids[=+]|dependency|finalize/);
  });
});

describe('PBS: after: and finalize:', () => {
  it('submits with depend=afterok: on whole arrays and the finalize step with afterany:', async () => {
    const t = transpilePbs(batch(), { ...slurmOpts, strategy: 'pbs' });
    const submit = t.bundle.texts().get('submit.sh')!;
    const subs = submit.split('\n').filter((l) => l.startsWith('id=$(submit'));
    assert.deepEqual(subs, [
      'id=$(submit ${after[@]+"${after[@]}"} _distribute/pbs/array-c1.sh)',
      'id=$(submit -W depend=afterok:"${ids[0]}" _distribute/pbs/array-c1-d1.sh)',
      'id=$(submit -W depend=afterok:"${ids[0]}" _distribute/pbs/array-c1-d1-2.sh)',
      'id=$(submit -W depend=afterok:"${ids[1]}":"${ids[2]}" _distribute/pbs/array-c1-d2.sh)',
      'id=$(submit -W depend=afterany:"${ids[0]}":"${ids[1]}":"${ids[2]}":"${ids[3]}" _distribute/pbs/finalize.sh)',
    ]);
    const fin = t.bundle.texts().get('_distribute/pbs/finalize.sh')!;
    assert.match(fin, /^#PBS -N deps-finalize$/m);
    assert.match(fin, /^distribute_run_finalize "\$root"\/_distribute\/finalize-jobs.txt$/m);
    const out = join(tmp.dir, 'pbs');
    await writeBundle(t.bundle, out);
    bashN(out, ['submit.sh', '_distribute/task.sh', '_distribute/pbs/finalize.sh', '_distribute/pbs/array-c1-d1.sh']);
  });

  it('submit.sh runs under bash with a qsub that records what it was given', async () => {
    const out = join(tmp.dir, 'pbs-run');
    await writeBundle(transpilePbs(batch(), { ...slurmOpts, strategy: 'pbs' }).bundle, out);
    const bin = join(tmp.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    // qsub prints an array id as PBS Pro does; the record shows the ids submit.sh fed back
    writeFileSync(join(bin, 'qsub'), '#!/bin/bash\nn=$(( $(wc -l < "$QSUB_LOG") + 1 ))\necho "$*" >> "$QSUB_LOG"\necho "$n[].pbs"\n', { mode: 0o755 });
    const log = join(tmp.dir, 'qsub.log');
    writeFileSync(log, '');
    const r = spawnSync('bash', [join(out, 'submit.sh')], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, QSUB_LOG: log } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
      '_distribute/pbs/array-c1.sh',
      '-W depend=afterok:1[].pbs _distribute/pbs/array-c1-d1.sh',
      '-W depend=afterok:1[].pbs _distribute/pbs/array-c1-d1-2.sh',
      '-W depend=afterok:2[].pbs:3[].pbs _distribute/pbs/array-c1-d2.sh',
      '-W depend=afterany:1[].pbs:2[].pbs:3[].pbs:4[].pbs _distribute/pbs/finalize.sh',
    ]);
  });
});

describe('the finalize step in a transpiled folder', () => {
  it('copies the results of the jobs that ran, counts done and failed (not run counts failed), runs the step', async () => {
    const out = join(tmp.dir, 'finalize-run');
    await writeBundle(transpileSlurm(batch(), slurmOpts).bundle, out);
    // run three jobs as a task would: mesh and solve_1 succeed, solve_2 fails, the rest never ran
    const run = (jobs: string[]) =>
      spawnSync('bash', ['-c', `root=${out}; store=$root/_distribute/shared; job_scripts=$root/_distribute/jobs/; build_dir=$root/_distribute/build; . $root/_distribute/task.sh; ${jobs.join('; ')}`], { encoding: 'utf8' });
    writeFileSync(join(out, '_distribute/jobs/solve_2.sh'), 'cd "$job_dir"; echo partial > distribute_save/p; exit 4\n');
    for (const j of ['mesh', 'solve_1', 'solve_2']) run([`distribute_run_job ${j}`]);
    const r = run(['distribute_run_finalize $root/_distribute/finalize-jobs.txt']);
    assert.equal(r.status, 0, r.stderr);
    const results = join(out, FINALIZE_JOB, 'input', 'results');
    assert.equal(readFileSync(join(out, FINALIZE_JOB, 'distribute_save', 'seen'), 'utf8'), 'mesh\nsolve_1\nsolve_2\n');
    assert.equal(readFileSync(join(results, 'solve_1', 'v'), 'utf8'), '1\n');
    assert.equal(readFileSync(join(results, 'solve_2', 'p'), 'utf8'), 'partial\n');
    assert.match(readFileSync(join(results, 'solve_2', '_distribute', 'result.json'), 'utf8'), /"exit_code":4/);
    assert.ok(!existsSync(join(results, 'solve_3')));
    const env = readFileSync(join(out, FINALIZE_JOB, '_distribute', 'result.json'), 'utf8');
    assert.match(env, /"job":"_finalize"/);
    writeFileSync(join(out, '_distribute/jobs/_finalize.sh'), 'cd "$job_dir"; echo "$DISTRIBUTE_JOBS_DONE $DISTRIBUTE_JOBS_FAILED" > distribute_save/counts\n');
    assert.equal(run(['distribute_run_finalize $root/_distribute/finalize-jobs.txt']).status, 0);
    assert.equal(readFileSync(join(out, FINALIZE_JOB, 'distribute_save', 'counts'), 'utf8'), '2 6\n', '2 done; 1 failed and 5 never ran');
  });
});

describe('Kubernetes: after: and finalize:', () => {
  it('is refused with exit 2, naming why, and the CLI writes nothing', async () => {
    await assert.rejects(transpileKubernetes(batch(), { strategy: 'kubernetes', jobResources: [] }), (err: UserError) => {
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /job solve_1 has after: and the batch has finalize:, which a Kubernetes manifest cannot express: kubectl apply starts every Job/);
      return true;
    });
    const out = join(tmp.dir, 'kube');
    const r = await runCli(['kubernetes', join(REPO_ROOT, 'configs', 'dependencies-batch.yaml'), '--output', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(existsSync(out), false);
  });

  it('slurm and pbs transpile the example batch through the CLI', async () => {
    for (const target of ['slurm', 'pbs']) {
      const out = join(tmp.dir, `cli-${target}`);
      const r = await runCli([target, join(REPO_ROOT, 'configs', 'dependencies-batch.yaml'), '--output', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(out, `_distribute/${target}/finalize.sh`)));
      assert.match(r.stdout, /array c1-t5m-d1: 8 jobs in 8 tasks, after c1-t5m: /);
      assert.match(r.stdout, new RegExp(`finalize step: once every job has ended \\(afterany\\): _distribute/${target}/finalize.sh`));
      assert.doesNotMatch(r.stderr, /PBS takes no single task/, 'the solves wait for the whole mesh array');
    }
  });

  it('pbs says when a job waits for more than its own dependency\'s task', async () => {
    const file = join(tmp.dir, 'pairs.yaml');
    writeFileSync(file, 'meta: {batch_name: pairs, namespace: deps}\nshell:\n  jobs:\n    - {name: "a_{i}", parameters: {i: [1, 2]}, command: "true"}\n    - {name: "b_{i}", parameters: {i: [1, 2]}, after: ["a_{i}"], command: "true"}\n');
    const r = await runCli(['pbs', file, '--output', join(tmp.dir, 'pairs-pbs')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /array c1-d1: 1 job in 1 task, after c1 tasks 0: /);
    assert.match(r.stderr, /note: PBS takes no single task as a dependency: a job waits for every task of an array it depends on/);
  });
});
