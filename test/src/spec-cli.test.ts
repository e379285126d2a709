import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir, REPO_ROOT } from '../helpers/cli.js';
import { batchJsonSchema } from '../../shared/spec/schema.js';

const LINE = /^(?<file>[^:]+):(?<line>\d+):(?<col>\d+): (?<rest>.*)$/;

describe('distribute validate', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  for (const [name, jobs] of [['shell-batch.yaml', 8], ['python-batch.yaml', 4], ['apptainer-batch.yaml', 3]] as const) {
    it(`accepts configs/${name} and summarizes it`, async () => {
      const r = await runCli(['validate', `configs/${name}`], { cwd: REPO_ROOT });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^configs/${name}: ok\\n`));
      assert.match(r.stdout, new RegExp(`^jobs: +${jobs} \\(`, 'm'));
    });
  }

  it('prints every problem as FILE:LINE:COL: path: message on stderr, FILE as typed, and exits 2', async () => {
    writeFileSync(
      join(tmp.dir, 'bad.yaml'),
      'meta:\n  batch_name: b\n  namespace: ns\nshell:\n  jobs:\n    - name: a\n      command: x\n      resources: {cpus: 0, time: "25:99:77"}\n    - name: a\n      comand: x\n',
    );
    const r = await runCli(['validate', 'bad.yaml'], { cwd: tmp.dir });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(lines, [
      'bad.yaml:8:25: shell.jobs[0].resources.cpus: must be at least 1, got the number 0',
      'bad.yaml:8:34: shell.jobs[0].resources.time: "25:99:77": minutes and seconds must be 0-59',
      'bad.yaml:9:7: shell.jobs[1].command: is required',
      'bad.yaml:9:13: shell.jobs[1].name: duplicate job name "a"; also used by shell.jobs[0] at line 6',
      'bad.yaml:10:7: shell.jobs[1].comand: unknown key "comand"; did you mean "command"?',
    ]);
    for (const l of lines) assert.match(l, LINE);
  });

  it('--json prints the batch or the errors on stdout', async () => {
    const ok = await runCli(['validate', '--json', 'configs/shell-batch.yaml'], { cwd: REPO_ROOT });
    assert.equal(ok.code, 0);
    const good = JSON.parse(ok.stdout);
    assert.equal(good.ok, true);
    assert.equal(good.batch.jobs.length, 8);
    assert.equal(good.batch.meta.batch_name, 'shell_example');

    const bad = await runCli(['validate', '--json', 'bad.yaml'], { cwd: tmp.dir });
    assert.equal(bad.code, 2);
    const out = JSON.parse(bad.stdout);
    assert.equal(out.ok, false);
    assert.deepEqual(out.errors[0], { file: 'bad.yaml', line: 8, col: 25, path: 'shell.jobs[0].resources.cpus', message: 'must be at least 1, got the number 0' });
  });

  it('--no-files skips the checks that files exist', async () => {
    writeFileSync(join(tmp.dir, 'nofiles.yaml'), 'meta: {batch_name: b, namespace: ns}\npython:\n  jobs: [{name: a, file: missing.py}]\n');
    const strict = await runCli(['validate', 'nofiles.yaml'], { cwd: tmp.dir });
    assert.equal(strict.code, 2);
    assert.equal(strict.stderr, 'nofiles.yaml:3:26: python.jobs[0].file: no such file ./missing.py\n');
    const loose = await runCli(['validate', '--no-files', 'nofiles.yaml'], { cwd: tmp.dir });
    assert.equal(loose.code, 0, loose.stderr);
  });

  it('exits 2 for a file that does not exist', async () => {
    const r = await runCli(['validate', 'nope.yaml'], { cwd: tmp.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.yaml: no such file/);
  });
});

describe('distribute template', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  it('prints a shell starter that validates as written', async () => {
    const t = await runCli(['template', 'shell']);
    assert.equal(t.code, 0);
    assert.match(t.stdout, /^# yaml-language-server: \$schema=batch\.schema\.json/);
    writeFileSync(join(tmp.dir, 'shell.yaml'), t.stdout);
    const v = await runCli(['validate', 'shell.yaml'], { cwd: tmp.dir });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^jobs: +5 /m);
  });

  for (const kind of ['python', 'apptainer', 'shell']) {
    it(`--output writes a ${kind} starter with the files it names, and it validates`, async () => {
      const file = join(tmp.dir, kind, 'batch.yaml');
      const t = await runCli(['template', kind, '--output', file]);
      assert.equal(t.code, 0, t.stderr);
      assert.ok(existsSync(join(tmp.dir, kind, 'batch.schema.json')));
      const v = await runCli(['validate', file]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`^kind: +${kind}$`, 'm'));
    });
  }

  it('refuses to overwrite an existing file without --force, and an unknown kind', async () => {
    const file = join(tmp.dir, 'shell', 'batch.yaml');
    writeFileSync(file, 'mine\n');
    const again = await runCli(['template', 'shell', '--output', file]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists; pass --force/);
    assert.equal(readFileSync(file, 'utf8'), 'mine\n');
    assert.equal((await runCli(['template', 'shell', '--output', file, '--force'])).code, 0);
    assert.notEqual(readFileSync(file, 'utf8'), 'mine\n');
    const unknown = await runCli(['template', 'docker']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /choose python, apptainer or shell/);
  });
});

describe('distribute schema', () => {
  it('prints the JSON Schema, or writes it with --output', async () => {
    const r = await runCli(['schema']);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), batchJsonSchema());
    const tmp = tempDir();
    try {
      const out = join(tmp.dir, 's.json');
      assert.equal((await runCli(['schema', '--output', out])).code, 0);
      assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), batchJsonSchema());
    } finally {
      tmp.cleanup();
    }
  });
});
