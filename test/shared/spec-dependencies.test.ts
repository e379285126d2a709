import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIn, yaml } from './spec-fixture.js';
import { formatSpecErrors } from '../../shared/spec/parse.js';
import { FINALIZE_JOB } from '../../shared/spec/types.js';
import { resolveDependencies } from '../../shared/spec/dependencies.js';
import { batch } from '../../src/index.js';

const head = `meta: {batch_name: b, namespace: ns}\nshell:\n  jobs:\n`;

function errorsOf(text: string): string {
  const r = parseIn(text);
  assert.equal(r.ok, false, 'the batch is refused');
  return r.ok ? '' : formatSpecErrors(r.errors);
}

describe('after: between jobs of a batch', () => {
  it('resolves names, globs and placeholders filled from the parameters', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - {name: "mesh_{m}", command: "true", parameters: {m: [a, b]}}
          - name: solve_{m}_{re}
            parameters: {m: [a, b], re: [1, 2]}
            after: ["mesh_{m}"]
            command: "true"
          - {name: plot, command: "true", after: ["solve_*", mesh_a]}
    `));
    assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
    const after = Object.fromEntries(r.batch.jobs.map((j) => [j.name, j.after]));
    assert.equal(after.mesh_a, undefined);
    assert.deepEqual(after.solve_b_2, ['mesh_b']);
    assert.deepEqual(after.plot, ['solve_a_1', 'solve_a_2', 'solve_b_1', 'solve_b_2', 'mesh_a']);
    assert.equal(r.batch.finalize, undefined);
  });

  it('refuses a name that matches no job, at its line and column', () => {
    const out = errorsOf(`${head}    - {name: mesh, command: "true"}\n    - name: solve\n      command: "true"\n      after: [msh]\n`);
    assert.match(out, /batch\.yaml:7:15: shell\.jobs\[1\]\.after\[0\]: no job of this batch is named "msh"/);
  });

  it('refuses a glob that matches no other job', () => {
    const out = errorsOf(`${head}    - {name: a_1, command: "true", after: ["a_*"]}\n`);
    assert.match(out, /batch\.yaml:4:44: shell\.jobs\[0\]\.after\[0\]: "a_\*" matches no other job/);
  });

  it('refuses a cycle and names the jobs in it', () => {
    const out = errorsOf(`${head}    - {name: a, command: "true", after: [c]}\n    - {name: b, command: "true", after: [a]}\n    - {name: c, command: "true", after: [b]}\n`);
    assert.match(out, /batch\.yaml:4:\d+: shell\.jobs\[0\]\.after\[0\]: jobs wait for each other in a cycle: a -> c -> b -> a/);
    assert.equal(out.split('\n').length, 1, 'one cycle, one error');
  });

  it('refuses a job that waits for itself', () => {
    assert.match(errorsOf(`${head}    - {name: a, command: "true", after: [a]}\n`), /cycle: a -> a/);
  });

  it('finds a cycle at the end of a 100,000-job chain without overflowing the stack', () => {
    const names = Array.from({ length: 100_000 }, (_, i) => `j${i}`);
    const jobs = names.map((name, i) => ({ name, origin: ['shell', 'jobs', i], set: null, afterPatterns: [names[(i + 1) % names.length]!] }));
    const problems: { message: string }[] = [];
    resolveDependencies(jobs, problems as never);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /^jobs wait for each other in a cycle: j0 -> j1 -> j2 /);
  });
});

describe('finalize: at the top level', () => {
  it('is a job of the batch kind named _finalize, with the batch defaults', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns, resources: {time: 5m}}
      shell:
        jobs: [{name: a, command: "true"}]
      finalize:
        command: cat input/results/a/x
        resources: {cpus: 2}
    `));
    assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
    assert.equal(r.batch.finalize?.name, FINALIZE_JOB);
    assert.equal(r.batch.finalize?.command, 'cat input/results/a/x');
    assert.deepEqual(r.batch.finalize?.resources, { cpus: 2, memory: null, gpus: 0, time: 300 });
    assert.equal(r.batch.jobs.length, 1, 'the finalize step is not one of the jobs');
  });

  it('refuses a name, after:, unknown keys and a missing command, each at its line', () => {
    const out = errorsOf(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: [{name: a, command: "true"}]
      finalize:
        name: last
        after: [a]
    `));
    assert.match(out, /batch\.yaml:5:3: finalize\.name: unknown key "name"/);
    assert.match(out, /batch\.yaml:6:3: finalize\.after: unknown key "after"/);
    assert.match(out, /batch\.yaml:4:1: finalize\.command: is required/);
  });

  it('keeps the alias results free for the batch results', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: [{name: a, command: "true"}]
      finalize:
        command: "true"
        required_files: [{path: r.txt, alias: results}]
    `), { 'r.txt': 'x' });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : formatSpecErrors(r.errors), /finalize\.required_files\[0\]: the alias "results" is taken/);
  });
});

describe('the TypeScript API', () => {
  it('writes after: and finalize: that validate as the YAML does', () => {
    const b = batch({ kind: 'shell', namespace: 'ns', name: 'b' })
      .job({ name: 'mesh', command: 'true' })
      .job({ name: 'solve', command: 'true', after: ['mesh'] })
      .finalize({ command: 'ls input/results', resources: { cpus: 1 } });
    const doc = b.toObject() as { shell: { jobs: { after?: string[] }[] }; finalize: { command: string } };
    assert.deepEqual(doc.shell.jobs[1]!.after, ['mesh']);
    assert.equal(doc.finalize.command, 'ls input/results');
    const spec = b.validate('/tmp/b.yaml', { checkFiles: false });
    assert.deepEqual(spec.jobs[1]!.after, ['mesh']);
    assert.equal(spec.finalize?.name, FINALIZE_JOB);
  });
});
