// The generated scripts run by bash here, as Slurm would run them (SLURM_SUBMIT_DIR,
// SLURM_ARRAY_TASK_ID set), without Slurm: what each job runs, its environment, its
// result.json, time limits, signals, batching and the initialize step.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { jobArgv } from '../../../shared/spec/command.js';
import { DEFAULT_RESOURCES, type BatchSpec } from '../../../shared/spec/types.js';
import { writeBundle } from '../../../src/transpile/bundle.js';
import { transpileSlurm, type SlurmTranspileOptions } from '../../../src/transpile/slurm/transpile.js';
import { job, meta, shellBatch, write } from './batches.js';
import { tempDir } from '../../helpers/cli.js';

const tmp = tempDir('distribute-runtime-');
after(() => tmp.cleanup());
let n = 0;

/** Transpiles, writes the folder, and runs the build job and every array task with bash. */
async function runHere(batch: BatchSpec, o: Partial<SlurmTranspileOptions> = {}, env: NodeJS.ProcessEnv = {}) {
  const t = transpileSlurm(batch, { strategy: 'slurm', jobResources: [], extraDirectives: [], setup: [], cluster: {}, ...o });
  const out = await writeBundle(t.bundle, join(tmp.dir, `out-${n++}`));
  const run = (script: string, task?: number) =>
    spawnSync('bash', [join(out, script)], {
      cwd: out,
      env: { PATH: process.env.PATH, ...env, SLURM_SUBMIT_DIR: out, ...(task === undefined ? {} : { SLURM_ARRAY_TASK_ID: String(task) }) },
      encoding: 'utf8',
    });
  const builds = t.build ? [run('_distribute/slurm/build.sh')] : [];
  const tasks = t.shapes.flatMap((s) => s.tasks.map((_, i) => ({ shape: s.name, task: i, ...run(`_distribute/slurm/array-${s.name}.sh`, i) })));
  return { out, tasks, builds, shapes: t.shapes };
}

const result = (out: string, name: string) => JSON.parse(readFileSync(join(out, name, '_distribute', 'result.json'), 'utf8'));

describe('task runtime', () => {
  it('runs each job in its folder with the DISTRIBUTE_* environment (absolute paths) and writes result.json', async () => {
    const dir = join(tmp.dir, 'env');
    const b = shellBatch(dir, 2);
    b.jobs[1]!.command = 'env | grep ^DISTRIBUTE_ | sort > "$DISTRIBUTE_SAVE/env.txt"; pwd > "$DISTRIBUTE_SAVE/pwd.txt"; echo out; echo err >&2';
    const { out, tasks } = await runHere(b);
    assert.deepEqual(tasks.map((t) => t.status), [0, 0], tasks.map((t) => t.stderr).join('\n'));
    assert.equal(readFileSync(join(out, 'job-00', 'distribute_save', 'out.txt'), 'utf8'), 'hello from the shared input\njob-00 1 0\n');
    const env = Object.fromEntries(readFileSync(join(out, 'job-01', 'distribute_save', 'env.txt'), 'utf8').trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
    assert.deepEqual(env, {
      DISTRIBUTE_ATTEMPT: '1',
      DISTRIBUTE_BATCH_NAME: 'shell_batch',
      DISTRIBUTE_BUILD: join(out, '_distribute', 'build'),
      DISTRIBUTE_CPUS: '1',
      DISTRIBUTE_INPUT: join(out, 'job-01', 'input'),
      DISTRIBUTE_JOB_NAME: 'job-01',
      DISTRIBUTE_NAMESPACE: 'tests',
      DISTRIBUTE_SAVE: join(out, 'job-01', 'distribute_save'),
    });
    assert.equal(readFileSync(join(out, 'job-01', 'distribute_save', 'pwd.txt'), 'utf8'), `${join(out, 'job-01')}\n`);
    assert.equal(readFileSync(join(out, 'job-01', '_distribute', 'stdout.log'), 'utf8'), 'out\n');
    assert.equal(readFileSync(join(out, 'job-01', '_distribute', 'stderr.log'), 'utf8'), 'err\n');
    assert.equal(readFileSync(join(out, 'job-01', 'input', 'greeting.txt'), 'utf8'), 'hello from the shared input\n');
    const r = result(out, 'job-01');
    assert.equal(r.exit_code, 0);
    assert.equal(r.signal, null);
    assert.equal(r.timed_out, false);
    assert.equal(r.success, true);
    assert.equal(r.attempt, 1);
    assert.equal(r.node, hostname());
    assert.deepEqual([r.namespace, r.batch, r.job], ['tests', 'shell_batch', 'job-01']);
    assert.ok(Date.parse(r.start) <= Date.parse(r.end));
  });

  it('records a non-zero exit, a signal and a time limit, and fails the task', async () => {
    const dir = join(tmp.dir, 'fail');
    const b = shellBatch(dir, 3);
    b.jobs[0]!.command = 'exit 3';
    b.jobs[1]!.command = 'kill -KILL $$';
    b.jobs[2]!.command = 'sleep 30';
    b.jobs[2]!.resources = { ...DEFAULT_RESOURCES, time: 1 };
    const started = Date.now();
    const { out, tasks } = await runHere(b);
    assert.ok(Date.now() - started < 15_000, 'the time limit ended the sleep');
    assert.ok(tasks.every((t) => t.status === 1), tasks.map((t) => `${t.status} ${t.stderr}`).join('\n'));
    assert.deepEqual([result(out, 'job-00').exit_code, result(out, 'job-00').signal, result(out, 'job-00').success], [3, null, false]);
    assert.deepEqual([result(out, 'job-01').exit_code, result(out, 'job-01').signal], [null, 'SIGKILL']);
    const limited = result(out, 'job-02');
    assert.deepEqual([limited.exit_code, limited.signal, limited.timed_out, limited.success], [null, 'SIGTERM', true, false]);
    assert.ok(!readdirSync(join(out, 'job-02', '_distribute')).includes('timed-out'), 'the mark is consumed');
  });

  it('runs the jobs of a batched task one after another, each with its own result', async () => {
    const dir = join(tmp.dir, 'batching');
    const b = shellBatch(dir, 7);
    for (const j of b.jobs) j.command = `echo "$SLURM_ARRAY_TASK_ID" > "$DISTRIBUTE_SAVE/task.txt"; sleep 0.05`;
    const { out, tasks } = await runHere(b, { strategy: 'slurm+batching', jobs: 3 });
    assert.equal(tasks.length, 3);
    const byTask = new Map<string, string[]>();
    for (const j of b.jobs) {
      const t = readFileSync(join(out, j.name, 'distribute_save', 'task.txt'), 'utf8').trim();
      byTask.set(t, [...(byTask.get(t) ?? []), j.name]);
    }
    assert.deepEqual([...byTask.values()].map((v) => v.length), [3, 2, 2]);
    for (const names of byTask.values()) {
      for (let i = 1; i < names.length; i++) {
        assert.ok(Date.parse(result(out, names[i - 1]!).end) <= Date.parse(result(out, names[i]!).start), `${names[i - 1]} ended before ${names[i]} began`);
      }
    }
  });

  it('runs python jobs as python3 run.py <cpus> after the build step, which they find in DISTRIBUTE_BUILD', async () => {
    const dir = join(tmp.dir, 'python');
    const runPy = write(dir, 'run.py', 'import json, os, sys\np = json.load(open("input/params.json"))\nbuilt = open(os.path.join(os.environ["DISTRIBUTE_BUILD"], "built.txt")).read()\nopen(os.path.join(os.environ["DISTRIBUTE_SAVE"], "result.txt"), "w").write(f"{p[\'re\'] * 2} {sys.argv[1]} {built}")\n');
    const buildPy = write(dir, 'build.py', 'open("built.txt", "w").write("built")\n');
    const jobs = [100, 200].map((re) => job(`re_${re}`, { file: { path: runPy, alias: 'run.py' }, requiredFiles: [{ path: write(dir, `re_${re}.json`, JSON.stringify({ re })), alias: 'params.json' }], resources: { ...DEFAULT_RESOURCES, cpus: 2 } }));
    const b: BatchSpec = { meta: meta('py'), kind: 'python', initialize: { kind: 'python', buildFile: { path: buildPy, alias: 'build.py' }, requiredFiles: [] }, jobs, slurm: {}, source: { file: join(dir, 'b.yaml'), dir } };
    const { out, tasks, builds } = await runHere(b);
    assert.deepEqual(builds.map((r) => r.status), [0], builds.map((r) => r.stderr).join());
    assert.equal(JSON.parse(readFileSync(join(out, '_distribute', 'build', '_distribute', 'result.json'), 'utf8')).exit_code, 0);
    assert.deepEqual(tasks.map((t) => t.status), [0, 0], tasks.map((t) => t.stderr).join());
    assert.equal(readFileSync(join(out, 're_100', 'distribute_save', 'result.txt'), 'utf8'), '200 2 built');
    assert.equal(readFileSync(join(out, 're_200', 'distribute_save', 'result.txt'), 'utf8'), '400 2 built');
  });

  it('fails the build job, with its logs, when the initialize step fails', async () => {
    const dir = join(tmp.dir, 'badbuild');
    const b = shellBatch(dir, 1);
    b.initialize = { kind: 'shell', command: 'echo broken >&2; exit 4', requiredFiles: [] };
    const { out, builds } = await runHere(b);
    assert.equal(builds[0]!.status, 4);
    assert.match(builds[0]!.stderr, /initialize step failed with status 4/);
    assert.equal(readFileSync(join(out, '_distribute', 'build', '_distribute', 'stderr.log'), 'utf8'), 'broken\n');
  });

  for (const runtime of ['apptainer', 'singularity']) {
    it(`runs apptainer jobs with the compute node's exact argv, through ${runtime} when that is what is installed`, async () => {
      const dir = join(tmp.dir, `container-${runtime}`);
      const bin = join(dir, 'bin');
      const fake = write(bin, runtime, '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > "$PWD/argv"\n');
      chmodSync(fake, 0o755);
      const sif = write(dir, 'solver.sif', 'not really an image');
      const b: BatchSpec = {
        meta: meta('cyl'),
        kind: 'apptainer',
        initialize: { kind: 'apptainer', sif: { path: sif, alias: 'solver.sif' }, requiredFiles: [], requiredMounts: ['/scratch', '/data'] },
        jobs: [job('case_1', { requiredFiles: [{ path: write(dir, 'case.cfg', 'x'), alias: 'case.cfg' }], resources: { ...DEFAULT_RESOURCES, cpus: 3 } })],
        slurm: {},
        source: { file: join(dir, 'b.yaml'), dir },
      };
      const { out, tasks } = await runHere(b, {}, { PATH: `${bin}:/usr/bin:/bin` });
      assert.equal(tasks[0]!.status, 0, tasks[0]!.stderr);
      const argv = readFileSync(join(out, 'case_1', 'argv'), 'utf8').split('\0').slice(0, -1);
      const root = join(out, 'case_1');
      const paths = { root, input: join(root, 'input'), save: join(root, 'distribute_save'), meta: join(root, '_distribute'), build: join(out, '_distribute', 'build') };
      assert.deepEqual([runtime, ...argv], jobArgv('apptainer', b.initialize, b.jobs[0]!, paths, 3, runtime));
      assert.ok(readdirSync(join(root, 'mounts')).sort().join() === '0,1', 'a host folder for each required mount');
    });
  }
});

describe('upload.sh', () => {
  async function upload(cluster: SlurmTranspileOptions['cluster'], env: NodeJS.ProcessEnv = {}) {
    const dir = join(tmp.dir, `upload-${n}`);
    const bin = join(dir, 'bin');
    const log = join(dir, 'calls');
    for (const tool of ['ssh', 'rsync']) chmodSync(write(bin, tool, `#!/bin/sh\n{ printf '${tool}'; for a in "$@"; do printf ' [%s]' "$a"; done; printf ' in %s\\n' "$PWD"; } >> ${log}\n`), 0o755);
    const t = transpileSlurm(shellBatch(dir, 1), { strategy: 'slurm', jobResources: [], extraDirectives: [], setup: [], cluster });
    const out = await writeBundle(t.bundle, join(tmp.dir, `out-${n++}`));
    const r = spawnSync('bash', [join(out, 'upload.sh')], { cwd: tmp.dir, env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });
    const calls = (() => {
      try {
        return readFileSync(log, 'utf8').trim().split('\n');
      } catch {
        return [];
      }
    })();
    return { out, r, calls };
  }

  it('makes the destination and rsyncs the folder to user@address:destination', async () => {
    const { out, r, calls } = await upload({ username: 'alice', address: 'login.hpc.example.org', destination: '/scratch/alice/run_1' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(calls, [
      `ssh [alice@login.hpc.example.org] [mkdir -p -- /scratch/alice/run_1] in ${out}`,
      `rsync [-a] [--info=progress2] [./] [alice@login.hpc.example.org:/scratch/alice/run_1/] in ${out}`,
    ]);
    assert.match(r.stdout, /to submit: ssh alice@login.hpc.example.org 'cd \/scratch\/alice\/run_1 && .\/submit.sh'/);
  });

  it('takes the cluster from the environment, and refuses to run without one', async () => {
    const missing = await upload({});
    assert.equal(missing.r.status, 2);
    assert.match(missing.r.stderr, /no cluster given/);
    assert.deepEqual(missing.calls, []);
    const fromEnv = await upload({}, { DISTRIBUTE_CLUSTER_USERNAME: 'bob', DISTRIBUTE_CLUSTER_ADDRESS: 'hpc', DISTRIBUTE_CLUSTER_DESTINATION: 'runs/x' });
    assert.equal(fromEnv.r.status, 0, fromEnv.r.stderr);
    assert.match(fromEnv.calls[1]!, /^rsync \[-a\] \[--info=progress2\] \[\.\/\] \[bob@hpc:runs\/x\/\]/);
  });
});
