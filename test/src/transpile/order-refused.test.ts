import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir, REPO_ROOT } from '../../helpers/cli.js';

describe('transpiling a batch with after: or finalize:', () => {
  for (const target of ['slurm', 'pbs', 'kubernetes']) {
    it(`${target}: is refused with exit 2 and nothing written`, async () => {
      const tmp = tempDir();
      try {
        const out = join(tmp.dir, 'out');
        const r = await runCli([target, join(REPO_ROOT, 'configs', 'dependencies-batch.yaml'), '--output', out]);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(existsSync(out), false, 'nothing written');
        assert.match(r.stderr, /job solve_100 has after: and the batch has finalize:, which the transpiled scripts cannot express yet/);
      } finally {
        tmp.cleanup();
      }
    });
  }
});
