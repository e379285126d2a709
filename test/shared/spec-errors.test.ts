import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIn, yaml } from './spec-fixture.js';
import { formatSpecErrors } from '../../shared/spec/parse.js';

/** An error we expect: field path, 1-based line and column, and a fragment of the message. */
type Expected = [path: string, line: number, col: number, fragment: string];

interface Case {
  name: string;
  text: string;
  files?: Record<string, string>;
  errors: Expected[];
}

const cases: Case[] = [
  {
    name: 'a misspelt top-level key, and no kind at all',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shel:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [
      ['', 1, 1, 'needs one of python:, apptainer: or shell:'],
      ['shel', 2, 1, 'unknown key "shel"; did you mean "shell"?'],
    ],
  },
  {
    name: 'a misspelt meta key',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ns
        capabilites: [sh]
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.capabilites', 4, 3, 'did you mean "capabilities"?']],
  },
  {
    name: 'a misspelt job key',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            reqired_files: []
    `),
    errors: [['shell.jobs[0].reqired_files', 6, 7, 'did you mean "required_files"?']],
  },
  {
    name: 'an unknown key far from any known one lists the known keys',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - {name: a, command: "true", zzzzzzzz: 1}
    `),
    errors: [['shell.jobs[0].zzzzzzzz', 4, 34, 'expected one of: name, required_files']],
  },
  {
    name: 'a missing namespace points at meta',
    text: yaml(`
      meta:
        batch_name: b
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.namespace', 1, 1, 'is required']],
  },
  {
    name: 'no meta at all',
    text: yaml(`
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta', 1, 1, 'is required']],
  },
  {
    name: 'a batch name with a space',
    text: yaml(`
      meta:
        batch_name: my batch
        namespace: ns
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.batch_name', 2, 15, 'contains " "']],
  },
  {
    name: 'a namespace that climbs out of its folder',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ..
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.namespace', 3, 14, 'must start with a letter or digit']],
  },
  {
    name: 'zero cpus',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {cpus: 0}
    `),
    errors: [['shell.jobs[0].resources.cpus', 6, 25, 'must be at least 1, got the number 0']],
  },
  {
    name: 'fractional cpus',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ns
        resources:
          cpus: 2.5
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.resources.cpus', 5, 11, 'expected a whole number, got the number 2.5']],
  },
  {
    name: 'negative gpus',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources:
              gpus: -1
    `),
    errors: [['shell.jobs[0].resources.gpus', 7, 15, 'must be at least 0']],
  },
  {
    name: 'a size with an unknown unit',
    text: yaml(`
      meta: {batch_name: b, namespace: ns, resources: {memory: 8X}}
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.resources.memory', 1, 58, '"8X" is not a size']],
  },
  {
    name: 'a zero memory reservation',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {memory: 0G}
    `),
    errors: [['shell.jobs[0].resources.memory', 6, 27, 'must be more than 0']],
  },
  {
    name: 'a clock time out of range',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {time: "25:99:77"}
    `),
    errors: [['shell.jobs[0].resources.time', 6, 25, 'minutes and seconds must be 0-59']],
  },
  {
    name: 'a duration that is a word',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {time: soon}
    `),
    errors: [['shell.jobs[0].resources.time', 6, 25, '"soon" is not a duration']],
  },
  {
    name: 'an empty job list',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: []
    `),
    errors: [['shell.jobs', 3, 9, 'a batch needs at least one job']],
  },
  {
    name: 'jobs written as a map',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          name: a
          command: "true"
    `),
    errors: [['shell.jobs', 4, 5, 'expected a list, got a map']],
  },
  {
    name: 'capabilities written as a string',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ns
        capabilities: python3
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.capabilities', 4, 17, 'expected a list, got the string "python3"']],
  },
  {
    name: 'two jobs with the same name',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: twin
            command: "true"
          - name: twin
            command: "false"
    `),
    errors: [['shell.jobs[1].name', 6, 13, 'duplicate job name "twin"; also used by shell.jobs[0] at line 4']],
  },
  {
    name: 'a missing job file',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      python:
        jobs:
          - name: a
            file: run.py
    `),
    errors: [['python.jobs[0].file', 5, 13, 'no such file ./run.py']],
  },
  {
    name: 'a missing required file points at its path',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      python:
        jobs:
          - name: a
            file: run.py
            required_files:
              - path: data/re_300.json
                alias: params.json
    `),
    files: { 'run.py': '' },
    errors: [['python.jobs[0].required_files[0].path', 7, 17, 'no such file ./data/re_300.json']],
  },
  {
    name: 'a required file that is a folder',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            required_files: [inputs]
    `),
    files: { 'inputs/': '' },
    errors: [['shell.jobs[0].required_files[0]', 6, 24, './inputs is a folder']],
  },
  {
    name: 'an alias that climbs out of input/',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            required_files: [{path: x.txt, alias: ../x.txt}]
    `),
    files: { 'x.txt': 'x' },
    errors: [['shell.jobs[0].required_files[0].alias', 6, 45, 'alias not usable as a file name']],
  },
  {
    name: 'a file whose base name is unsafe and no alias',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            required_files: ["my data.txt"]
    `),
    files: { 'my data.txt': 'x' },
    errors: [['shell.jobs[0].required_files[0]', 6, 24, 'give it an alias']],
  },
  {
    name: 'a job name with a slash',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: runs/a
            command: "true"
    `),
    errors: [['shell.jobs[0].name', 4, 13, 'job name not usable as a folder name: "runs/a" contains "/"']],
  },
  {
    name: 'two kinds in one batch',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      python:
        jobs: [{name: a, file: run.py}]
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    files: { 'run.py': '' },
    errors: [['shell', 4, 1, 'exactly one of python:, apptainer:, shell:; this one also has python:']],
  },
  {
    name: 'an apptainer batch without an image',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      apptainer:
        initialize:
          required_files: []
        jobs: [{name: a}]
    `),
    errors: [['apptainer.initialize.sif', 3, 3, 'is required']],
  },
  {
    name: 'a relative container mount',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      apptainer:
        initialize:
          sif: image.sif
          required_mounts: [/data, scratch]
        jobs: [{name: a}]
    `),
    files: { 'image.sif': 'x' },
    errors: [['apptainer.initialize.required_mounts[1]', 5, 30, '"scratch" must be an absolute path']],
  },
  {
    name: 'a container mount over /input',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      apptainer:
        initialize:
          sif: image.sif
          required_mounts:
            - /input/
        jobs: [{name: a}]
    `),
    files: { 'image.sif': 'x' },
    errors: [['apptainer.initialize.required_mounts[0]', 6, 9, 'already bound by distribute']],
  },
  {
    name: 'zip over lists of different lengths',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: r{re}_{mesh}
            command: "true"
            parameter_mode: zip
            parameters:
              re: [1, 2, 3]
              mesh: [a, b]
    `),
    errors: [['shell.jobs[0].parameters.mesh', 9, 15, 'zip needs lists of equal length (re: 3, mesh: 2)']],
  },
  {
    name: 'a placeholder that names no parameter',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: r{re}
            command: run --mesh {mesh}
            parameters: {re: [1, 2]}
    `),
    errors: [['shell.jobs[0].command', 5, 16, 'unknown placeholder {mesh}; this job\'s parameters are {re}']],
  },
  {
    name: 'parameters but a name without placeholders',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: same
            command: echo {re}
            parameters: {re: [1, 2]}
    `),
    errors: [['shell.jobs[0].name', 4, 13, 'every one of the 2 jobs these parameters make would be named "same"']],
  },
  {
    name: 'a name that leaves one parameter out repeats',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: r{re}
            command: echo {re} {mesh}
            parameters: {re: [1, 2], mesh: [a, b]}
    `),
    errors: [
      ['shell.jobs[0].name', 4, 13, 'duplicate job name "r1" from parameters'],
      ['shell.jobs[0].name', 4, 13, 'duplicate job name "r2" from parameters'],
    ],
  },
  {
    name: 'an expanded name that collides with a plain job',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: r1
            command: "true"
          - name: r{re}
            command: echo {re}
            parameters: {re: [1, 2]}
    `),
    errors: [['shell.jobs[1].name', 6, 13, 'duplicate job name "r1" from parameters (put every parameter in the name); also used by shell.jobs[0] at line 4']],
  },
  {
    name: 'parameter_mode without parameters',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            parameter_mode: zip
    `),
    errors: [['shell.jobs[0].parameter_mode', 6, 7, 'parameter_mode needs parameters']],
  },
  {
    name: 'a misspelt parameter mode',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a{x}
            command: "true"
            parameters: {x: [1]}
            parameter_mode: zipp
    `),
    errors: [['shell.jobs[0].parameter_mode', 7, 23, 'must be one of product, zip; got the string "zipp"; did you mean "zip"?']],
  },
  {
    name: 'an empty parameter list',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a{x}
            command: "true"
            parameters:
              x: []
    `),
    errors: [['shell.jobs[0].parameters.x', 7, 12, 'a parameter needs at least one value']],
  },
  {
    name: 'a parameter name that is not an identifier',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            parameters:
              re-number: [1]
    `),
    errors: [['shell.jobs[0].parameters.re-number', 7, 9, 'parameter name "re-number" must be a letter or _']],
  },
  {
    name: 'a missing file of one expanded job only',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      python:
        jobs:
          - name: re_{re}
            file: run.py
            parameters: {re: [100, 200, 300]}
            required_files:
              - {path: "re_{re}.json", alias: params.json}
    `),
    files: { 'run.py': '', 're_100.json': '{}', 're_200.json': '{}' },
    errors: [['python.jobs[0].required_files[0].path', 8, 18, 'no such file ./re_300.json (job "re_300": re=300)']],
  },
  {
    name: 'an unknown sort order',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ns
        sort: gpus_runtime
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.sort', 4, 9, 'must be one of gpus_runtime_memory, gpus_memory_runtime, none']],
  },
  {
    name: 'an unknown notify event',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ns
        notify: [end, failure]
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.notify[1]', 4, 17, 'must be one of end, first_failure']],
  },
  {
    name: 'a Matrix user without a server',
    text: yaml(`
      meta:
        batch_name: b
        namespace: ns
        matrix: you
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.matrix', 4, 11, 'a Matrix user looks like @name:example.org']],
  },
  {
    name: 'negative retries',
    text: yaml(`
      meta: {batch_name: b, namespace: ns, retries: -1}
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.retries', 1, 47, 'must be at least 0']],
  },
  {
    name: 'a memory_retry factor below 1.1',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {memory: 100M}
            memory_retry: {factor: 1, max: 1G}
    `),
    errors: [['shell.jobs[0].memory_retry.factor', 7, 30, 'must be at least 1.1']],
  },
  {
    name: 'a memory_retry without memory to grow',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            memory_retry: {factor: 2, max: 1G}
    `),
    errors: [['shell.jobs[0].memory_retry', 6, 21, 'memory_retry needs resources.memory: it grows the memory the job asks for']],
  },
  {
    name: 'a memory_retry max no more than the memory asked',
    text: yaml(`
      meta: {batch_name: b, namespace: ns, memory_retry: {factor: 2, max: 1G}}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {memory: 2G}
    `),
    errors: [['shell.jobs[0].resources', 6, 18, 'memory_retry.max: 1G is not more than the 2G asked']],
  },
  {
    name: 'a time_retry with a bad max',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            resources: {time: 10m}
            time_retry: {factor: 2, max: soon}
    `),
    errors: [['shell.jobs[0].time_retry.max', 7, 36, '"soon" is not a duration']],
  },
  {
    name: 'a misspelt slurm key',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: [{name: a, command: "true"}]
      slurm:
        partiton: short
    `),
    errors: [['slurm.partiton', 5, 3, 'did you mean "partition"?']],
  },
  {
    name: 'a bad memory size in a job slurm block',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            slurm: {mem: lots}
    `),
    errors: [['shell.jobs[0].slurm.mem', 6, 20, '"lots" is not a size']],
  },
  {
    name: 'a job name written as a number',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: 100
            command: "true"
    `),
    errors: [['shell.jobs[0].name', 4, 13, 'expected a string, got the number 100 (quote it: "100")']],
  },
  {
    name: 'two required files under the same alias',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: "true"
            required_files:
              - {path: one.json, alias: params.json}
              - {path: two.json, alias: params.json}
    `),
    files: { 'one.json': '{}', 'two.json': '{}' },
    errors: [['shell.jobs[0].required_files[1].alias', 8, 35, 'two files would be named "params.json" in input/']],
  },
  {
    name: "a job file under the same name as one of initialize's",
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        initialize:
          required_files: [mesh.dat]
        jobs:
          - name: a
            command: "true"
            required_files: [{path: other.dat, alias: mesh.dat}]
    `),
    files: { 'mesh.dat': '', 'other.dat': '' },
    errors: [['shell.jobs[0].required_files[0].alias', 8, 49, '(the other is shell.initialize.required_files[0])']],
  },
  {
    name: 'an empty command',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a
            command: ""
    `),
    errors: [['shell.jobs[0].command', 5, 16, 'command must not be empty']],
  },
  {
    name: 'a python job without its file',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      python:
        jobs:
          - name: a
    `),
    errors: [['python.jobs[0].file', 4, 7, 'is required']],
  },
  {
    name: 'a job that is a string, not a map',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - echo hi
    `),
    errors: [['shell.jobs[0]', 4, 7, 'expected a map of keys, got the string "echo hi"']],
  },
  {
    name: 'a job named like the build folder',
    text: yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: build
            command: "true"
    `),
    errors: [['shell.jobs[0].name', 4, 13, 'is reserved']],
  },
  {
    name: 'a key with no value',
    text: yaml(`
      meta:
        batch_name:
        namespace: ns
      shell:
        jobs: [{name: a, command: "true"}]
    `),
    errors: [['meta.batch_name', 2, 3, 'expected a string, got nothing (null)']],
  },
];

describe('malformed batches are refused with the field, line and column at fault', () => {
  it(`has at least 30 distinct cases (${cases.length})`, () => {
    assert.ok(cases.length >= 30);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
  });
  for (const c of cases) {
    it(c.name, () => {
      const r = parseIn(c.text, c.files);
      assert.equal(r.ok, false, 'the batch must be refused');
      if (r.ok) return;
      const got = r.errors.map((e) => [e.path, e.line, e.col, e.message] as const);
      const report = formatSpecErrors(r.errors);
      assert.equal(got.length, c.errors.length, `expected ${c.errors.length} errors, got:\n${report}`);
      c.errors.forEach(([path, line, col, fragment], i) => {
        const [gPath, gLine, gCol, gMessage] = got[i]!;
        assert.deepEqual([gPath, gLine, gCol], [path, line, col], `error ${i}:\n${report}`);
        assert.ok(gMessage.includes(fragment), `error ${i}: "${gMessage}" should contain "${fragment}"`);
      });
    });
  }
});

describe('reporting', () => {
  it('reports every problem of a file at once, sorted by line', () => {
    const r = parseIn(
      yaml(`
        meta:
          batch_name: b
          namespace: ns
          priority: high
        shell:
          jobs:
            - name: a
              command: "true"
              resources: {cpus: 0}
            - name: a
              command: "true"
              required_files: [missing.txt]
            - name: c
              comand: "true"
      `),
    );
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(
      r.errors.map((e) => `${e.line}:${e.col} ${e.path}`),
      [
        '4:13 meta.priority',
        '9:25 shell.jobs[0].resources.cpus',
        '10:13 shell.jobs[1].name',
        '12:24 shell.jobs[1].required_files[0]',
        '13:7 shell.jobs[2].command',
        '14:7 shell.jobs[2].comand',
      ],
    );
  });

  it('formats each error as FILE:LINE:COL: path: message', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: []
    `));
    assert.equal(r.ok, false);
    if (r.ok) return;
    const line = formatSpecErrors(r.errors.map((e) => ({ ...e, file: 'batch.yaml' })));
    assert.equal(line, 'batch.yaml:3:9: shell.jobs: a batch needs at least one job');
  });

  it('reports a YAML syntax error at its position and stops there', () => {
    const r = parseIn('meta: {batch_name: b, namespace: ns\nshell:\n  jobs: [\n');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]!.path, '');
    assert.match(r.errors[0]!.message, /^YAML: /);
    assert.equal(r.errors[0]!.line, 2);
  });

  it('explains that a flow value with {placeholders} must be quoted', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - name: a{x}
            command: "true"
            parameters: {x: [1]}
            required_files: [{path: in_{x}.txt}]
    `));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.errors[0]!.line, 7);
    assert.match(r.errors[0]!.message, /must be quoted/);
  });

  it('reports each duplicate key of the YAML', () => {
    const r = parseIn('meta: {batch_name: b, namespace: ns}\nshell:\n  jobs: [{name: a, command: "true"}]\nmeta: {}\n');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.errors.map((e) => [e.line, e.col, e.message]), [[4, 1, 'YAML: duplicate key']]);
  });

  it('refuses an empty file and a file that is not a map', () => {
    for (const text of ['', '# only a comment\n', '- a\n- b\n', 'just words\n']) {
      const r = parseIn(text);
      assert.equal(r.ok, false, JSON.stringify(text));
      if (r.ok) continue;
      assert.equal(r.errors.length, 1, formatSpecErrors(r.errors));
      assert.deepEqual([r.errors[0]!.line, r.errors[0]!.col], [1, 1]);
    }
  });

  it('skips file checks when asked (the head has none of the files)', () => {
    const text = yaml(`
      meta: {batch_name: b, namespace: ns}
      python:
        jobs: [{name: a, file: run.py}]
    `);
    assert.equal(parseIn(text).ok, false);
    assert.equal(parseIn(text, {}, false).ok, true);
  });
});
