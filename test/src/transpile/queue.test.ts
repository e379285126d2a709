import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countStates, isTerminal, parseSqueue, type QueueEntry } from '../../../src/transpile/slurm/queue.js';
import { describeOutcomes, followJobs } from '../../../src/transpile/slurm/submit.js';
import { tempDir } from '../../helpers/cli.js';

const tmp = tempDir('distribute-queue-');
after(() => tmp.cleanup());

function finish(root: string, job: string, exit_code: number | null, signal: string | null = null, timed_out = false): void {
  mkdirSync(join(root, job, '_distribute'), { recursive: true });
  const r = { namespace: 'n', batch: 'b', job, node: 'vm', attempt: 1, exit_code, signal, timed_out, cancelled: false, error: null, success: exit_code === 0, start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:00:01.000Z' };
  writeFileSync(join(root, job, '_distribute', 'result.json'), JSON.stringify(r));
}

describe('squeue', () => {
  it('parses one line per job or array task', () => {
    assert.deepEqual(parseSqueue('7_0|COMPLETED\n7_1|RUNNING\n\n5|PENDING\n'), [
      { id: '7_0', state: 'COMPLETED' },
      { id: '7_1', state: 'RUNNING' },
      { id: '5', state: 'PENDING' },
    ]);
  });
  it('knows which states end a job and counts them', () => {
    assert.ok(isTerminal('COMPLETED') && isTerminal('CANCELLED+') && isTerminal('TIMEOUT') && isTerminal('OUT_OF_MEMORY'));
    assert.ok(!isTerminal('PENDING') && !isTerminal('RUNNING') && !isTerminal('COMPLETING'));
    assert.deepEqual(countStates(parseSqueue('1_0|PENDING\n1_1|RUNNING\n1_2|COMPLETING\n1_3|COMPLETED\n1_4|FAILED')), { pending: 1, running: 2, ended: 2, unsuccessful: 1 });
  });
});

describe('following submitted jobs', () => {
  it('reports progress as jobs finish and returns every outcome once all tasks ended', async () => {
    const root = join(tmp.dir, 'follow');
    const polls: QueueEntry[][] = [
      [{ id: '9_0', state: 'PENDING' }, { id: '9_1', state: 'PENDING' }, { id: '9_2', state: 'PENDING' }],
      [{ id: '9_0', state: 'COMPLETED' }, { id: '9_1', state: 'RUNNING' }, { id: '9_2', state: 'PENDING' }],
      [{ id: '9_0', state: 'COMPLETED' }, { id: '9_1', state: 'FAILED' }, { id: '9_2', state: 'CANCELLED' }],
    ];
    let call = 0;
    const lines: string[] = [];
    const outcomes = await followJobs(root, ['9'], ['a', 'b', 'c'], {
      pollMs: 1,
      report: (l) => lines.push(l),
      read: async (ids) => {
        assert.deepEqual(ids, ['9']);
        if (call === 1) finish(root, 'a', 0);
        if (call === 2) finish(root, 'b', null, 'SIGKILL');
        return polls[call++]!;
      },
    });
    assert.equal(call, 3);
    assert.deepEqual(lines, [
      '0/3 jobs finished (0 failed); Slurm tasks: 3 pending, 0 running, 0 ended',
      '1/3 jobs finished (0 failed); Slurm tasks: 1 pending, 1 running, 1 ended',
      '2/3 jobs finished (1 failed); Slurm tasks: 0 pending, 0 running, 3 ended',
    ]);
    assert.deepEqual(outcomes.map((o) => o.state), ['done', 'failed', 'missing']);
    assert.deepEqual(describeOutcomes(outcomes), ['3 jobs: 1 done, 1 failed, 1 did not run', '  b: killed by SIGKILL', '  c: did not run (cancelled: its initialize step or a job it waits for failed)']);
  });

  it('treats jobs squeue no longer knows as ended', async () => {
    const root = join(tmp.dir, 'purged');
    finish(root, 'a', 2);
    finish(root, 't', null, 'SIGTERM', true);
    const outcomes = await followJobs(root, ['3'], ['a', 't'], { pollMs: 1, report: () => {}, read: async () => [] });
    assert.deepEqual(outcomes.map((o) => [o.state, o.exit_code]), [['failed', 2], ['failed', null]]);
    assert.deepEqual(describeOutcomes(outcomes).slice(1), ['  a: exit code 2', '  t: time limit reached']);
  });

  it('gives up with exit 1 after squeue keeps failing', async () => {
    const lines: string[] = [];
    await assert.rejects(
      followJobs(join(tmp.dir, 'x'), ['4'], ['a'], { pollMs: 1, maxFailures: 3, report: (l) => lines.push(l), read: async () => { throw new Error('Unable to contact slurm controller'); } }),
      (e: Error & { exitCode?: number }) => e.exitCode === 1 && /lost track of Slurm jobs 4: Unable to contact/.test(e.message),
    );
    assert.equal(lines.length, 2);
  });
});
