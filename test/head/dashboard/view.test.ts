import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../../head/store.js';
import { HINT_SPACING, ViewBuilder, type JobFilter, type TailSource } from '../../../head/dashboard/view.js';
import { tempDir } from '../../helpers/cli.js';
import { seedBatch, seedNode, setJobState } from './seed.js';

const G = 2 ** 30;
const alice = { kind: 'user' as const, name: 'alice', admin: false };
const bob = { kind: 'user' as const, name: 'bob', admin: false };
const root = { kind: 'user' as const, name: 'root', admin: true };
const all: JobFilter = { state: null, text: '', limit: 500 };
/** the seeded nodes that are not lost have a live session */
const online = () => new Set(['ws1', 'ws2', 'ws4', 'ws5']);

describe('dashboard view', () => {
  let store: Store;
  let cleanup: () => void;
  const tailsAsked: number[] = [];
  const tails: TailSource = {
    tail: (attempt, ns, batch, job) => {
      tailsAsked.push(attempt);
      return `stderr of ${ns}/${batch}/${job}`;
    },
  };

  before(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore(t.dir);
    seedNode(store, { name: 'ws1', cpus: 8, memory: 16 * G, gpus: 2, capabilities: ['python3'] });
    seedNode(store, { name: 'ws2', cpus: 4, paused: true });
    seedNode(store, { name: 'ws3', state: 'lost' });
    seedNode(store, { name: 'ws4', draining: true });
    seedNode(store, { name: 'ws5' });
    seedBatch(store, {
      namespace: 'cfd',
      owner: 'alice',
      name: 'sweep',
      jobs: [
        { name: 'a_1', state: 'done', node: 'ws1', exitCode: 0 },
        { name: 'a_2', state: 'failed', node: 'ws1', exitCode: 3 },
        { name: 'a_3', state: 'running', node: 'ws1', cpus: 2, memory: 4 * G, gpus: [0] },
        { name: 'b_1', state: 'running', node: 'ws2' },
        { name: 'b%2', state: 'queued' },
        { name: 'failed_before_start', state: 'failed', error: 'input params.json missing on the head' },
        { name: 'lost_thrice', state: 'failed', node: 'ws2', attempt: 3, error: 'lost its node 3 times' },
      ],
    });
    // its third attempt was lost, not archived: whatever archive lies on disk is an older one's
    store.tx(() => store.stmt(`UPDATE attempts SET state = 'lost' WHERE number = 3`).run());
    seedBatch(store, { namespace: 'secret_ns', owner: 'bob', name: 'bobs_batch', jobs: [{ name: 'x', state: 'running', node: 'ws1', cpus: 3 }] });
  });
  after(() => {
    store.close();
    cleanup();
  });

  it('shows a user only the batches of namespaces they own', () => {
    const view = new ViewBuilder(store, tails, online).build(alice);
    assert.deepEqual(view.batches.map((b) => `${b.namespace}/${b.name}`), ['cfd/sweep']);
    assert.doesNotMatch(JSON.stringify(view), /secret_ns|bobs_batch/);
    const bobs = new ViewBuilder(store, tails, online).build(bob);
    assert.deepEqual(bobs.batches.map((b) => b.name), ['bobs_batch']);
    assert.doesNotMatch(JSON.stringify(bobs), /cfd|sweep/);
  });

  it('shows an admin every batch, newest first', () => {
    const view = new ViewBuilder(store, tails, online).build(root);
    assert.deepEqual(view.batches.map((b) => b.name), ['bobs_batch', 'sweep']);
    assert.deepEqual(view.viewer, { name: 'root', admin: true });
  });

  it('counts the jobs of other users on a node without naming them', () => {
    const ws1 = new ViewBuilder(store, tails, online).build(alice).nodes.find((n) => n.name === 'ws1')!;
    assert.deepEqual(ws1.running.map((r) => r.job), ['a_3']);
    assert.equal(ws1.hiddenRunning, 1);
    // resources held count every job, whoever owns it
    assert.deepEqual(ws1.used, { cpus: 5, memory: 4 * G, gpus: 1 });
    const adminWs1 = new ViewBuilder(store, tails, online).build(root).nodes.find((n) => n.name === 'ws1')!;
    assert.deepEqual(adminWs1.running.map((r) => `${r.namespace}/${r.batch}/${r.job}`), ['cfd/sweep/a_3', 'secret_ns/bobs_batch/x']);
    assert.equal(adminWs1.hiddenRunning, 0);
  });

  it('names each node state: busy, paused, lost, draining, idle', () => {
    const states = Object.fromEntries(new ViewBuilder(store, tails, online).build(root).nodes.map((n) => [n.name, n.state]));
    assert.deepEqual(states, { ws1: 'busy', ws2: 'paused', ws3: 'lost', ws4: 'draining', ws5: 'idle' });
  });

  it('counts every job of a batch in exactly one state, and lists failures with exit code and stderr', () => {
    tailsAsked.length = 0;
    const b = new ViewBuilder(store, tails, online).build(alice).batches[0]!;
    assert.equal(b.total, 7);
    assert.deepEqual(b.counts, { queued: 1, assigned: 0, running: 2, paused: 0, done: 1, failed: 3, cancelled: 0 });
    assert.equal(b.state, 'running');
    const byJob = Object.fromEntries(b.failures.map((f) => [f.job, f]));
    assert.equal(byJob.a_2!.exitCode, 3);
    assert.equal(byJob.a_2!.node, 'ws1');
    assert.equal(byJob.a_2!.stderrTail, 'stderr of cfd/sweep/a_2');
    // a job that never started has no archive to read: its error says why
    assert.equal(byJob.failed_before_start!.error, 'input params.json missing on the head');
    assert.equal(byJob.failed_before_start!.stderrTail, null);
    assert.equal(byJob.lost_thrice!.stderrTail, null);
    assert.equal(byJob.lost_thrice!.attempt, 3);
    assert.equal(tailsAsked.length, 1);
  });

  it('filters one batch\'s jobs by state and by a name substring taken literally', () => {
    const v = new ViewBuilder(store, tails, online);
    const failed = v.build(alice, { namespace: 'cfd', name: 'sweep', filter: { ...all, state: 'failed' } }).batch!;
    assert.deepEqual(failed.jobs.map((j) => j.name), ['a_2', 'failed_before_start', 'lost_thrice']);
    assert.equal(failed.matching, 3);
    // `_` and `%` are not wildcards: "a_" matches a_1.. but not "failed_before_start"'s "d_b"
    const a = v.build(alice, { namespace: 'cfd', name: 'sweep', filter: { ...all, text: 'A_' } }).batch!;
    assert.deepEqual(a.jobs.map((j) => j.name), ['a_1', 'a_2', 'a_3']);
    const pct = v.build(alice, { namespace: 'cfd', name: 'sweep', filter: { ...all, text: '%' } }).batch!;
    assert.deepEqual(pct.jobs.map((j) => j.name), ['b%2']);
    const limited = v.build(alice, { namespace: 'cfd', name: 'sweep', filter: { ...all, limit: 2 } }).batch!;
    assert.equal(limited.jobs.length, 2);
    assert.equal(limited.matching, 7);
  });

  it('gives each job its peak memory against what its measured attempt asked, and the batch the status line', () => {
    const M = 2 ** 20;
    seedBatch(store, {
      namespace: 'cfd',
      owner: 'alice',
      name: 'sized',
      jobs: [
        { name: 'small', state: 'done', node: 'ws1', exitCode: 0, memory: G, peak: 200 * M },
        { name: 'half', state: 'done', node: 'ws1', exitCode: 0, memory: G, peak: 512 * M },
        { name: 'oom', state: 'failed', node: 'ws1', exitCode: 137, memory: 100 * M, peak: 100 * M, error: 'out of memory: peak 100.0M, limit 100M' },
        { name: 'no_ask', state: 'done', node: 'ws1', exitCode: 0, peak: 30 * M },
        { name: 'unmeasured', state: 'done', node: 'ws1', exitCode: 0, memory: G },
        { name: 'waits', state: 'queued' },
      ],
    });
    const v = new ViewBuilder(store, tails, online);
    const b = v.build(alice, { namespace: 'cfd', name: 'sized', filter: all }).batch!;
    const mem = Object.fromEntries(b.jobs.map((j) => [j.name, j.memory]));
    assert.deepEqual(mem.small, { asked: G, peak: 200 * M, outOfMemory: false, text: '200.0M / 1G', label: 'peak 200.0M of 1G asked (20%)' });
    assert.deepEqual(mem.oom, { asked: 100 * M, peak: 100 * M, outOfMemory: true, text: '100.0M / 100M', label: 'out of memory: peak 100.0M of 100M asked (100%)' });
    assert.equal(mem.no_ask!.label, 'peak 30.0M, no memory asked');
    assert.equal(mem.no_ask!.text, '30.0M');
    // measured attempt with no peak (no cgroup, no sample), and a job not run yet
    assert.deepEqual(mem.unmeasured, { asked: G, peak: null, outOfMemory: false, text: '- / 1G', label: 'not measured (1G asked)' });
    assert.deepEqual(mem.waits, { asked: null, peak: null, outOfMemory: false, text: '-', label: 'not measured' });
    // three jobs with a reservation measured: (0.195 + 0.5 + 1) / 3
    assert.equal(b.memoryHint, 'memory: 3 jobs measured, peak 57% of what they asked on average, 100% at most (largest peak 512.0M); some reached their limit: ask for more, or set memory_retry');
    // the line is the batch's whatever the page's filter
    const filtered = v.build(alice, { namespace: 'cfd', name: 'sized', filter: { ...all, text: 'small' } }).batch!;
    assert.deepEqual(filtered.jobs.map((j) => j.name), ['small']);
    assert.equal(filtered.memoryHint, b.memoryHint);
    // a batch with nothing measured has no line
    assert.equal(v.build(alice, { namespace: 'cfd', name: 'sweep', filter: all }).batch!.memoryHint, null);
  });

  it('walks a large batch for its line no more often than HINT_SPACING times the walk takes, and asks for a push when it is due', async () => {
    const M = 2 ** 20;
    seedBatch(store, {
      namespace: 'cfd',
      owner: 'alice',
      name: 'large',
      jobs: [
        ...Array.from({ length: 20_000 }, (_, i) => ({ name: `r_${i}`, state: 'done' as const, node: 'ws1', exitCode: 0, memory: G, peak: 100 * M })),
        { name: 'last', state: 'running' as const, node: 'ws1', memory: G },
      ],
    });
    let due!: () => void;
    const pushed = new Promise<void>((resolve) => (due = resolve));
    const v = new ViewBuilder(store, tails, online, () => due());
    const page = () => v.build(alice, { namespace: 'cfd', name: 'large', filter: { ...all, limit: 10 } }).batch!;
    const started = performance.now();
    assert.match(page().memoryHint!, /^memory: 20000 jobs measured, peak 10% /);
    const took = performance.now() - started;
    // the last job's result comes in with a peak of the whole ask, as settleResult writes it
    setJobState(store, 'cfd', 'large', 'last', 'done', 0);
    store.tx(() => store.stmt(`UPDATE attempts SET peak_memory = ? WHERE job_id = (SELECT id FROM jobs WHERE name = 'last')`).run(G));
    const soon = page();
    assert.ok(performance.now() - started < HINT_SPACING * took, `the second look came ${performance.now() - started} ms after a ${took} ms walk`);
    assert.match(soon.memoryHint!, /^memory: 20000 jobs measured/, 'too soon: the kept line');
    assert.equal(soon.jobs.find((j) => j.name === 'last'), undefined);
    assert.equal(soon.counts.done, 20_001, 'the rest of the view is fresh');
    await pushed;
    assert.match(page().memoryHint!, /^memory: 20001 jobs measured, peak 10% of what they asked on average, 100% at most /);
    v.close();
  });

  it('gives no batch detail for a namespace the viewer does not own', () => {
    const view = new ViewBuilder(store, tails, online).build(alice, { namespace: 'secret_ns', name: 'bobs_batch', filter: all });
    assert.equal(view.batch, null);
    assert.doesNotMatch(JSON.stringify(view), /"x"/);
  });
});
