import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killLeftovers, readProcStat, RunningRecords } from '../../compute/leftovers.js';
import { spawnGroup, type ProcessGroup } from '../../compute/process-group.js';
import { silentLogger } from '../../shared/log.js';
import { tempDir } from '../helpers/cli.js';
import { isAlive, readPids } from './support.js';

describe('jobs left running by a killed compute daemon', () => {
  const groups: ProcessGroup[] = [];
  const dirs: { cleanup: () => void }[] = [];
  afterEach(() => {
    for (const g of groups.splice(0)) g.signal('SIGKILL');
    for (const d of dirs.splice(0)) d.cleanup();
  });

  /** A job as the runner starts one: its own process group, a child in the background. */
  function job(dir: string, name: string): { group: ProcessGroup; workspace: string } {
    const workspace = join(dir, name);
    mkdirSync(workspace, { recursive: true });
    const group = spawnGroup({
      argv: ['/bin/sh', '-c', 'sleep 30 & echo $! > pids; echo $$ >> pids; wait'],
      cwd: workspace,
      env: process.env,
      stdoutPath: join(workspace, 'out'),
      stderrPath: join(workspace, 'err'),
    });
    groups.push(group);
    return { group, workspace };
  }

  it('kills the whole group a previous life recorded, and removes its workspace', async () => {
    const t = tempDir('distribute-leftovers-');
    dirs.push(t);
    const records = new RunningRecords(join(t.dir, '.running'));
    const { group, workspace } = job(t.dir, 'a');
    const pids = await readPids(join(workspace, 'pids'), 2);
    records.record(7, group.pid!, workspace);
    assert.ok(pids.every(isAlive));

    const out = await killLeftovers(records, { logger: silentLogger(), keepWorkspace: () => false });
    assert.deepEqual(out, [{ attempt: 7, pgid: group.pid, killed: 2, stranger: false }]);
    assert.ok(pids.every((p) => !isAlive(p)), 'the shell and its background child are gone');
    assert.equal(existsSync(workspace), false);
    assert.deepEqual(new RunningRecords(join(t.dir, '.running')).list(), [], 'no record left');
  });

  it('keeps the workspace of an attempt whose result waits in the spool', async () => {
    const t = tempDir('distribute-leftovers-');
    dirs.push(t);
    const records = new RunningRecords(join(t.dir, '.running'));
    const { group, workspace } = job(t.dir, 'b');
    await readPids(join(workspace, 'pids'), 2);
    records.record(8, group.pid!, workspace);
    await killLeftovers(records, { logger: silentLogger(), keepWorkspace: (a) => a === 8 });
    assert.ok(existsSync(workspace));
  });

  it('leaves alone a group whose id now names a process started at another time', async () => {
    const t = tempDir('distribute-leftovers-');
    dirs.push(t);
    const { group, workspace } = job(t.dir, 'c');
    const pids = await readPids(join(workspace, 'pids'), 2);
    const real = readProcStat(group.pid!)!.starttime;
    // as if the recorded job had ended and its number had gone to this process since
    mkdirSync(join(t.dir, '.running'));
    writeFileSync(join(t.dir, '.running', '9.json'), JSON.stringify({ attempt: 9, pgid: group.pid, starttime: real - 100, workspace }));
    const out = await killLeftovers(new RunningRecords(join(t.dir, '.running')), { logger: silentLogger(), keepWorkspace: () => false });
    assert.equal(out[0]!.stranger, true);
    assert.equal(out[0]!.killed, 0);
    assert.ok(pids.every(isAlive), 'a stranger is not killed');
    assert.deepEqual(new RunningRecords(join(t.dir, '.running')).list(), [], 'its record is gone all the same');
  });

  it('reads /proc/<pid>/stat of a program whose name holds spaces and parentheses', async () => {
    const t = tempDir('distribute-leftovers-');
    dirs.push(t);
    const odd = join(t.dir, 'x) (y z');
    copyFileSync('/bin/sleep', odd);
    const { chmodSync } = await import('node:fs');
    chmodSync(odd, 0o755);
    const g = spawnGroup({ argv: [odd, '30'], cwd: t.dir, env: process.env, stdoutPath: join(t.dir, 'o'), stderrPath: join(t.dir, 'e') });
    groups.push(g);
    const st = readProcStat(g.pid!)!;
    assert.equal(st.pid, g.pid);
    assert.equal(st.pgrp, g.pid, 'the job leads its own group');
    assert.ok(st.starttime > 0);
    assert.equal(readProcStat(2 ** 22 + 1), null, 'no such process');
  });
});
