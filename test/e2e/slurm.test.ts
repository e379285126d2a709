// End to end on a real single-node Slurm (Debian's slurm-wlm and munge, brought up by
// test/e2e/slurm/up.sh): batches transpiled, submitted with --submit --wait through the built
// CLI, and their outputs compared with `distribute run` of the same batch.
// In CI (CI=true) this must run; elsewhere it is skipped, loudly, where Slurm cannot run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runCli, tempDir } from '../helpers/cli.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './slurm/cluster.js';

const unavailable = slurmUnavailable();
if (unavailable && process.env.CI === 'true') {
  throw new Error(`CI=true but Slurm cannot run here: ${unavailable}; the Slurm end-to-end test must not be skipped in CI`);
}
if (unavailable) {
  process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING the Slurm end-to-end test: ${unavailable}\n${'!'.repeat(78)}\n\n`);
}

let tmp: { dir: string; cleanup: () => void };
let slurm: SlurmCluster | null = null;

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
}

const SHELL = `meta: {batch_name: e2e_shell, namespace: e2e}
shell:
  initialize:
    command: echo "built once" > built.txt
    required_files: [{path: shared.txt}]
  jobs:
    - name: job_{i}
      parameters: {i: [${Array.from({ length: 20 }, (_, i) => i + 1).join(', ')}]}
      command: >-
        mkdir -p "$DISTRIBUTE_SAVE/sub" &&
        cat "$DISTRIBUTE_INPUT/shared.txt" "$DISTRIBUTE_BUILD/built.txt" > "$DISTRIBUTE_SAVE/sub/in.txt" &&
        echo "$DISTRIBUTE_JOB_NAME {i} $(( {i} * {i} )) cpus=$DISTRIBUTE_CPUS $DISTRIBUTE_NAMESPACE/$DISTRIBUTE_BATCH_NAME attempt=$DISTRIBUTE_ATTEMPT" > "$DISTRIBUTE_SAVE/out.txt" &&
        echo "task \${SLURM_ARRAY_TASK_ID:-none}" &&
        test {i} -ne 7 || exit 3
`;

const PYTHON = `meta: {batch_name: e2e_python, namespace: e2e}
python:
  initialize:
    build_file: build.py
  jobs:
    - name: re_{re}
      parameters: {re: [100, 200, 300]}
      file: run.py
      required_files: [{path: "re_{re}.json", alias: params.json}]
      resources: {cpus: 1, memory: 256M, time: 5m}
`;
const RUN_PY = `import json, os, sys
params = json.load(open(os.path.join(os.environ["DISTRIBUTE_INPUT"], "params.json")))
table = open(os.path.join(os.environ["DISTRIBUTE_BUILD"], "table.txt")).read()
save = os.environ["DISTRIBUTE_SAVE"]
os.makedirs(os.path.join(save, "fields"), exist_ok=True)
with open(os.path.join(save, "fields", "u.csv"), "w") as f:
    for x in range(5):
        f.write(f"{x},{params['re'] * x}\\n")
json.dump({"re": params["re"], "cpus": sys.argv[1], "table": table, "cwd_has_run_py": os.path.exists("run.py")}, open(os.path.join(save, "summary.json"), "w"), sort_keys=True)
print("done", params["re"])
`;

/** Every file under `dir` but `_distribute/`, with its content. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (!(d === dir && name === '_distribute')) walk(p);
      } else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

function result(jobDir: string): { exit_code: number | null; signal: string | null; attempt: number; node: string } {
  return JSON.parse(readFileSync(join(jobDir, '_distribute', 'result.json'), 'utf8'));
}

/**
 * Each job's saved files and exit status, Slurm's `<out>/<job>/distribute_save/` against run's
 * `<save>/<batch>/<job>/` (the pull layout).
 */
function assertSameOutputs(slurmOut: string, runSave: string, batch: string, jobs: string[]): void {
  for (const job of jobs) {
    const fromSlurm = tree(join(slurmOut, job, 'distribute_save'));
    const fromRun = tree(join(runSave, batch, job));
    assert.ok(fromRun.size > 0, `distribute run saved nothing for ${job}`);
    assert.deepEqual(fromSlurm, fromRun, `${job}: Slurm's outputs differ from distribute run's`);
    const [s, r] = [result(join(slurmOut, job)), result(join(runSave, batch, job))];
    assert.deepEqual([s.exit_code, s.signal, s.attempt], [r.exit_code, r.signal, r.attempt], `${job}: result.json`);
  }
}

async function distribute(args: string[]) {
  return runCli(args, { env: { SLURM_CONF: slurm!.conf }, timeoutMs: 240_000 });
}

describe('Slurm end to end', { skip: unavailable ? `Slurm unavailable: ${unavailable}` : false }, () => {
  let shellYaml: string;
  let pyYaml: string;
  const jobs20 = Array.from({ length: 20 }, (_, i) => `job_${i + 1}`);

  before(async () => {
    tmp = tempDir('distribute-e2e-slurm-');
    const shellDir = join(tmp.dir, 'shell');
    const pyDir = join(tmp.dir, 'python');
    shellYaml = join(shellDir, 'batch.yaml');
    pyYaml = join(pyDir, 'batch.yaml');
    writeFiles(shellDir, { 'batch.yaml': SHELL, 'shared.txt': 'shared by every job\n' });
    writeFiles(pyDir, {
      'batch.yaml': PYTHON,
      'build.py': 'open("table.txt", "w").write("table from the build step")\n',
      'run.py': RUN_PY,
      're_100.json': '{"re": 100}',
      're_200.json': '{"re": 200}',
      're_300.json': '{"re": 300}',
    });
    slurm = await startSlurm(join(tmp.dir, 'slurm'));
  });

  after(async () => {
    await slurm?.stop();
    tmp?.cleanup();
  });

  it('runs a 20-job shell batch as a job array, outputs equal to distribute run', async () => {
    const out = join(tmp.dir, 'shell-slurm');
    const s = await distribute(['slurm', shellYaml, '--output', out, '--submit', '--wait', '--poll', '1s']);
    assert.equal(s.code, 1, `job_7 exits 3, so --wait reports a failure\n${s.stdout}\n${s.stderr}`);
    assert.match(s.stdout, /20 jobs: 19 done, 1 failed, 0 did not run/);
    assert.match(s.stdout, /job_7: exit code 3/);
    assert.match(s.stderr, /slurm: 20\/20 jobs finished \(1 failed\)/);
    const script = readFileSync(join(out, '_distribute/slurm/array-c1.sh'), 'utf8');
    assert.match(script, /^#SBATCH --array=0-19$/m);

    const save = join(tmp.dir, 'shell-run');
    const r = await distribute(['run', shellYaml, '--save-dir', save]);
    assert.equal(r.code, 1, r.stderr);
    assertSameOutputs(out, save, 'e2e_shell', jobs20);
    assert.equal(readFileSync(join(out, 'job_3/distribute_save/out.txt'), 'utf8'), 'job_3 3 9 cpus=1 e2e/e2e_shell attempt=1\n');
    assert.equal(readFileSync(join(out, 'job_3/distribute_save/sub/in.txt'), 'utf8'), 'shared by every job\nbuilt once\n');
    const tasks = new Set(jobs20.map((j) => readFileSync(join(out, j, '_distribute/stdout.log'), 'utf8').trim()));
    assert.equal(tasks.size, 20, 'each job ran in an array task of its own');
    assert.equal(result(join(out, 'job_1')).node, result(join(save, 'e2e_shell', 'job_1')).node);
  });

  it('runs a python batch with its build step, outputs equal to distribute run', async () => {
    const out = join(tmp.dir, 'python-slurm');
    const s = await distribute(['slurm', pyYaml, '--output', out, '--submit', '--wait', '--poll', '1s', '--json']);
    assert.equal(s.code, 0, `${s.stdout}\n${s.stderr}`);
    const info = JSON.parse(s.stdout);
    assert.equal(info.slurm_jobs.length, 2, 'the build step and one array');
    assert.deepEqual(info.jobs_outcome.map((o: { state: string }) => o.state), ['done', 'done', 'done']);
    assert.match(readFileSync(join(out, '_distribute/slurm/array-c1-m256M-t5m.sh'), 'utf8'), /^#SBATCH --mem=256M$/m);

    const save = join(tmp.dir, 'python-run');
    const r = await distribute(['run', pyYaml, '--save-dir', save]);
    assert.equal(r.code, 0, r.stderr);
    assertSameOutputs(out, save, 'e2e_python', ['re_100', 're_200', 're_300']);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 're_200/distribute_save/summary.json'), 'utf8')), { re: 200, cpus: '1', table: 'table from the build step', cwd_has_run_py: true });
  });

  it('slurm+batching --jobs 3 runs the 20 jobs as 3 array tasks', async () => {
    const out = join(tmp.dir, 'shell-batching');
    const s = await distribute(['slurm', shellYaml, '--output', out, '--strategy', 'slurm+batching', '--jobs', '3', '--submit', '--wait', '--poll', '1s', '--json']);
    assert.equal(s.code, 1, `${s.stdout}\n${s.stderr}`);
    const info = JSON.parse(s.stdout);
    assert.deepEqual(info.arrays.map((a: { tasks: number; jobs: number }) => [a.tasks, a.jobs]), [[3, 20]]);
    const taskOf = jobs20.map((j) => readFileSync(join(out, j, '_distribute/stdout.log'), 'utf8').trim());
    assert.deepEqual([...new Set(taskOf)].sort(), ['task 0', 'task 1', 'task 2']);
    assert.deepEqual(['task 0', 'task 1', 'task 2'].map((t) => taskOf.filter((x) => x === t).length), [7, 7, 6]);
    const arrayId = info.slurm_jobs.at(-1);
    const logs = readdirSync(join(out, '_distribute/logs')).filter((f) => f.startsWith(`e2e_shell-${arrayId}_`));
    assert.equal(logs.length, 3, `one Slurm log per array task: ${logs.join(', ')}`);
    assertSameOutputs(out, join(tmp.dir, 'shell-run'), 'e2e_shell', jobs20);
  });

  it('refuses a bad --job-resources with exit 2 and submits nothing', async () => {
    const out = join(tmp.dir, 'bad');
    const r = await distribute(['slurm', shellYaml, '--output', out, '--job-resources', 'mem=lots,partitions=debug', '--submit', '--wait']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /mem: "lots" is not a size/);
    assert.match(r.stderr, /unknown key "partitions"; allowed keys: account, /);
    assert.ok(!existsSync(out));
  });
});
