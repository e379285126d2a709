import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/cli.js';
import { expectedTable, meshBatch, RES } from '../helpers/mesh-batch.js';

describe('distribute run: after: and finalize:', () => {
  const tmp = tempDir('distribute-run-deps-');
  after(() => tmp.cleanup());

  for (const strategy of ['sequential', 'multiprocessing']) {
    it(`${strategy}: runs the solves after mesh and finalize last, the same table as on the cluster`, async () => {
      const file = meshBatch(tmp.dir, `run_${strategy}`, {});
      const save = join(tmp.dir, `save-${strategy}`);
      const r = await runCli(['run', file, '--strategy', strategy, ...(strategy === 'multiprocessing' ? ['--jobs', '4'] : []), '--save-dir', save, '--work-dir', join(tmp.dir, `work-${strategy}`)]);
      assert.equal(r.code, 0, r.stderr);
      const base = join(save, `run_${strategy}`);
      const meshEnded = BigInt(readFileSync(join(base, 'mesh', 'ended'), 'utf8').trim());
      for (const re of RES) assert.ok(BigInt(readFileSync(join(base, `solve_${re}`, 'started'), 'utf8').trim()) > meshEnded, `solve_${re} after mesh`);
      assert.equal(readFileSync(join(base, '_finalize', 'table.tsv'), 'utf8'), expectedTable());
      assert.equal(readFileSync(join(base, '_finalize', 'summary.txt'), 'utf8'), 'done=9 failed=0\n');
    });
  }

  it('cancels the solves of a failed mesh, and finalize still runs and sees 0 done', async () => {
    const file = meshBatch(tmp.dir, 'run_broken', { failUnless: join(tmp.dir, 'never') });
    const save = join(tmp.dir, 'save-broken');
    const r = await runCli(['run', file, '--strategy', 'multiprocessing', '--jobs', '4', '--save-dir', save, '--work-dir', join(tmp.dir, 'work-broken')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /job solve_100 is cancelled: it waited for mesh, which failed/);
    assert.equal(readFileSync(join(save, 'run_broken', '_finalize', 'summary.txt'), 'utf8'), 'done=0 failed=9\n');
    assert.equal(readFileSync(join(save, 'run_broken', '_finalize', 'table.tsv'), 'utf8'), '');
  });
});
