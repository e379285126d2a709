// A job's cgroup is made with one mkdir and removed with one rmdir in the common case; the rare
// ones take the slow path: a folder of the same name left by a daemon that died (with a process
// and a child cgroup in it) is emptied and made afresh, and a cgroup with a child cgroup is
// removed whole.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { joinArgv, type Containment, type JobCgroup } from '../../compute/cgroup/types.js';
import { until } from '../helpers/until.js';
import { isAlive } from './support.js';
import { canUseCgroups, hasV2, openTestContainment } from './cgroup-support.js';

/** A `sleep` inside the cgroup; its pid once it has joined. */
async function sleeper(cg: JobCgroup): Promise<number> {
  const [program, ...args] = joinArgv(cg.procsFiles, ['sleep', '1000']);
  const child = spawn(program!, args, { stdio: 'ignore', detached: true });
  child.unref();
  await until(() => cg.pids().includes(child.pid!), 'the sleep joined its cgroup', 10_000);
  return child.pid!;
}

/** The folders of a cgroup, one per hierarchy (v1: freezer, memory, pids, cpuacct). */
const foldersOf = (cg: JobCgroup) => cg.procsFiles.map((f) => dirname(f));

for (const mode of ['cgroup-v1', 'cgroup-v2'] as const) {
  describe(`${mode}: a job cgroup's folder`, { skip: !canUseCgroups || (mode === 'cgroup-v2' && !hasV2) ? 'needs root and the cgroup hierarchies' : false }, () => {
    let c: Containment;
    before(async () => (c = await openTestContainment(mode, 'leftover')));
    after(() => c.close());

    it('left with a process and a child cgroup in it, is emptied and made afresh by the next create of that name', async () => {
      const old = (await c.create('job.ns.b.j.1', { memoryBytes: null, maxProcesses: null }))!;
      const pid = await sleeper(old);
      for (const dir of foldersOf(old)) mkdirSync(join(dir, 'inner'));
      // the daemon died here: the same attempt's cgroup is created again
      const fresh = (await c.create('job.ns.b.j.1', { memoryBytes: null, maxProcesses: 64 }))!;
      await until(() => !isAlive(pid) || undefined, 'the old process killed', 10_000);
      assert.deepEqual(fresh.pids(), []);
      for (const dir of foldersOf(fresh)) {
        assert.equal(existsSync(dir), true);
        assert.equal(existsSync(join(dir, 'inner')), false, `${dir}: the old child cgroup is gone`);
      }
      await fresh.remove();
      for (const dir of foldersOf(fresh)) assert.equal(existsSync(dir), false);
    });

    it('remove takes a child cgroup with it, and a cgroup already gone is fine', async () => {
      const cg = (await c.create('job.ns.b.k.1', { memoryBytes: null, maxProcesses: null }))!;
      for (const dir of foldersOf(cg)) mkdirSync(join(dir, 'inner', 'deeper'), { recursive: true });
      await cg.remove();
      for (const dir of foldersOf(cg)) assert.equal(existsSync(dir), false, `${dir} removed with its children`);
      await cg.remove();
      assert.deepEqual(readdirSync(dirname(foldersOf(cg)[0]!)).filter((n) => n.startsWith('job.ns.b.k')), []);
    });
  });
}
