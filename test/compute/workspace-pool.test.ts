import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkspacePool } from '../../compute/workspace-pool.js';
import { attemptPaths } from '../../shared/spec/command.js';
import { prepareAttemptDir } from '../../compute/workspace.js';
import { tempDir } from '../helpers/cli.js';

describe('workspace pool', () => {
  let work: { dir: string; cleanup: () => void };
  beforeEach(() => (work = tempDir('distribute-pool-')));
  afterEach(() => work.cleanup());

  /** An attempt folder as the runner leaves it after a job that wrote outputs and logs. */
  async function used(job: string, attempt = 1): Promise<ReturnType<typeof attemptPaths>> {
    const p = attemptPaths(work.dir, 'ns', 'b', job, attempt);
    writeFileSync(join(work.dir, 'shared.txt'), 'input');
    await prepareAttemptDir(p, { inputs: [{ alias: 'in.txt', source: join(work.dir, 'shared.txt') }], jobFile: null, mounts: 0 });
    mkdirSync(join(p.save, 'sub'));
    writeFileSync(join(p.save, 'sub', 'out.csv'), 'a,b\n');
    writeFileSync(join(p.root, 'scratch.tmp'), 'left in the working folder');
    for (const f of ['stdout.log', 'stderr.log', 'result.json']) writeFileSync(join(p.meta, f), `${job} ${f}`);
    return p;
  }

  it('gives a released folder, emptied, to the next job: the same folders and log files, no new ones', async () => {
    const pool = new WorkspacePool(work.dir);
    const first = await used('j1');
    const inode = (path: string) => statSync(path).ino;
    const before = { root: inode(first.root), save: inode(first.save), log: inode(join(first.meta, 'stdout.log')) };
    assert.equal(pool.release(first.root), true);
    assert.equal(existsSync(join(work.dir, 'ns', 'b', 'j1')), false, 'the job folder left with it');
    assert.equal(pool.size, 1);

    const next = attemptPaths(work.dir, 'ns', 'b', 'j2', 1);
    assert.equal(pool.take(next), true);
    assert.deepEqual(readdirSync(next.root).sort(), ['_distribute', 'distribute_save', 'input']);
    assert.deepEqual(readdirSync(next.input), [], 'inputs gone');
    assert.deepEqual(readdirSync(next.save), [], 'outputs gone');
    for (const f of ['stdout.log', 'stderr.log', 'result.json']) assert.equal(readFileSync(join(next.meta, f), 'utf8'), '', `${f} emptied`);
    assert.deepEqual({ root: inode(next.root), save: inode(next.save), log: inode(join(next.meta, 'stdout.log')) }, before);
    assert.equal(readFileSync(join(work.dir, 'shared.txt'), 'utf8'), 'input', 'the input itself untouched');
  });

  it('makes no folder for a job that has one here already, and keeps only a job folder holding one attempt', async () => {
    const pool = new WorkspacePool(work.dir);
    const a1 = await used('j', 1);
    const a2 = await used('j', 2);
    assert.equal(pool.release(a2.root), false, 'attempt-1 is still there');
    assert.equal(pool.release(a1.root), false);
    const spare = await used('k');
    assert.equal(pool.release(spare.root), true);
    assert.equal(pool.take(attemptPaths(work.dir, 'ns', 'b', 'j', 3)), false, 'j has a folder: the caller makes attempt-3');
    assert.equal(pool.size, 1, 'the entry stays for another job');
  });

  it('refuses a folder it cannot empty, and is found again by the next daemon', async () => {
    const pool = new WorkspacePool(work.dir);
    const locked = await used('locked');
    chmodSync(join(locked.save, 'sub'), 0o500);
    try {
      if (process.getuid?.() !== 0) assert.equal(pool.release(locked.root), false);
    } finally {
      chmodSync(join(locked.save, 'sub'), 0o700);
    }
    assert.equal(pool.release((await used('fine')).root), true);
    assert.equal(new WorkspacePool(work.dir).size, 1);
  });
});
