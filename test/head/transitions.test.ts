// The job and attempt state machine of head/transitions.ts, driven directly over a real
// SQLite store in memory: a table of (state, event) -> (new state, outcome). Every report a
// node can make is tried from a node that no longer holds the attempt, for an attempt that
// is no longer current, and after the job was killed: the fencing that keeps a job from
// being run or archived twice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { migrate, Store } from '../../head/store.js';
import { queueBatch } from '../../head/queue.js';
import {
  applyPlacements,
  currentAttempt,
  declareLost,
  killJobs,
  markFinished,
  markStarted,
  markVacated,
  recordBuildFailure,
  refuseResult,
  registerNode,
  retryJobs,
  setNodePaused,
  settleResult,
  type ResultVerdict,
} from '../../head/transitions.js';
import { hello, shellBatch } from './harness.js';

const MAX_ATTEMPTS = 2;

/** One batch with one job `j` (1 retry when asked), two nodes `n` and `m`, nothing placed. */
class World {
  readonly store: Store;
  readonly batchId: number;
  readonly jobId: number;
  /** the attempt placed by the last `place()` */
  attempt = 0;

  constructor(o: { retries?: number } = {}) {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    migrate(db);
    let clock = 1_000;
    this.store = new Store(db, { now: () => (clock += 1) });
    registerNode(this.store, hello('n'), MAX_ATTEMPTS);
    registerNode(this.store, hello('m'), MAX_ATTEMPTS);
    const batch = shellBatch('lab', 'b', [{ name: 'j' }]);
    batch.jobs[0]!.record.retries = o.retries ?? 0;
    const queued = queueBatch(this.store, batch);
    assert.ok(queued.ok);
    this.batchId = queued.batchId;
    this.jobId = this.store.jobByName(this.batchId, 'j')!.id;
  }

  place(node = 'n'): number {
    const [a] = applyPlacements(this.store, [{ jobId: this.jobId, batchId: this.batchId, node, cpus: 1, memory: null, gpus: [] }]);
    assert.ok(a, 'placed');
    this.attempt = a.attempt;
    return a.attempt;
  }

  job() {
    return this.store.job(this.jobId)!;
  }

  attemptRow(id = this.attempt) {
    return this.store.attempt(id)!;
  }

  finished(node: string, attempt = this.attempt, o: { exitCode?: number | null; error?: string | null } = {}) {
    return markFinished(this.store, node, {
      type: 'finished', attempt, exitCode: o.exitCode === undefined ? 0 : o.exitCode, signal: null, timedOut: false, cancelled: false, error: o.error ?? null,
    });
  }

  /** settles the current attempt's result as acceptResult does, inside one transaction */
  settle(v: Partial<ResultVerdict>) {
    const verdict: ResultVerdict = { ok: true, retryable: false, exitCode: 0, signal: null, error: null, usage: null, ...v };
    return this.store.tx(() => settleResult(this.store, this.job(), this.attempt, verdict));
  }
}

/** The states a job and its current attempt can be brought to, each by the real transitions. */
const SETUPS: Record<string, (w: World) => void> = {
  queued: () => {},
  assigned: (w) => void w.place(),
  running: (w) => {
    w.place();
    assert.equal(markStarted(w.store, 'n', w.attempt), 'started');
  },
  paused: (w) => {
    SETUPS.running!(w);
    setNodePaused(w.store, 'n', true);
  },
  'awaiting result': (w) => {
    SETUPS.running!(w);
    assert.equal(w.finished('n'), 'awaiting_result');
  },
  done: (w) => {
    SETUPS['awaiting result']!(w);
    assert.equal(w.settle({}), 'done');
  },
  failed: (w) => {
    SETUPS['awaiting result']!(w);
    assert.equal(w.settle({ ok: false, retryable: true, exitCode: 1, error: 'exited with code 1' }), 'failed');
  },
  cancelled: (w) => {
    SETUPS.running!(w);
    killJobs(w.store, w.batchId);
  },
  /** running on `m` after its first attempt on `n` was lost: the first attempt is stale */
  'requeued after a loss': (w) => {
    SETUPS.running!(w);
    declareLost(w.store, 'n', MAX_ATTEMPTS);
    registerNode(w.store, hello('n'), MAX_ATTEMPTS);
    w.place('m');
    assert.equal(markStarted(w.store, 'm', w.attempt), 'started');
  },
};

interface Case {
  from: keyof typeof SETUPS;
  event: string;
  /** runs the event; its return value is the outcome */
  run: (w: World) => unknown;
  outcome: unknown;
  job: string;
  /** the state of the attempt the event named (the first attempt where the setup made two) */
  attempt?: string;
  retries?: number;
}

const stale = (w: World) => w.attempt - 1; // the attempt before the current one

const CASES: Case[] = [
  // started
  { from: 'assigned', event: 'started', run: (w) => markStarted(w.store, 'n', w.attempt), outcome: 'started', job: 'running', attempt: 'running' },
  { from: 'running', event: 'started again (reconnect)', run: (w) => markStarted(w.store, 'n', w.attempt), outcome: 'duplicate', job: 'running', attempt: 'running' },
  { from: 'assigned', event: 'started, from another node', run: (w) => markStarted(w.store, 'm', w.attempt), outcome: 'stale', job: 'assigned', attempt: 'assigned' },
  { from: 'requeued after a loss', event: 'started, of the lost attempt', run: (w) => markStarted(w.store, 'n', stale(w)), outcome: 'stale', job: 'running', attempt: 'lost' },
  { from: 'cancelled', event: 'started, after a kill', run: (w) => markStarted(w.store, 'n', w.attempt), outcome: 'stale', job: 'cancelled', attempt: 'cancelled' },
  { from: 'done', event: 'started, after its result', run: (w) => markStarted(w.store, 'n', w.attempt), outcome: 'stale', job: 'done', attempt: 'archived' },

  // finished
  { from: 'running', event: 'finished', run: (w) => w.finished('n'), outcome: 'awaiting_result', job: 'running', attempt: 'finished' },
  { from: 'paused', event: 'finished', run: (w) => w.finished('n'), outcome: 'awaiting_result', job: 'running', attempt: 'finished' },
  { from: 'assigned', event: 'finished with an error (could not start)', run: (w) => w.finished('n', w.attempt, { exitCode: null, error: 'missing input' }), outcome: 'failed', job: 'failed', attempt: 'finished' },
  { from: 'awaiting result', event: 'finished again (reconnect)', run: (w) => w.finished('n'), outcome: 'awaiting_result', job: 'running', attempt: 'finished' },
  { from: 'running', event: 'finished, from another node', run: (w) => w.finished('m'), outcome: 'stale', job: 'running', attempt: 'running' },
  { from: 'requeued after a loss', event: 'finished, of the lost attempt', run: (w) => w.finished('n', stale(w)), outcome: 'stale', job: 'running', attempt: 'lost' },
  { from: 'cancelled', event: 'finished, after a kill (process gone)', run: (w) => w.finished('n'), outcome: 'released', job: 'cancelled', attempt: 'cancelled' },
  { from: 'done', event: 'finished, after its result', run: (w) => w.finished('n'), outcome: 'stale', job: 'done', attempt: 'archived' },

  // vacated
  { from: 'paused', event: 'vacated', run: (w) => markVacated(w.store, 'n', w.attempt, 'paused too long'), outcome: true, job: 'queued', attempt: 'cancelled' },
  { from: 'assigned', event: 'vacated', run: (w) => markVacated(w.store, 'n', w.attempt, 'paused too long'), outcome: true, job: 'queued', attempt: 'cancelled' },
  { from: 'paused', event: 'vacated, from another node', run: (w) => markVacated(w.store, 'm', w.attempt, 'x'), outcome: false, job: 'paused', attempt: 'running' },
  { from: 'awaiting result', event: 'vacated, after it finished', run: (w) => markVacated(w.store, 'n', w.attempt, 'x'), outcome: false, job: 'running', attempt: 'finished' },
  { from: 'requeued after a loss', event: 'vacated, of the lost attempt', run: (w) => markVacated(w.store, 'n', stale(w), 'x'), outcome: false, job: 'running', attempt: 'lost' },
  { from: 'cancelled', event: 'vacated, after a kill', run: (w) => markVacated(w.store, 'n', w.attempt, 'x'), outcome: false, job: 'cancelled', attempt: 'cancelled' },

  // the result arrives (the archive checks currentAttempt before it settles or refuses)
  { from: 'awaiting result', event: 'result: success', run: (w) => w.settle({}), outcome: 'done', job: 'done', attempt: 'archived' },
  { from: 'awaiting result', event: 'result: exit 1, no retries', run: (w) => w.settle({ ok: false, retryable: true, exitCode: 1, error: 'exited with code 1' }), outcome: 'failed', job: 'failed', attempt: 'archived' },
  { from: 'awaiting result', event: 'result: exit 1, a retry left', retries: 1, run: (w) => w.settle({ ok: false, retryable: true, exitCode: 1, error: 'exited with code 1' }), outcome: 'requeued', job: 'queued', attempt: 'archived' },
  { from: 'awaiting result', event: 'result: unreadable, a retry left', retries: 1, run: (w) => w.settle({ ok: false, retryable: false, exitCode: 0, error: 'no result.json' }), outcome: 'failed', job: 'failed', attempt: 'archived' },
  { from: 'awaiting result', event: 'result refused', run: (w) => refuseResult(w.store, w.job(), w.attempt, 'result archive refused: ../x'), outcome: undefined, job: 'failed', attempt: 'refused' },
  { from: 'awaiting result', event: 'current? (result may be taken)', run: (w) => currentAttempt(w.store, w.attempt, 'n') !== null, outcome: true, job: 'running', attempt: 'finished' },
  { from: 'awaiting result', event: 'current? from another node', run: (w) => currentAttempt(w.store, w.attempt, 'm') !== null, outcome: false, job: 'running', attempt: 'finished' },
  { from: 'requeued after a loss', event: 'current? the lost attempt', run: (w) => currentAttempt(w.store, stale(w), 'n') !== null, outcome: false, job: 'running', attempt: 'lost' },
  { from: 'cancelled', event: 'current? after a kill', run: (w) => currentAttempt(w.store, w.attempt, 'n') !== null, outcome: false, job: 'cancelled', attempt: 'cancelled' },
  { from: 'done', event: 'current? after its result', run: (w) => currentAttempt(w.store, w.attempt, 'n') !== null, outcome: false, job: 'done', attempt: 'archived' },

  // the node is lost
  { from: 'running', event: 'node lost', run: (w) => declareLost(w.store, 'n', MAX_ATTEMPTS), outcome: { requeued: [1], failed: [] }, job: 'queued', attempt: 'lost' },
  { from: 'awaiting result', event: 'node lost before the result', run: (w) => declareLost(w.store, 'n', MAX_ATTEMPTS), outcome: { requeued: [1], failed: [] }, job: 'queued', attempt: 'lost' },
  { from: 'requeued after a loss', event: 'node lost again (max_attempts)', run: (w) => declareLost(w.store, 'm', MAX_ATTEMPTS), outcome: { requeued: [], failed: [1] }, job: 'failed' },
  { from: 'cancelled', event: 'node lost after a kill', run: (w) => declareLost(w.store, 'n', MAX_ATTEMPTS), outcome: { requeued: [], failed: [] }, job: 'cancelled', attempt: 'cancelled' },
  { from: 'done', event: 'node lost after the result', run: (w) => declareLost(w.store, 'n', MAX_ATTEMPTS), outcome: { requeued: [], failed: [] }, job: 'done', attempt: 'archived' },

  // the node says hello again (a reconnect, or a head restart)
  { from: 'running', event: 'hello, still running it', run: (w) => registerNode(w.store, hello('n', { running: [{ attempt: w.attempt, paused: false }] }), MAX_ATTEMPTS), outcome: { drop: [], kept: [1], requeued: [], failed: [] }, job: 'running', attempt: 'running' },
  { from: 'running', event: 'hello, running it paused', run: (w) => registerNode(w.store, hello('n', { running: [{ attempt: w.attempt, paused: true }] }), MAX_ATTEMPTS), outcome: { drop: [], kept: [1], requeued: [], failed: [] }, job: 'paused', attempt: 'running' },
  { from: 'running', event: 'hello, its result unacknowledged', run: (w) => registerNode(w.store, hello('n', { unacknowledged: [w.attempt] }), MAX_ATTEMPTS), outcome: { drop: [], kept: [1], requeued: [], failed: [] }, job: 'running', attempt: 'finished' },
  { from: 'running', event: 'hello, without it', run: (w) => registerNode(w.store, hello('n'), MAX_ATTEMPTS), outcome: { drop: [], kept: [], requeued: [1], failed: [] }, job: 'queued', attempt: 'lost' },
  { from: 'requeued after a loss', event: 'hello, holding the lost attempt', run: (w) => registerNode(w.store, hello('n', { running: [{ attempt: stale(w), paused: false }] }), MAX_ATTEMPTS), outcome: { drop: [1], kept: [], requeued: [], failed: [] }, job: 'running', attempt: 'lost' },
  { from: 'running', event: 'hello from another node, naming it', run: (w) => registerNode(w.store, hello('m', { running: [{ attempt: w.attempt, paused: false }] }), MAX_ATTEMPTS), outcome: { drop: [1], kept: [], requeued: [], failed: [] }, job: 'running', attempt: 'running' },
  { from: 'cancelled', event: 'hello, still killing it', run: (w) => registerNode(w.store, hello('n', { running: [{ attempt: w.attempt, paused: false }] }), MAX_ATTEMPTS), outcome: { drop: [1], kept: [], requeued: [], failed: [] }, job: 'cancelled', attempt: 'cancelled' },

  // users
  { from: 'queued', event: 'kill', run: (w) => killJobs(w.store, w.batchId), outcome: { cancelled: 1, toCancel: [] }, job: 'cancelled' },
  { from: 'running', event: 'kill', run: (w) => killJobs(w.store, w.batchId), outcome: { cancelled: 1, toCancel: [{ node: 'n', attempt: 1 }] }, job: 'cancelled', attempt: 'cancelled' },
  { from: 'awaiting result', event: 'kill', run: (w) => killJobs(w.store, w.batchId), outcome: { cancelled: 1, toCancel: [] }, job: 'cancelled', attempt: 'cancelled' },
  { from: 'done', event: 'kill', run: (w) => killJobs(w.store, w.batchId), outcome: { cancelled: 0, toCancel: [] }, job: 'done', attempt: 'archived' },
  { from: 'failed', event: 'retry', run: (w) => retryJobs(w.store, w.batchId), outcome: 1, job: 'queued', attempt: 'archived' },
  { from: 'done', event: 'retry', run: (w) => retryJobs(w.store, w.batchId), outcome: 0, job: 'done', attempt: 'archived' },
  { from: 'running', event: 'retry', run: (w) => retryJobs(w.store, w.batchId), outcome: 0, job: 'running', attempt: 'running' },

  // the node pauses and resumes
  { from: 'running', event: 'node paused', run: (w) => setNodePaused(w.store, 'n', true), outcome: undefined, job: 'paused', attempt: 'running' },
  { from: 'paused', event: 'node resumed', run: (w) => setNodePaused(w.store, 'n', false), outcome: undefined, job: 'running', attempt: 'running' },
  { from: 'awaiting result', event: 'node paused', run: (w) => setNodePaused(w.store, 'n', true), outcome: undefined, job: 'running', attempt: 'finished' },

  // the build fails on the node
  { from: 'assigned', event: 'build failed', run: (w) => recordBuildFailure(w.store, 'n', w.batchId, w.attempt, 'log', () => ['n', 'm']), outcome: { failedJobs: 0 }, job: 'queued', attempt: 'refused' },
  { from: 'assigned', event: 'build failed on the only capable node', run: (w) => recordBuildFailure(w.store, 'n', w.batchId, w.attempt, 'log', () => ['n']), outcome: { failedJobs: 1 }, job: 'failed', attempt: 'refused' },
  { from: 'assigned', event: 'build failed, from another node', run: (w) => recordBuildFailure(w.store, 'm', w.batchId, w.attempt, 'log', () => ['n', 'm']), outcome: { failedJobs: 0 }, job: 'assigned', attempt: 'assigned' },
  { from: 'requeued after a loss', event: 'build failed, of the lost attempt', run: (w) => recordBuildFailure(w.store, 'n', w.batchId, stale(w), 'log', () => ['n', 'm']), outcome: { failedJobs: 0 }, job: 'running', attempt: 'lost' },
];

/** Attempt ids and job ids in the expected outcomes are written as they come out of a fresh world. */
describe('head transitions: (state, event) -> (new state, outcome)', () => {
  for (const c of CASES) {
    it(`${c.from} + ${c.event} -> job ${c.job}${c.attempt ? `, attempt ${c.attempt}` : ''}`, () => {
      const w = new World({ retries: c.retries });
      SETUPS[c.from]!(w);
      const named = c.from === 'requeued after a loss' ? stale(w) : w.attempt;
      const outcome = c.run(w);
      assert.deepEqual(outcome, c.outcome, 'outcome');
      assert.equal(w.job().state, c.job, 'job state');
      if (c.attempt) assert.equal(w.attemptRow(named).state, c.attempt, 'attempt state');
      w.store.close();
    });
  }
});

describe('head transitions: what each transition keeps', () => {
  it('a vacate counts against nothing and keeps the old attempt holding its node until it ends', () => {
    const w = new World();
    SETUPS.paused!(w);
    assert.equal(markVacated(w.store, 'n', w.attempt, 'paused for longer than vacate_after'), true);
    const job = w.job();
    assert.deepEqual([job.losses, job.failures, job.node], [0, 0, null]);
    assert.equal(w.attemptRow().ended, null, 'still holds its resources');
    assert.equal(w.attemptRow().error, 'vacated: paused for longer than vacate_after');
    assert.equal(w.finished('n'), 'released');
    assert.notEqual(w.attemptRow().ended, null);
    assert.equal(w.job().state, 'queued');
  });

  it('a refused result fails the job with the reason, and the attempt ends', () => {
    const w = new World({ retries: 3 });
    SETUPS['awaiting result']!(w);
    w.store.tx(() => refuseResult(w.store, w.job(), w.attempt, 'result archive refused: link leaves the tree'));
    assert.equal(w.job().error, 'result archive refused: link leaves the tree');
    assert.notEqual(w.attemptRow().ended, null);
    assert.equal(w.job().failures, 0, 'not a retryable failure');
  });

  it('a placement skips a job that is no longer queued', () => {
    const w = new World();
    SETUPS.running!(w);
    const out = applyPlacements(w.store, [{ jobId: w.jobId, batchId: w.batchId, node: 'm', cpus: 1, memory: null, gpus: [] }]);
    assert.deepEqual(out, []);
    assert.equal(w.job().node, 'n');
  });

  it('a retry gives fresh loss and failure counts and lets a failed build run again', () => {
    const w = new World();
    SETUPS.assigned!(w);
    recordBuildFailure(w.store, 'n', w.batchId, w.attempt, 'log', () => ['n']);
    assert.equal(w.job().state, 'failed');
    assert.equal(retryJobs(w.store, w.batchId), 1);
    assert.equal(w.store.db.prepare('SELECT COUNT(*) FROM build_failures').pluck().get(), 0);
    assert.deepEqual([w.job().state, w.job().losses, w.job().failures], ['queued', 0, 0]);
  });
});
