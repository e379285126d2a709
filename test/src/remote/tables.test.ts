import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatNodes, formatStatus } from '../../../src/remote/tables.js';

const counts = { queued: 1, assigned: 0, running: 1, paused: 0, done: 2, failed: 1, cancelled: 0 };

describe('tables', () => {
  it('shows one line per batch, and its jobs with why they failed or wait when a batch is named', () => {
    const batches = [
      {
        namespace: 'lab',
        batch_name: 'sweep',
        state: 'running' as const,
        counts,
        jobs: [
          { name: 'a', state: 'done' as const, node: 'ws1', attempt: 1, exit_code: 0 },
          { name: 'b', state: 'failed' as const, node: 'ws2', attempt: 3, exit_code: null, error: 'lost its node 3 times' },
          { name: 'c', state: 'queued' as const, node: null, attempt: 0, exit_code: null, waiting: 'no node has 64 free cpus' },
        ],
      },
    ];
    assert.equal(
      formatStatus(batches, { jobs: false }),
      ['BATCH      STATE    QUEUED  ASSIGNED  RUNNING  PAUSED  DONE  FAILED  CANCELLED  TOTAL', 'lab/sweep  running  1       0         1        0       2     1       0          3'].join('\n'),
    );
    const withJobs = formatStatus(batches, { jobs: true }).split('\n');
    assert.equal(withJobs[4], 'JOB  STATE   NODE  ATTEMPT  EXIT  PEAK MEM / ASKED  CPU  WHY');
    assert.equal(withJobs[5], 'a    done    ws1   1        0     -                 -');
    assert.equal(withJobs[6], 'b    failed  ws2   3        -     -                 -    lost its node 3 times');
    assert.equal(withJobs[7], 'c    queued  -     0        -     -                 -    no node has 64 free cpus');
    assert.equal(formatStatus([], { jobs: false }), 'no batches');
  });

  it('shows each job\'s peak memory beside what it asked, its CPU time, and a right-sizing hint for the batch', () => {
    const M = 1024 ** 2;
    const job = (name: string, peak: number | null, memory: number | null, cpu: number | null) => ({
      name, state: 'done' as const, node: 'ws1', attempt: 1, exit_code: 0, memory,
      usage: peak === null && cpu === null ? null : { cpu_seconds: cpu, peak_memory_bytes: peak, wall_seconds: 3 },
    });
    const batch = (jobs: ReturnType<typeof job>[]) => [{ namespace: 'lab', batch_name: 'fit', state: 'done' as const, counts: { ...counts, queued: 0, running: 0, failed: 0 }, jobs }];
    const over = formatStatus(batch([job('a', 200 * M, 1024 * M, 2.04), job('b', 100 * M, 1024 * M, 1), job('c', null, null, null)]), { jobs: true }).split('\n');
    assert.equal(over[4], 'memory: 2 jobs measured, peak 15% of what they asked on average, 20% at most (largest peak 200.0M); memory: 256M would do');
    assert.equal(over[6], 'a    done   ws1   1        0     200.0M / 1G       2.0s');
    assert.equal(over[7], 'b    done   ws1   1        0     100.0M / 1G       1.0s');
    assert.equal(over[8], 'c    done   ws1   1        0     -                 -');
    const tight = formatStatus(batch([job('a', 256 * M, 256 * M, 1)]), { jobs: true }).split('\n');
    assert.match(tight[4]!, /100% at most .*; some reached their limit: ask for more, or set memory_retry$/);
    // nothing measured with a reservation: no hint line
    assert.equal(formatStatus(batch([job('c', 10 * M, null, 1)]), { jobs: true }).split('\n')[4], 'JOB  STATE  NODE  ATTEMPT  EXIT  PEAK MEM / ASKED  CPU   WHY');
  });

  it('shows nodes with memory in binary units', () => {
    const out = formatNodes([{ name: 'ws1', state: 'busy', capabilities: ['shell', 'python3'], resources: { cpus: 8, memory: 16 * 1024 ** 3, gpus: 1 }, running: [{ namespace: 'lab', batch: 's', job: 'a', attempt: 1 }], hidden_running: 2 }]);
    // others' jobs are counted, not named
    assert.equal(out, ['NODE  STATE  CPUS  MEMORY    GPUS  RUNNING  CAPABILITIES', 'ws1   busy   8     16.0 GiB  1     3        shell,python3'].join('\n'));
  });
});
