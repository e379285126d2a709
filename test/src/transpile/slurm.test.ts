import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../../shared/errors.js';
import { DEFAULT_RESOURCES } from '../../../shared/spec/types.js';
import { transpileSlurm, type SlurmTranspileOptions } from '../../../src/transpile/slurm/transpile.js';
import { splitIntoTasks } from '../../../src/transpile/tasks.js';
import { job, shellBatch } from './batches.js';
import { tempDir } from '../../helpers/cli.js';
import type { BatchSpec } from '../../../shared/spec/types.js';

const { dir } = tempDir('distribute-slurm-unit-');

function opts(extra: Partial<SlurmTranspileOptions> = {}): SlurmTranspileOptions {
  return { strategy: 'slurm', jobResources: [], extraDirectives: [], setup: [], cluster: {}, ...extra };
}

function arrays(batch: BatchSpec, o: Partial<SlurmTranspileOptions> = {}): Map<string, string> {
  const texts = transpileSlurm(batch, opts(o)).bundle.texts();
  return new Map([...texts].filter(([p]) => /array-.*\.(sh|tsv)$/.test(p)));
}

function onlyScript(batch: BatchSpec, o: Partial<SlurmTranspileOptions> = {}): string {
  const scripts = [...arrays(batch, o)].filter(([p]) => p.endsWith('.sh'));
  assert.equal(scripts.length, 1, `expected one array, got ${scripts.map(([p]) => p).join(', ')}`);
  return scripts[0]![1];
}

/** The #SBATCH lines sbatch reads: those before the first line that is not a comment. */
function directivesSbatchReads(script: string): string[] {
  const lines = script.split('\n').slice(1);
  const out: string[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    if (!line.startsWith('#')) break;
    if (line.startsWith('#SBATCH')) out.push(line);
  }
  return out;
}

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UserError && err.exitCode === 2 && pattern.test(err.message));
}

describe('Slurm directives', () => {
  it('turns resources into --cpus-per-task, --mem, --gres and --time', () => {
    const b = shellBatch(dir, 2, { resources: { cpus: 4, memory: 8 * 1024 ** 3, gpus: 2, time: 2 * 3600 + 30 * 60 } });
    const d = directivesSbatchReads(onlyScript(b));
    for (const want of ['--cpus-per-task=4', '--mem=8G', '--gres=gpu:2', '--time=02:30:00', '--array=0-1', '--job-name=shell_batch']) {
      assert.ok(d.includes(`#SBATCH ${want}`), `missing ${want} in ${d.join(' | ')}`);
    }
  });

  it('writes no --ntasks or --nodes unless asked (the old tool crashed without ntasks)', () => {
    const d = directivesSbatchReads(onlyScript(shellBatch(dir, 1)));
    assert.ok(!d.some((l) => /--ntasks|--nodes/.test(l)), d.join('\n'));
  });

  it('lets the slurm block override resources and --job-resources override both', () => {
    const b = shellBatch(dir, 1, { resources: { memory: 1024 ** 3, time: 3600 }, slurm: { mem: '2G', partition: 'short', time: '3h' } });
    let d = directivesSbatchReads(onlyScript(b));
    assert.ok(d.includes('#SBATCH --mem=2G') && d.includes('#SBATCH --partition=short') && d.includes('#SBATCH --time=03:00:00'), d.join('\n'));
    d = directivesSbatchReads(onlyScript(b, { jobResources: ['mem=3g,partition=long,time=90'] }));
    assert.ok(d.includes('#SBATCH --mem=3G') && d.includes('#SBATCH --partition=long') && d.includes('#SBATCH --time=01:30:00'), d.join('\n'));
  });

  it('drops a lower --mem when mem_per_cpu is set above it, and refuses both in one place', () => {
    const b = shellBatch(dir, 1, { resources: { memory: 1024 ** 3 } });
    const d = directivesSbatchReads(onlyScript(b, { jobResources: ['mem_per_cpu=512M'] }));
    assert.ok(d.includes('#SBATCH --mem-per-cpu=512M') && !d.some((l) => l.startsWith('#SBATCH --mem=')), d.join('\n'));
    refused(() => transpileSlurm(b, opts({ jobResources: ['mem=1G,mem_per_cpu=1G'] })), /mem and mem_per_cpu exclude each other/);
  });

  it('checks the slurm block of each job and names the job', () => {
    const b = shellBatch(dir, 1, { slurm: { mem: 'lots' } });
    refused(() => transpileSlurm(b, opts()), /batch shell_batch, job job-00: slurm: mem: "lots" is not a size/);
  });

  it('places extra directives and setup lines where sbatch still reads every directive', () => {
    const b = shellBatch(dir, 3, { slurm: { extra_directives: ['--exclusive'], setup: ['module load python', 'eval "$(pixi shell-hook)"'] } });
    const script = onlyScript(b, { extraDirectives: ['#SBATCH --requeue'], setup: ['echo ready'] });
    const d = directivesSbatchReads(script);
    assert.ok(d.includes('#SBATCH --exclusive') && d.includes('#SBATCH --requeue'), d.join('\n'));
    assert.equal(d.length, script.split('\n').filter((l) => l.startsWith('#SBATCH')).length, 'a directive after the first command would be ignored');
    const lines = script.split('\n');
    const setupAt = lines.indexOf('module load python');
    assert.ok(setupAt > lines.findLastIndex((l) => l.startsWith('#SBATCH')));
    assert.ok(setupAt < lines.findIndex((l) => l.includes('task.sh')), 'setup runs before the jobs');
    assert.ok(lines.indexOf('echo ready') > setupAt);
  });

  it('refuses a multi-line or non-option directive', () => {
    refused(() => transpileSlurm(shellBatch(dir, 1), opts({ extraDirectives: ['--a\n--b'] })), /single line/);
    refused(() => transpileSlurm(shellBatch(dir, 1), opts({ extraDirectives: ['rm -rf /'] })), /must be an option/);
  });

  it('limits tasks at once with %P from slurm.array_limit, --array-limit winning', () => {
    const b = shellBatch(dir, 5, { slurm: { array_limit: 2 } });
    assert.match(onlyScript(b), /^#SBATCH --array=0-4%2$/m);
    assert.match(onlyScript(b, { arrayLimit: 3 }), /^#SBATCH --array=0-4%3$/m);
  });
});

describe('arrays and indexes', () => {
  it('writes one array per distinct resource shape, each with its index', () => {
    const b = shellBatch(dir, 4);
    b.jobs[1]!.resources = { ...DEFAULT_RESOURCES, cpus: 2 };
    b.jobs[3]!.resources = { ...DEFAULT_RESOURCES, cpus: 2 };
    b.jobs[2]!.slurm = { partition: 'long' };
    const a = arrays(b);
    assert.deepEqual([...a.keys()].sort(), [
      '_distribute/slurm/array-c1-2.sh', '_distribute/slurm/array-c1-2.tsv',
      '_distribute/slurm/array-c1.sh', '_distribute/slurm/array-c1.tsv',
      '_distribute/slurm/array-c2.sh', '_distribute/slurm/array-c2.tsv',
    ]);
    assert.equal(a.get('_distribute/slurm/array-c1.tsv'), '0\tjob-00\n');
    assert.equal(a.get('_distribute/slurm/array-c2.tsv'), '0\tjob-01\n1\tjob-03\n');
    assert.equal(a.get('_distribute/slurm/array-c1-2.tsv'), '0\tjob-02\n');
    assert.match(a.get('_distribute/slurm/array-c1-2.sh')!, /^#SBATCH --partition=long$/m);
  });

  it('slurm+batching --jobs 3 makes 3 tasks and scales --time by the jobs a task runs', () => {
    const b = shellBatch(dir, 20, { resources: { time: 600 } });
    const a = arrays(b, { strategy: 'slurm+batching', jobs: 3 });
    const index = [...a].find(([p]) => p.endsWith('.tsv'))![1];
    const perTask = [0, 1, 2].map((t) => index.split('\n').filter((l) => l.startsWith(`${t}\t`)).length);
    assert.deepEqual(perTask, [7, 7, 6]);
    const script = [...a].find(([p]) => p.endsWith('.sh'))![1];
    assert.match(script, /^#SBATCH --array=0-2$/m);
    assert.match(script, /^#SBATCH --time=01:10:00$/m);
  });

  it('slurm+batching with batch_size=8 makes ceil(20/8) tasks', () => {
    const a = arrays(shellBatch(dir, 20), { strategy: 'slurm+batching', jobResources: ['batch_size=8'] });
    assert.match([...a].find(([p]) => p.endsWith('.sh'))![1], /^#SBATCH --array=0-2$/m);
  });

  it('slurm+batching needs exactly one of --jobs and batch_size', () => {
    refused(() => transpileSlurm(shellBatch(dir, 4), opts({ strategy: 'slurm+batching' })), /exactly one of --jobs N .* or batch_size=K/);
    refused(() => transpileSlurm(shellBatch(dir, 4), opts({ strategy: 'slurm+batching', jobs: 2, jobResources: ['batch_size=2'] })), /exactly one of/);
    refused(() => transpileSlurm(shellBatch(dir, 4), opts({ jobs: 2 })), /--jobs sets the number of tasks of --strategy slurm\+batching/);
    refused(() => transpileSlurm(shellBatch(dir, 4), opts({ jobResources: ['batch_size=2'] })), /batch_size needs --strategy slurm\+batching/);
    refused(() => transpileSlurm(shellBatch(dir, 4), opts({ strategy: 'pbs' })), /not a strategy of slurm/);
  });

  it('splits jobs into contiguous tasks whose sizes differ by at most one', () => {
    assert.deepEqual(splitIntoTasks([1, 2, 3, 4, 5], { kind: 'tasks', tasks: 2 }), [[1, 2, 3], [4, 5]]);
    assert.deepEqual(splitIntoTasks([1, 2], { kind: 'tasks', tasks: 5 }), [[1], [2]]);
    assert.deepEqual(splitIntoTasks([1, 2, 3, 4, 5], { kind: 'batch-size', size: 2 }), [[1, 2], [3, 4], [5]]);
  });
});

describe('the transpiled folder', () => {
  it('stores a file several jobs use once, and places a file one job uses in its folder (initialize files also in the build folder)', () => {
    const b = shellBatch(dir, 3);
    b.jobs[0]!.requiredFiles = [{ path: b.source.file, alias: 'own.yaml' }];
    const { bundle } = transpileSlurm(b, opts());
    const copies = bundle.entries.filter((e) => e.kind === 'copy').map((e) => e.path).sort();
    assert.deepEqual(copies, ['_distribute/build/greeting.txt', '_distribute/shared/f0001-greeting.txt', 'job-00/input/own.yaml']);
    for (const j of ['job-00', 'job-01', 'job-02']) {
      assert.match(bundle.texts().get(`_distribute/jobs/${j}.sh`)!, /^cp -f -- "\$store"\/f0001-greeting.txt "\$job_dir"\/input\/greeting.txt$/m);
    }
  });

  it('refuses job names that clash with its own files', () => {
    const b = shellBatch(dir, 1);
    b.jobs.push(job('submit.sh', { command: 'true' }));
    refused(() => transpileSlurm(b, opts()), /a job named submit.sh would clash/);
  });

  it('refuses cluster settings that do not fit in upload.sh', () => {
    refused(() => transpileSlurm(shellBatch(dir, 1), opts({ cluster: { destination: 'my folder' } })), /--cluster-upload-destination:/);
  });

  it('fills upload.sh from the cluster flags', () => {
    const up = transpileSlurm(shellBatch(dir, 1), opts({ cluster: { username: 'alice', address: 'login.hpc.example.org', destination: '/scratch/alice/run' } })).bundle.texts().get('upload.sh')!;
    assert.match(up, /^user=\$\{DISTRIBUTE_CLUSTER_USERNAME:-alice\}$/m);
    assert.match(up, /^address=\$\{DISTRIBUTE_CLUSTER_ADDRESS:-login.hpc.example.org\}$/m);
    assert.match(up, /^dest=\$\{DISTRIBUTE_CLUSTER_DESTINATION:-\/scratch\/alice\/run\}$/m);
    assert.match(up, /^rsync -a /m);
  });
});
