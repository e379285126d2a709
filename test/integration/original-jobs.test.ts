// A python batch as the original distribute ran it: the build step compiles ./solver, and
// each job runs ./solver with argv[1] cores. Unchanged but for `resources: {cpus: all}`, it
// runs as it did there: each job alone on its node, told the node's cpus, with the build's
// outputs beside it. Without that line, validate and add say what changed, once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';

const BUILD = `import os, stat
with open("solver", "w") as f:
    f.write("#!/bin/sh\\necho cores=$1\\ndate +%s%N > distribute_save/start\\nsleep 1\\ndate +%s%N > distribute_save/end\\necho $1 > distribute_save/cores\\n")
os.chmod("solver", os.stat("solver").st_mode | stat.S_IEXEC)
with open("mesh.dat", "w") as f:
    f.write("mesh from the build\\n")
`;

const RUN = `import subprocess, sys, shutil
shutil.copy("mesh.dat", "distribute_save/mesh.dat")
subprocess.run(["./solver", sys.argv[1]], check=True)
`;

function batchYaml(extraMeta: string): string {
  return `meta:
  batch_name: solver_sweep
  namespace: cfd
  capabilities: [python3]
  matrix: ~
${extraMeta}python:
  initialize:
    build_file:
      path: build.py
    required_files: []
  jobs:
    - name: case1
      file:
        path: run.py
    - name: case2
      file:
        path: run.py
`;
}

const NOTE = /^note: distribute-jobs\.yaml gives no resources: .*argv\[1\] = the node's cpus.*\n {2}resources: \{cpus: all\}$/m;

describe('a python batch of the original that builds ./solver and runs it with argv[1] cores', () => {
  let c: TestCluster;
  let folder: string;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'ws1', capabilities: ['python3'], cpus: 3 }] });
    folder = join(c.root, 'project');
    mkdirSync(folder);
    writeFileSync(join(folder, 'build.py'), BUILD);
    writeFileSync(join(folder, 'run.py'), RUN);
  });
  after(async () => c?.stop());

  it('validate notes, once, what changed and the line that keeps the old behaviour', async () => {
    writeFileSync(join(folder, 'distribute-jobs.yaml'), batchYaml(''));
    const r = await runCli(['validate'], { cwd: folder });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, NOTE);
    assert.equal(r.stderr.match(/note:/g)?.length, 1);
    writeFileSync(join(folder, 'distribute-jobs.yaml'), batchYaml('  resources: {cpus: all}\n'));
    const quiet = await runCli(['validate'], { cwd: folder });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
  });

  it('with resources: {cpus: all} each job runs alone on the node, told its 3 cpus, ./solver beside it', async () => {
    writeFileSync(join(folder, 'distribute-jobs.yaml'), batchYaml('  resources: {cpus: all}\n'));
    const add = await c.cli(['add'], { cwd: folder });
    assert.equal(add.code, 0, add.stderr);
    assert.doesNotMatch(add.stderr, /note:/);
    await c.head.events('result_archived', 2, () => true, 60_000);
    const save = join(c.root, 'pulled');
    const pull = await c.cli(['pull', '--save-dir', save], { cwd: folder });
    assert.equal(pull.code, 0, pull.stderr);
    const read = (job: string, f: string) => readFileSync(join(save, 'solver_sweep', job, f), 'utf8').trim();
    for (const job of ['case1', 'case2']) {
      assert.equal(read(job, 'cores'), '3');
      assert.equal(read(job, 'mesh.dat'), 'mesh from the build');
      assert.match(read(job, '_distribute/stdout.log'), /^cores=3$/m);
    }
    // alone: one ended before the other started
    const [a, b] = ['case1', 'case2'].map((j) => [BigInt(read(j, 'start')), BigInt(read(j, 'end'))] as const);
    assert.ok(a![1] <= b![0] || b![1] <= a![0], `overlap: ${a} ${b}`);
  });

  it('without it, add says the same note and each job is told 1 cpu', async () => {
    writeFileSync(join(folder, 'distribute-jobs.yaml'), batchYaml('').replace('solver_sweep', 'solver_plain'));
    const add = await c.cli(['add'], { cwd: folder });
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stderr.replace(/^warning:.*\n/gm, ''), NOTE);
    await c.head.events('result_archived', 4, () => true, 60_000);
    const save = join(c.root, 'pulled-plain');
    assert.equal((await c.cli(['pull', '--save-dir', save], { cwd: folder })).code, 0);
    assert.equal(readFileSync(join(save, 'solver_plain', 'case1', 'cores'), 'utf8').trim(), '1');
  });

  it('runs the same way with `distribute run`: argv[1] = the run\'s slots, ./solver beside the job', async () => {
    writeFileSync(join(folder, 'distribute-jobs.yaml'), batchYaml('  resources: {cpus: all}\n'));
    const save = join(c.root, 'local');
    const r = await runCli(['run', '--jobs', '2', '--save-dir', save], { cwd: folder, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const job of ['case1', 'case2']) assert.equal(readFileSync(join(save, 'solver_sweep', job, 'cores'), 'utf8').trim(), '2');
  });
});
