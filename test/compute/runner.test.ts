import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startAttempt, runBuild, type StartAttemptOptions } from '../../compute/runner.js';
import { tempDir } from '../helpers/cli.js';
import { batchOf, shellJob, isAlive, readPids, waitFor, processState } from './support.js';
import type { BatchSpec, JobSpec } from '../../shared/spec/types.js';
import { createLogger } from '../../shared/log.js';

let root: string;
let cleanup: () => void;
before(() => ({ dir: root, cleanup } = tempDir('distribute-runner-')));
after(() => cleanup());

let n = 0;
function attemptOpts(batch: BatchSpec, job: JobSpec, extra: Partial<StartAttemptOptions> = {}): StartAttemptOptions {
  return { batch, job, attempt: 1, workDir: join(root, `w${++n}`), node: 'node-a', cpus: 2, gpus: null, inputs: [], jobFile: null, killGraceMs: 300, ...extra };
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

describe('startAttempt', () => {
  it('logs its start and end at info, or at debug when the caller logs them (quiet: the compute daemon)', async () => {
    const linesOf = async (quiet: boolean) => {
      const lines: { level: number; msg: string }[] = [];
      const logger = createLogger('test', { level: 'info', format: 'json', destination: { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) } });
      const job = shellJob('talk', 'true');
      assert.equal((await startAttempt(attemptOpts(batchOf([job]), job, { logger, quiet })).done).success, true);
      return lines.map((l) => l.msg);
    };
    assert.deepEqual(await linesOf(false), ['attempt started', 'attempt succeeded']);
    assert.deepEqual(await linesOf(true), []);
  });

  it('runs a shell job in its attempt folder with the DISTRIBUTE_* environment and its inputs under their alias', async () => {
    const params = join(root, 're_100.json');
    writeFileSync(params, '{"re":100}');
    const job = shellJob('re_100', 'env | grep -E "^(DISTRIBUTE_|CUDA_)" | sort > "$DISTRIBUTE_SAVE/env.txt"; pwd > "$DISTRIBUTE_SAVE/cwd.txt"; cat "$DISTRIBUTE_INPUT/params.json"; echo oops >&2');
    const batch = batchOf([job], { name: 're_sweep', namespace: 'study' });
    const a = startAttempt(attemptOpts(batch, job, { attempt: 2, gpus: [1, 3], inputs: [{ alias: 'params.json', source: params }] }));
    const r = await a.done;
    assert.equal(r.success, true);
    assert.equal(r.exit_code, 0);
    const p = a.paths;
    assert.match(p.root, /\/study\/re_sweep\/re_100\/attempt-2$/);
    const env = Object.fromEntries(readFileSync(join(p.save, 'env.txt'), 'utf8').trim().split('\n').map((l) => l.split('=') as [string, string]));
    assert.deepEqual(env, {
      CUDA_VISIBLE_DEVICES: '1,3',
      DISTRIBUTE_ATTEMPT: '2',
      DISTRIBUTE_BATCH_NAME: 're_sweep',
      DISTRIBUTE_BUILD: p.build,
      DISTRIBUTE_CPUS: '2',
      DISTRIBUTE_INPUT: p.input,
      DISTRIBUTE_JOB_NAME: 're_100',
      DISTRIBUTE_NAMESPACE: 'study',
      DISTRIBUTE_SAVE: p.save,
    });
    assert.equal(readFileSync(join(p.save, 'cwd.txt'), 'utf8').trim(), p.root);
    assert.equal(readFileSync(join(p.meta, 'stdout.log'), 'utf8'), '{"re":100}');
    assert.equal(readFileSync(join(p.meta, 'stderr.log'), 'utf8'), 'oops\n');
    const onDisk = readJson(join(p.meta, 'result.json'));
    assert.deepEqual(onDisk, { ...r });
    assert.equal(onDisk.node, 'node-a');
    assert.equal(onDisk.attempt, 2);
    assert.ok(Date.parse(r.start) <= Date.parse(r.end));
  });

  it('records a non-zero exit code as a failure', async () => {
    const job = shellJob('three', 'exit 3');
    const r = await startAttempt(attemptOpts(batchOf([job]), job)).done;
    assert.deepEqual([r.exit_code, r.signal, r.success, r.timed_out, r.cancelled], [3, null, false, false, false]);
  });

  it('records death by a signal', async () => {
    const job = shellJob('killed', 'kill -KILL $$');
    const r = await startAttempt(attemptOpts(batchOf([job]), job)).done;
    assert.deepEqual([r.exit_code, r.signal, r.success], [null, 'SIGKILL', false]);
  });

  it('ends a job at its time limit with SIGTERM', async () => {
    const job = shellJob('slow', 'sleep 30', {}, { time: 1 });
    const t0 = Date.now();
    const r = await startAttempt(attemptOpts(batchOf([job]), job)).done;
    const took = Date.now() - t0;
    assert.equal(r.timed_out, true);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.success, false);
    assert.ok(took >= 1000 && took < 5000, `took ${took} ms`);
  });

  it('kills a job that ignores SIGTERM after the grace', async () => {
    // ignored signals stay ignored across exec, so `sleep` ignores SIGTERM too
    const job = shellJob('stubborn', 'trap "" TERM; sleep 30', {}, { time: 1 });
    const t0 = Date.now();
    const r = await startAttempt(attemptOpts(batchOf([job]), job, { killGraceMs: 400 })).done;
    const took = Date.now() - t0;
    assert.equal(r.timed_out, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(took >= 1400 && took < 5000, `took ${took} ms`);
  });

  it('cancel kills every process of the job, grandchildren included', async () => {
    const pidFile = join(root, 'grandchildren.pids');
    const job = shellJob('tree', `sleep 1000 & echo $! > ${pidFile}; sh -c 'sleep 1000 & echo $! >> ${pidFile}; wait' & wait`);
    const a = startAttempt(attemptOpts(batchOf([job]), job));
    const leader = await a.started;
    assert.ok(leader);
    const pids = await readPids(pidFile, 2);
    assert.ok(pids.every(isAlive));
    a.cancel('test');
    const r = await a.done;
    assert.equal(r.cancelled, true);
    assert.equal(r.success, false);
    await waitFor(() => !pids.some(isAlive) && !isAlive(leader), 'the whole group to die', 3000);
  });

  it('kills processes the job left behind when it exits', async () => {
    const pidFile = join(root, 'straggler.pid');
    const job = shellJob('leaves', `sleep 1000 & echo $! > ${pidFile}; exit 0`);
    const r = await startAttempt(attemptOpts(batchOf([job]), job)).done;
    assert.equal(r.success, true);
    const [straggler] = await readPids(pidFile, 1);
    await waitFor(() => !isAlive(straggler!), 'the straggler to die', 3000);
  });

  it('escalates a second cancel to SIGKILL at once', async () => {
    const ready = join(root, 'stubborn.ready');
    const job = shellJob('stubborn', `trap "" TERM; touch ${ready}; sleep 30`);
    const a = startAttempt(attemptOpts(batchOf([job]), job, { killGraceMs: 60_000 }));
    await waitFor(() => existsSync(ready), 'the trap to be set');
    a.cancel('first');
    a.cancel('second');
    const r = await a.done;
    assert.deepEqual([r.cancelled, r.signal], [true, 'SIGKILL']);
  });

  it('a cancel before the process starts means it never starts', async () => {
    const marker = join(root, 'never-ran');
    const job = shellJob('early', `touch ${marker}`);
    const a = startAttempt(attemptOpts(batchOf([job]), job));
    a.cancel('before start');
    const r = await a.done;
    assert.equal(await a.started, null);
    assert.deepEqual([r.cancelled, r.success, r.exit_code], [true, false, null]);
    assert.equal(existsSync(marker), false);
  });

  it('pause stops the whole group and paused time does not count toward the limit', async () => {
    const pidFile = join(root, 'paused.pid');
    const job = shellJob('pausable', `sleep 1000 & echo $! > ${pidFile}; wait`, {}, { time: 1 });
    const a = startAttempt(attemptOpts(batchOf([job]), job));
    const leader = (await a.started)!;
    const [child] = await readPids(pidFile, 1);
    const t0 = Date.now();
    a.pause();
    assert.equal(a.paused, true);
    await waitFor(() => processState(leader) === 'T' && processState(child!) === 'T', 'both processes to stop');
    // stay paused past the limit: the job must survive it
    await new Promise((r) => setTimeout(r, 1300));
    assert.ok(isAlive(leader), 'the limit struck while paused');
    a.resume();
    await waitFor(() => processState(child!) !== 'T', 'the child to continue');
    const r = await a.done;
    const took = Date.now() - t0;
    assert.equal(r.timed_out, true);
    // the limit ends the job once it has run 1 s unpaused: after pause + (1 s - time run before the pause)
    assert.ok(took >= 1300 + 500, `ended ${took} ms after the pause`);
  });

  it('a job that finishes while paused past its limit is not timed out', async () => {
    const job = shellJob('short', 'sleep 0.8', {}, { time: 1 });
    const a = startAttempt(attemptOpts(batchOf([job]), job));
    await a.started;
    a.pause();
    await new Promise((r) => setTimeout(r, 1200));
    a.resume();
    const r = await a.done;
    assert.deepEqual([r.success, r.timed_out], [true, false]);
  });

  it('streams 200 MB of stdout to its log with flat memory', async () => {
    const job = shellJob('loud', 'head -c 200000000 /dev/zero');
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const a = startAttempt(attemptOpts(batchOf([job]), job));
    const r = await a.done;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.equal(r.success, true);
    const log = join(a.paths.meta, 'stdout.log');
    assert.equal(statSync(log).size, 200_000_000);
    const growthMb = (peak - before) / 2 ** 20;
    assert.ok(growthMb < 60, `rss grew by ${growthMb.toFixed(1)} MB`);
    writeFileSync(log, '');
  });

  it('fails the attempt with a clear message when an input is missing', async () => {
    const job = shellJob('needs', 'true');
    const a = startAttempt(attemptOpts(batchOf([job]), job, { inputs: [{ alias: 'mesh.dat', source: join(root, 'no-such-mesh') }] }));
    const r = await a.done;
    assert.equal(r.success, false);
    assert.match(r.error ?? '', /needs: input "mesh.dat": cannot place .*no-such-mesh/);
    assert.match(readFileSync(join(a.paths.meta, 'stderr.log'), 'utf8'), /mesh\.dat/);
    assert.deepEqual(readJson(join(a.paths.meta, 'result.json')).error, r.error);
  });

  it('fails the attempt when the program does not exist', async () => {
    const script = join(root, 'job.py');
    writeFileSync(script, 'print(1)\n');
    const job = shellJob('py', '', { command: null, file: { path: script, alias: 'job.py' } });
    const batch = batchOf([job], { kind: 'python', initialize: { kind: 'python', buildFile: null, requiredFiles: [] } });
    const r = await startAttempt(attemptOpts(batch, job, { jobFile: script, env: { PATH: join(root, 'empty-bin') } })).done;
    assert.equal(r.success, false);
    assert.match(r.error ?? '', /cannot start python3/);
  });

  it('runs a python job as `python3 run.py <cpus>`', async () => {
    const script = join(root, 'sim.py');
    writeFileSync(script, 'import sys, os\nprint(sys.argv, os.path.basename(os.getcwd()))\n');
    const job = shellJob('py', '', { command: null, file: { path: script, alias: 'sim.py' } });
    const batch = batchOf([job], { kind: 'python', initialize: { kind: 'python', buildFile: null, requiredFiles: [] } });
    const a = startAttempt(attemptOpts(batch, job, { jobFile: script, cpus: 3 }));
    const r = await a.done;
    assert.equal(r.success, true, readFileSync(join(a.paths.meta, 'stderr.log'), 'utf8'));
    assert.equal(readFileSync(join(a.paths.meta, 'stdout.log'), 'utf8'), "['run.py', '3'] attempt-1\n");
  });
});

describe('apptainer jobs', () => {
  function standIn(dir: string, name: string): string {
    mkdirSync(dir, { recursive: true });
    const record = join(dir, 'record.txt');
    writeFileSync(join(dir, name), `#!/bin/sh\n{ echo "$0"; pwd; for a in "$@"; do echo "$a"; done; } > ${record}\n`, { mode: 0o755 });
    return record;
  }

  const sifSource = () => {
    const f = join(root, 'solver.sif');
    writeFileSync(f, 'not really an image');
    return f;
  };

  it('runs exactly `apptainer run --nv --app distribute --bind ... image.sif <cpus>` with the mounts of the batch', async () => {
    const bin = join(root, 'bin-apptainer');
    const record = standIn(bin, 'apptainer');
    const init = { kind: 'apptainer' as const, sif: { path: sifSource(), alias: 'solver.sif' }, requiredFiles: [], requiredMounts: ['/data', '/scratch/out'] };
    const job = shellJob('run_1', '', { command: null });
    const batch = batchOf([job], { kind: 'apptainer', initialize: init });
    const workDir = join(root, 'w-apptainer');
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const build = await runBuild({ batch, workDir, inputs: [], buildFile: null, sif: { alias: 'solver.sif', source: init.sif.path }, env });
    assert.equal(build.ok, true);
    assert.equal(build.ran, false);
    assert.equal(readFileSync(join(build.dir, 'solver.sif'), 'utf8'), 'not really an image');
    const a = startAttempt(attemptOpts(batch, job, { workDir, env, cpus: 4 }));
    const r = await a.done;
    assert.equal(r.success, true, r.error ?? '');
    const p = a.paths;
    const lines = readFileSync(record, 'utf8').trim().split('\n');
    assert.equal(lines[0], join(bin, 'apptainer'));
    assert.equal(lines[1], p.root);
    assert.deepEqual(lines.slice(2), [
      'run', '--nv', '--app', 'distribute',
      '--bind', `${p.input}:/input,${p.save}:/distribute_save,${p.root}/mounts/0:/data,${p.root}/mounts/1:/scratch/out`,
      join(build.dir, 'solver.sif'),
      '4',
    ]);
    assert.ok(statSync(join(p.root, 'mounts', '0')).isDirectory());
    assert.ok(statSync(join(p.root, 'mounts', '1')).isDirectory());
  });

  it('uses singularity where only singularity is installed', async () => {
    const bin = join(root, 'bin-singularity');
    const record = standIn(bin, 'singularity');
    const init = { kind: 'apptainer' as const, sif: { path: sifSource(), alias: 'img.sif' }, requiredFiles: [], requiredMounts: [] };
    const job = shellJob('run_2', '', { command: null });
    const batch = batchOf([job], { kind: 'apptainer', initialize: init });
    const r = await startAttempt(attemptOpts(batch, job, { env: { PATH: `${bin}:/usr/bin:/bin` } })).done;
    assert.equal(r.success, true, r.error ?? '');
    const lines = readFileSync(record, 'utf8').trim().split('\n');
    assert.equal(lines[0], join(bin, 'singularity'));
    assert.equal(lines[2], 'run');
  });

  it('fails the attempt, naming both, when neither runtime is installed', async () => {
    const init = { kind: 'apptainer' as const, sif: { path: sifSource(), alias: 'img.sif' }, requiredFiles: [], requiredMounts: [] };
    const job = shellJob('run_3', '', { command: null });
    const r = await startAttempt(attemptOpts(batchOf([job], { kind: 'apptainer', initialize: init }), job, { env: { PATH: join(root, 'empty-bin') } })).done;
    assert.equal(r.success, false);
    assert.match(r.error ?? '', /neither apptainer nor singularity is on PATH/);
  });
});

describe('runBuild', () => {
  it('runs the initialize step once in the build folder that jobs see as DISTRIBUTE_BUILD', async () => {
    const mesh = join(root, 'mesh-src.dat');
    writeFileSync(mesh, 'MESH');
    const init = { kind: 'shell' as const, command: 'cat mesh.dat > compiled.bin; echo built; echo "$DISTRIBUTE_BATCH_NAME" >&2', requiredFiles: [{ path: mesh, alias: 'mesh.dat' }] };
    const job = shellJob('uses', 'cat "$DISTRIBUTE_BUILD/compiled.bin"');
    const batch = batchOf([job], { initialize: init, name: 'with_build' });
    const workDir = join(root, 'w-build');
    const b = await runBuild({ batch, workDir, inputs: [{ alias: 'mesh.dat', source: mesh }], buildFile: null, sif: null });
    assert.equal(b.ok, true);
    assert.equal(b.ran, true);
    assert.equal(b.dir, join(workDir, 'ns', 'with_build', 'build'));
    assert.equal(readFileSync(b.stdoutLog, 'utf8'), 'built\n');
    assert.equal(readFileSync(b.stderrLog, 'utf8'), 'with_build\n');
    const a = startAttempt(attemptOpts(batch, job, { workDir }));
    await a.done;
    assert.equal(readFileSync(join(a.paths.meta, 'stdout.log'), 'utf8'), 'MESH');
  });

  it('reports a failed build with its logs kept', async () => {
    const init = { kind: 'shell' as const, command: 'echo compiling; echo "error: no compiler" >&2; exit 4', requiredFiles: [] };
    const batch = batchOf([shellJob('x', 'true')], { initialize: init, name: 'broken' });
    const b = await runBuild({ batch, workDir: join(root, 'w-broken'), inputs: [], buildFile: null, sif: null });
    assert.equal(b.ok, false);
    assert.equal(b.exit_code, 4);
    assert.equal(readFileSync(b.stderrLog, 'utf8'), 'error: no compiler\n');
    assert.equal(readJson(join(b.dir, '_distribute', 'result.json')).exit_code, 4);
  });

  it('runs a python build as `python3 build.py` beside its files', async () => {
    const script = join(root, 'make.py');
    writeFileSync(script, 'import os, sys\nprint(sys.argv, sorted(f for f in os.listdir(".") if not f.startswith("_")))\n');
    const mesh = join(root, 'grid.dat');
    writeFileSync(mesh, 'g');
    const batch = batchOf([], { kind: 'python', name: 'pyb', initialize: { kind: 'python', buildFile: { path: script, alias: 'make.py' }, requiredFiles: [{ path: mesh, alias: 'grid.dat' }] } });
    const b = await runBuild({ batch, workDir: join(root, 'w-pyb'), inputs: [{ alias: 'grid.dat', source: mesh }], buildFile: script, sif: null });
    assert.equal(b.ok, true, readFileSync(b.stderrLog, 'utf8'));
    assert.equal(readFileSync(b.stdoutLog, 'utf8'), "['build.py'] ['build.py', 'grid.dat']\n");
  });
});
