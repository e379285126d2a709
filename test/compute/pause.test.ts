import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAttempt, startBuild, type RunningAttempt } from '../../compute/runner.js';
import { PauseController, PauseRefused, type Pausable } from '../../compute/pause.js';
import { tempDir } from '../helpers/cli.js';
import { batchOf, processState, readPids, shellJob, waitFor } from './support.js';
import { BUSY_TREE_COMMAND, cpuTicks } from './job-tree.js';
import { ManualClock } from './manual-clock.js';

let root: string;
let cleanup: () => void;
const runs: RunningAttempt[] = [];
before(() => ({ dir: root, cleanup } = tempDir('distribute-pause-')));
after(async () => {
  // a failed test must not leave busy loops behind
  for (const r of runs) r.cancel('test over');
  await Promise.all(runs.map((r) => r.done));
  cleanup();
});

let n = 0;
function startTree(): RunningAttempt {
  const job = shellJob('tree', BUSY_TREE_COMMAND);
  const run = startAttempt({ batch: batchOf([job]), job, attempt: 1, workDir: join(root, `w${++n}`), node: 'n1', cpus: 1, gpus: null, inputs: [], jobFile: null, killGraceMs: 300 });
  runs.push(run);
  return run;
}

/** Milliseconds until every pid shows state T, polled every 2 ms; Infinity after 1 s. */
async function msUntilStopped(pids: number[], from: number): Promise<number> {
  for (;;) {
    if (pids.every((p) => processState(p) === 'T')) return performance.now() - from;
    if (performance.now() - from > 1000) return Infinity;
    await new Promise((r) => setTimeout(r, 2));
  }
}

const HOUR = 3600_000;

class Recorder implements Pausable {
  calls: string[] = [];
  pause() {
    this.calls.push('pause');
  }
  resume() {
    this.calls.push('resume');
  }
}

describe('PauseController with real jobs', () => {
  it('stops the leader, child and grandchild within 100 ms; their CPU time stands still; resume lets the job finish', async (t) => {
    const c = new PauseController({ maxPauseMs: HOUR });
    const run = startTree();
    c.track(1, 'ns/b1/tree', run);
    const pids = await readPids(join(run.paths.save, 'pids'), 3);
    await waitFor(() => pids.every((p) => processState(p) !== null), 'the tree');

    // latency is the feature: on a loaded machine the measurement is retried, the bound is not loosened
    const tries: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      c.pause({ by: 'alice', source: 'user', durationMs: 60_000 });
      tries.push(await msUntilStopped(pids, t0));
      if (tries.at(-1)! <= 100) break;
      c.resume('alice', 'user');
      await waitFor(() => pids.every((p) => processState(p) !== 'T'), 'the tree to run again');
    }
    assert.ok(tries.at(-1)! <= 100, `every process stopped within 100 ms (tries: ${tries.map((x) => x.toFixed(1)).join(', ')} ms)`);
    t.diagnostic(`all three stopped ${tries.map((x) => x.toFixed(2)).join(', then ')} ms after pause()`);
    assert.equal(run.paused, true);

    const before = pids.map(cpuTicks);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(pids.map(cpuTicks), before, 'no CPU time while stopped');
    assert.deepEqual(pids.map(processState), ['T', 'T', 'T']);

    c.resume('alice', 'user');
    await waitFor(() => pids.slice(1).every((p, i) => (cpuTicks(p) ?? 0) > (before[i + 1] ?? 0)), 'child and grandchild to use CPU again', 5000);
    writeFileSync(join(run.paths.save, 'stop'), '');
    const r = await run.done;
    assert.equal(r.exit_code, 0);
    assert.equal(r.success, true);
  });

  it('a job that starts while the node is paused starts stopped', async () => {
    const c = new PauseController({ maxPauseMs: HOUR });
    c.pause({ by: 'alice', source: 'user', durationMs: 60_000 });
    // the attempt exists (its files are being placed) before its process does
    const run = startTree();
    c.track(1, 'ns/b1/tree', run);
    const leader = await run.started;
    assert.ok(leader !== null);
    // SIGSTOP was sent as the process was born; the kernel marks it T when it is next scheduled
    const t0 = performance.now();
    assert.ok((await msUntilStopped([leader], t0)) <= 100, 'the leader is stopped at once');
    const started = cpuTicks(leader);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(cpuTicks(leader), started);
    c.resume('alice', 'user');
    const pids = await readPids(join(run.paths.save, 'pids'), 3);
    writeFileSync(join(run.paths.save, 'stop'), '');
    assert.equal((await run.done).exit_code, 0);
    assert.equal(pids.length, 3);
  });
});

describe('PauseController and builds', () => {
  it('stops a batch\'s initialize step with the jobs, and never vacates it', async () => {
    const c = new PauseController({ maxPauseMs: HOUR, vacateAfterMs: 50 });
    const vacated: number[] = [];
    c.onVacate((a) => vacated.push(a));
    const flag = join(root, 'build-go');
    const batch = batchOf([], { name: 'compiled', initialize: { kind: 'shell', command: `while [ ! -e ${flag} ]; do :; done; echo built`, requiredFiles: [] } });
    const build = startBuild({ batch, workDir: join(root, 'builds'), inputs: [], buildFile: null, sif: null, killGraceMs: 300 });
    const release = c.trackBuild('ns/compiled', build);
    try {
      await waitFor(() => build.pid !== null, 'the build to start');
      c.pause({ by: 'alice', source: 'user', durationMs: 60_000 });
      assert.ok((await msUntilStopped([build.pid!], performance.now())) <= 100, 'the build is stopped');
      assert.deepEqual(c.groups(), new Set([build.pid]));
      assert.deepEqual(c.jobs(), [], 'a build is not a job of the status');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(vacated, []);
      c.resume('alice', 'user');
      writeFileSync(flag, '');
      assert.equal((await build.done).ok, true);
    } finally {
      build.cancel('test over');
      release();
      c.close();
    }
  });
});

describe('PauseController', () => {
  it('resumes by itself at the deadline and tells its listeners', () => {
    const clock = new ManualClock(1_000_000);
    const c = new PauseController({ maxPauseMs: HOUR, clock });
    const job = new Recorder();
    c.track(7, 'ns/b/j', job);
    const seen: boolean[] = [];
    c.onChange((s) => seen.push(s.paused));
    c.pause({ by: 'alice', source: 'user', durationMs: 2000 });
    assert.deepEqual(c.state, { paused: true, by: 'alice', source: 'user', since: 1_000_000, until: 1_002_000 });
    clock.advance(1999);
    assert.equal(c.paused, true);
    clock.advance(1);
    assert.equal(c.paused, false);
    assert.deepEqual(job.calls, ['pause', 'resume']);
    assert.deepEqual(seen, [true, false]);
    assert.equal(clock.pending, 0);
  });

  it('defaults to one hour, capped by max_pause, and refuses a longer duration', () => {
    assert.equal(new PauseController({ maxPauseMs: 24 * HOUR }).durationFor(null), HOUR);
    assert.equal(new PauseController({ maxPauseMs: 10 * 60_000 }).durationFor(undefined), 10 * 60_000);
    const c = new PauseController({ maxPauseMs: 2 * HOUR });
    assert.throws(() => c.pause({ by: 'bob', source: 'user', durationMs: 3 * HOUR }), (e: unknown) => e instanceof PauseRefused && /3h 00m is longer than this node allows \(max_pause 2h 00m\)/.test(e.message));
    assert.equal(c.paused, false);
  });

  it('a second pause replaces the deadline and keeps since; resume ends it early', () => {
    const clock = new ManualClock(0);
    const c = new PauseController({ maxPauseMs: HOUR, clock });
    c.pause({ by: 'alice', source: 'user', durationMs: 10_000 });
    clock.advance(5000);
    c.pause({ by: 'bob', source: 'user', durationMs: 20_000 });
    assert.deepEqual(c.state, { paused: true, by: 'bob', source: 'user', since: 0, until: 25_000 });
    clock.advance(10_000);
    assert.equal(c.paused, true, 'the first deadline no longer counts');
    assert.equal(c.resume('carol', 'user'), true);
    assert.equal(c.paused, false);
    assert.equal(clock.pending, 0);
    assert.equal(c.resume('carol', 'user'), false);
  });

  it('pausing an idle node is a pause all the same, and jobs tracked later follow it', () => {
    const c = new PauseController({ maxPauseMs: HOUR, clock: new ManualClock() });
    c.pause({ by: 'alice', source: 'user' });
    const late = new Recorder();
    const untrack = c.track(3, 'ns/b/late', late);
    assert.deepEqual(late.calls, ['pause']);
    assert.deepEqual(c.jobs(), [{ attempt: 3, job: 'ns/b/late', paused: true, vacateAt: null }]);
    untrack();
    c.resume('alice', 'user');
    assert.deepEqual(late.calls, ['pause'], 'a job let go of is not resumed');
  });

  it('hands back a job stopped for vacate_after, and not one resumed before', () => {
    const clock = new ManualClock(0);
    const c = new PauseController({ maxPauseMs: HOUR, vacateAfterMs: 30_000, clock });
    const vacated: number[] = [];
    c.onVacate((attempt) => vacated.push(attempt));
    c.track(1, 'ns/b/one', new Recorder());
    c.pause({ by: 'alice', source: 'user', durationMs: 20_000 });
    clock.advance(25_000); // resumed at 20 s
    assert.deepEqual(vacated, []);
    c.pause({ by: 'alice', source: 'user', durationMs: HOUR });
    clock.advance(10_000);
    c.track(2, 'ns/b/two', new Recorder()); // placed during the pause: its own clock
    assert.equal(c.jobs().find((j) => j.attempt === 2)?.vacateAt, 65_000);
    clock.advance(20_000);
    assert.deepEqual(vacated, [1]);
    clock.advance(10_000);
    assert.deepEqual(vacated, [1, 2]);
  });

  it('the idle policy neither ends nor replaces a user pause; a user pause replaces the policy\'s', () => {
    const clock = new ManualClock(0);
    const c = new PauseController({ maxPauseMs: HOUR, clock });
    c.pause({ by: 'alice', source: 'user', durationMs: 60_000 });
    assert.equal(c.pause({ by: 'idle_policy', source: 'idle_policy' }), false);
    assert.equal(c.resume('idle_policy', 'idle_policy'), false);
    assert.equal(c.state.by, 'alice');
    c.resume('alice', 'user');
    c.pause({ by: 'idle_policy', source: 'idle_policy' });
    assert.equal(c.state.until, null, 'the policy\'s pause lasts until the machine is quiet');
    c.pause({ by: 'bob', source: 'user', durationMs: 1000 });
    assert.equal(c.state.source, 'user');
    clock.advance(1000);
    assert.equal(c.paused, false);
  });
});
