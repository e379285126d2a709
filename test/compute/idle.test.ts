import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { ForeignLoadMeter, groupTicks, parsePidStat, parseProcStat, type LoadSample } from '../../compute/cpu-usage.js';
import { IdleDecider, IdleMonitor, sampleEveryMs } from '../../compute/idle.js';
import { PauseController } from '../../compute/pause.js';
import { waitFor } from './support.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('cpu usage from /proc', () => {
  it('reads the aggregate cpu line: busy without idle and iowait, and counts the cpus', () => {
    const stat = ['cpu  100 5 50 1000 20 3 2 1 7 0', 'cpu0 50 2 25 500 10 1 1 0 0 0', 'cpu1 50 3 25 500 10 2 1 1 0 0', 'intr 1 2 3'].join('\n');
    assert.deepEqual(parseProcStat(stat), { busy: 100 + 5 + 50 + 3 + 2 + 1, total: 161 + 1000 + 20, cpus: 2 });
  });

  it('reads group and CPU ticks of a process whose name holds spaces and parentheses', () => {
    const text = '4242 (my (odd) job) R 1 4240 4240 0 -1 4194560 100 0 0 0 37 5 11 2 20 0 1 0 123 4096 100';
    assert.deepEqual(parsePidStat(text), { pgrp: 4240, ticks: 37 + 5 + 11 + 2 });
  });

  it('keeps counting a group\'s CPU time when its short-lived children end (they move into the parent\'s cutime)', async () => {
    // five children one after the other, each spinning ~0.3 s of wall time, then the leader waits a moment
    const script = 'for i in 1 2 3 4 5; do sh -c \'e=$(($(date +%s%N)+300000000)); while [ $(date +%s%N) -lt $e ]; do :; done\'; done; sleep 0.3';
    const leader = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    children.push(leader);
    const g = new Set([leader.pid!]);
    const seen: number[] = [];
    while (leader.exitCode === null) {
      const t = (await groupTicks(g)).get(leader.pid!);
      if (t !== undefined) seen.push(t);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(seen.length > 10, `sampled while it ran (${seen.length})`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `never goes back: ${seen.join(' ')}`);
    assert.ok(seen.at(-1)! >= 20, `the children's CPU time is in the sum (${seen.at(-1)} ticks)`);
  });

  it('counts a busy loop outside the jobs as foreign load and the same loop inside a job group as the cluster\'s', async () => {
    const loop = spawn('sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' });
    children.push(loop);
    const asJob = new ForeignLoadMeter();
    const asForeign = new ForeignLoadMeter();
    const jobs = new Set([loop.pid!]);
    await Promise.all([asJob.sample(jobs), asForeign.sample(new Set())]);
    await new Promise((r) => setTimeout(r, 1000));
    const [j, f] = (await Promise.all([asJob.sample(jobs), asForeign.sample(new Set())])) as [LoadSample, LoadSample];
    process.kill(-loop.pid!, 'SIGKILL');
    // the loop had at least a share of a core, however loaded the machine
    assert.ok(j.cluster >= 0.2, `the loop is the cluster's when it is a job's (${j.cluster.toFixed(2)} cores)`);
    assert.ok(f.foreign - j.foreign >= 0.2, `and foreign when it is not (${f.foreign.toFixed(2)} vs ${j.foreign.toFixed(2)} cores)`);
  });
});

describe('IdleDecider', () => {
  const policy = { load_above: 1, for: 2000, quiet_for: 3000 };
  const w = (foreign: number, from: number) => ({ foreign, from, to: from + 500 });

  it('pauses once the load has stayed above the threshold for `for`, not on a spike', () => {
    const d = new IdleDecider(policy);
    assert.equal(d.observe(w(1.5, 0), null), null);
    assert.equal(d.observe(w(0.2, 500), null), null, 'a quiet window starts the count again');
    assert.equal(d.observe(w(1.5, 1000), null), null);
    assert.equal(d.observe(w(1.5, 1500), null), null);
    assert.equal(d.observe(w(1.5, 2000), null), null);
    assert.equal(d.observe(w(1.5, 2500), null), 'pause', 'above from 1000 to 3000');
  });

  it('resumes its own pause after quiet_for at or below the threshold', () => {
    const d = new IdleDecider(policy);
    const actions = [0, 500, 1000, 1500, 2000, 2500].map((t) => d.observe(w(t === 1000 ? 2 : 0.5, t), 'idle_policy'));
    assert.deepEqual(actions, [null, null, null, null, null, null]);
    assert.equal(d.observe(w(0.5, 3000), 'idle_policy'), null);
    assert.equal(d.observe(w(0.5, 3500), 'idle_policy'), null);
    assert.equal(d.observe(w(1, 4000), 'idle_policy'), 'resume', 'quiet from 1500 to 4500');
  });

  it('does nothing while a user holds the pause, and counts afresh after', () => {
    const d = new IdleDecider(policy);
    assert.equal(d.observe(w(3, 0), null), null);
    assert.equal(d.observe(w(3, 500), 'user'), null);
    assert.equal(d.observe(w(3, 1000), null), null);
    assert.equal(d.observe(w(3, 1500), null), null);
    assert.equal(d.observe(w(3, 2000), null), null);
    assert.equal(d.observe(w(3, 2500), null), 'pause', 'above from 1000, not from 0');
  });

  it('samples four times per the shorter of for and quiet_for, within 250 ms and 5 s', () => {
    assert.equal(sampleEveryMs({ load_above: 1, for: 2000, quiet_for: 4000 }), 500);
    assert.equal(sampleEveryMs({ load_above: 1, for: 100, quiet_for: 100 }), 250);
    assert.equal(sampleEveryMs({ load_above: 1, for: 3600_000, quiet_for: 600_000 }), 5000);
  });
});

describe('IdleMonitor', () => {
  it('pauses the node under load and resumes it when quiet, as the policy\'s', async () => {
    const loads = [2, 2, 2, 2, 0, 0, 0, 0, 0];
    let t = 0;
    const meter = {
      sample: async () => {
        const foreign = loads.shift() ?? 0;
        t += 100;
        return { foreign, cluster: 0, from: t - 100, to: t };
      },
    };
    const c = new PauseController({ maxPauseMs: 3600_000 });
    const states: (string | null)[] = [];
    c.onChange((s) => states.push(s.paused ? s.by : null));
    const m = new IdleMonitor({ policy: { load_above: 1, for: 300, quiet_for: 300 }, controller: c, jobGroups: () => new Set(), meter, everyMs: 5 });
    m.start();
    await waitFor(() => loads.length === 0, 'the samples');
    m.stop();
    assert.deepEqual(states, ['idle_policy', null]);
    assert.equal(m.status().load, 0);
  });
});
