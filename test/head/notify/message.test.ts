import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderMessage, type BatchSummary } from '../../../head/notify/message.js';

const base: BatchSummary = {
  namespace: 'cylinder_study',
  batch: 're_sweep',
  counts: { total: 50, done: 47, failed: 3, cancelled: 0 },
  wallMs: (2 * 3600 + 13 * 60 + 5) * 1000,
  failures: [
    { name: 're_300', exitCode: 1, signal: null, error: null },
    { name: 're_400', exitCode: null, signal: null, error: 'lost its node 3 times (last: ws2)' },
    { name: 're_500', exitCode: null, signal: 'SIGKILL', error: 'timed out' },
  ],
  buildFailures: [],
  file: 'sweeps/re sweep.yaml',
};

describe('notification message', () => {
  it('tells the end of a batch: counts, wall time, failures with exit codes, the pull line', () => {
    const m = renderMessage('end', base);
    assert.equal(
      m.body,
      [
        'Batch re_sweep (namespace cylinder_study) ended after 2h 13m: 47 done, 3 failed, 0 cancelled.',
        'Failures:',
        '- re_300: exit code 1',
        '- re_400: lost its node 3 times (last: ws2)',
        '- re_500: killed by SIGKILL, timed out',
        "Fetch the results: distribute pull 'sweeps/re sweep.yaml'",
      ].join('\n'),
    );
    assert.equal(
      m.html,
      '<p>Batch <b>re_sweep</b> (namespace <b>cylinder_study</b>) ended after 2h 13m: 47 done, 3 failed, 0 cancelled.</p>' +
        '<p>Failures:</p>' +
        '<ul><li><code>re_300</code>: exit code 1</li><li><code>re_400</code>: lost its node 3 times (last: ws2)</li><li><code>re_500</code>: killed by SIGKILL, timed out</li></ul>' +
        "<p>Fetch the results: <code>distribute pull 'sweeps/re sweep.yaml'</code></p>",
    );
  });

  it('says how many failures it leaves out, and leaves the failure list out of a clean run', () => {
    const many = renderMessage('end', { ...base, counts: { total: 50, done: 38, failed: 12, cancelled: 0 } });
    assert.match(many.body, /\nFirst failures \(3 of 12\):\n- re_300/);
    const clean = renderMessage('end', { ...base, counts: { total: 3, done: 2, failed: 0, cancelled: 1 }, failures: [], wallMs: 4200, file: 'b.yaml' });
    assert.equal(clean.body, 'Batch re_sweep (namespace cylinder_study) ended after 4s: 2 done, 0 failed, 1 cancelled.\nFetch the results: distribute pull b.yaml');
  });

  it('names the batch when the head does not know the file it was added from', () => {
    assert.match(renderMessage('end', { ...base, file: null }).body, /Fetch the results: distribute pull <the batch file of cylinder_study\/re_sweep>$/);
  });

  it('tells the first failure with what is left to run and how to read its output', () => {
    const m = renderMessage('first_failure', { ...base, counts: { total: 50, done: 10, failed: 1, cancelled: 0 }, wallMs: 303_000, failures: [base.failures[0]!] });
    assert.equal(
      m.body,
      [
        'Batch re_sweep (namespace cylinder_study): a job failed after 5m 03s.',
        '- re_300: exit code 1',
        'So far 10 done, 1 failed, 0 cancelled, 39 still to run.',
        'Its output: distribute logs --namespace cylinder_study re_sweep re_300',
      ].join('\n'),
    );
  });

  it('tells a build that failed on every node, with each node\'s status and last error line', () => {
    const m = renderMessage('build_failed', {
      ...base,
      counts: { total: 50, done: 0, failed: 50, cancelled: 0 },
      wallMs: 62_000,
      buildFailures: [
        { node: 'ws1', excerpt: 'exit code 1; gfortran: error: solver.f90: No such file or directory' },
        { node: 'ws2', excerpt: 'exit code 2; make: *** [all] Error 1' },
      ],
    });
    assert.equal(
      m.body,
      [
        'Batch re_sweep (namespace cylinder_study) failed after 1m 02s: its build failed on every capable node.',
        '- ws1: exit code 1; gfortran: error: solver.f90: No such file or directory',
        '- ws2: exit code 2; make: *** [all] Error 1',
        '0 done, 50 failed, 0 cancelled.',
      ].join('\n'),
    );
    assert.match(m.html, /<li><b>ws2<\/b>: <code>exit code 2; make: \*\*\* \[all\] Error 1<\/code><\/li>/);
  });

  it('escapes what it puts in HTML', () => {
    const m = renderMessage('end', { ...base, failures: [{ name: 'a', exitCode: null, signal: null, error: 'could not start: <missing> & "gone"' }] });
    assert.match(m.html, /could not start: &lt;missing&gt; &amp; &quot;gone&quot;/);
    assert.match(m.body, /could not start: <missing> & "gone"/);
  });

  it('says how the finalize step ended, right after the counts', () => {
    const ok = renderMessage('end', { ...base, finalize: 'done' });
    assert.match(ok.body, /cancelled\.\nThe finalize step succeeded\.\n/);
    assert.match(ok.html, /<p>The finalize step succeeded\.<\/p>/);
    assert.match(renderMessage('end', { ...base, finalize: 'failed' }).body, /The finalize step failed\./);
    assert.doesNotMatch(renderMessage('end', base).body, /finalize/);
  });
});
