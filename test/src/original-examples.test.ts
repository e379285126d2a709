// The original distribute's own example and template files, copied unchanged into
// test/fixtures/original/, through the CLI: every one validates, and its two examples run.
// Their build and job scripts cloned a solver from GitHub and plotted with pandas, neither
// possible here, so the scripts beside the copied YAML are this test's; the YAML is theirs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';

const ORIGINAL = join(REPO_ROOT, 'test', 'fixtures', 'original');

describe("the original distribute's examples through the CLI", () => {
  let t: ReturnType<typeof tempDir>;
  before(() => (t = tempDir()));
  after(() => t.cleanup());

  for (const rel of [
    'static/example-jobs-python.yaml',
    'static/example-jobs-apptainer.yaml',
    'tests/apptainer_local/distribute-jobs.yaml',
    'tests/cancel_job/distribute-jobs.yaml',
    'docs/commands-template-python.yaml',
    'docs/commands-template-apptainer.yaml',
    'docs/apptainer-input-files.yaml',
    'docs/apptainer-running-locally.yaml',
    'pybind/example-output.yaml',
  ]) {
    it(`validates ${rel}`, async () => {
      // their paths name files on their authors' machines: the shape is checked, not the files
      const r = await runCli(['validate', '--no-files', join(ORIGINAL, rel)]);
      assert.equal(r.code, 0, r.stderr);
    });
  }

  it('validates and runs examples/python/distribute-jobs.yaml as it is', async () => {
    const dir = join(t.dir, 'python');
    mkdirSync(dir);
    for (const f of ['distribute-jobs.yaml', 'dataset_always.csv', 'dataset_sometimes.csv']) copyFileSync(join(ORIGINAL, 'examples', 'python', f), join(dir, f));
    writeFileSync(join(dir, 'build.py'), 'with open("built.txt", "w") as f:\n    f.write("built")\n');
    writeFileSync(
      join(dir, 'run.py'),
      [
        'import os, sys, shutil',
        'shutil.copy("built.txt", "distribute_save/built.txt")',
        'with open("distribute_save/listing.txt", "w") as f:',
        '    f.write(" ".join(sorted(os.listdir("input"))) + "\\n" + sys.argv[1] + "\\n")',
        '',
      ].join('\n'),
    );
    const v = await runCli(['validate'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^jobs: +2 \(job_1, job_2\)/m);
    const r = await runCli(['run', '--save-dir', 'out'], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const listing = (job: string) => readFileSync(join(dir, 'out', 'example_build_batch', job, 'listing.txt'), 'utf8');
    assert.equal(listing('job_1'), 'dataset.csv dataset_always.csv\n1\n');
    assert.equal(listing('job_2'), 'dataset_always.csv\n1\n');
    assert.equal(readFileSync(join(dir, 'out', 'example_build_batch', 'job_1', 'built.txt'), 'utf8'), 'built');
  });

  it('validates and runs examples/apptainer/distribute-jobs.yaml as it is (apptainer stood in for)', async () => {
    const dir = join(t.dir, 'apptainer');
    mkdirSync(dir);
    for (const f of ['distribute-jobs.yaml', 'dataset_always.csv', 'dataset_sometimes.csv']) copyFileSync(join(ORIGINAL, 'examples', 'apptainer', f), join(dir, f));
    writeFileSync(join(dir, 'build.sif'), 'image\n');
    const bin = join(t.dir, 'bin');
    mkdirSync(bin);
    // apptainer run --nv --app distribute --bind SRC:/input,SRC:/distribute_save IMAGE CPUS
    writeFileSync(join(bin, 'apptainer'), '#!/bin/sh\nin=$(echo "$6" | tr , "\\n" | grep ":/input$" | cut -d: -f1)\nsave=$(echo "$6" | tr , "\\n" | grep ":/distribute_save$" | cut -d: -f1)\nls "$in" > "$save/inputs.txt"\n');
    chmodSync(join(bin, 'apptainer'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const v = await runCli(['validate'], { cwd: dir, env });
    assert.equal(v.code, 0, v.stderr);
    const r = await runCli(['run', '--save-dir', 'out'], { cwd: dir, env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(join(dir, 'out', 'example_build_batch_apptainer', 'job_1', 'inputs.txt'), 'utf8'), 'dataset.csv\ndataset_always.csv\n');
  });
});
