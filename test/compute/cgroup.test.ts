// A job's cgroup on this machine's real hierarchies: kill and the job's end reach setsid'd and
// double-forked children, pause freezes them, memory and process count are hard limits, and
// result.json reports what the job used.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAttempt, type StartAttemptOptions } from '../../compute/runner.js';
import { CgroupV2 } from '../../compute/cgroup/v2.js';
import type { Containment } from '../../compute/cgroup/types.js';
import { tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import { batchOf, shellJob, isAlive, readPids } from './support.js';
import type { BatchSpec, JobSpec } from '../../shared/spec/types.js';
import { canUseCgroups, hasV2, openTestContainment } from './cgroup-support.js';

let root: string;
let cleanup: () => void;
before(() => ({ dir: root, cleanup } = tempDir('distribute-cgroup-')));
after(() => cleanup());

let n = 0;
function opts(c: Containment, batch: BatchSpec, job: JobSpec, maxProcesses: number | null = 256): StartAttemptOptions {
  return { batch, job, attempt: 1, workDir: join(root, `w${++n}`), node: 'node-a', cpus: 1, gpus: null, inputs: [], jobFile: null, killGraceMs: 300, containment: { containment: c, maxProcesses } };
}

// the job's own pid, a setsid'd sleep and a double-forked one, then it waits
const ESCAPERS = 'echo $$ >> "$DISTRIBUTE_SAVE/pids"; setsid sh -c \'echo $$ >> "$DISTRIBUTE_SAVE/pids"; exec sleep 1000\' & (sh -c \'echo $$ >> "$DISTRIBUTE_SAVE/pids"; exec sleep 1001\' &) ;';

for (const mode of ['cgroup-v1', 'cgroup-v2'] as const) {
  describe(`${mode}: a job's processes`, { skip: !canUseCgroups || (mode === 'cgroup-v2' && !hasV2) ? 'needs root and the cgroup hierarchies' : false }, () => {
    let c: Containment;
    before(async () => (c = await openTestContainment(mode, 'runner')));
    after(() => c.close());

    it('a cancel kills its setsid\'d and double-forked children', async () => {
      const job = shellJob('escape', `${ESCAPERS} sleep 1000`);
      const a = startAttempt(opts(c, batchOf([job]), job));
      await a.started;
      const pids = await readPids(join(a.paths.save, 'pids'), 3);
      assert.ok(pids.every(isAlive));
      a.cancel('test');
      const r = await a.done;
      assert.equal(r.cancelled, true);
      assert.deepEqual(pids.filter(isAlive), [], 'no process of the job is left');
    });

    it('its end kills what it left behind, and its cgroup goes', async () => {
      const job = shellJob('leaves', `${ESCAPERS} while [ "$(wc -l < "$DISTRIBUTE_SAVE/pids")" -lt 3 ]; do sleep 0.01; done`);
      const a = startAttempt(opts(c, batchOf([job]), job));
      const r = await a.done;
      assert.equal(r.success, true);
      const pids = readFileSync(join(a.paths.save, 'pids'), 'utf8').trim().split('\n').map(Number);
      assert.equal(pids.length, 3);
      assert.deepEqual(pids.filter(isAlive), [], 'no process of the job is left');
      const left = readFileSync('/proc/self/cgroup', 'utf8');
      assert.ok(!left.includes('job.ns.b1.leaves'));
    });

    it('pause freezes its setsid\'d child, resume thaws it', async () => {
      // the setsid'd child counts; the count stands still while paused
      const job = shellJob('ticks', 'setsid sh -c \'i=0; while true; do i=$((i+1)); echo $i > "$DISTRIBUTE_SAVE/count"; sleep 0.02; done\' & sleep 1000');
      const a = startAttempt(opts(c, batchOf([job]), job));
      const count = () => Number(readFileSync(join(a.paths.save, 'count'), 'utf8').trim() || '0');
      await until(() => existsSync(join(a.paths.save, 'count')) && count() > 2, 'the child counting');
      a.pause();
      // frozen: two reads far apart see the same count
      const frozenAt = await until(async () => {
        const x = count();
        await new Promise((r) => setTimeout(r, 300));
        return count() === x ? x + 1 : 0;
      }, 'the count to stand still');
      assert.ok(frozenAt > 0);
      a.resume();
      await until(() => count() > frozenAt + 2, 'the count to go on after resume');
      a.cancel('test');
      await a.done;
    });
  });
}

describe('cgroup-v1: limits and usage', { skip: !canUseCgroups ? 'needs root and the cgroup v1 hierarchies' : false }, () => {
  let c: Containment;
  before(async () => (c = await openTestContainment('cgroup-v1', 'limits')));
  after(() => c.close());

  it('a job over its memory fails within seconds as out of memory', async () => {
    const job = shellJob('greedy', 'python3 -c "a = bytearray(400 * 1024 * 1024); print(len(a))"', {}, { memory: 100 * 1024 ** 2 });
    const t0 = Date.now();
    const a = startAttempt(opts(c, batchOf([job]), job));
    const r = await a.done;
    // seconds, not the minutes a swapping job would take; generous for a loaded machine
    assert.ok(Date.now() - t0 < 20_000);
    assert.equal(r.success, false);
    assert.equal(r.out_of_memory, true);
    assert.match(r.error ?? '', /^out of memory: peak \d+\.\dM, limit 100M$/);
    assert.ok((r.usage.peak_memory_bytes ?? 0) >= 95 * 1024 ** 2);
    const onDisk = JSON.parse(readFileSync(join(a.paths.meta, 'result.json'), 'utf8')) as { error: string; out_of_memory: boolean };
    assert.equal(onDisk.error, r.error);
    assert.match(readFileSync(join(a.paths.meta, 'stderr.log'), 'utf8'), /out of memory: peak/);
  });

  it('a job within its memory is not out of memory', async () => {
    const job = shellJob('modest', 'python3 -c "a = bytearray(20 * 1024 * 1024); print(len(a))"', {}, { memory: 100 * 1024 ** 2 });
    const r = await startAttempt(opts(c, batchOf([job]), job)).done;
    assert.equal(r.success, true);
    assert.equal(r.out_of_memory, false);
  });

  it('a fork loop stops at max_processes', async () => {
    const job = shellJob('forks', 'i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); echo $i > "$DISTRIBUTE_SAVE/started"; done; wait');
    const a = startAttempt(opts(c, batchOf([job]), job, 20));
    const r = await a.done;
    assert.equal(r.success, false);
    const started = Number(readFileSync(join(a.paths.save, 'started'), 'utf8').trim());
    assert.ok(started < 20, `${started} sleeps started under a limit of 20 processes`);
    assert.match(readFileSync(join(a.paths.meta, 'stderr.log'), 'utf8'), /fork|Resource temporarily unavailable/i);
  });

  it('reports the CPU time of a busy loop as /proc counted it', async () => {
    // 2 s of CPU in python; then /proc's count for the shell and what it reaped (utime, stime, cutime, cstime)
    const py = 'import time\\nt=time.process_time()\\nwhile time.process_time()-t<2: pass\\n';
    const job = shellJob('busy', `printf '${py}' > busy.py; python3 busy.py; cut -d')' -f2 /proc/$$/stat > "$DISTRIBUTE_SAVE/stat"; getconf CLK_TCK > "$DISTRIBUTE_SAVE/hz"`);
    const a = startAttempt(opts(c, batchOf([job]), job));
    const r = await a.done;
    assert.equal(r.success, true, readFileSync(join(a.paths.meta, 'stderr.log'), 'utf8'));
    const f = readFileSync(join(a.paths.save, 'stat'), 'utf8').trim().split(' ').map(Number);
    const proc = (f[11]! + f[12]! + f[13]! + f[14]!) / Number(readFileSync(join(a.paths.save, 'hz'), 'utf8'));
    assert.ok(proc >= 2, `busy for ${proc} s`);
    const cpu = r.usage.cpu_seconds ?? 0;
    assert.ok(Math.abs(cpu - proc) / proc < 0.15, `cgroup ${cpu} s against /proc ${proc} s`);
    assert.ok(r.usage.wall_seconds >= 2);
  });

  it('reports the peak memory of a job touching 200 MB as /proc counted it', async () => {
    const py = 'a=bytearray(200*1024*1024)\\nfor i in range(0,len(a),4096): a[i]=1\\nprint([int(l.split()[1])*1024 for l in open("/proc/self/status") if l.startswith("VmHWM")][0])';
    const job = shellJob('touch', `printf '${py}' > touch.py; python3 touch.py > "$DISTRIBUTE_SAVE/hwm"`);
    const a = startAttempt(opts(c, batchOf([job]), job));
    const r = await a.done;
    assert.equal(r.success, true, readFileSync(join(a.paths.meta, 'stderr.log'), 'utf8'));
    const hwm = Number(readFileSync(join(a.paths.save, 'hwm'), 'utf8'));
    const peak = r.usage.peak_memory_bytes ?? 0;
    assert.ok(hwm >= 200 * 1024 ** 2);
    assert.ok(Math.abs(peak - hwm) / hwm < 0.15, `cgroup peak ${peak} against VmHWM ${hwm}`);
  });
});

describe('cgroup-v2 limits, against a folder laid out as cgroupfs', () => {
  it('enables the controllers its parent offers and writes memory.max, memory.swap.max and pids.max', async () => {
    const dir = join(root, 'fake-cgroupfs', 'distribute');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    writeFileSync(join(dir, 'cgroup.subtree_control'), '');
    const v2 = new CgroupV2(dir);
    await v2.open();
    assert.deepEqual(v2.controllers, ['memory', 'pids', 'cpu']);
    assert.equal(readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8'), '+memory +pids +cpu');
    const job = await v2.create('job.ns.b.j.1', { memoryBytes: 256 * 1024 ** 2, maxProcesses: 64 });
    assert.deepEqual(job.procsFiles, [join(dir, 'job.ns.b.j.1', 'cgroup.procs')]);
    assert.equal(readFileSync(join(dir, 'job.ns.b.j.1', 'memory.max'), 'utf8'), String(256 * 1024 ** 2));
    assert.equal(readFileSync(join(dir, 'job.ns.b.j.1', 'memory.swap.max'), 'utf8'), '0');
    assert.equal(readFileSync(join(dir, 'job.ns.b.j.1', 'pids.max'), 'utf8'), '64');
    // what the kernel would report
    writeFileSync(join(dir, 'job.ns.b.j.1', 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
    writeFileSync(join(dir, 'job.ns.b.j.1', 'memory.peak'), '268435456\n');
    writeFileSync(join(dir, 'job.ns.b.j.1', 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n');
    assert.deepEqual(job.usage(), { cpu_seconds: 2.5, peak_memory_bytes: 268435456 });
    assert.equal(job.oomKilled(), true);
  });

  it('without those controllers, sets no limits', async () => {
    const dir = join(root, 'fake-cgroupfs', 'bare');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cgroup.controllers'), '');
    const v2 = new CgroupV2(dir);
    await v2.open();
    assert.deepEqual(v2.controllers, []);
    await v2.create('j', { memoryBytes: 1024 ** 3, maxProcesses: 64 });
    assert.equal(existsSync(join(dir, 'j', 'memory.max')), false);
    assert.equal(existsSync(join(dir, 'j', 'pids.max')), false);
  });
});
