import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compileTemplate, fillPlaceholders, parameterSets, MAX_EXPANDED_JOBS } from '../../shared/spec/expand.js';
import { normalizeBatch } from '../../shared/spec/normalize.js';
import type { Problem } from '../../shared/spec/issues.js';
import { parseIn, yaml } from './spec-fixture.js';

describe('parameter sets', () => {
  it('makes the product, first parameter varying slowest', () => {
    const r = parameterSets({ re: [100, 200], mesh: ['a', 'b', 'c'] });
    assert.ok(r.ok);
    assert.deepEqual(r.sets.map((s) => `${s.re}/${s.mesh}`), ['100/a', '100/b', '100/c', '200/a', '200/b', '200/c']);
    const three = parameterSets({ a: [1, 2], b: ['x'], c: [true, false] });
    assert.ok(three.ok);
    assert.deepEqual(three.sets, [{ a: '1', b: 'x', c: 'true' }, { a: '1', b: 'x', c: 'false' }, { a: '2', b: 'x', c: 'true' }, { a: '2', b: 'x', c: 'false' }]);
  });

  it('pairs the lists in zip mode', () => {
    const r = parameterSets({ re: [100, 200], mesh: ['a', 'b'], fine: [true, false] }, 'zip');
    assert.ok(r.ok);
    assert.deepEqual(r.sets, [{ re: '100', mesh: 'a', fine: 'true' }, { re: '200', mesh: 'b', fine: 'false' }]);
  });

  it('refuses a product beyond the job limit', () => {
    const big = Array.from({ length: 1000 }, (_, i) => i);
    const r = parameterSets({ a: big, b: big });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', new RegExp(`1000000 jobs; at most ${MAX_EXPANDED_JOBS}`));
    const long = Array.from({ length: MAX_EXPANDED_JOBS + 1 }, (_, i) => i);
    const zip = parameterSets({ a: long, b: long }, 'zip');
    assert.match(!zip.ok ? zip.error : '', new RegExp(`${MAX_EXPANDED_JOBS + 1} jobs; at most ${MAX_EXPANDED_JOBS}`));
  });
});

describe('placeholders', () => {
  it('fills {name}, leaves shell ${VAR} and non-name braces alone, and unescapes {{ }}', () => {
    const r = fillPlaceholders('run {re} ${HOME} $(echo {a,b}) awk \'{print $1}\' {{re}}', { re: '100' });
    assert.deepEqual(r, { ok: true, value: "run 100 ${HOME} $(echo {a,b}) awk '{print $1}' {re}" });
  });

  it('names the placeholders it does not know', () => {
    assert.deepEqual(fillPlaceholders('{re}_{mesh}_{mesh}', { re: '1' }), { ok: false, unknown: ['mesh'] });
  });
});

describe('a job with parameters in a batch', () => {
  it('expands into one job per combination, filling name, command, file paths and aliases', () => {
    const files: Record<string, string> = { 'run.py': '' };
    for (const re of [100, 200]) for (const mesh of ['coarse', 'fine']) files[`in/re${re}_${mesh}.json`] = '{}';
    const r = parseIn(
      yaml(`
        meta: {batch_name: sweep, namespace: ns}
        python:
          jobs:
            - name: first
              file: run.py
            - name: re{re}_{mesh}
              file: run.py
              parameters:
                re: [100, 200]
                mesh: [coarse, fine]
              required_files:
                - {path: "in/re{re}_{mesh}.json", alias: "{mesh}.json"}
              resources: {cpus: 2}
            - name: last
              file: run.py
      `),
      files,
    );
    if (!r.ok) assert.fail(JSON.stringify(r.errors));
    const jobs = r.batch.jobs;
    assert.deepEqual(jobs.map((j) => j.name), ['first', 're100_coarse', 're100_fine', 're200_coarse', 're200_fine', 'last']);
    assert.deepEqual(jobs[2]!.requiredFiles, [{ path: join(r.dir, 'in/re100_fine.json'), alias: 'fine.json' }]);
    assert.deepEqual(jobs[3]!.requiredFiles, [{ path: join(r.dir, 'in/re200_coarse.json'), alias: 'coarse.json' }]);
    assert.ok(jobs.slice(1, 5).every((j) => j.resources.cpus === 2));
  });

  it('fills the shell command; zip pairs the values', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: sweep, namespace: ns}
      shell:
        jobs:
          - name: "{n}-{word}"
            parameter_mode: zip
            parameters: {n: [1, 2, 3], word: [one, two, three]}
            command: echo {word} > "$DISTRIBUTE_SAVE/{n}.txt"
    `));
    if (!r.ok) assert.fail(JSON.stringify(r.errors));
    assert.deepEqual(r.batch.jobs.map((j) => [j.name, j.command]), [
      ['1-one', 'echo one > "$DISTRIBUTE_SAVE/1.txt"'],
      ['2-two', 'echo two > "$DISTRIBUTE_SAVE/2.txt"'],
      ['3-three', 'echo three > "$DISTRIBUTE_SAVE/3.txt"'],
    ]);
  });

  it('leaves braces alone in a job without parameters', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: [{name: a, command: "echo {re} {{x}}"}]
    `));
    if (!r.ok) assert.fail(JSON.stringify(r.errors));
    assert.equal(r.batch.jobs[0]!.command, 'echo {re} {{x}}');
  });

  it('refuses an expanded name that is unsafe, naming the values that made it', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: case_{c}
            command: "true"
            parameters: {c: [ok, a/b]}
    `));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.errors.map((e) => [e.path, e.line, e.col]), [['shell.jobs[0].name', 4, 13]]);
    assert.match(r.errors[0]!.message, /"case_a\/b" contains "\/".*\(c=a\/b\)/);
  });

  it('expands a 10×10×10 grid into 1000 jobs', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: x{x}_y{y}_z{z}
            command: echo {x} {y} {z}
            parameters: {x: [0,1,2,3,4,5,6,7,8,9], y: [0,1,2,3,4,5,6,7,8,9], z: [0,1,2,3,4,5,6,7,8,9]}
    `));
    if (!r.ok) assert.fail(JSON.stringify(r.errors));
    assert.equal(r.batch.jobs.length, 1000);
    assert.equal(new Set(r.batch.jobs.map((j) => j.name)).size, 1000);
    assert.equal(r.batch.jobs[123]!.command, 'echo 1 2 3');
  });
});

describe('the job limit of a batch', () => {
  it('counts the jobs of every entry, pointing at the entry that goes over', () => {
    const values = Array.from({ length: 50_001 }, (_, i) => i).join(', ');
    const r = parseIn(`meta: {batch_name: b, namespace: n}\nshell:\n  jobs:\n    - {name: "a{i}", command: "true", parameters: {i: [${values}]}}\n    - {name: "b{i}", command: "true", parameters: {i: [${values}]}}\n`);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.errors.map((e) => `${e.line}:${e.col}: ${e.path}: ${e.message}`), [
      '5:7: shell.jobs[1]: the batch comes to 100002 jobs with this entry, more than the 100000 allowed in one batch',
    ]);
  });

  it('takes exactly 100,000', () => {
    const values = Array.from({ length: 50_000 }, (_, i) => i);
    const problems: Problem[] = [];
    const batch = normalizeBatch(
      { meta: { batch_name: 'b', namespace: 'n' }, shell: { jobs: [{ name: 'a{i}', command: 'true', parameters: { i: values } }, { name: 'b{i}', command: 'true', parameters: { i: values } }] } },
      { file: '/b.yaml', dir: '/', checkFiles: false, problems, statCache: new Map() },
    );
    assert.deepEqual(problems, []);
    assert.equal(batch?.jobs.length, 100_000);
  });
});

describe('a compiled template', () => {
  it('fills exactly as fillPlaceholders does', () => {
    const values = { re: '100', mesh: 'fine' };
    for (const template of ['plain', '{re}', 're{re}_{mesh}', '{{re}} {re}', 'awk \'{print $1}\' ${HOME} {a,b} {re}}}', '{mesh}{mesh}', '']) {
      const expected = fillPlaceholders(template, values);
      assert.ok(expected.ok);
      assert.equal(compileTemplate(template)(values), expected.value, template);
    }
  });
});
