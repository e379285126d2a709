import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runSequential } from '../../../src/local/sequential.js';
import { runMultiprocessing } from '../../../src/local/multiprocessing.js';
import { runSucceeded } from '../../../src/local/run-batch.js';
import type { ProgressReporter } from '../../../src/local/progress.js';
import { tempDir } from '../../helpers/cli.js';
import { batchOf, shellJob, isAlive, readPids, waitFor } from '../../compute/support.js';

let root: string;
let cleanup: () => void;
before(() => ({ dir: root, cleanup } = tempDir('distribute-local-')));
after(() => cleanup());

let n = 0;
function dirs() {
  n++;
  return { saveDir: join(root, `save${n}`), workDir: join(root, `work${n}`) };
}

function recorder() {
  const events: string[] = [];
  const progress: ProgressReporter = {
    begin: (b, jobs) => events.push(`begin ${b} ${jobs}`),
    warn: (m) => events.push(`warn ${m}`),
    buildFinished: (r) => events.push(`build ${r.ok}`),
    jobStarted: (j) => events.push(`start ${j}`),
    jobFinished: (j, r) => events.push(`finish ${j} ${r.success}`),
    end: () => events.push('end'),
  };
  return { events, progress };
}

/** [start, end] in ms of each job, from the `span` files the jobs write. */
function spans(saveDir: string, batch: string, jobs: string[]): [number, number][] {
  return jobs.map((j) => readFileSync(join(saveDir, batch, j, 'span'), 'utf8').trim().split(' ').map((t) => Number(t) / 1e6) as [number, number]);
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[1] && b[0] < a[1];
}

const SPAN = 's=$(date +%s%N); sleep 0.4; echo "$s $(date +%s%N)" > "$DISTRIBUTE_SAVE/span"';

describe('running a batch on this machine', () => {
  it('moves each job\'s distribute_save content and _distribute to <save>/<batch>/<job>/', async () => {
    const { saveDir, workDir } = dirs();
    const jobs = [shellJob('ok', 'echo out; echo data > "$DISTRIBUTE_SAVE/data.txt"; mkdir "$DISTRIBUTE_SAVE/sub"; echo x > "$DISTRIBUTE_SAVE/sub/y"'), shellJob('bad', 'echo err >&2; exit 3')];
    const batch = batchOf(jobs, { name: 'layout' });
    const o = await runSequential(batch, { saveDir, workDir });
    assert.deepEqual([o.done, o.failed], [['ok'], ['bad']]);
    assert.equal(runSucceeded(o), false);
    assert.deepEqual(readdirSync(join(saveDir, 'layout')).sort(), ['bad', 'ok']);
    assert.deepEqual(readdirSync(join(saveDir, 'layout', 'ok')).sort(), ['_distribute', 'data.txt', 'sub']);
    assert.equal(readFileSync(join(saveDir, 'layout', 'ok', 'sub', 'y'), 'utf8'), 'x\n');
    assert.deepEqual(readdirSync(join(saveDir, 'layout', 'ok', '_distribute')).sort(), ['result.json', 'stderr.log', 'stdout.log']);
    assert.equal(readFileSync(join(saveDir, 'layout', 'ok', '_distribute', 'stdout.log'), 'utf8'), 'out\n');
    const bad = JSON.parse(readFileSync(join(saveDir, 'layout', 'bad', '_distribute', 'result.json'), 'utf8')) as { exit_code: number };
    assert.equal(bad.exit_code, 3);
    assert.equal(readFileSync(join(saveDir, 'layout', 'bad', '_distribute', 'stderr.log'), 'utf8'), 'err\n');
  });

  it('replaces a job\'s earlier results rather than merging them', async () => {
    const { saveDir, workDir } = dirs();
    const stale = join(saveDir, 'again', 'j');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'old.txt'), 'old');
    const o = await runSequential(batchOf([shellJob('j', 'echo new > "$DISTRIBUTE_SAVE/new.txt"')], { name: 'again' }), { saveDir, workDir });
    assert.equal(runSucceeded(o), true);
    assert.deepEqual(readdirSync(stale).sort(), ['_distribute', 'new.txt']);
  });

  it('runs the initialize step first, and jobs see its folder', async () => {
    const { saveDir, workDir } = dirs();
    const init = { kind: 'shell' as const, command: 'echo built > artefact', requiredFiles: [] };
    const batch = batchOf([shellJob('a', 'cat "$DISTRIBUTE_BUILD/artefact" > "$DISTRIBUTE_SAVE/seen"')], { initialize: init, name: 'built' });
    const { events, progress } = recorder();
    const o = await runSequential(batch, { saveDir, workDir, progress });
    assert.equal(runSucceeded(o), true);
    assert.equal(readFileSync(join(saveDir, 'built', 'a', 'seen'), 'utf8'), 'built\n');
    assert.deepEqual(events, ['begin built 1', 'build true', 'start a', 'finish a true', 'end']);
  });

  it('runs no job when the build fails, and keeps the build log', async () => {
    const { saveDir, workDir } = dirs();
    const marker = join(root, 'job-ran');
    const init = { kind: 'shell' as const, command: 'echo "cc: not found" >&2; exit 1', requiredFiles: [] };
    const batch = batchOf([shellJob('a', `touch ${marker}`), shellJob('b', `touch ${marker}`)], { initialize: init, name: 'nobuild' });
    const o = await runMultiprocessing(batch, { saveDir, workDir, slots: 2 });
    assert.equal(runSucceeded(o), false);
    assert.deepEqual(o.notRun, ['a', 'b']);
    assert.equal(existsSync(marker), false);
    assert.equal(o.buildLogs, join(saveDir, 'nobuild', '_build'));
    assert.equal(readFileSync(join(o.buildLogs, 'stderr.log'), 'utf8'), 'cc: not found\n');
    assert.deepEqual(readdirSync(join(saveDir, 'nobuild')), ['_build']);
  });

  it('multiprocessing runs one-cpu jobs side by side and never overlaps jobs that need every slot', async () => {
    const { saveDir, workDir } = dirs();
    const small = ['s1', 's2'].map((j) => shellJob(j, SPAN));
    const big = ['b1', 'b2'].map((j) => shellJob(j, SPAN, {}, { cpus: 2 }));
    const batch = batchOf([...big, ...small], { name: 'packing' });
    const o = await runMultiprocessing(batch, { saveDir, workDir, slots: 2 });
    assert.equal(runSucceeded(o), true);
    const [b1, b2, s1, s2] = spans(saveDir, 'packing', ['b1', 'b2', 's1', 's2']);
    assert.ok(overlaps(s1!, s2!), 'two one-cpu jobs should run together on two slots');
    for (const b of [b1!, b2!]) {
      for (const other of [b1!, b2!, s1!, s2!]) if (other !== b) assert.ok(!overlaps(b, other), 'a two-cpu job shared the two slots');
    }
  });

  it('sequential runs one job at a time and gives each the cpus it asks', async () => {
    const { saveDir, workDir } = dirs();
    const jobs = ['a', 'b', 'c'].map((j) => shellJob(j, `${SPAN}; echo $DISTRIBUTE_CPUS > "$DISTRIBUTE_SAVE/cpus"`, {}, { cpus: 3 }));
    const o = await runSequential(batchOf(jobs, { name: 'seq' }), { saveDir, workDir });
    assert.equal(runSucceeded(o), true);
    const s = spans(saveDir, 'seq', ['a', 'b', 'c']);
    assert.ok(!overlaps(s[0]!, s[1]!) && !overlaps(s[1]!, s[2]!) && !overlaps(s[0]!, s[2]!));
    assert.equal(readFileSync(join(saveDir, 'seq', 'a', 'cpus'), 'utf8'), '3\n');
  });

  it('multiprocessing gives a job asking more cpus than slots all of them, with a warning', async () => {
    const { saveDir, workDir } = dirs();
    const { events, progress } = recorder();
    const o = await runMultiprocessing(batchOf([shellJob('huge', 'echo $DISTRIBUTE_CPUS > "$DISTRIBUTE_SAVE/cpus"', {}, { cpus: 16 })], { name: 'cap' }), { saveDir, workDir, slots: 2, progress });
    assert.equal(runSucceeded(o), true);
    assert.equal(readFileSync(join(saveDir, 'cap', 'huge', 'cpus'), 'utf8'), '2\n');
    assert.ok(events.includes('warn job huge asks for 16 cpus but this run has 2 slots; it runs alone with 2'));
  });

  it('on abort cancels every running job, starts no other, and leaves no process behind', async () => {
    const { saveDir, workDir } = dirs();
    const pidDir = join(root, 'abort-pids');
    mkdirSync(pidDir);
    const jobs = ['a', 'b', 'c', 'd'].map((j) => shellJob(j, `sleep 1000 & echo $! > ${pidDir}/${j}; echo $$ >> ${pidDir}/${j}; wait`));
    const stop = new AbortController();
    const running = runMultiprocessing(batchOf(jobs, { name: 'abort' }), { saveDir, workDir, slots: 2, signal: stop.signal, killGraceMs: 500 });
    const pids = [...(await readPids(join(pidDir, 'a'), 2)), ...(await readPids(join(pidDir, 'b'), 2))];
    stop.abort();
    const o = await running;
    assert.equal(o.interrupted, true);
    assert.deepEqual(o.cancelled.sort(), ['a', 'b']);
    assert.deepEqual(o.notRun, ['c', 'd']);
    assert.equal(existsSync(join(pidDir, 'c')), false);
    await waitFor(() => !pids.some(isAlive), 'every job process to be gone', 3000);
  });
});
