import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlainProgress, TtyProgress, jobLine, summaryLines } from '../../../src/local/progress.js';
import type { AttemptResult } from '../../../compute/runner.js';
import type { LocalRunOutcome } from '../../../src/local/run-batch.js';

function result(over: Partial<AttemptResult>): AttemptResult {
  return {
    namespace: 'ns', batch: 'b', job: 'j', node: 'n', attempt: 1, exit_code: 0, signal: null, timed_out: false,
    cancelled: false, error: null, success: true, start: '', end: '', out_of_memory: false,
    usage: { cpu_seconds: null, peak_memory_bytes: null, wall_seconds: 0 }, ...over,
  };
}

function outcome(over: Partial<LocalRunOutcome>): LocalRunOutcome {
  return { batch: 're_sweep', resultsDir: '/r/re_sweep', build: null, buildLogs: null, done: [], failed: [], cancelled: [], notRun: [], interrupted: false, wallMs: 1234, ...over };
}

class Sink {
  text = '';
  write(t: string) {
    this.text += t;
  }
}

describe('job lines', () => {
  it('say done with the time, or FAILED with the reason', () => {
    assert.equal(jobLine('re_100', result({}), 1234), 'done re_100 (1.2s)');
    assert.equal(jobLine('re_200', result({ exit_code: 3, success: false }), 400), 'FAILED re_200 exit 3 (0.4s)');
    assert.equal(jobLine('re_300', result({ exit_code: null, signal: 'SIGKILL', success: false }), 400), 'FAILED re_300 signal SIGKILL (0.4s)');
    assert.equal(jobLine('re_400', result({ exit_code: null, signal: 'SIGTERM', timed_out: true, success: false }), 61_000), 'FAILED re_400 timed out (1m 01s)');
    assert.equal(jobLine('re_500', result({ exit_code: null, error: 're_500: input "a": cannot place /x', success: false }), 1), 'FAILED re_500 re_500: input "a": cannot place /x (0.0s)');
  });
});

describe('summary', () => {
  it('counts every state and says where results are', () => {
    assert.deepEqual(summaryLines(outcome({ done: ['a', 'b'], failed: ['c'] })), ['re_sweep: 2 done, 1 failed in 1.2s', 'failed: c', 'results in /r/re_sweep']);
  });
  it('says an interrupted run was interrupted and what did not run', () => {
    assert.deepEqual(summaryLines(outcome({ done: ['a'], cancelled: ['b'], notRun: ['c', 'd'], interrupted: true })), [
      'interrupted: re_sweep: 1 done, 0 failed, 1 cancelled, 2 not run in 1.2s',
      'results in /r/re_sweep',
    ]);
  });
  it('names where the logs of a failed build are', () => {
    assert.deepEqual(summaryLines(outcome({ buildLogs: '/r/re_sweep/_build', notRun: ['a'] })), ['re_sweep: 0 done, 0 failed, 1 not run in 1.2s', 'build logs in /r/re_sweep/_build']);
  });
});

describe('PlainProgress', () => {
  it('prints one line per finished job and the summary, warnings on stderr', () => {
    const out = new Sink();
    const err = new Sink();
    const p = new PlainProgress(out, err);
    p.begin('re_sweep', 2, '2 slots');
    p.jobStarted('a');
    p.jobFinished('a', result({}), 1000);
    p.warn('careful');
    p.end(outcome({ done: ['a'] }));
    assert.equal(out.text, 'running re_sweep: 2 jobs, 2 slots\ndone a (1.0s)\nre_sweep: 1 done, 0 failed in 1.2s\nresults in /r/re_sweep\n');
    assert.equal(err.text, 'warning: careful\n');
  });
});

describe('TtyProgress', () => {
  it('redraws one line in place and prints failures above it', () => {
    const out = new Sink();
    const p = new TtyProgress(out, new Sink(), 10);
    p.begin('re_sweep', 4, '2 slots');
    p.jobStarted('a');
    p.jobStarted('b');
    p.jobFinished('a', result({}), 10);
    assert.match(p.line(), /^\[###-------\] 1\/4 {2}1 running {2}\d/);
    p.jobFinished('b', result({ exit_code: 2, success: false }), 10);
    assert.match(p.line(), /^\[#####-----\] 2\/4 {2}0 running {2}1 failed/);
    p.end(outcome({ done: ['a'], failed: ['b'] }));
    // the failure is on a line of its own, not glued to the bar
    assert.ok(out.text.includes('\r\x1b[2KFAILED b exit 2 (0.0s)\n'));
    assert.ok(out.text.endsWith('\r\x1b[2Kre_sweep: 1 done, 1 failed in 1.2s\nfailed: b\nresults in /r/re_sweep\n'));
  });
});
