import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBatch, formatSpecErrors } from '../../shared/spec/parse.js';
import type { BatchSpec } from '../../shared/spec/types.js';
import { REPO_ROOT } from '../helpers/cli.js';

const ORIGINAL = join(REPO_ROOT, 'test', 'fixtures', 'original');

/** A fixture of the original parsed as written (its absolute paths name files nobody has, so files are not looked for). */
function parseOriginal(rel: string): BatchSpec {
  const file = join(ORIGINAL, rel);
  const r = parseBatch(readFileSync(file, 'utf8'), { file, checkFiles: false });
  if (!r.ok) assert.fail(`${rel} refused:\n${formatSpecErrors(r.errors)}`);
  return r.batch;
}

function parseText(text: string) {
  return parseBatch(text, { file: 'b.yaml', checkFiles: false });
}

describe("the original distribute's files", () => {
  for (const rel of [
    'static/example-jobs-python.yaml',
    'static/example-jobs-apptainer.yaml',
    'examples/python/distribute-jobs.yaml',
    'examples/apptainer/distribute-jobs.yaml',
    'tests/apptainer_local/distribute-jobs.yaml',
    'tests/cancel_job/distribute-jobs.yaml',
    'docs/commands-template-python.yaml',
    'docs/commands-template-apptainer.yaml',
    'docs/apptainer-input-files.yaml',
    'docs/apptainer-running-locally.yaml',
    'pybind/example-output.yaml',
  ]) {
    it(`accepts ${rel}`, () => {
      parseOriginal(rel);
    });
  }

  it('reads static/example-jobs-python.yaml with its meaning: aliases, default aliases, an omitted required_files', () => {
    const b = parseOriginal('static/example-jobs-python.yaml');
    assert.equal(b.kind, 'python');
    assert.equal(b.meta.namespace, 'brooks-openfoam');
    assert.equal(b.meta.matrix, '@karlik:matrix.org');
    assert.deepEqual(b.meta.capabilities, ['gpu', 'fortran', 'fftw']);
    assert.equal(b.initialize.kind, 'python');
    if (b.initialize.kind !== 'python') return;
    assert.equal(b.initialize.buildFile?.alias, 'some_python_file.py');
    assert.deepEqual(b.initialize.requiredFiles.map((f) => f.alias), ['renamed_library.py', 'random_file.txt']);
    assert.deepEqual(b.jobs.map((j) => [j.name, j.file?.alias, j.requiredFiles.map((f) => f.alias)]), [
      ['example_job_name', 'job_one.py', ['input_file.json']],
      ['example_job_name_2', 'job_two.py', []],
      ['example_job_name_3', 'job_three.py', []],
    ]);
  });

  it('reads `alias: ~` as the base name and `matrix: ~` as nobody (the templates of its documentation)', () => {
    const b = parseOriginal('docs/commands-template-apptainer.yaml');
    assert.equal(b.meta.matrix, null);
    assert.deepEqual(b.initialize.requiredFiles.map((f) => f.alias), ['optional_alias.txt', '2.json', 'utils_file.py']);
    assert.deepEqual(b.jobs[0]!.requiredFiles.map((f) => f.alias), ['job_configuration_file.json', 'input.json']);
    if (b.initialize.kind === 'apptainer') assert.deepEqual(b.initialize.requiredMounts, ['/path/inside/container/to/mount']);
  });

  it('reads what its Python package writes: every unset option null, slurm blocks merged field by field', () => {
    const b = parseOriginal('pybind/example-output.yaml');
    assert.equal(b.initialize.kind, 'apptainer');
    if (b.initialize.kind === 'apptainer') assert.equal(b.initialize.sif.alias, 'container.sif');
    assert.deepEqual(b.slurm, { output: 'output.txt', nodes: 1, ntasks: 4, cpus_per_task: 1, mem_per_cpu: '10M', hint: 'nomultithread', time: '00:30:00', partition: 'cpu-core-0', account: 'my_account' });
    assert.deepEqual(b.jobs[0]!.slurm, b.slurm);
  });

  it('merges a job slurm block over the batch one (tests/apptainer_local)', () => {
    const b = parseOriginal('tests/apptainer_local/distribute-jobs.yaml');
    assert.equal(b.jobs[0]!.slurm.job_name, 'first_job');
    assert.equal(b.jobs[0]!.slurm.mem_per_cpu, '10M');
    assert.equal(b.jobs[1]!.slurm.mem_per_cpu, '20M');
    assert.equal(b.jobs[1]!.slurm.time, '00:05:00');
  });

  it('takes `~` for every optional value, at any depth', () => {
    const r = parseText(
      'meta:\n  batch_name: b\n  namespace: n\n  matrix: ~\n  capabilities: ~\n  resources: ~\n' +
        'python:\n  initialize: ~\n  jobs:\n    - name: a\n      file: {path: run.py, alias: ~}\n      required_files: ~\n      slurm: ~\n      resources: {cpus: ~, memory: ~}\n' +
        'slurm:\n  job_name: ~\n  nodes: ~\n  time: "1:00:00"\n',
    );
    assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
    assert.equal(r.batch.jobs[0]!.file?.alias, 'run.py');
    assert.deepEqual(r.batch.jobs[0]!.resources, { cpus: 1, memory: null, gpus: 0, time: null });
    assert.deepEqual(r.batch.slurm, { time: '1:00:00' });
  });

  it('still refuses `~` for a required value, and an unknown key even when it is `~`', () => {
    const r = parseText('meta:\n  batch_name: b\n  namespace: ~\nshell:\n  jobs:\n    - name: a\n      command: ~\n      colour: ~\n');
    assert.equal(r.ok, false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.errors.map((e) => [e.path, e.message]));
    assert.match(byPath['meta.namespace'] ?? '', /null/);
    assert.match(byPath['shell.jobs[0].command'] ?? '', /null/);
    assert.match(byPath['shell.jobs[0].colour'] ?? '', /unknown key "colour"/);
  });

  it('reads `singularity:` as `apptainer:` and names it as written in problems', () => {
    const ok = parseText('meta: {batch_name: b, namespace: n}\nsingularity:\n  initialize: {sif: s.sif}\n  jobs: [{name: a}]\n');
    assert.ok(ok.ok);
    assert.equal(ok.batch.kind, 'apptainer');
    const bad = parseText('meta: {batch_name: b, namespace: n}\nsingularity:\n  initialize: {sif: s.sif}\n  jobs: [{name: a, fil: x}]\n');
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.deepEqual(bad.errors.map((e) => [e.line, e.path]), [[4, 'singularity.jobs[0].fil']]);
  });

  it('takes the document markers --- and ...', () => {
    const r = parseText('---\nmeta: {batch_name: b, namespace: n}\nshell:\n  jobs: [{name: a, command: "true"}]\n...\n');
    assert.ok(r.ok);
  });
});
