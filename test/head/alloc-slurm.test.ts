import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ComputeConfig, HeadConfig, loadConfig } from '../../shared/config.js';
import { parseSqueue, parseTimeLeft, runBounded, Slurm } from '../../head/alloc/slurm.js';
import { pilotScript, shellQuote } from '../../head/alloc/script.js';
import { drainMarginMs } from '../../head/alloc/time-left.js';
import { tempDir } from '../helpers/cli.js';

const [uni] = HeadConfig.parse({
  state_dir: '/tmp/x',
  allocations: [{ name: 'uni', backend: 'slurm', capabilities: ['shell', "it's"], resources: { cpus: 4, memory: '8G', gpus: 1 }, max_pilots: 10, time_limit: '2h', idle_timeout: '5m', sbatch_args: ['--partition=cpu', '--account=lab'] }],
}).allocations;

describe('Slurm backend', () => {
  it('reads squeue lines: ids, states, and the time left of running jobs', () => {
    const jobs = parseSqueue('12,RUNNING,1:02:03\n13,PENDING,2:00:00\n14,RUNNING,1-00:00:05\n15,RUNNING,UNLIMITED\nnoise\n,RUNNING,1:00\n');
    assert.deepEqual([...jobs], [
      ['12', { state: 'RUNNING', timeLeft: 3723 }],
      ['13', { state: 'PENDING', timeLeft: null }],
      ['14', { state: 'RUNNING', timeLeft: 86405 }],
      ['15', { state: 'RUNNING', timeLeft: null }],
    ]);
    assert.equal(parseTimeLeft('4:05'), 245);
    assert.equal(parseTimeLeft('INVALID'), null);
  });

  it('submits through the prefix with the script on stdin and reads the job id', async () => {
    const t = tempDir('alloc-sbatch-');
    try {
      const fake = join(t.dir, 'sbatch');
      writeFileSync(fake, '#!/bin/sh\ncat > "$(dirname "$0")/got.sh"\necho "$@" > "$(dirname "$0")/args"\necho "4711;cluster"\n', { mode: 0o755 });
      const slurm = new Slurm(['env', `PATH=${t.dir}:${process.env.PATH}`]);
      assert.equal(await slurm.submit('#!/bin/sh\necho hi\n'), '4711');
      assert.equal(spawnSync('cat', [join(t.dir, 'got.sh')]).stdout.toString(), '#!/bin/sh\necho hi\n');
      assert.equal(spawnSync('cat', [join(t.dir, 'args')]).stdout.toString(), '--parsable\n');
    } finally {
      t.cleanup();
    }
  });

  it('turns a failing command into one line with what it said', async () => {
    await assert.rejects(runBounded([], 'sh', ['-c', 'echo "sbatch: error: invalid partition specified: nosuch" >&2; exit 1']), /^Error: sh exited with 1: sbatch: error: invalid partition specified: nosuch$/);
    await assert.rejects(runBounded([], 'no-such-command-here', []), /cannot run no-such-command-here/);
  });
});

describe('pilot script', () => {
  const script = pilotScript({ queue: uni!, dir: '/shared/alloc/uni', headUrl: 'ws://head:8952', token: 'TOKEN', command: ['/usr/bin/node', "/opt/dist ribute/cli.js"] });

  it('asks Slurm for the walltime, resources and extra arguments, always explicitly', () => {
    for (const line of ['--job-name=distribute-uni', '--time=02:00:00', '--cpus-per-task=4', '--mem=8G', '--gres=gpu:1', '--output=/shared/alloc/uni/slurm-%j.out', '--partition=cpu', '--account=lab']) {
      assert.match(script, new RegExp(`^#SBATCH ${line.replace(/[-/%]/g, '\\$&')}$`, 'm'));
    }
  });

  it('writes a compute config that names the pilot <queue>-<job id> and knows its end', () => {
    const t = tempDir('alloc-script-');
    try {
      const local = spawnSync('sh', ['-c', pilotScript({ queue: uni!, dir: t.dir, headUrl: 'ws://head:8952', token: 'TOKEN', command: ['true'] }).replace(/^exec .*$/m, 'cat "$work/compute.yaml"')], { env: { ...process.env, SLURM_JOB_ID: '99' }, encoding: 'utf8' });
      assert.equal(local.status, 0, local.stderr);
      const config = local.stdout;
      assert.match(config, /^name: "uni-99"$/m);
      assert.match(config, /^token: "TOKEN"$/m);
      assert.match(config, /^capabilities: \["shell","it's"\]$/m);
      const ends = Number(/ends_at: (\d+)/.exec(config)![1]);
      assert.ok(Math.abs(ends - (Date.now() / 1000 + 7200)) < 5, `ends_at ${ends}`);
      assert.match(config, /idle_timeout: 300,/);
      const parsed = loadConfig(ComputeConfig, join(t.dir, 'pilot-99', 'compute.yaml'));
      assert.deepEqual([parsed.name, parsed.work_dir, parsed.resources, parsed.pilot?.idle_timeout], ['uni-99', 'work', { cpus: 4, memory: 8 * 1024 ** 3, gpus: 1 }, 300_000]);
    } finally {
      t.cleanup();
    }
  });

  it('quotes the command for sh', () => {
    assert.match(script, /^exec '\/usr\/bin\/node' '\/opt\/dist ribute\/cli\.js' compute --config "\$work\/compute\.yaml"$/m);
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });

  it('keeps back a margin of 5% of the walltime, between 30 s and 5 min', () => {
    assert.equal(drainMarginMs(10 * 60_000), 30_000);
    assert.equal(drainMarginMs(60 * 60_000), 180_000);
    assert.equal(drainMarginMs(24 * 3600_000), 300_000);
  });
});
