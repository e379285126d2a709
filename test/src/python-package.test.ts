// The Python package in python/: its own unittest suite (which checks every file it writes
// with this CLI's validate), a sweep script written against the original's documented API
// run unchanged whose output validates and runs, the original's own binding script, and
// `pip install --no-build-isolation ./python` (PyPI is not reachable here).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';

const PYTHON = join(REPO_ROOT, 'python');
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');

function python(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  return spawnSync('python3', args, { cwd, env: { ...process.env, PYTHONPATH: PYTHON, ...env }, encoding: 'utf8', timeout: 240_000 });
}

/**
 * A stand-in for `apptainer run --nv --app distribute --bind SRC:/input,SRC:/distribute_save,... IMAGE CPUS`
 * (no container runtime can be installed here): it does what the sweep's image would, with the bound folders.
 */
const APPTAINER = `#!/bin/sh
binds=$6; cpus=$8
input=$(echo "$binds" | tr , '\\n' | grep ':/input$' | cut -d: -f1)
save=$(echo "$binds" | tr , '\\n' | grep ':/distribute_save$' | cut -d: -f1)
cp "$input/config.json" "$save/config.json" && cp "$input/mesh.dat" "$save/mesh.dat" && echo "$cpus" > "$save/cpus"
`;

describe('the python package distribute_compute_config', () => {
  let t: ReturnType<typeof tempDir>;
  before(() => (t = tempDir()));
  after(() => t.cleanup());

  it('passes its unittest suite, every file it writes validated by this CLI', () => {
    const r = python(['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], PYTHON, { DISTRIBUTE_CLI: CLI, PYTHONDONTWRITEBYTECODE: '1' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /^OK$/m);
  });

  it('runs the original\'s binding script unchanged and writes what the original documented', async () => {
    const dir = join(t.dir, 'bindings');
    mkdirSync(dir);
    const r = python([join(FIXTURES, 'original', 'pybind', 'validate_bindings.py')], dir);
    assert.equal(r.status, 0, r.stderr);
    const ours = await runCli(['validate', '--json', '--no-files', 'distribute-jobs.yaml'], { cwd: dir });
    assert.equal(ours.code, 0, ours.stderr);
    // beside ours, so relative paths resolve alike
    copyFileSync(join(FIXTURES, 'original', 'pybind', 'example-output.yaml'), join(dir, 'documented.yaml'));
    const theirs = await runCli(['validate', '--json', '--no-files', 'documented.yaml'], { cwd: dir });
    assert.equal(theirs.code, 0, theirs.stderr);
    const shape = (out: string) => {
      const b = JSON.parse(out).batch;
      delete b.source;
      return b;
    };
    assert.deepEqual(shape(ours.stdout), shape(theirs.stdout));
  });

  it('runs a sweep script written against the original\'s API unchanged; its file validates and runs', async () => {
    const dir = join(t.dir, 'sweep');
    mkdirSync(dir);
    copyFileSync(join(FIXTURES, 'sweep', 'sweep.py'), join(dir, 'sweep.py'));
    writeFileSync(join(dir, 'solver.sif'), 'an image\n');
    writeFileSync(join(dir, 'mesh.dat'), 'the mesh\n');
    const r = python(['sweep.py'], dir);
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(join(dir, 'distribute-jobs.yaml'), 'utf8');
    assert.match(text, /^ {6}slurm: ~$/m);
    assert.match(text, /^ {2}job_name: ~$/m);
    const v = await runCli(['validate'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^jobs: +3 \(re_100, re_200, re_400\)/m);

    const bin = join(t.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'apptainer'), APPTAINER);
    chmodSync(join(bin, 'apptainer'), 0o755);
    const run = await runCli(['run', '--jobs', '2', '--save-dir', 'results', '--clean-save'], { cwd: dir, env: { PATH: `${bin}:${process.env.PATH}` }, timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    for (const re of [100, 200, 400]) {
      const out = join(dir, 'results', 're_sweep', `re_${re}`);
      assert.deepEqual(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), { reynolds: re });
      assert.equal(readFileSync(join(out, 'mesh.dat'), 'utf8'), 'the mesh\n');
      assert.equal(readFileSync(join(out, 'cpus'), 'utf8').trim(), '1');
    }
  });

  it('run --clean-save removes the earlier results of the batch, and only those', async () => {
    const dir = join(t.dir, 'sweep');
    writeFileSync(join(dir, 'results', 're_sweep', 'stale.txt'), 'old\n');
    writeFileSync(join(dir, 'results', 'other.txt'), 'keep\n');
    const bin = join(t.dir, 'bin');
    const run = await runCli(['run', '-s', 'results', '--clean-save'], { cwd: dir, env: { PATH: `${bin}:${process.env.PATH}` }, timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.throws(() => readFileSync(join(dir, 'results', 're_sweep', 'stale.txt')));
    assert.equal(readFileSync(join(dir, 'results', 'other.txt'), 'utf8'), 'keep\n');
    assert.equal(readFileSync(join(dir, 'results', 're_sweep', 're_100', 'cpus'), 'utf8').trim(), '1');
  });

  for (const isolation of [[], ['--no-build-isolation']]) {
  it(`installs with pip install ${isolation.join(' ')} ./python, without a package index, and imports from there`, () => {
    const target = join(t.dir, `site${isolation.length}`);
    const pip = spawnSync('python3', ['-m', 'pip', 'install', ...isolation, '--no-deps', '--no-index', '--no-cache-dir', '--target', target, PYTHON], {
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, TMPDIR: t.dir },
    });
    assert.equal(pip.status, 0, pip.stdout + pip.stderr);
    const r = spawnSync('python3', ['-c', 'import distribute_compute_config as d; print(d.__file__); print(d.to_yaml(d.shell_config(d.metadata("n", "b", []), d.shell_description(d.shell_initialize(), [d.shell_job("a", "true")]))))'], {
      cwd: t.dir,
      env: { ...process.env, PYTHONPATH: target },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.startsWith(target), r.stdout);
    assert.match(r.stdout, /^shell:\n {2}initialize:\n {4}command: ~$/m);
  });
  }
});
