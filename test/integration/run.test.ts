// `distribute run` through the built CLI (npm run build first).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { runCli, spawnCli, tempDir, REPO_ROOT } from '../helpers/cli.js';
import { isAlive, readPids, waitFor } from '../compute/support.js';

let root: string;
let cleanup: () => void;
before(() => ({ dir: root, cleanup } = tempDir('distribute-run-cli-')));
after(() => cleanup());

function writeBatch(dir: string, yaml: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'batch.yaml');
  writeFileSync(file, yaml);
  return file;
}

const FIFTY = `meta: {batch_name: fifty, namespace: it}
shell:
  initialize:
    command: echo shared > shared.txt
  jobs:
    - name: job_{i}
      parameters: {i: [${Array.from({ length: 50 }, (_, i) => i + 1).join(', ')}]}
      command: echo "$DISTRIBUTE_JOB_NAME {i}" > "$DISTRIBUTE_SAVE/out.txt"; cat "$DISTRIBUTE_BUILD/shared.txt"; echo to-stderr >&2
`;

describe('distribute run', () => {
  for (const strategy of ['sequential', 'multiprocessing']) {
    it(`runs a 50-job batch with --strategy ${strategy} into <save>/<batch>/<job>/`, async () => {
      const yamlDir = join(root, `yaml-${strategy}`);
      const file = writeBatch(yamlDir, FIFTY);
      const save = join(root, `save-${strategy}`);
      const work = join(root, `work-${strategy}`);
      const r = await runCli(['run', file, '--strategy', strategy, '--save-dir', save, '--work-dir', work]);
      assert.equal(r.code, 0, r.stderr);
      const jobs = readdirSync(join(save, 'fifty')).sort();
      assert.equal(jobs.length, 50);
      for (let i = 1; i <= 50; i++) {
        const dir = join(save, 'fifty', `job_${i}`);
        assert.deepEqual(readdirSync(dir).sort(), ['_distribute', 'out.txt'], dir);
        assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), `job_${i} ${i}\n`);
        assert.deepEqual(readdirSync(join(dir, '_distribute')).sort(), ['result.json', 'stderr.log', 'stdout.log']);
        assert.equal(readFileSync(join(dir, '_distribute', 'stdout.log'), 'utf8'), 'shared\n');
        assert.equal(readFileSync(join(dir, '_distribute', 'stderr.log'), 'utf8'), 'to-stderr\n');
        const res = JSON.parse(readFileSync(join(dir, '_distribute', 'result.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(res.exit_code, 0);
        assert.equal(res.job, `job_${i}`);
        assert.equal(res.attempt, 1);
      }
      // plain lines when stdout is not a terminal, and a summary
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.filter((l) => /^done job_\d+ \(\d+\.\d+s\)$/.test(l)).length, 50);
      assert.match(r.stdout, /fifty: 50 done, 0 failed in /);
      assert.ok(r.stdout.includes(`results in ${join(save, 'fifty')}`));
      // nothing written beside the YAML, and the workspaces are gone
      assert.deepEqual(readdirSync(yamlDir), ['batch.yaml']);
      assert.equal(existsSync(join(work, 'it', 'fifty')), false);
    });
  }

  it('exits 1 when a job fails, and says which', async () => {
    const file = writeBatch(join(root, 'failing'), `meta: {batch_name: failing, namespace: it}
shell:
  jobs:
    - {name: good, command: "true"}
    - {name: bad, command: "exit 3"}
`);
    const r = await runCli(['run', file, '--save-dir', join(root, 'save-failing'), '--strategy', 'sequential']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAILED bad exit 3 /m);
    assert.match(r.stdout, /failing: 1 done, 1 failed in .*\nfailed: bad\n/);
  });

  it('exits 2 on an invalid batch, naming file, line and field, and runs nothing', async () => {
    const dir = join(root, 'invalid');
    const file = writeBatch(dir, `meta: {batch_name: invalid, namespace: it}
shell:
  jobs:
    - name: a
      command: echo hi
      resources: {cpus: many}
`);
    const save = join(root, 'save-invalid');
    const r = await runCli(['run', file, '--save-dir', save]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /batch\.yaml:6:\d+: shell\.jobs\[0\]\.resources\.cpus: /);
    assert.equal(existsSync(join(save, 'invalid')), false);
  });

  it('exits 2 for --jobs with the sequential strategy, or a --jobs that is not a positive number', async () => {
    const file = writeBatch(join(root, 'opts'), 'meta: {batch_name: opts, namespace: it}\nshell:\n  jobs: [{name: a, command: "true"}]\n');
    const seq = await runCli(['run', file, '--strategy', 'sequential', '--jobs', '2']);
    assert.equal(seq.code, 2);
    assert.match(seq.stderr, /--jobs is for --strategy multiprocessing/);
    const zero = await runCli(['run', file, '--jobs', '0']);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /"0" is not a positive whole number/);
  });

  it('on SIGINT kills every running job\'s process group and leaves nothing running', async () => {
    const pidDir = join(root, 'sigint-pids');
    mkdirSync(pidDir);
    // one job lets SIGTERM end it; the other ignores it and must get SIGKILL after the grace
    const file = writeBatch(join(root, 'sigint'), `meta: {batch_name: sigint, namespace: it}
shell:
  jobs:
    - name: polite
      command: echo $$ > ${pidDir}/polite; sleep 1000 & echo $! >> ${pidDir}/polite; wait
    - name: stubborn
      command: trap "" TERM; echo $$ > ${pidDir}/stubborn; sleep 1000 & echo $! >> ${pidDir}/stubborn; wait
    - name: later
      command: echo $$ > ${pidDir}/later
`);
    const cli = spawnCli(['run', file, '--jobs', '2', '--save-dir', join(root, 'save-sigint'), '--kill-grace', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    cli.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    cli.stdout!.resume();
    const pids = [...(await readPids(join(pidDir, 'polite'), 2)), ...(await readPids(join(pidDir, 'stubborn'), 2))];
    assert.ok(pids.every(isAlive));
    const exited = once(cli, 'exit');
    cli.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGINT: cancelling the running jobs/);
    await waitFor(() => !pids.some(isAlive), `job processes ${pids.join(', ')} to be gone`, 2000);
    assert.equal(existsSync(join(pidDir, 'later')), false, 'a job started after the interrupt');
  });

  it('runs an apptainer batch with exactly the command line and binds the batch file documents', async () => {
    const bin = join(root, 'fake-bin');
    const record = join(root, 'apptainer-calls');
    mkdirSync(bin);
    mkdirSync(record);
    writeFileSync(join(bin, 'apptainer'), `#!/bin/sh\n{ pwd; for a in "$@"; do echo "$a"; done; } > ${record}/$DISTRIBUTE_JOB_NAME\n`, { mode: 0o755 });
    const work = join(root, 'work-apptainer');
    const file = join(REPO_ROOT, 'configs', 'apptainer-batch.yaml');
    const r = await runCli(['run', file, '--jobs', '2', '--save-dir', join(root, 'save-apptainer'), '--work-dir', work], {
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /warning: job case_400_big asks for 16 cpus but this run has 2 slots/);
    assert.deepEqual(readdirSync(record).sort(), ['case_100', 'case_400', 'case_400_big']);
    const batchDir = join(work, 'examples', 'cylinder');
    for (const job of ['case_100', 'case_400']) {
      const at = join(batchDir, job, 'attempt-1');
      assert.deepEqual(readFileSync(join(record, job), 'utf8').trim().split('\n'), [
        at,
        'run', '--nv', '--app', 'distribute',
        '--bind', `${at}/input:/input,${at}/distribute_save:/distribute_save,${at}/mounts/0:/scratch`,
        join(batchDir, 'build', 'solver.sif'),
        '2',
      ]);
    }
  });
});
